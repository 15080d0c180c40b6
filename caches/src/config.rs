//! [`CacheConfig`]: one cache, described by a URL plus options, as in Django's `CACHES`.

use std::fmt;

use cachette_api::{
    Cache, CacheBuilder, Codec, Compression, DynCacheBackend, Error, ErrorKind, KeyPolicy, Result,
};

use crate::duration::DurationValue;
use crate::options::{self, Kind, Scope};

/// The URL schemes this build understands, by cargo feature.
pub fn supported_schemes() -> Vec<&'static str> {
    let mut schemes = vec!["dummy://"];
    if cfg!(feature = "memory") {
        schemes.push("memory://");
    }
    if cfg!(feature = "memcached") {
        schemes.push("memcached://");
    }
    if cfg!(feature = "redis") {
        schemes.extend([
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
            "redis+sentinel://",
        ]);
    }
    if cfg!(feature = "postgres") {
        schemes.extend(["postgres://", "postgresql://"]);
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
/// use cachette::CacheConfig;
///
/// let config = CacheConfig::from_url(
///     "redis://:s3cret@localhost:36379/0?prefix=wheel_analyzer&default_timeout=45m&connect_timeout=5s",
/// )?;
/// assert_eq!(config.prefix, "wheel_analyzer");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), cachette_api::Error>(())
/// ```
///
/// Every option, its spellings in a URL query, TOML and the environment, its default and
/// its bounds are listed on the configuration page of the guide (docs/configuration.md),
/// which a test keeps equal to the one table the parsers use. Unknown options, values out of
/// bounds and options of another backend are errors of kind [`ErrorKind::Config`] that name
/// the option (and the nearest known one), never quote a value.
#[derive(Clone, Default, PartialEq)]
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
    /// Redis, PostgreSQL, memcached: bound on connecting (default 5 s).
    pub connect_timeout: Option<DurationValue>,
    /// Redis, PostgreSQL, memcached: bound on each reply (default 5 s).
    pub response_timeout: Option<DurationValue>,
    /// PostgreSQL: the connections of the pool; memcached: connections per server (default
    /// 8 for both).
    pub pool_size: Option<u64>,
    /// Memory: the number of entries held (default 100,000).
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
    /// `redis+sentinel://`: the sentinels' own password (never shown).
    pub sentinel_password: Option<String>,
    /// Replica URLs that reads go to (never shown with their passwords).
    pub replicas: Vec<String>,
    /// `redis+sentinel://`: reads go to the replicas the sentinels list.
    pub replica_reads: bool,
    /// With replicas: the read-your-writes window.
    pub read_your_writes: Option<DurationValue>,
    /// Feature `tiered`: an in-process L1 of this many entries over Redis.
    pub l1_max_entries: Option<u64>,
    /// Feature `tiered`: the longest an entry stays in L1.
    pub l1_max_ttl: Option<DurationValue>,
    /// Feature `tiered`: the invalidation channel (default `{prefix}:invalidation`).
    pub invalidation_channel: Option<String>,
    /// The value codec (default MessagePack); JSON and pickle need the features `json` and
    /// `pickle`.
    pub codec: Option<Codec>,
    /// Compression of encoded values (default none); each algorithm needs its feature.
    pub compression: Option<Compression>,
    /// The smallest encoded value compressed, in bytes (default 16).
    pub compress_min_size: Option<usize>,
    /// PostgreSQL: the table (default `cachette_cache`).
    pub table: Option<String>,
    /// PostgreSQL: create the table `UNLOGGED` (default true).
    pub unlogged: Option<bool>,
    /// PostgreSQL: create the table at start-up when missing (default true).
    pub create_table: Option<bool>,
    /// PostgreSQL: how often expired rows are deleted (default 60 s).
    pub cull_interval: Option<DurationValue>,
    /// PostgreSQL: the most rows one culling pass deletes (default 10,000).
    pub cull_limit: Option<u64>,
    /// PostgreSQL: Django's `CULL_FREQUENCY` (default 3).
    pub cull_frequency: Option<u64>,
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("url", &cachette_api::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("version", &self.version)
            .field("default_timeout", &self.default_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_size", &self.pool_size)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("max_value_size", &self.max_value_size)
            .field("max_key_length", &self.max_key_length)
            .field("relaxed_keys", &self.relaxed_keys)
            .field("fail_open", &self.fail_open)
            .field("tls_ca_file", &self.tls_ca_file)
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "***"),
            )
            .field(
                "replicas",
                &self
                    .replicas
                    .iter()
                    .map(|url| cachette_api::redact_url(url))
                    .collect::<Vec<_>>(),
            )
            .field("replica_reads", &self.replica_reads)
            .field("read_your_writes", &self.read_your_writes)
            .field("l1_max_entries", &self.l1_max_entries)
            .field("l1_max_ttl", &self.l1_max_ttl)
            .field("invalidation_channel", &self.invalidation_channel)
            .field("codec", &self.codec)
            .field("compression", &self.compression)
            .field("compress_min_size", &self.compress_min_size)
            .field("table", &self.table)
            .field("unlogged", &self.unlogged)
            .field("create_table", &self.create_table)
            .field("cull_interval", &self.cull_interval)
            .field("cull_limit", &self.cull_limit)
            .field("cull_frequency", &self.cull_frequency)
            .finish()
    }
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
}

