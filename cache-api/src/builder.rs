//! [`CacheBuilder`]: prefix, version, default TTL, key policy, value size limit, fail-open.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Cache, Shared};
use crate::codec::{Codec, Compression, ValueCodec, DEFAULT_COMPRESS_MIN_SIZE};
use crate::expiry::Lifetime;
use crate::key::KeyMaker;
use crate::{DynCacheBackend, Error, ErrorKind, Expiry, KeyPolicy, Result, Ttl};

/// Django's default `TIMEOUT`, the TTL of writes that give none: 300 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The largest encoded value accepted by default: 512 MiB, Redis' own limit.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 512 * 1024 * 1024;

/// Builds a [`Cache`] over a backend.
///
/// ```
/// # fn main() -> cachette_api::Result<()> {
/// use std::sync::Arc;
/// use cachette_api::{Cache, Ttl};
///
/// let cache = Cache::builder(Arc::new(cachette_memory::MemoryBackend::new()))
///     .with_prefix("wheel_analyzer")
///     .with_version(1)
///     .with_default_ttl(Ttl::secs(45 * 60))
///     .build()?;
/// assert_eq!(cache.make_key("scanner:last_run")?, "wheel_analyzer:1:scanner:last_run");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    backend: DynCacheBackend,
    prefix: String,
    version: i64,
    default_ttl: Ttl,
    key_policy: KeyPolicy,
    max_value_size: usize,
    fail_open: bool,
    codec: Codec,
    compression: Compression,
    compress_min_size: usize,
}

impl CacheBuilder {
    /// A builder with Django's defaults: empty prefix, version 1, 300 s TTL.
    pub fn new(backend: DynCacheBackend) -> Self {
        CacheBuilder {
            backend,
            prefix: String::new(),
            version: 1,
            default_ttl: Ttl::After(DEFAULT_TTL),
            key_policy: KeyPolicy::default(),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            fail_open: false,
            codec: Codec::MessagePack,
            compression: Compression::None,
            compress_min_size: DEFAULT_COMPRESS_MIN_SIZE,
        }
    }

    /// Django's `KEY_PREFIX`: the first part of every composed key.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Django's `VERSION`: the second part of every composed key (default 1).
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// Django's `TIMEOUT`: the TTL of writes that give none (default 300 s).
    ///
    /// [`Ttl::Never`] keeps entries forever; a zero duration stores nothing;
    /// [`Ttl::Default`] means 300 s.
    pub fn with_default_ttl(mut self, ttl: impl Into<Ttl>) -> Self {
        self.default_ttl = match ttl.into() {
            Ttl::Default => Ttl::After(DEFAULT_TTL),
            t => t,
        };
        self
    }

    /// Which keys are accepted (default: [`KeyPolicy::default`]).
    pub fn with_key_policy(mut self, policy: KeyPolicy) -> Self {
        self.key_policy = policy;
        self
    }

    /// The largest encoded value accepted, in bytes (default 512 MiB); larger values are
    /// refused with [`ErrorKind::TooLarge`] before they reach the backend.
    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// The format values are stored in (default [`Codec::MessagePack`]); [`Codec::Json`] and
    /// [`Codec::Pickle`] need the cargo features `json` and `pickle`, and share a cache with
    /// django-redis's `JSONSerializer` and with Django's `RedisCache` (docs/django-interop.md).
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// use cachette_api::Codec;
    ///
    /// let builder = cachette_memory::MemoryBackend::new().cache_builder().with_codec(Codec::MessagePack);
    /// assert_eq!(builder.build()?.codec(), Codec::MessagePack);
    /// # Ok(()) }
    /// ```
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Compresses encoded values of at least the minimum size
    /// ([`with_compress_min_size`](CacheBuilder::with_compress_min_size), default 16 bytes) in
    /// django-redis's framing for `compression` (default [`Compression::None`]; each
    /// algorithm needs its cargo feature: `zlib`, `lz4`, `zstd`). Integers are never
    /// compressed. Reads inflate values in that framing, and refuse one that would grow past
    /// [`with_max_value_size`](CacheBuilder::with_max_value_size).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The smallest encoded value that is compressed, in bytes (default 16, as django-redis
    /// compresses values longer than 15 bytes).
    pub fn with_compress_min_size(mut self, bytes: usize) -> Self {
        self.compress_min_size = bytes;
        self
    }

    /// Answers backend outages as misses instead of errors, like django-redis'
    /// `IGNORE_EXCEPTIONS` (off by default).
    ///
    /// When on, an error of kind [`ErrorKind::Unavailable`] or [`ErrorKind::Timeout`] makes
    /// reads answer a miss (`get` → `None`, `has_key` → `false`, `get_many` → nothing found)
    /// and writes answer "not stored" (`add`/`touch`/`delete` → `false`, `set_many` → every
    /// key failed, `set` → `Ok`); the `get_or_set` family runs its loader and returns the
    /// value.
    /// Each ignored error is counted in [`CacheStats::ignored_errors`](crate::CacheStats) and
    /// logged through `tracing` at WARN. `incr`, `decr`, `ttl`, `clear` and the version moves
    /// still return the error: they have no meaningful "miss". Other kinds of error (invalid
    /// keys, decode failures) are never ignored.
    pub fn with_fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the prefix breaks the key policy (whitespace, control
    /// characters, or longer than the key limit by itself), or when the codec or the
    /// compression needs a cargo feature this build does not have.
    pub fn build(self) -> Result<Cache> {
        let keys = KeyMaker::new(&self.prefix, self.version, "");
        self.key_policy.check(keys.head()).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "key prefix {:?} is not allowed: {}",
                    self.prefix,
                    e.message()
                ),
            )
        })?;
        let codec = ValueCodec {
            codec: self.codec,
            compression: self.compression,
            compress_min_size: self.compress_min_size,
            max_value_size: self.max_value_size,
        };
        codec.check()?;
        let backend_name = self.backend.name();
        let shared = Shared {
            backend: self.backend,
            prefix: self.prefix,
            default_ttl: self.default_ttl,
            default_lifetime: self.default_ttl.lifetime(Lifetime::Keep(Expiry::Never)),
            policy: self.key_policy,
            max_value_size: self.max_value_size,
            codec,
            fail_open: self.fail_open,
            counters: crate::stats::Counters::new(backend_name),
            flights: Default::default(),
        };
        Ok(Cache::from_parts(
            Arc::new(shared),
            self.version,
            Arc::from(""),
        ))
    }
}
