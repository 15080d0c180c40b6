//! [`Cache`]: the typed handle applications use, with Django's whole API.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::builder::CacheBuilder;
use crate::inflight::{self, InFlight, Role};
use crate::key::KeyMaker;
use crate::stats::{CacheStats, Counters};
use crate::{
    codec, CallOptions, DynCacheBackend, Error, ErrorKind, Expiry, KeyPolicy, KeyTtl, Result,
    SetMode, SetOptions, Timeout,
};

/// What every view of one cache shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) backend: DynCacheBackend,
    prefix: String,
    default_timeout: Timeout,
    pub(crate) default_expiry: Option<Expiry>,
    policy: KeyPolicy,
    max_value_size: usize,
    fail_open: bool,
    pub(crate) counters: Counters,
    pub(crate) inflight: Arc<InFlight>,
}

impl Shared {
    pub(crate) fn new(
        backend: DynCacheBackend,
        prefix: String,
        default_timeout: Timeout,
        default_expiry: Option<Expiry>,
        policy: KeyPolicy,
        max_value_size: usize,
        fail_open: bool,
    ) -> Self {
        Shared {
            backend,
            prefix,
            default_timeout,
            default_expiry,
            policy,
            max_value_size,
            fail_open,
            counters: Counters::default(),
            inflight: Arc::new(InFlight::default()),
        }
    }
}

/// The typed cache handle: Django's cache API over any [`CacheBackend`](crate::CacheBackend).
///
/// A `Cache` composes keys as `{prefix}:{version}:{key}` (Django's default key function),
/// validates them with its [`KeyPolicy`], encodes values with MessagePack (see [`codec`]),
/// applies the default timeout, and counts hits and misses. Cloning is cheap and clones share
/// everything, counters included.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_api::Result<()> {
/// use std::time::Duration;
/// use cache_api::Timeout;
///
/// let cache = cache_memory::MemoryBackend::new().cache();
/// cache.set("greeting", "hello").await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
///
/// assert!(cache.add("counter", &1).await?);
/// assert_eq!(cache.incr("counter", 41).await?, 42);
///
/// cache.set_opts("short", &true, Duration::from_millis(50)).await?;
/// cache.set_opts("forever", &true, Timeout::Never).await?;
/// assert!(cache.delete("greeting").await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
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

impl Cache {
    /// A builder over `backend`; see [`CacheBuilder`].
    pub fn builder(backend: DynCacheBackend) -> CacheBuilder {
        CacheBuilder::new(backend)
    }

    /// A cache over `backend` with Django's defaults: no prefix, version 1, 300 s timeout.
    pub fn new(backend: DynCacheBackend) -> Self {
        Cache::from_parts(
            Arc::new(Shared::new(
                backend,
                String::new(),
                Timeout::After(crate::DEFAULT_TIMEOUT),
                Some(Expiry::After(crate::DEFAULT_TIMEOUT)),
                KeyPolicy::default(),
                crate::DEFAULT_MAX_VALUE_SIZE,
                false,
            )),
            1,
            Arc::from(""),
        )
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

    // ----- views and accessors -------------------------------------------------------------

    /// A view whose keys live under `namespace`: `cache.namespace("alphavantage")` reads
    /// `get("earnings:AAPL")` from `{prefix}:{version}:alphavantage:earnings:AAPL`.
    ///
    /// Views nest (`cache.namespace("scanner").namespace("sma")`) and share the backend and
    /// the counters.
    ///
    /// ```
    /// # fn main() -> cache_api::Result<()> {
    /// let cache = cache_memory::MemoryBackend::new().cache_builder().with_prefix("wheel_analyzer").build()?;
    /// let sma = cache.namespace("scanner").namespace("sma");
    /// assert_eq!(sma.make_key("AAPL")?, "wheel_analyzer:1:scanner:sma:AAPL");
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self, namespace: &str) -> Cache {
        let ns: Arc<str> = Arc::from(format!("{}{namespace}:", self.namespace));
        Cache::from_parts(self.shared.clone(), self.version, ns)
    }

    /// A view at another version (Django's per-call `version=`, for many calls).
    pub fn with_version(&self, version: i64) -> Cache {
        Cache::from_parts(self.shared.clone(), version, self.namespace.clone())
    }