impl CacheConfig {
    /// A config for `url`, whose query may carry options.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an empty URL, an unknown option or a bad value.
    pub fn from_url(url: &str) -> Result<CacheConfig> {
        let mut config = CacheConfig::default();
        config.set_option("url", url)?;
        Ok(config)
    }

    /// Sets one option from its text form (as found in a URL query, a TOML file or an
    /// environment variable). Setting `url` also takes the options found in its query.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown option or a bad value; the message names the
    /// option, never the value.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        let Some(spec) = options::find(name) else {
            return Err(options::unknown(name, "the cache's options"));
        };
        match spec.kind {
            Kind::Url => return self.set_url(value),
            Kind::RedisUrl => {
                return Err(options::invalid(
                    name,
                    "belongs in the query of a redis URL, not beside it",
                ))
            }
            Kind::Wait => {
                DurationValue::Text(value.to_owned()).to_duration(name)?;
            }
            Kind::Ttl => {
                DurationValue::Text(value.to_owned()).to_ttl(name)?;
            }
            _ => {}
        }
        let duration = || Some(DurationValue::Text(value.to_owned()));
        match name {
            "prefix" => self.prefix = value.to_owned(),
            "version" => self.version = Some(options::parse_integer(name, value)?),
            "default_timeout" => self.default_timeout = duration(),
            "connect_timeout" => self.connect_timeout = duration(),
            "response_timeout" => self.response_timeout = duration(),
            "pool_size" => self.pool_size = Some(options::parse_count(name, value)?),
            "max_entries" => self.max_entries = Some(options::parse_count(name, value)?),
            "max_bytes" => self.max_bytes = Some(options::parse_count(name, value)?),
            "max_value_size" => self.max_value_size = Some(size(name, value)?),
            "max_key_length" => self.max_key_length = Some(size(name, value)?),
            "relaxed_keys" => self.relaxed_keys = options::parse_flag(name, value)?,
            "fail_open" => self.fail_open = options::parse_flag(name, value)?,
            "tls_ca_file" => self.tls_ca_file = Some(value.to_owned()),
            "sentinel_password" => self.sentinel_password = Some(value.to_owned()),
            "replicas" => {
                self.replicas = value
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "replica_reads" => self.replica_reads = options::parse_flag(name, value)?,
            "read_your_writes" => self.read_your_writes = duration(),
            "l1_max_entries" => self.l1_max_entries = Some(options::parse_count(name, value)?),
            "l1_max_ttl" => self.l1_max_ttl = duration(),
            "invalidation_channel" => self.invalidation_channel = Some(value.to_owned()),
            "codec" => {
                self.codec = Some(
                    value
                        .parse()
                        .map_err(|_| options::invalid(name, "is not msgpack, json or pickle"))?,
                )
            }
            "compression" => {
                self.compression = Some(
                    value
                        .parse()
                        .map_err(|_| options::invalid(name, "is not none, zlib, lz4 or zstd"))?,
                )
            }
            "compress_min_size" => {
                self.compress_min_size = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| options::invalid(name, "is not a whole number"))?,
                )
            }
            "table" => self.table = Some(value.to_owned()),
            "unlogged" => self.unlogged = Some(options::parse_flag(name, value)?),
            "create_table" => self.create_table = Some(options::parse_flag(name, value)?),
            "cull_interval" => self.cull_interval = duration(),
            "cull_limit" => self.cull_limit = Some(options::parse_count(name, value)?),
            "cull_frequency" => self.cull_frequency = Some(options::parse_count(name, value)?),
            _ => return Err(options::unknown(name, "the cache's options")),
        }
        Ok(())
    }

    /// Sets the URL and takes the options of its query, leaving the Redis URL's own query
    /// parameters in it, and every parameter of a PostgreSQL URL that is not an option of
    /// the table (`sslmode`, `application_name`, `host`, …: `tokio-postgres` reads them, and
    /// refuses those it does not know).
    fn set_url(&mut self, url: &str) -> Result<()> {
        if url.trim().is_empty() {
            return Err(options::invalid(
                "url",
                "is empty: write memory:// for an in-process cache, or a redis:// URL",
            ));
        }
        let (base, query) = split_query(url);
        let Some(query) = query else {
            self.url = url.to_owned();
            return Ok(());
        };
        let postgres = base.starts_with("postgres://") || base.starts_with("postgresql://");
        let mut kept = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match options::find(&name) {
                Some(spec) if spec.kind == Kind::RedisUrl => {
                    kept.push((name.into_owned(), value.into_owned()))
                }
                Some(_) => self.set_option(&name, &value)?,
                None if postgres => kept.push((name.into_owned(), value.into_owned())),
                None => return Err(options::unknown(&name, "the URL's query")),
            }
        }
        self.url = if kept.is_empty() {
            base.to_owned()
        } else {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .finish();
            format!("{base}?{query}")
        };
        Ok(())
    }

    /// Refuses the options set that do not apply to a backend of `scope` (`None`: a backend
    /// that takes only the options of every backend).
    fn misplaced(&self, scope: Option<Scope>) -> Result<()> {
        let set = [
            ("connect_timeout", self.connect_timeout.is_some()),
            ("response_timeout", self.response_timeout.is_some()),
            ("pool_size", self.pool_size.is_some()),
            ("tls_ca_file", self.tls_ca_file.is_some()),
            ("sentinel_password", self.sentinel_password.is_some()),
            ("replicas", !self.replicas.is_empty()),
            ("replica_reads", self.replica_reads),
            ("read_your_writes", self.read_your_writes.is_some()),
            ("max_entries", self.max_entries.is_some()),
            ("max_bytes", self.max_bytes.is_some()),
            ("l1_max_entries", self.l1_max_entries.is_some()),
            ("l1_max_ttl", self.l1_max_ttl.is_some()),
            ("invalidation_channel", self.invalidation_channel.is_some()),
            ("table", self.table.is_some()),
            ("unlogged", self.unlogged.is_some()),
            ("create_table", self.create_table.is_some()),
            ("cull_interval", self.cull_interval.is_some()),
            ("cull_limit", self.cull_limit.is_some()),
            ("cull_frequency", self.cull_frequency.is_some()),
        ];
        for (name, is_set) in set {
            let applies = options::find(name).map(|o| o.scope);
            if is_set && !applies.is_some_and(|a| a.covers(scope)) {
                return Err(options::invalid(
                    name,
                    "is set, but the option does not apply to this backend",
                ));
            }
        }
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
            "dummy" => self.dummy_backend(&url),
            "postgres" | "postgresql" => self.postgres_backend(&url).await,
            "redis" | "rediss" | "redis+unix" | "unix" | "redis+cluster" | "rediss+cluster"
            | "redis+sentinel" => self.redis_backend(&url).await,
            "memcached" => self.memcached_backend(&url).await,
            _ => Err(config_error(format!(
                "unknown cache URL scheme {scheme:?} in {}; this build supports {}",
                cachette_api::redact_url(&url),
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
        if let Some(codec) = self.codec {
            builder = builder.with_codec(codec);
        }
        if let Some(compression) = self.compression {
            builder = builder.with_compression(compression);
        }
        if let Some(n) = self.compress_min_size {
            builder = builder.with_compress_min_size(n);
        }
        Ok(builder.with_fail_open(self.fail_open))
    }

    #[cfg(feature = "memory")]
    fn memory_backend(&self, url: &str) -> Result<DynCacheBackend> {
        let (base, query) = split_query(url);
        if query.is_some() {
            return Err(options::invalid(
                "url",
                "of a memory:// cache takes none of the redis URL's own parameters",
            ));
        }
        self.misplaced(Some(Scope::Memory))?;
        let mut builder = cachette_memory::MemoryBackend::builder();
        if let Some(n) = self.max_entries {
            builder = builder.with_max_entries(n);
        }
        if let Some(n) = self.max_bytes {
            builder = builder.with_max_bytes(n);
        }
        let name = base.trim_start_matches("memory://").trim_end_matches('/');
        if name.is_empty() {
            return Ok(std::sync::Arc::new(builder.build()));
        }
        crate::memory_stores::shared(name, (self.max_entries, self.max_bytes), builder)
    }

    /// `dummy://`: Django's `DummyCache`, which stores nothing.
    fn dummy_backend(&self, url: &str) -> Result<DynCacheBackend> {
        if !url
            .trim_start_matches("dummy://")
            .trim_end_matches('/')
            .is_empty()
        {
            return Err(options::invalid(
                "url",
                "of a dummy cache is `dummy://` alone: it has no address or parameters",
            ));
        }
        self.misplaced(None)?;
        Ok(std::sync::Arc::new(cachette_api::DummyBackend::new()))
    }

    #[cfg(feature = "postgres")]
    async fn postgres_backend(&self, url: &str) -> Result<DynCacheBackend> {
        self.misplaced(Some(Scope::Postgres))?;
        // Fail-open caches build while PostgreSQL is down and connect when it is back.
        let mut builder = cachette_postgres::PostgresBackend::builder()
            .with_url(url)
            .with_lazy_connect(self.fail_open)
            .with_max_entries(self.max_entries);
        if let Some(t) = &self.connect_timeout {
            builder = builder.with_connect_timeout(t.to_duration("connect_timeout")?);
        }
        if let Some(t) = &self.response_timeout {
            builder = builder.with_response_timeout(t.to_duration("response_timeout")?);
        }
        if let Some(table) = &self.table {
            builder = builder.with_table(table.clone());
        }
        if let Some(unlogged) = self.unlogged {
            builder = builder.with_unlogged(unlogged);
        }
        if let Some(create) = self.create_table {
            builder = builder.with_create_table(create);
        }
        if let Some(n) = self.pool_size {
            let n =
                usize::try_from(n).map_err(|_| options::invalid("pool_size", "is too large"))?;
            builder = builder.with_pool_size(n);
        }
        if let Some(t) = &self.cull_interval {
            builder = builder.with_cull_interval(Some(t.to_duration("cull_interval")?));
        }
        if let Some(n) = self.cull_limit {
            builder = builder.with_cull_limit(n);
        }
        if let Some(n) = self.cull_frequency {
            builder = builder.with_cull_frequency(n);
        }
        if let Some(path) = &self.tls_ca_file {
            // Read (and refused without the feature `tls`) by the builder.
            builder = builder.with_tls_ca_file(path);
        }
        Ok(std::sync::Arc::new(builder.build().await?))
    }

    #[cfg(not(feature = "postgres"))]
    async fn postgres_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("postgres"))
    }

    #[cfg(not(feature = "memory"))]
    fn memory_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("memory"))
    }

    #[cfg(feature = "memcached")]
    async fn memcached_backend(&self, url: &str) -> Result<DynCacheBackend> {
        self.misplaced(Some(Scope::Memcached))?;
        let mut builder = cachette_memcached::MemcachedBackend::builder().with_url(url);
        if let Some(t) = &self.connect_timeout {
            builder = builder.with_connect_timeout(t.to_duration("connect_timeout")?);
        }
        if let Some(t) = &self.response_timeout {
            builder = builder.with_response_timeout(t.to_duration("response_timeout")?);
        }
        if let Some(n) = self.pool_size {
            builder = builder.with_pool_size(usize::try_from(n).unwrap_or(usize::MAX));
        }
        let backend = builder.build()?;
        // Fail-open caches build while the servers are down and connect when they are back.
        if !self.fail_open {
            backend.ping().await?;
        }
        Ok(std::sync::Arc::new(backend))
    }

    #[cfg(not(feature = "memcached"))]
    async fn memcached_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("memcached"))
    }

    #[cfg(feature = "redis")]
    async fn redis_backend(&self, url: &str) -> Result<DynCacheBackend> {
        self.misplaced(Some(Scope::Redis))?;
        if self.l1_max_entries.is_some()
            && (url.contains("+cluster://") || url.contains("+sentinel://"))
        {
            return Err(options::invalid(
                "l1_max_entries",
                "asks for a tiered cache, which a URL builds over one Redis server, not a \
                 cluster or Sentinel",
            ));
        }
        // Fail-open caches build while Redis is down and connect when it is back.
        let mut builder = cachette_redis::RedisBackend::builder()
            .with_url(url)
            .with_lazy_connect(self.fail_open);
        if let Some(t) = &self.connect_timeout {
            builder = builder.with_connect_timeout(t.to_duration("connect_timeout")?);
        }
        if let Some(t) = &self.response_timeout {
            builder = builder.with_response_timeout(t.to_duration("response_timeout")?);
        }
        if let Some(path) = &self.tls_ca_file {
            builder = with_tls_ca_file(builder, path)?;
        }
        if let Some(password) = &self.sentinel_password {
            builder = builder.with_sentinel_password(password);
        }
        if !self.replicas.is_empty() {
            builder = builder.with_replica_urls(self.replicas.iter().cloned());
        }
        if let Some(t) = &self.read_your_writes {
            builder = builder.with_read_your_writes(t.to_duration("read_your_writes")?);
        }
        let redis = builder
            .with_replica_reads(self.replica_reads)
            .build()
            .await?;
        if self.l1_max_entries.is_none() {
            if self.l1_max_ttl.is_some() || self.invalidation_channel.is_some() {
                return Err(options::invalid(
                    "l1_max_entries",
                    "is needed for a tiered cache (l1_max_ttl and invalidation_channel are set)",
                ));
            }
            return Ok(std::sync::Arc::new(redis));
        }
        self.tiered(url, redis).await
    }

    /// An in-process L1 over `redis`, coherent by pub/sub on the same server.
    #[cfg(feature = "tiered")]
    async fn tiered(
        &self,
        url: &str,
        redis: cachette_redis::RedisBackend,
    ) -> Result<DynCacheBackend> {
        let entries = self
            .l1_max_entries
            .unwrap_or(cachette_memory::DEFAULT_MAX_ENTRIES);
        let l1 = cachette_memory::MemoryBackend::builder()
            .with_max_entries(entries)
            .build();
        let channel_name = match &self.invalidation_channel {
            Some(name) => name.clone(),
            None => format!("{}:invalidation", self.prefix),
        };
        let mut channel = cachette_redis::RedisInvalidation::builder(url, channel_name);
        if let Some(t) = &self.connect_timeout {
            channel = channel.with_timeout(t.to_duration("connect_timeout")?);
        }
        let mut layer = cachette_tiered::TieredLayer::builder(l1, redis)
            .with_invalidation(channel.build().await?);
        if let Some(t) = &self.l1_max_ttl {
            layer = layer.with_l1_max_ttl(t.to_duration("l1_max_ttl")?);
        }
        Ok(std::sync::Arc::new(layer.build().await?))
    }

    #[cfg(all(feature = "redis", not(feature = "tiered")))]
    async fn tiered(
        &self,
        _url: &str,
        _redis: cachette_redis::RedisBackend,
    ) -> Result<DynCacheBackend> {
        Err(feature_off("tiered"))
    }

    #[cfg(not(feature = "redis"))]
    async fn redis_backend(&self, _url: &str) -> Result<DynCacheBackend> {
        Err(feature_off("redis"))
    }
}

