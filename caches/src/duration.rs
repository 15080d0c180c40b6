//! Durations as written in configuration: `300`, `2.5`, `"45m"`, `"7d"`, `"500ms"`, `"never"`.

use std::time::Duration;

use cache_api::{Error, ErrorKind, Result, Ttl};
use serde::Deserialize;

/// A duration as found in a TOML file, an environment variable or a URL query.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// Seconds, as Django writes timeouts.
    Seconds(f64),
    /// A number with a unit (`ms`, `s`, `m`, `h`, `d`), or `never` / `none`.
    Text(String),
}

impl DurationValue {
    /// The value as a cache timeout: `never` is [`Ttl::Never`], `0` stores nothing.
    pub fn to_ttl(&self, option: &str) -> Result<Ttl> {
        match self {
            DurationValue::Text(t) if is_never(t) => Ok(Ttl::Never),
            other => other.to_duration(option).map(Ttl::After),
        }
    }

    /// The value as a plain duration (`never` is refused).
    pub fn to_duration(&self, option: &str) -> Result<Duration> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("option {option}: {why} (write seconds like 300, or 500ms, 45m, 7d)"),
            )
        };
        let secs = match self {
            DurationValue::Seconds(s) => *s,
            DurationValue::Text(text) => {
                let text = text.trim();
                let split = text
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(text.len());
                let (number, unit) = text.split_at(split);
                let n: f64 = number
                    .parse()
                    .map_err(|_| invalid(&format!("{text:?} is not a duration")))?;
                let scale = match unit.trim() {
                    "" | "s" => 1.0,
                    "ms" => 0.001,
                    "m" | "min" => 60.0,
                    "h" => 3600.0,
                    "d" => 86_400.0,
                    other => return Err(invalid(&format!("unknown unit {other:?}"))),
                };
                n * scale
            }
        };
        Duration::try_from_secs_f64(secs).map_err(|_| invalid("negative or too large"))
    }
}

fn is_never(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "never" | "none" | "forever"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> DurationValue {
        DurationValue::Text(s.into())
    }

    #[test]
    fn parses_seconds_units_and_never() {
        assert_eq!(
            DurationValue::Seconds(2700.0).to_duration("t").unwrap(),
            Duration::from_secs(2700)
        );
        assert_eq!(
            text("45m").to_duration("t").unwrap(),
            Duration::from_secs(2700)
        );
        assert_eq!(
            text("7d").to_duration("t").unwrap(),
            Duration::from_secs(604_800)
        );
        assert_eq!(
            text("500ms").to_duration("t").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(text("5").to_duration("t").unwrap(), Duration::from_secs(5));
        assert_eq!(
            text("1.5h").to_duration("t").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(text("never").to_ttl("t").unwrap(), Ttl::Never);
        assert_eq!(text("0").to_ttl("t").unwrap(), Ttl::secs(0));
    }

    #[test]
    fn refuses_junk_with_a_config_error() {
        for bad in ["", "abc", "5y", "-1"] {
            let err = text(bad).to_duration("default_timeout").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.message().contains("default_timeout"));
        }
        assert!(DurationValue::Seconds(-1.0).to_duration("t").is_err());
        assert!(text("never").to_duration("connect_timeout").is_err());
    }
}
