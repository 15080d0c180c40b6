//! Named caches, like Django's `CACHES`: from a TOML file or from environment variables.

use std::collections::BTreeMap;
use std::path::Path;

use cachette_api::{Cache, Error, ErrorKind, Result};

use crate::options;
use crate::CacheConfig;

/// The name of the cache used when none is given.
pub const DEFAULT_CACHE: &str = "default";

/// Several named caches, as Django's `CACHES` setting.
///
/// In TOML:
///
/// ```toml
/// [caches.default]
/// url = "${REDIS_URL}"          # redis://:password@localhost:36379/0
/// prefix = "wheel_analyzer"
/// version = 1
/// default_timeout = "45m"
/// connect_timeout = "5s"
/// response_timeout = "5s"
///
/// [caches.local]
/// url = "memory://"
/// max_entries = 10000
/// ```
///
/// In the environment: `CACHE_URL`, `CACHE_PREFIX`, `CACHE_DEFAULT_TIMEOUT`, … for the
/// `default` cache, and `CACHE_<NAME>_URL`, `CACHE_<NAME>_PREFIX`, … for the others.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CachesConfig {
    /// The caches, by name.
    pub caches: BTreeMap<String, CacheConfig>,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
}

/// `err`, said of the cache called `name`.
fn in_cache(name: &str, err: Error) -> Error {
    Error::new(err.kind(), format!("cache {name:?}: {}", err.message()))
}

impl CachesConfig {
    /// Parses TOML text: a `[caches.NAME]` table per cache, holding its options.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for invalid TOML (with its line, never the text of the line,
    /// which may hold a password), an unknown option (naming the nearest one) or a bad value.
    pub fn from_toml_str(text: &str) -> Result<CachesConfig> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            config_error(format!("invalid TOML{at}: {}", e.message()))
        })?;
        let mut config = CachesConfig::default();
        for (key, value) in table {
            let toml::Value::Table(caches) = value else {
                return Err(config_error(format!(
                    "unknown top-level key `{key}`: caches are tables named [caches.NAME]"
                )));
            };
            if key != "caches" {
                return Err(config_error(format!(
                    "unknown table [{key}]: caches are tables named [caches.NAME]"
                )));
            }
            for (name, options) in caches {
                let toml::Value::Table(options) = options else {
                    return Err(config_error(format!("caches.{name} must be a table")));
                };
                let mut entry = CacheConfig::default();
                // The URL first: options written beside it override those in its query.
                let mut options: Vec<_> = options.into_iter().collect();
                options.sort_by_key(|(option, _)| option != "url");
                for (option, value) in options {
                    let text = match value {
                        toml::Value::String(s) => s,
                        toml::Value::Integer(n) => n.to_string(),
                        toml::Value::Float(x) => x.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => {
                            return Err(options::invalid(
                                &option,
                                "must be a string, a number or a boolean",
                            ))
                        }
                    };
                    entry
                        .set_option(&option, &text)
                        .map_err(|e| in_cache(&name, e))?;
                }
                config.caches.insert(name, entry);
            }
        }
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<CachesConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read {}", path.display())).with_source(e))?;
        Self::from_toml_str(&text)
    }

    /// Reads `CACHE_*` variables from the process environment.
    pub fn from_env() -> Result<CachesConfig> {
        Self::from_vars(std::env::vars())
    }

    /// Reads `CACHE_*` variables from the pairs given (the environment, in tests).
    ///
    /// ```
    /// use cachette::CachesConfig;
    ///
    /// let config = CachesConfig::from_vars([
    ///     ("CACHE_URL".to_owned(), "memory://".to_owned()),
    ///     ("CACHE_DEFAULT_TIMEOUT".to_owned(), "45m".to_owned()),
    ///     ("CACHE_SESSIONS_URL".to_owned(), "memory://?max_entries=100".to_owned()),
    /// ])?;
    /// assert_eq!(config.caches.len(), 2);
    /// assert_eq!(config.caches["sessions"].max_entries, Some(100));
    /// # Ok::<(), cachette_api::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a `CACHE_*` variable that names no option (naming the
    /// nearest one), an empty `CACHE_URL`, or a bad value.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<CachesConfig> {
        let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("CACHE_") else {
                continue;
            };
            let Some((cache, option)) = split_env_name(rest) else {
                let guess = rest.to_ascii_lowercase();
                let err = options::unknown(&guess, &format!("the environment ({name})"));
                return Err(err);
            };
            found.entry(cache).or_default().push((option, value));
        }
        let mut config = CachesConfig::default();
        for (cache, mut options) in found {
            // The URL first: options written beside it override those in its query.
            options.sort_by_key(|(option, _)| option != "url");
            let mut entry = CacheConfig::default();
            for (option, value) in options {
                entry
                    .set_option(&option, &value)
                    .map_err(|e| in_cache(&cache, e))?;
            }
            config.caches.insert(cache, entry);
        }
        Ok(config)
    }

    /// Connects every cache.
    pub async fn build(&self) -> Result<Caches> {
        let mut caches = BTreeMap::new();
        for (name, config) in &self.caches {
            let cache = config.build().await.map_err(|e| {
                let message = format!("cache {name:?} could not be built");
                Error::new(e.kind(), message)
                    .with_temporary(e.is_temporary())
                    .with_source(e)
            })?;
            caches.insert(name.clone(), cache);
        }
        Ok(Caches { caches })
    }
}