#[cfg(feature = "redis")]
fn with_tls_ca_file(
    builder: cachette_redis::RedisBackendBuilder,
    path: &str,
) -> Result<cachette_redis::RedisBackendBuilder> {
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

/// Splits a URL at the `?` of its query, found after the user information, so that a
/// password holding a raw `?` stays in the user information (and hidden).
fn split_query(url: &str) -> (&str, Option<&str>) {
    let after_userinfo = url.rfind('@').map_or(0, |at| at + 1);
    match url[after_userinfo..].find('?') {
        Some(q) => {
            let q = after_userinfo + q;
            (&url[..q], Some(&url[q + 1..]))
        }
        None => (url, None),
    }
}

/// A size in bytes, at least 1.
fn size(option: &str, value: &str) -> Result<usize> {
    usize::try_from(options::parse_count(option, value)?)
        .map_err(|_| options::invalid(option, "is too large"))
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
        let m = CacheConfig::from_url("memory://?max_entries=10000").unwrap();
        assert_eq!((m.url.as_str(), m.max_entries), ("memory://", Some(10_000)));
    }

    #[test]
    fn debug_and_redact_hide_the_password() {
        let c = CacheConfig::from_url("redis://user:hunter2@h:6379/0").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@h"), "{shown}");
        assert_eq!(
            cachette_api::redact_url("redis://:hunter2@h/0"),
            "redis://:***@h/0"
        );
        assert_eq!(cachette_api::redact_url("memory://"), "memory://");
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

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn codec_options_reach_the_cache() {
        let c =
            CacheConfig::from_url("memory://?codec=MsgPack&compression=none&compress_min_size=0")
                .unwrap();
        assert_eq!(
            (c.codec, c.compression, c.compress_min_size),
            (Some(Codec::MessagePack), Some(Compression::None), Some(0))
        );
        let cache = c.build().await.unwrap();
        assert_eq!(
            (cache.codec(), cache.compression()),
            (Codec::MessagePack, Compression::None)
        );
        for (url, option) in [
            ("memory://?codec=yaml", "codec"),
            ("memory://?compression=gzip", "compression"),
            ("memory://?compress_min_size=-1", "compress_min_size"),
        ] {
            let err = CacheConfig::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.message().contains(&format!("`{option}`")), "{err}");
        }
        // The facade's tests build cachette-api with every codec (a dev-dependency), so
        // what is available is asked at run time, not by this crate's own features.
        let built = CacheConfig::from_url("memory://?codec=pickle&compression=zlib")
            .unwrap()
            .build()
            .await;
        match (
            Codec::Pickle.is_available(),
            Compression::Zlib.is_available(),
        ) {
            (true, true) => {
                let cache = built.unwrap();
                assert_eq!(
                    (cache.codec(), cache.compression()),
                    (Codec::Pickle, Compression::Zlib)
                );
            }
            (false, _) => assert!(built.unwrap_err().message().contains("feature `pickle`")),
            (true, false) => assert!(built.unwrap_err().message().contains("feature `zlib`")),
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
        let c =
            CacheConfig::from_url("postgres://h/db?sslmode=verify-full&tls_ca_file=/etc/ca.pem")
                .unwrap();
        assert_eq!(c.tls_ca_file.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(c.url, "postgres://h/db?sslmode=verify-full");
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
        let err = CacheConfig::from_url("mongodb://localhost:27017")
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("memory://"), "{err}");
        let err = CacheConfig::from_url("memory://?colour=blue").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[cfg(feature = "redis")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_sentinel_urls_build_from_toml_and_the_environment() {
        let deployment = tokio::task::spawn_blocking(|| {
            cache_test_support::RedisSentinel::start_with(Some("data-pw"), Some("sentinel-pw"))
        })
        .await
        .unwrap()
        .unwrap();
        // The test support puts the sentinels' password in the query: taken out here, to be
        // given beside the URL.
        let url = deployment
            .url()
            .replace("?sentinel_password=sentinel-pw", "");
        let toml = format!(
            "[caches.default]\nurl = \"{url}\"\nsentinel_password = \"sentinel-pw\"\n\
             replica_reads = true\nread_your_writes = \"2s\"\nprefix = \"facade\"\n"
        );
        let from_toml = crate::CachesConfig::from_toml_str(&toml).unwrap();
        let from_env = crate::CachesConfig::from_vars([
            ("CACHE_URL".to_owned(), url.clone()),
            (
                "CACHE_SENTINEL_PASSWORD".to_owned(),
                "sentinel-pw".to_owned(),
            ),
            ("CACHE_REPLICA_READS".to_owned(), "true".to_owned()),
            ("CACHE_READ_YOUR_WRITES".to_owned(), "2s".to_owned()),
        ])
        .unwrap();
        for config in [from_toml, from_env] {
            let shown = format!("{config:?}");
            assert!(
                !shown.contains("data-pw") && !shown.contains("sentinel-pw"),
                "{shown}"
            );
            let caches = config.build().await.unwrap();
            let cache = caches.default_cache().unwrap();
            let shown = format!("{:?}", cache.backend());
            assert!(shown.contains("sentinel: true"), "{shown}");
            assert!(
                !shown.contains("data-pw") && !shown.contains("sentinel-pw"),
                "{shown}"
            );
            cache.set("k", "v").await.unwrap();
            assert_eq!(
                cache.get::<String>("k").await.unwrap().as_deref(),
                Some("v")
            );
        }
        // Without the sentinels' password: refused, a configuration error.
        let err = CacheConfig::from_url(&url)
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        // Replica options on a memory cache are misplaced.
        let err = CacheConfig::from_url("memory://?replica_reads=true")
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
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
            !cachette_api::redact_url("redis+cluster://:hunter2@h1:7000,h2:7001")
                .contains("hunter2")
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