    /// The backend this cache was built on.
    pub fn backend(&self) -> &DynCacheBackend {
        &self.shared.backend
    }

    /// The backend's name: `"memory"`, `"redis"`, …
    pub fn backend_name(&self) -> &'static str {
        self.shared.backend.name()
    }

    /// The key prefix (Django's `KEY_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The version of this view (Django's `VERSION`).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The namespace of this view, `""` at the root, `"scanner:sma:"` for nested views.
    pub fn namespace_path(&self) -> &str {
        &self.namespace
    }

    /// The timeout applied when a call gives none (Django's `TIMEOUT`).
    pub fn default_timeout(&self) -> Timeout {
        self.shared.default_timeout
    }

    /// A snapshot of the counters of this cache (shared by all its views).
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }

    /// The final key stored in the backend for `key`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] when the key breaks the [`KeyPolicy`].
    pub fn make_key(&self, key: &str) -> Result<String> {
        self.compose(key, None)
    }

    // ----- internals -------------------------------------------------------------------------

    pub(crate) fn compose(&self, key: &str, version: Option<i64>) -> Result<String> {
        match version {
            Some(v) if v != self.version => KeyMaker::new(&self.shared.prefix, v, &self.namespace)
                .make(key, &self.shared.policy),
            _ => self.keys.make(key, &self.shared.policy),
        }
    }

    pub(crate) fn compose_all<K: AsRef<str>>(
        &self,
        keys: &[K],
        version: Option<i64>,
    ) -> Result<Vec<String>> {
        keys.iter()
            .map(|k| self.compose(k.as_ref(), version))
            .collect()
    }

    pub(crate) fn expiry(&self, timeout: Timeout) -> Option<Expiry> {
        timeout.resolve(self.shared.default_expiry)
    }

    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes> {
        let bytes = codec::encode(value)?;
        if bytes.len() > self.shared.max_value_size {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "encoded value is {} bytes, more than the {} allowed",
                    bytes.len(),
                    self.shared.max_value_size
                ),
            ));
        }
        Ok(bytes)
    }

    /// Adds context to an error, counts it, and logs it.
    pub(crate) fn fail(&self, operation: &'static str, key: Option<&str>, err: Error) -> Error {
        self.shared.counters.error();
        let mut err = err
            .with_operation(operation)
            .with_backend(self.shared.backend.name());
        if let Some(key) = key {
            if err.key().is_none() {
                err = err.with_key(key);
            }
        }
        tracing::debug!(
            backend = self.shared.backend.name(),
            operation,
            kind = err.kind().as_str(),
            "cache operation failed"
        );
        err
    }

    /// Runs one backend call inside a `tracing` span naming the backend, the operation, the
    /// number of keys and the outcome (never a key's value, never a secret).
    pub(crate) async fn traced<T>(
        &self,
        operation: &'static str,
        keys: usize,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let span = tracing::debug_span!(
            "cache",
            backend = self.shared.backend.name(),
            operation,
            keys,
            outcome = tracing::field::Empty
        );
        if span.is_disabled() {
            return call.await;
        }
        let result = call.instrument(span.clone()).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind().as_str(),
        };
        span.record("outcome", outcome);
        result
    }

    /// With fail-open on, turns an unreachable or timed-out backend into `fallback` (a miss,
    /// "not stored"), counting and logging the error; otherwise returns `result` unchanged.
    pub(crate) fn tolerate<T>(
        &self,
        operation: &'static str,
        result: Result<T>,
        fallback: impl FnOnce() -> T,
    ) -> Result<T> {
        match result {
            Err(err)
                if self.shared.fail_open
                    && matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) =>
            {
                self.shared.counters.ignored_error();
                tracing::warn!(
                    backend = self.shared.backend.name(),
                    operation,
                    kind = err.kind().as_str(),
                    error = %err,
                    "cache backend unavailable; answering as a miss (fail-open)"
                );
                Ok(fallback())
            }
            other => other,
        }
    }

    /// Whether backend outages are answered as misses (see
    /// [`CacheBuilder::with_fail_open`]).
    pub fn is_fail_open(&self) -> bool {
        self.shared.fail_open
    }

    // ----- reads ---------------------------------------------------------------------------

    /// Reads a value: `Some` on a hit, `None` on a miss.
    ///
    /// A stored `None` (of an `Option` type) is a hit: `get::<Option<T>>` answers
    /// `Some(None)`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`]; [`ErrorKind::Decode`] (naming the key) when the stored value
    /// is not a `T`; the backend's errors.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_opts(key, CallOptions::new()).await
    }

    /// [`get`](Cache::get) with per-call options (the version).
    pub async fn get_opts<T: DeserializeOwned>(
        &self,
        key: &str,
        options: impl Into<CallOptions>,
    ) -> Result<Option<T>> {
        let options = options.into();
        let op = "get";
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail(op, Some(key), e))?;
        let found = self
            .traced("get", 1, self.shared.backend.get(&composed))
            .await;
        let found = self
            .tolerate(op, found, || None)
            .map_err(|e| self.fail(op, Some(key), e))?;
        match found {
            Some(bytes) => {
                self.shared.counters.hit(1);
                codec::decode(&bytes)
                    .map(Some)
                    .map_err(|e| self.fail(op, Some(key), e))
            }
            None => {
                self.shared.counters.miss(1);
                Ok(None)
            }
        }
    }

    /// Reads many values at once (one round trip on Redis). Missing keys are left out of the
    /// map, which is keyed by the caller's keys.
    ///
    /// # Errors
    /// As [`get`](Cache::get); one undecodable value fails the call, naming its key.
    pub async fn get_many<T: DeserializeOwned, K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<HashMap<String, T>> {
        self.get_many_opts(keys, CallOptions::new()).await
    }

    /// [`get_many`](Cache::get_many) with per-call options (the version).
    pub async fn get_many_opts<T: DeserializeOwned, K: AsRef<str>>(
        &self,
        keys: &[K],
        options: impl Into<CallOptions>,
    ) -> Result<HashMap<String, T>> {
        let options = options.into();
        let op = "get_many";
        let (composed, found) = self.read_many(op, keys, options.version).await?;
        let mut out = HashMap::with_capacity(found.len());
        for (key, bytes) in keys.iter().zip(found) {
            if let Some(bytes) = bytes {
                let key = key.as_ref();
                let value = codec::decode(&bytes).map_err(|e| self.fail(op, Some(key), e))?;
                out.insert(key.to_owned(), value);
            }
        }
        self.shared.counters.hit(out.len() as u64);
        self.shared
            .counters
            .miss((composed.len() - out.len()) as u64);
        Ok(out)
    }

    /// Composes `keys` and reads them with one backend call (none for no keys); fail-open
    /// answers "nothing found". Returns the composed keys and one slot per key.
    pub(crate) async fn read_many<K: AsRef<str>>(
        &self,
        op: &'static str,
        keys: &[K],
        version: Option<i64>,
    ) -> Result<(Vec<String>, Vec<Option<Bytes>>)> {
        let composed = self
            .compose_all(keys, version)
            .map_err(|e| self.fail(op, None, e))?;
        if composed.is_empty() {
            return Ok((composed, Vec::new()));
        }
        let found = self
            .traced(
                "get_many",
                composed.len(),
                self.shared.backend.get_many(&composed),
            )
            .await;
        let found = self
            .tolerate(op, found, || vec![None; composed.len()])
            .map_err(|e| self.fail(op, None, e))?;
        Ok((composed, found))
    }

    /// Whether the key exists (and has not expired). A stored `None` exists.
    pub async fn has_key(&self, key: &str) -> Result<bool> {
        self.has_key_opts(key, CallOptions::new()).await
    }

    /// [`has_key`](Cache::has_key) with per-call options (the version).
    pub async fn has_key_opts(&self, key: &str, options: impl Into<CallOptions>) -> Result<bool> {
        let options = options.into();
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail("has_key", Some(key), e))?;
        let found = self
            .traced("has_key", 1, self.shared.backend.has_key(&composed))
            .await;
        self.tolerate("has_key", found, || false)
            .map_err(|e| self.fail("has_key", Some(key), e))
    }

    /// The remaining life of a key.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.ttl_opts(key, CallOptions::new()).await
    }

    /// [`ttl`](Cache::ttl) with per-call options (the version).
    pub async fn ttl_opts(&self, key: &str, options: impl Into<CallOptions>) -> Result<KeyTtl> {
        let options = options.into();
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail("ttl", Some(key), e))?;
        self.traced("ttl", 1, self.shared.backend.ttl(&composed))
            .await
            .map_err(|e| self.fail("ttl", Some(key), e))
    }

    // ----- writes --------------------------------------------------------------------------

    /// Writes a value with the default timeout.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`]; [`ErrorKind::Encode`] when the value cannot be encoded
    /// (nothing is written); [`ErrorKind::TooLarge`]; the backend's errors.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.set_opts(key, value, CallOptions::new()).await
    }

    /// [`set`](Cache::set) with per-call options. A zero timeout deletes the key.
    pub async fn set_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<CallOptions>,
    ) -> Result<()> {
        self.write(key, value, options.into(), SetMode::Always, "set")
            .await
            .map(|_| ())
    }

    /// Writes a value only if the key is absent (or expired); answers whether it wrote.
    ///
    /// With a zero timeout nothing is stored, and the answer is whether the key was absent.
    pub async fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool> {
        self.add_opts(key, value, CallOptions::new()).await
    }

    /// [`add`](Cache::add) with per-call options.
    pub async fn add_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<CallOptions>,
    ) -> Result<bool> {
        self.write(key, value, options.into(), SetMode::IfAbsent, "add")
            .await
    }

    async fn write<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: CallOptions,
        mode: SetMode,
        op: &'static str,
    ) -> Result<bool> {
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail(op, Some(key), e))?;
        let bytes = self
            .encode(value)
            .map_err(|e| self.fail(op, Some(key), e))?;
        let written = self
            .write_bytes(&composed, bytes, self.expiry(options.timeout), mode)
            .await;
        self.tolerate(op, written, || false)
            .map_err(|e| self.fail(op, Some(key), e))
    }

    /// Writes encoded bytes under a composed key; `expiry` `None` means "expire now".
    pub(crate) async fn write_bytes(
        &self,
        composed: &str,
        bytes: Bytes,
        expiry: Option<Expiry>,
        mode: SetMode,
    ) -> Result<bool> {
        let backend = &self.shared.backend;
        let Some(expiry) = expiry else {
            // Django: a zero timeout stores nothing and expires what is there.
            return match mode {
                SetMode::Always => {
                    if self.traced("delete", 1, backend.delete(composed)).await? {
                        self.shared.counters.delete(1);
                    }
                    Ok(true)
                }
                SetMode::IfAbsent => {
                    Ok(!self.traced("has_key", 1, backend.has_key(composed)).await?)
                }
                SetMode::IfPresent => {
                    Ok(self.traced("delete", 1, backend.delete(composed)).await?)
                }
            };
        };
        let options = SetOptions::new(expiry).with_mode(mode);
        let stored = self
            .traced("set", 1, backend.set(composed, bytes, options))
            .await?;
        if stored {
            self.shared.counters.set(1);
        }
        Ok(stored)
    }

    /// Writes many values with the default timeout (one round trip on Redis); returns the
    /// keys that could not be stored.
    ///
    /// Every key and value is checked and encoded first: an invalid key or a value that fails
    /// to encode fails the whole call before anything is written.
    pub async fn set_many<K, V, I>(&self, entries: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        self.set_many_opts(entries, CallOptions::new()).await
    }

    /// [`set_many`](Cache::set_many) with per-call options. A zero timeout deletes the keys.
    pub async fn set_many_opts<K, V, I>(
        &self,
        entries: I,
        options: impl Into<CallOptions>,
    ) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        let options = options.into();
        let op = "set_many";
        let mut user_keys = Vec::new();
        let mut encoded = Vec::new();
        for (key, value) in entries {
            let key = key.as_ref();
            let composed = self
                .compose(key, options.version)
                .map_err(|e| self.fail(op, Some(key), e))?;
            let bytes = self
                .encode(&value)
                .map_err(|e| self.fail(op, Some(key), e))?;
            user_keys.push(key.to_owned());
            encoded.push((composed, bytes));
        }
        if encoded.is_empty() {
            return Ok(Vec::new());
        }
        let backend = &self.shared.backend;
        let Some(expiry) = self.expiry(options.timeout) else {
            let composed: Vec<String> = encoded.into_iter().map(|(k, _)| k).collect();
            let deleted = self
                .traced(
                    "delete_many",
                    composed.len(),
                    backend.delete_many(&composed),
                )
                .await;
            let deleted = self
                .tolerate(op, deleted, || 0)
                .map_err(|e| self.fail(op, None, e))?;
            self.shared.counters.delete(deleted);
            return Ok(Vec::new());
        };
        let failed = self
            .traced(
                "set_many",
                encoded.len(),
                backend.set_many(&encoded, expiry),
            )
            .await;
        let failed = self
            .tolerate(op, failed, || (0..encoded.len()).collect())
            .map_err(|e| self.fail(op, None, e))?;
        self.shared
            .counters
            .set((encoded.len() - failed.len()) as u64);
        Ok(failed
            .into_iter()
            .filter_map(|i| user_keys.get(i).cloned())
            .collect())
    }

    /// Sets a new expiry on an existing key, the default timeout; answers whether the key
    /// existed. A missing key stays missing.
    pub async fn touch(&self, key: &str) -> Result<bool> {
        self.touch_opts(key, CallOptions::new()).await
    }

    /// [`touch`](Cache::touch) with per-call options: [`Timeout::Never`] makes the key
    /// permanent; a zero timeout deletes it (and answers whether it existed).
    pub async fn touch_opts(&self, key: &str, options: impl Into<CallOptions>) -> Result<bool> {
        let options = options.into();
        let op = "touch";
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail(op, Some(key), e))?;
        let backend = &self.shared.backend;
        let result = match self.expiry(options.timeout) {
            Some(expiry) => {
                self.traced("touch", 1, backend.touch(&composed, expiry))
                    .await
            }
            None => self.traced("delete", 1, backend.delete(&composed)).await,
        };
        self.tolerate(op, result, || false)
            .map_err(|e| self.fail(op, Some(key), e))
    }

    /// Deletes a key; answers whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.delete_opts(key, CallOptions::new()).await
    }

    /// [`delete`](Cache::delete) with per-call options (the version).
    pub async fn delete_opts(&self, key: &str, options: impl Into<CallOptions>) -> Result<bool> {
        let options = options.into();
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail("delete", Some(key), e))?;
        let deleted = self
            .traced("delete", 1, self.shared.backend.delete(&composed))
            .await;
        let deleted = self
            .tolerate("delete", deleted, || false)
            .map_err(|e| self.fail("delete", Some(key), e))?;
        if deleted {
            self.shared.counters.delete(1);
        }
        Ok(deleted)
    }

    /// Deletes many keys (one round trip on Redis); returns how many existed.
    pub async fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        self.delete_many_opts(keys, CallOptions::new()).await
    }

    /// [`delete_many`](Cache::delete_many) with per-call options (the version).
    pub async fn delete_many_opts<K: AsRef<str>>(
        &self,
        keys: &[K],
        options: impl Into<CallOptions>,
    ) -> Result<u64> {
        let options = options.into();
        let composed = self
            .compose_all(keys, options.version)
            .map_err(|e| self.fail("delete_many", None, e))?;
        if composed.is_empty() {
            return Ok(0);
        }
        let deleted = self
            .traced(
                "delete_many",
                composed.len(),
                self.shared.backend.delete_many(&composed),
            )
            .await;
        let deleted = self
            .tolerate("delete_many", deleted, || 0)
            .map_err(|e| self.fail("delete_many", None, e))?;
        self.shared.counters.delete(deleted);
        Ok(deleted)
    }

    /// Deletes every key of this cache: all versions of its prefix, or, on a
    /// [`namespace`](Cache::namespace) view, the keys of that namespace at this version.
    /// Keys of other prefixes survive, whatever the backend. Returns how many were deleted.
    pub async fn clear(&self) -> Result<u64> {
        let pattern = if self.namespace.is_empty() {
            format!("{}:", self.shared.prefix)
        } else {
            self.keys.head().to_owned()
        };
        let deleted = self
            .traced("clear", 0, self.shared.backend.clear(&pattern))
            .await
            .map_err(|e| self.fail("clear", None, e))?;
        self.shared.counters.delete(deleted);
        Ok(deleted)
    }

    /// Closes the backend's connections. The handle (and its clones) may fail afterwards.
    pub async fn close(&self) -> Result<()> {
        self.traced("close", 0, self.shared.backend.close())
            .await
            .map_err(|e| self.fail("close", None, e))
    }

    // ----- counters ------------------------------------------------------------------------

    /// Adds `delta` to the integer at `key`, atomically, and returns the new value.
    ///
    /// Works on a value stored with `set(key, &5)`. The key's expiry does not change.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a missing or expired key (Django's `ValueError`);
    /// [`ErrorKind::NotInteger`] for a value that is not an integer;
    /// [`ErrorKind::Overflow`] past `i64`. The stored value is unchanged on error.
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.incr_opts(key, delta, CallOptions::new()).await
    }

    /// [`incr`](Cache::incr) with per-call options (the version).
    pub async fn incr_opts(
        &self,
        key: &str,
        delta: i64,
        options: impl Into<CallOptions>,
    ) -> Result<i64> {
        self.add_to(key, delta, options.into(), "incr").await
    }

    /// Subtracts `delta` from the integer at `key`; see [`incr`](Cache::incr).
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        self.decr_opts(key, delta, CallOptions::new()).await
    }

    /// [`decr`](Cache::decr) with per-call options (the version).
    pub async fn decr_opts(
        &self,
        key: &str,
        delta: i64,
        options: impl Into<CallOptions>,
    ) -> Result<i64> {
        let options = options.into();
        let Some(negated) = delta.checked_neg() else {
            return Err(self.fail(
                "decr",
                Some(key),
                Error::new(ErrorKind::Overflow, "the delta cannot be negated"),
            ));
        };
        self.add_to(key, negated, options, "decr").await
    }

    async fn add_to(
        &self,
        key: &str,
        delta: i64,
        options: CallOptions,
        op: &'static str,
    ) -> Result<i64> {
        let composed = self
            .compose(key, options.version)
            .map_err(|e| self.fail(op, Some(key), e))?;
        self.traced("incr", 1, self.shared.backend.incr(&composed, delta))
            .await
            .map_err(|e| self.fail(op, Some(key), e))
    }

    /// Moves a key's value to the next version, keeping its remaining life, and returns the
    /// new version.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a missing key (Django's `ValueError`).
    pub async fn incr_version(&self, key: &str) -> Result<i64> {
        self.move_version(key, self.version, 1).await
    }

    /// Moves a key's value to the previous version; see [`incr_version`](Cache::incr_version).
    pub async fn decr_version(&self, key: &str) -> Result<i64> {
        self.move_version(key, self.version, -1).await
    }

    /// Moves a key's value from `version` to `version + delta`, returning the new version.
    pub async fn move_version(&self, key: &str, version: i64, delta: i64) -> Result<i64> {
        let op = "incr_version";
        let fail = |e| self.fail(op, Some(key), e);
        let target = version
            .checked_add(delta)
            .ok_or_else(|| fail(Error::new(ErrorKind::Overflow, "version out of range")))?;
        let from = self.compose(key, Some(version)).map_err(fail)?;
        let to = self.compose(key, Some(target)).map_err(fail)?;
        let backend = &self.shared.backend;
        let not_found = || fail(Error::new(ErrorKind::NotFound, "key does not exist"));
        let bytes = self
            .traced("get", 1, backend.get(&from))
            .await
            .map_err(fail)?
            .ok_or_else(not_found)?;
        let expiry = match self
            .traced("ttl", 1, backend.ttl(&from))
            .await
            .map_err(fail)?
        {
            KeyTtl::Persistent => Expiry::Never,
            KeyTtl::Expires(d) => Expiry::after(d).unwrap_or(Expiry::After(d)),
            _ => return Err(not_found()),
        };
        self.traced("set", 1, backend.set(&to, bytes, SetOptions::new(expiry)))
            .await
            .map_err(fail)?;
        if from != to {
            self.traced("delete", 1, backend.delete(&from))
                .await
                .map_err(fail)?;
        }
        Ok(target)
    }

    // ----- get_or_set ----------------------------------------------------------------------

    /// Returns the cached value, or stores `default` (unless another caller stored first)
    /// and returns what is then cached.
    ///
    /// With a zero timeout nothing is stored and `default` is returned.
    pub async fn get_or_set<T>(&self, key: &str, default: T) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        self.get_or_set_opts(key, default, CallOptions::new()).await
    }

    /// [`get_or_set`](Cache::get_or_set) with per-call options.
    pub async fn get_or_set_opts<T>(
        &self,
        key: &str,
        default: T,
        options: impl Into<CallOptions>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        let options = options.into();
        if let Some(found) = self.get_opts(key, options).await? {
            return Ok(found);
        }
        if self.add_opts(key, &default, options).await? {
            return Ok(default);
        }
        Ok(self.get_opts(key, options).await?.unwrap_or(default))
    }

    /// Returns the cached value, or runs `load` to compute it, stores it and returns it.
    ///
    /// On a miss, `load` runs **once per key in this process**, however many tasks ask at the
    /// same time: the others wait for its outcome. If `load` fails, nothing is cached and
    /// every waiter gets the error, of kind [`ErrorKind::Loader`] with the loader's error as
    /// its source.
    ///
    /// # Cancel safety
    /// Dropping the future of the task that runs the loader frees its slot: a waiting task
    /// takes over, and nothing stays stuck.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_api::Result<()> {
    /// let cache = cache_memory::MemoryBackend::new().cache();
    /// let price: f64 = cache
    ///     .get_or_set_with("price:AAPL", || async { Ok::<_, std::io::Error>(189.5) })
    ///     .await?;
    /// assert_eq!(price, 189.5);
    /// # Ok(()) }
    /// ```
    pub async fn get_or_set_with<T, F, Fut, E>(&self, key: &str, load: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.get_or_set_with_opts(key, CallOptions::new(), load)
            .await
    }

    /// [`get_or_set_with`](Cache::get_or_set_with) with per-call options.
    pub async fn get_or_set_with_opts<T, F, Fut, E>(
        &self,
        key: &str,
        options: impl Into<CallOptions>,
        load: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let options = options.into();
        let op = "get_or_set";
        let fail = |e| self.fail(op, Some(key), e);
        let composed = self.compose(key, options.version).map_err(fail)?;
        let backend = &self.shared.backend;
        let found = self.traced("get", 1, backend.get(&composed)).await;
        if let Some(bytes) = self.tolerate(op, found, || None).map_err(fail)? {
            self.shared.counters.hit(1);
            return codec::decode(&bytes).map_err(fail);
        }
        self.shared.counters.miss(1);
        loop {
            match self.shared.inflight.join(&composed) {
                Role::Follower(rx) => match inflight::wait(rx).await {
                    Some(Ok(bytes)) => return codec::decode(&bytes).map_err(fail),
                    Some(Err(err)) => return Err(err),
                    None => continue,
                },
                Role::Leader(leader) => {
                    // A load that finished between our read and our joining left its value.
                    let found = self.traced("get", 1, backend.get(&composed)).await;
                    let found = match self.tolerate(op, found, || None) {
                        Ok(found) => found,
                        Err(e) => {
                            let err = fail(e);
                            leader.finish(Err(err.clone()));
                            return Err(err);
                        }
                    };
                    if let Some(bytes) = found {
                        leader.finish(Ok(bytes.clone()));
                        return codec::decode(&bytes).map_err(fail);
                    }
                    let loaded = async {
                        let value = load()
                            .await
                            .map_err(|e| crate::resilient::loader_error(e.into()))?;
                        let bytes = self.encode(&value)?;
                        let written = self
                            .write_bytes(
                                &composed,
                                bytes.clone(),
                                self.expiry(options.timeout),
                                SetMode::Always,
                            )
                            .await;
                        self.tolerate(op, written, || false)?;
                        Ok::<_, Error>((value, bytes))
                    }
                    .await;
                    return match loaded {
                        Ok((value, bytes)) => {
                            leader.finish(Ok(bytes));
                            Ok(value)
                        }
                        Err(e) => {
                            let err = fail(e);
                            leader.finish(Err(err.clone()));
                            Err(err)
                        }
                    };
                }
            }
        }
    }
}
