//! [`CacheConfig`]: one cache, described by a URL plus options, as in Django's `CACHES`.

use std::fmt;

use cache_api::{Cache, CacheBuilder, DynCacheBackend, Error, ErrorKind, KeyPolicy, Result};
use serde::Deserialize;

use crate::duration::DurationValue;

/// The options a URL query may carry, besides the backend's own.
const OPTIONS: [&str; 13] = [
    "prefix",
    "version",
    "default_timeout",
    "connect_timeout",
    "response_timeout",
    "max_entries",
    "max_capacity",
    "max_bytes",
    "max_value_size",
    "max_key_length",
    "relaxed_keys",
    "fail_open",
    "tls_ca_file",
];

/// The URL schemes this build understands, by cargo feature.
pub fn supported_schemes() -> Vec<&'static str> {
    let mut schemes = Vec::new();
    if cfg!(feature = "memory") {
        schemes.push("memory://");
    }
    if cfg!(feature = "redis") {
        schemes.extend([
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
        ]);
    }
    schemes
}

/// One cache: where it lives and how keys, versions and timeouts are applied.
///
/// Every field has a default, so a config can be as short as a URL. It deserialises from TOML
/// (see [`CachesConfig`](crate::CachesConfig)) and can be read from a single URL whose query
/// carries the options:
///
/// ```
/// use caches::CacheConfig;
///
/// let config = CacheConfig::from_url(
///     "redis://:s3cret@localhost:36379/0?prefix=wheel_analyzer&default_timeout=45m&connect_timeout=5s",
/// )?;
/// assert_eq!(config.prefix, "wheel_analyzer");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), cache_api::Error>(())
/// ```
///
/// | option | default | meaning |
/// |---|---|---|
/// | `url` | `memory://` | the backend: `memory://`, `redis://[user][:password@]host[:port][/db]`, `rediss://…`, a Redis Cluster `redis+cluster://[:password@]host:port,host:port` (`rediss+cluster://` for TLS) |
/// | `prefix` | `""` | Django's `KEY_PREFIX` |
/// | `version` | `1` | Django's `VERSION` |
/// | `default_timeout` | `300` | Django's `TIMEOUT`; seconds or `45m`, `7d`; `never`; `0` stores nothing |
/// | `connect_timeout` | `5s` | Redis: bound on connecting |
/// | `response_timeout` | `5s` | Redis: bound on each reply |
/// | `max_entries` | `100000` | memory: entries held (alias `max_capacity`) |
/// | `max_bytes` | none | memory: bytes held, instead of entries |
/// | `max_value_size` | 512 MiB | largest encoded value accepted |
/// | `max_key_length` | `250` | longest composed key accepted |
/// | `relaxed_keys` | `false` | accept any non-empty key |
/// | `fail_open` | `false` | answer backend outages as misses (django-redis `IGNORE_EXCEPTIONS`) |
/// | `tls_ca_file` | none | `rediss://`: a PEM file of the CA to trust (a private CA) |
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The backend's URL; `${VAR}` is replaced by the environment variable `VAR`.
    pub url: String,
    /// Django's `KEY_PREFIX`.
    pub prefix: String,
    /// Django's `VERSION` (default 1).
    pub version: Option<i64>,
    /// Django's `TIMEOUT` (default 300 s).
    pub default_timeout: Option<DurationValue>,
    /// Redis: bound on connecting (default 5 s).
    pub connect_timeout: Option<DurationValue>,
    /// Redis: bound on each reply (default 5 s).
    pub response_timeout: Option<DurationValue>,
    /// Memory: the number of entries held (default 100,000).
    #[serde(alias = "max_capacity")]
    pub max_entries: Option<u64>,
    /// Memory: the number of bytes held, instead of entries.
    pub max_bytes: Option<u64>,
    /// The largest encoded value accepted, in bytes (default 512 MiB).
    pub max_value_size: Option<usize>,
    /// The longest composed key accepted, in bytes (default 250).
    pub max_key_length: Option<usize>,
    /// Accept any non-empty key (no length or character checks).
    pub relaxed_keys: bool,
    /// Answer backend outages as misses instead of errors (django-redis'
    /// `IGNORE_EXCEPTIONS`); see `CacheBuilder::with_fail_open`.
    pub fail_open: bool,
    /// `rediss://`: a PEM file holding the certificate of a private CA to trust.
    pub tls_ca_file: Option<String>,
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("url", &cache_api::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("version", &self.version)
            .field("default_timeout", &self.default_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("max_value_size", &self.max_value_size)
            .field("max_key_length", &self.max_key_length)
            .field("relaxed_keys", &self.relaxed_keys)
            .field("fail_open", &self.fail_open)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

fn flag(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
}

impl CacheConfig {
    /// A config for `url`, whose query may carry the options of the table above.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unparsable URL or option value.
    pub fn from_url(url: &str) -> Result<CacheConfig> {
        let mut config = CacheConfig {
            url: url.to_owned(),
            ..CacheConfig::default()
        };
        config.take_query_options()?;
        Ok(config)
    }

    /// Sets one option from its text form (as found in a URL query or an env variable).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown option or a bad value.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        let number = |v: &str| -> Result<u64> {
            v.trim()
                .parse()
                .map_err(|_| config_error(format!("option {name}: {v:?} is not a whole number")))
        };
        let duration = || Some(DurationValue::Text(value.to_owned()));
        match name {
            "url" => self.url = value.to_owned(),
            "prefix" => self.prefix = value.to_owned(),
            "version" => {
                self.version = Some(value.trim().parse().map_err(|_| {
                    config_error(format!("option version: {value:?} is not an integer"))
                })?)
            }
            "default_timeout" => self.default_timeout = duration(),
            "connect_timeout" => self.connect_timeout = duration(),
            "response_timeout" => self.response_timeout = duration(),
            "max_entries" | "max_capacity" => self.max_entries = Some(number(value)?),
            "max_bytes" => self.max_bytes = Some(number(value)?),
            "max_value_size" => self.max_value_size = Some(number(value)? as usize),
            "max_key_length" => self.max_key_length = Some(number(value)? as usize),
            "relaxed_keys" => self.relaxed_keys = flag(value),
            "fail_open" => self.fail_open = flag(value),
            "tls_ca_file" => self.tls_ca_file = Some(value.to_owned()),
            other => {
                return Err(config_error(format!(
                    "unknown option {other:?}; options are: url, {}",
                    OPTIONS.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// Moves the options found in the URL's query into the fields, leaving the backend's own
    /// query parameters in the URL.
    fn take_query_options(&mut self) -> Result<()> {
        let url = self.url.clone();
        let Some((base, query)) = url.split_once('?') else {
            return Ok(());
        };
        let mut rest = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if OPTIONS.contains(&name.as_ref()) {
                self.set_option(&name, &value)?;
            } else {
                rest.push((name.into_owned(), value.into_owned()));
            }
        }
        self.url = if rest.is_empty() {
            base.to_owned()
        } else {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish();
            format!("{base}?{query}")
        };
        Ok(())
    }

    /// The URL with `${VAR}` replaced from the environment.
    fn resolved_url(&self) -> Result<String> {
        let mut out = String::new();
        let mut rest = if self.url.is_empty() {
            "memory://"
        } else {
            self.url.as_str()
        };
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| config_error("url: `${` without a closing `}`"))?;
            let var = &after[..end];
            let value = std::env::var(var)
                .map_err(|_| config_error(format!("url: environment variable {var} is not set")))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Connects the backend and builds the [`Cache`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown scheme (naming the schemes this build supports),
    /// a scheme whose cargo feature is off, or a bad option; the backend's connection errors.
    pub async fn build(&self) -> Result<Cache> {
        let builder = self.cache_builder(self.backend().await?)?;
        builder.build()
    }

    /// Connects the backend alone.
    pub async fn backend(&self) -> Result<DynCacheBackend> {
        let url = self.resolved_url()?;
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "memory" => self.memory_backend(&url),
            "redis" | "rediss" | "redis+unix" | "unix" | "redis+cluster" | "rediss+cluster" => {
                self.redis_backend(&url).await
            }
            _ => Err(config_error(format!(
                "unknown cache URL scheme {scheme:?} in {}; this build supports {}",
                cache_api::redact_url(&url),
                supported_schemes().join(", ")
            ))),
        }
    }

    fn cache_builder(&self, backend: DynCacheBackend) -> Result<CacheBuilder> {
        let mut builder = Cache::builder(backend)
            .with_prefix(self.prefix.clone())
            .with_version(self.version.unwrap_or(1));
        if let Some(t) = &self.default_timeout {
            builder = builder.with_default_ttl(t.to_ttl("default_timeout")?);
        }
        let mut policy = if self.relaxed_keys {
            KeyPolicy::relaxed()
        } else {
            KeyPolicy::default()
        };
        if let Some(n) = self.max_key_length {
            policy = policy.with_max_len(Some(n));
        }
        builder = builder.with_key_policy(policy);
        if let Some(n) = self.max_value_size {
            builder = builder.with_max_value_size(n);
        }
        Ok(builder.with_fail_open(self.fail_open))
    }

    #[cfg(feature = "memory")]
    fn memory_backend(&self, url: &str) -> Result<DynCacheBackend> {
        if let Some((_, query)) = url.split_once('?') {
            return Err(config_error(format!(
                "memory:// takes no option {query:?}; options are: {}",
                OPTIONS.join(", ")
            )));
        }
        let mut builder = cache_memory::MemoryBackend::builder();
        if let Some(n) = self.max_entries {
            builder = builder.with_max_entries(n);
        }
        if let Some(n) = self.max_bytes {
            builder = builder.with_max_bytes(n);
        }
        Ok(std::sync::Arc::new(builder.build()))
    }

    #[cfg(not(feature = "memory"))]
    fn memory_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("memory"))
    }

    #[cfg(feature = "redis")]
    async fn redis_backend(&self, url: &str) -> Result<DynCacheBackend> {
        let mut builder = cache_redis::RedisBackend::builder().with_url(url);
        if let Some(t) = &self.connect_timeout {
            builder = builder.with_connect_timeout(t.to_duration("connect_timeout")?);
        }
        if let Some(t) = &self.response_timeout {
            builder = builder.with_response_timeout(t.to_duration("response_timeout")?);
        }
        if let Some(path) = &self.tls_ca_file {
            builder = with_tls_ca_file(builder, path)?;
        }
        Ok(std::sync::Arc::new(builder.build().await?))
    }

    #[cfg(not(feature = "redis"))]
    async fn redis_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("redis"))
    }
}

#[cfg(feature = "redis")]
fn with_tls_ca_file(
    builder: cache_redis::RedisBackendBuilder,
    path: &str,
) -> Result<cache_redis::RedisBackendBuilder> {
    let pem = std::fs::read(path).map_err(|e| {
        config_error(format!("option tls_ca_file: cannot read {path}")).with_source(e)
    })?;
    #[cfg(feature = "tls")]
    {
        Ok(builder.with_tls_root_certificate(pem))
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (builder, pem);
        Err(config_error(
            "option tls_ca_file: TLS is not compiled in: enable the cargo feature \"tls\"",
        ))
    }
}

#[allow(dead_code)] // Used only when a backend's feature is off.
fn feature_off(feature: &str) -> Error {
    config_error(format!(
        "the {feature} backend is not compiled in: enable the cargo feature {feature:?} of \
         the caches crate; this build supports {}",
        supported_schemes().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options_are_taken_and_backend_options_kept() {
        let c = CacheConfig::from_url(
            "redis://:pw@h:6379/0?prefix=wheel_analyzer&version=2&default_timeout=45m&protocol=resp3",
        )
        .unwrap();
        assert_eq!(c.url, "redis://:pw@h:6379/0?protocol=resp3");
        assert_eq!(c.prefix, "wheel_analyzer");
        assert_eq!(c.version, Some(2));
        assert_eq!(c.default_timeout, Some(DurationValue::Text("45m".into())));
        let m = CacheConfig::from_url("memory://?max_capacity=10000").unwrap();
        assert_eq!((m.url.as_str(), m.max_entries), ("memory://", Some(10_000)));
    }

    #[test]
    fn debug_and_redact_hide_the_password() {
        let c = CacheConfig::from_url("redis://user:hunter2@h:6379/0").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@h"), "{shown}");
        assert_eq!(
            cache_api::redact_url("redis://:hunter2@h/0"),
            "redis://:***@h/0"
        );
        assert_eq!(cache_api::redact_url("memory://"), "memory://");
    }

    #[test]
    fn bad_options_are_config_errors() {
        for url in [
            "memory://?version=x",
            "memory://?max_entries=-3",
            "memory://?colour=blue&prefix=p",
        ] {
            if let Err(e) = CacheConfig::from_url(url) {
                assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            } else if url.contains("colour") {
                // Unknown options stay in the URL and are refused by the backend.
            } else {
                panic!("{url} should fail");
            }
        }
    }

    #[test]
    fn every_builder_option_is_reachable_from_a_url() {
        let c = CacheConfig::from_url(
            "redis://h/0?fail_open=true&tls_ca_file=/etc/ca.pem&relaxed_keys=1&max_key_length=300&max_value_size=1024",
        )
        .unwrap();
        assert!(c.fail_open && c.relaxed_keys);
        assert_eq!(c.tls_ca_file.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            (c.max_key_length, c.max_value_size),
            (Some(300), Some(1024))
        );
        assert_eq!(c.url, "redis://h/0");
    }

    #[tokio::test]
    async fn fail_open_reaches_the_cache() {
        let cache = CacheConfig::from_url("memory://?fail_open=yes")
            .unwrap()
            .build()
            .await
            .unwrap();
        assert!(format!("{cache:?}").contains("fail_open: true"));
    }

    #[tokio::test]
    async fn unknown_scheme_names_the_supported_ones() {
        let err = CacheConfig::from_url("memcached://localhost:11211")
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("memory://"), "{err}");
        let err = CacheConfig::from_url("memory://?colour=blue")
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_cluster_urls_build_a_cache_on_the_cluster() {
        assert!(supported_schemes().contains(&"redis+cluster://"));
        let url = cache_test_support::shared_cluster_url();
        let cache = CacheConfig::from_url(&format!(
            "{url}?prefix=caches-cluster-test&default_timeout=1m&response_timeout=2s"
        ))
        .unwrap()
        .build()
        .await
        .unwrap();
        assert_eq!(cache.backend().name(), "redis");
        assert!(format!("{:?}", cache.backend()).contains("cluster: true"));
        cache.set("k", "v").await.unwrap();
        assert_eq!(
            cache.get::<String>("k").await.unwrap().as_deref(),
            Some("v")
        );
        cache.clear().await.unwrap();
        // The scheme is known: a cluster that is not there is unreachable, not misconfigured.
        let err =
            CacheConfig::from_url("redis+cluster://127.0.0.1:1,127.0.0.1:2?connect_timeout=1s")
                .unwrap()
                .build()
                .await
                .unwrap_err();
        assert_ne!(err.kind(), ErrorKind::Config, "{err:?}");
        assert!(
            !cache_api::redact_url("redis+cluster://:hunter2@h1:7000,h2:7001").contains("hunter2")
        );
    }

    #[tokio::test]
    async fn env_variables_are_substituted_in_the_url() {
        let c = CacheConfig::from_url("${CACHES_TEST_UNSET_VARIABLE}").unwrap();
        let err = c.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("CACHES_TEST_UNSET_VARIABLE"));
    }
}