/// Splits `SESSIONS_DEFAULT_TIMEOUT` into `("sessions", "default_timeout")` and
/// `DEFAULT_TIMEOUT` into `("default", "default_timeout")`.
fn split_env_name(rest: &str) -> Option<(String, String)> {
    // Longest names first, so that `SESSIONS_DEFAULT_TIMEOUT` is not read as an option
    // `timeout` of a cache `sessions_default`.
    let mut names: Vec<String> = options::OPTIONS
        .iter()
        .filter(|o| o.kind != options::Kind::RedisUrl)
        .map(|o| o.name.to_ascii_uppercase())
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for option in names {
        if rest == option {
            return Some((DEFAULT_CACHE.to_owned(), option.to_ascii_lowercase()));
        }
        if let Some(cache) = rest.strip_suffix(&option).and_then(|c| c.strip_suffix('_')) {
            if !cache.is_empty() {
                return Some((cache.to_ascii_lowercase(), option.to_ascii_lowercase()));
            }
        }
    }
    None
}

/// Connected caches, by name.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette::CachesConfig;
///
/// let caches = CachesConfig::from_toml_str(r#"
///     [caches.default]
///     url = "memory://"
///     prefix = "wheel_analyzer"
///     default_timeout = "45m"
/// "#)?.build().await?;
/// let cache = caches.default_cache()?;
/// cache.set("scanner:last_run", "now").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Caches {
    caches: BTreeMap<String, Cache>,
}

impl Caches {
    /// The cache called `name`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the caches that exist.
    pub fn get(&self, name: &str) -> Result<&Cache> {
        self.caches.get(name).ok_or_else(|| {
            config_error(format!(
                "no cache named {name:?}; configured: {:?}",
                self.caches.keys().collect::<Vec<_>>()
            ))
        })
    }

    /// The cache called `default`.
    pub fn default_cache(&self) -> Result<&Cache> {
        self.get(DEFAULT_CACHE)
    }

    /// The names of the caches.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.caches.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::DurationValue;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_names_split_into_cache_and_option() {
        assert_eq!(
            split_env_name("URL"),
            Some(("default".into(), "url".into()))
        );
        assert_eq!(
            split_env_name("DEFAULT_TIMEOUT"),
            Some(("default".into(), "default_timeout".into()))
        );
        assert_eq!(
            split_env_name("SESSIONS_DEFAULT_TIMEOUT"),
            Some(("sessions".into(), "default_timeout".into()))
        );
        assert_eq!(
            split_env_name("DEFAULT_URL"),
            Some(("default".into(), "url".into()))
        );
        assert_eq!(split_env_name("COLOUR"), None);
    }

    #[test]
    fn the_seed_settings_are_expressible_from_env() {
        let config = CachesConfig::from_vars(vars(&[
            ("CACHE_URL", "redis://:myStrongPassword@localhost:36379/0"),
            ("CACHE_PREFIX", "wheel_analyzer"),
            ("CACHE_VERSION", "1"),
            ("CACHE_DEFAULT_TIMEOUT", "2700"),
            ("CACHE_CONNECT_TIMEOUT", "5"),
            ("CACHE_RESPONSE_TIMEOUT", "5"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        let default = &config.caches["default"];
        assert_eq!(default.url, "redis://:myStrongPassword@localhost:36379/0");
        assert_eq!(default.prefix, "wheel_analyzer");
        assert_eq!(default.version, Some(1));
        assert_eq!(
            default.default_timeout,
            Some(DurationValue::Text("2700".into()))
        );
        assert_eq!(
            default.connect_timeout,
            Some(DurationValue::Text("5".into()))
        );
        assert!(!format!("{config:?}").contains("myStrongPassword"));
    }

    #[test]
    fn the_seed_settings_are_expressible_in_toml() {
        let config = CachesConfig::from_toml_str(
            r#"
            [caches.default]
            url = "${REDIS_URL}"
            prefix = "wheel_analyzer"
            version = 1
            default_timeout = 2700
            connect_timeout = 5
            response_timeout = 5
            "#,
        )
        .unwrap();
        let default = &config.caches["default"];
        assert_eq!(
            default.default_timeout,
            Some(DurationValue::Text("2700".into()))
        );
        assert_eq!(default.url, "${REDIS_URL}");
    }

    #[test]
    fn unknown_toml_options_are_refused() {
        let err = CachesConfig::from_toml_str("[caches.default]\ncolour = 'blue'\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("colour"), "{err}");
    }

    #[tokio::test]
    async fn named_caches_build_and_missing_names_are_config_errors() {
        let caches = CachesConfig::from_vars(vars(&[
            ("CACHE_URL", "memory://"),
            ("CACHE_SESSIONS_URL", "memory://?prefix=s"),
        ]))
        .unwrap()
        .build()
        .await
        .unwrap();
        assert_eq!(caches.names().collect::<Vec<_>>(), ["default", "sessions"]);
        assert_eq!(caches.get("sessions").unwrap().prefix(), "s");
        assert_eq!(caches.get("nope").unwrap_err().kind(), ErrorKind::Config);
    }
}
