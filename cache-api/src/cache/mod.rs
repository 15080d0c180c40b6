//! [`Cache`]: the typed handle applications use, with Django's whole API.
//!
//! The handle's methods live by theme: [`read`] (get, get_many, has_key, ttl), [`write`]
//! (set, add, set_many, touch, delete, delete_many, clear, close), [`counter`] (incr, decr),
//! [`version`] (incr_version, decr_version), and the loading methods in
//! [`crate::load`]. Every one of them goes through the private call path of [`call`].

mod call;
mod counter;
mod read;
mod version;
mod write;

use std::fmt;
use std::sync::Arc;

pub(crate) use call::Call;

use crate::builder::CacheBuilder;
use crate::codec::ValueCodec;
use crate::expiry::Lifetime;
use crate::key::KeyMaker;
use crate::load::SingleFlight;
use crate::stats::{CacheStats, Counters};
use crate::{DynCacheBackend, Error, Expiry, KeyPolicy, Result, Ttl};

/// What every view of one cache shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) backend: DynCacheBackend,
    pub(crate) prefix: String,
    pub(crate) default_ttl: Ttl,
    pub(crate) default_lifetime: Lifetime,
    pub(crate) policy: KeyPolicy,
    pub(crate) max_value_size: usize,
    pub(crate) codec: ValueCodec,
    pub(crate) fail_open: bool,
    pub(crate) counters: Counters,
    pub(crate) flights: Arc<SingleFlight>,
}

/// The typed cache handle: Django's cache API over any [`CacheBackend`](crate::CacheBackend).
///
/// A `Cache` composes keys as `{prefix}:{version}:{key}` (Django's default key function),
/// validates them with its [`KeyPolicy`], encodes values with its [`Codec`](crate::Codec)
/// (MessagePack unless the builder chose another), applies the
/// default TTL, and counts hits and misses. Cloning is cheap and clones share everything,
/// counters included.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::time::Duration;
/// use cachette_api::Ttl;
///
/// let cache = cachette_memory::MemoryBackend::new().cache();
/// cache.set("greeting", "hello").await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
///
/// assert!(cache.add("counter", &1).await?);
/// assert_eq!(cache.incr("counter", 41).await?, 42);
///
/// cache.set_opts("short", &true, Duration::from_millis(50)).await?;
/// cache.set_opts("forever", &true, Ttl::Never).await?;
/// assert!(cache.delete("greeting").await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) shared: Arc<Shared>,
    version: i64,
    namespace: Arc<str>,
    keys: Arc<KeyMaker>,
}

// Compile-time check: the handle crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cache>();
    assert_send_sync::<Error>();
};

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.shared.backend.name())
            .field("prefix", &self.shared.prefix)
            .field("version", &self.version)
            .field("namespace", &&*self.namespace)
            .field("fail_open", &self.shared.fail_open)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A builder over `backend`: prefix, version, default TTL, key policy, fail-open.
    pub fn builder(backend: DynCacheBackend) -> CacheBuilder {
        CacheBuilder::new(backend)
    }

    /// A cache over `backend` with Django's defaults: no prefix, version 1, 300 s TTL.
    pub fn new(backend: DynCacheBackend) -> Self {
        let backend_name = backend.name();
        let shared = Shared {
            backend,
            prefix: String::new(),
            default_ttl: Ttl::After(crate::DEFAULT_TTL),
            default_lifetime: Lifetime::Keep(Expiry::After(crate::DEFAULT_TTL)),
            policy: KeyPolicy::default(),
            max_value_size: crate::DEFAULT_MAX_VALUE_SIZE,
            codec: ValueCodec::default(),
            fail_open: false,
            counters: Counters::new(backend_name),
            flights: Arc::default(),
        };
        Cache::from_parts(Arc::new(shared), 1, Arc::from(""))
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, version: i64, namespace: Arc<str>) -> Self {
        let keys = Arc::new(KeyMaker::new(&shared.prefix, version, &namespace));
        Cache {
            shared,
            version,
            namespace,
            keys,
        }
    }

    /// A view whose keys live under `namespace`: `cache.namespace("alphavantage")` reads
    /// `get("earnings:AAPL")` from `{prefix}:{version}:alphavantage:earnings:AAPL`.
    ///
    /// Views nest (`cache.namespace("scanner").namespace("sma")`) and share the backend and
    /// the counters.
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache_builder().with_prefix("wheel_analyzer").build()?;
    /// let sma = cache.namespace("scanner").namespace("sma");
    /// assert_eq!(sma.make_key("AAPL")?, "wheel_analyzer:1:scanner:sma:AAPL");
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self, namespace: &str) -> Cache {
        let ns: Arc<str> = Arc::from(format!("{}{namespace}:", self.namespace));
        Cache::from_parts(self.shared.clone(), self.version, ns)
    }

    /// A view at another version: Django's per-call `version=` argument, as a handle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// let v2 = cache.with_version(2);
    /// v2.set("answer", &42).await?;
    /// assert_eq!(v2.get::<i32>("answer").await?, Some(42));
    /// assert_eq!(cache.get::<i32>("answer").await?, None);
    /// # Ok(()) }
    /// ```
    pub fn with_version(&self, version: i64) -> Cache {
        Cache::from_parts(self.shared.clone(), version, self.namespace.clone())
    }

    /// The backend this cache was built on.
    pub fn backend(&self) -> &DynCacheBackend {
        &self.shared.backend
    }

    /// The key prefix (Django's `KEY_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The version of this view (Django's `VERSION`).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The TTL of writes that give none (Django's `TIMEOUT`).
    pub fn default_ttl(&self) -> Ttl {
        self.shared.default_ttl
    }

    /// The format this cache stores values in.
    pub fn codec(&self) -> crate::Codec {
        self.shared.codec.codec
    }

    /// How this cache compresses values.
    pub fn compression(&self) -> crate::Compression {
        self.shared.codec.compression
    }

    /// A snapshot of the counters of this cache (shared by all its views).
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }

    /// The final key stored in the backend for `key` (Django's `make_key`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`](crate::ErrorKind::InvalidKey) when the key breaks the
    /// [`KeyPolicy`].
    pub fn make_key(&self, key: &str) -> Result<String> {
        self.call("make_key", Some(key)).compose(key)
    }

    /// What a write with `ttl` does with its entry.
    pub(crate) fn lifetime(&self, ttl: Ttl) -> Lifetime {
        ttl.lifetime(self.shared.default_lifetime)
    }

    /// The composed prefix of this view's keys: `{prefix}:{version}:{namespace}`.
    pub(crate) fn head(&self) -> &str {
        self.keys.head()
    }

    /// Whether this view is the root (no namespace).
    pub(crate) fn is_root(&self) -> bool {
        self.namespace.is_empty()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub(crate) fn key_maker(&self) -> &KeyMaker {
        &self.keys
    }
}
