//! Durations as written in configuration: `300`, `2.5`, `"45m"`, `"1h30m"`, `"7days"`,
//! `"2w"`, `"500ms"`, `"never"`, checked against their bounds.

use std::time::Duration;

use cachette_api::{Result, Ttl};

use crate::options::invalid;

/// The longest wait limit accepted (a connect or response timeout).
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// The longest TTL accepted: 100 years (beyond, write `never`).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration as found in a TOML file, an environment variable or a URL query.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// Seconds, as Django writes timeouts.
    Seconds(f64),
    /// Seconds (`300`, `2.5`), a duration with units (`500ms`, `45m`, `1h30m`, `7days`,
    /// `2w`: humantime's forms), or `never` / `none`.
    Text(String),
}

impl DurationValue {
    /// The value as an entry's lifetime: `never` is [`Ttl::Never`], `0` stores nothing;
    /// otherwise at least 1 ms and at most 100 years.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](cachette_api::ErrorKind::Config) naming the option.
    pub fn to_ttl(&self, option: &str) -> Result<Ttl> {
        match self {
            DurationValue::Text(t) if is_never(t) => Ok(Ttl::Never),
            other => {
                let d = other.parse(option)?;
                if !d.is_zero() {
                    bounded(option, d, MAX_TTL, "100 years (write never for no expiry)")?;
                }
                Ok(Ttl::After(d))
            }
        }
    }

    /// The value as a wait limit: at least 1 ms and at most a day (`never` and `0` are
    /// refused).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](cachette_api::ErrorKind::Config) naming the option.
    pub fn to_duration(&self, option: &str) -> Result<Duration> {
        let d = self.parse(option)?;
        bounded(option, d, MAX_WAIT, "a day")
    }

    fn parse(&self, option: &str) -> Result<Duration> {
        let bad = || {
            invalid(
                option,
                "is not a duration (write seconds like 300, or 500ms, 45m, 1h30m, 7d, 2w)",
            )
        };
        let secs = match self {
            DurationValue::Seconds(s) => *s,
            DurationValue::Text(text) => {
                let text = text.trim();
                match text.parse::<f64>() {
                    Ok(secs) => secs,
                    Err(_) => return humantime::parse_duration(text).map_err(|_| bad()),
                }
            }
        };
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        Duration::try_from_secs_f64(secs).map_err(|_| invalid(option, "is too large"))
    }
}

/// `d` if it lies in 1 ms ..= `max`.
fn bounded(option: &str, d: Duration, max: Duration, max_text: &str) -> Result<Duration> {
    if d < Duration::from_millis(1) {
        return Err(invalid(option, "is below 1 ms"));
    }
    if d > max {
        return Err(invalid(option, &format!("is longer than {max_text}")));
    }
    Ok(d)
}

fn is_never(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "never" | "none" | "forever"
    )
}

#[cfg(test)]
mod tests {
    use cachette_api::ErrorKind;

    use super::*;

    fn text(s: &str) -> DurationValue {
        DurationValue::Text(s.into())
    }

    #[test]
    fn parses_seconds_units_compounds_and_never() {
        for (written, secs) in [
            ("2700", 2700.0),
            ("2.5", 2.5),
            ("45m", 2700.0),
            ("1h30m", 5400.0),
            ("1h 30m", 5400.0),
            ("7d", 604_800.0),
            ("7days", 604_800.0),
            ("2w", 1_209_600.0),
            ("500ms", 0.5),
        ] {
            assert_eq!(
                text(written).to_ttl("t").unwrap(),
                Ttl::After(Duration::from_secs_f64(secs)),
                "{written}"
            );
        }
        assert_eq!(
            DurationValue::Seconds(2700.0).to_duration("t").unwrap(),
            Duration::from_secs(2700)
        );
        assert_eq!(text("never").to_ttl("t").unwrap(), Ttl::Never);
        assert_eq!(text("0").to_ttl("t").unwrap(), Ttl::secs(0));
    }

    #[test]
    fn refuses_junk_and_out_of_bounds_values_with_a_config_error() {
        for bad in [
            "",
            "abc",
            "5x",
            "-1",
            "NaN",
            "inf",
            "10000000000000000000",
            "0.0001ms",
        ] {
            let err = text(bad).to_duration("connect_timeout").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.message().contains("connect_timeout"), "{err}");
        }
        for bad in ["0", "0.0001", "2d", "never"] {
            assert!(text(bad).to_duration("response_timeout").is_err(), "{bad}");
        }
        for bad in ["0.0001", "101y", "1e300"] {
            assert!(text(bad).to_ttl("default_timeout").is_err(), "{bad}");
        }
        assert!(DurationValue::Seconds(-1.0).to_duration("t").is_err());
        assert!(DurationValue::Seconds(f64::MAX).to_ttl("t").is_err());
    }
}
