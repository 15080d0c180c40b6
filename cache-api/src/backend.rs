//! The contract a storage driver implements: bytes in, bytes out, final keys.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::expiry::{Expiry, KeyTtl};
use crate::Result;

/// When a [`CacheBackend::set`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SetMode {
    /// Always write (Redis `SET`).
    #[default]
    Always,
    /// Write only if the key is absent or expired (Redis `SET NX`, Django's `add`).
    IfAbsent,
    /// Write only if the key is present (Redis `SET XX`).
    IfPresent,
}

/// The options of one [`CacheBackend::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SetOptions {
    /// How long the entry lives.
    pub expiry: Expiry,
    /// When to write.
    pub mode: SetMode,
}

impl SetOptions {
    /// Always write, with `expiry`.
    pub fn new(expiry: Expiry) -> Self {
        SetOptions {
            expiry,
            mode: SetMode::Always,
        }
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: SetMode) -> Self {
        self.mode = mode;
        self
    }
}

/// A storage driver.
///
/// Backends store opaque bytes under final keys. Everything else (key prefixes and versions,
/// key validation, timeouts and their defaults, the value codec, statistics) is done once, in
/// [`Cache`](crate::Cache), so that every backend behaves the same.
///
/// The trait is object-safe: an application can hold a [`DynCacheBackend`] chosen from
/// configuration at run time.
///
/// # Contract
///
/// Every behaviour below has a case in the `conformance-tests` crate; a backend conforms when
/// the whole suite passes against it.
///
/// - Expired entries are never returned, counted or incremented, even before they are evicted.
/// - Each single-key operation is atomic; `incr` in particular never loses an update.
/// - Batch operations take and return keys in the caller's order, and accept empty inputs.
/// - A backend never panics on input or on a network failure: it returns an [`Error`](crate::Error)
///   whose kind says what happened ([`Unavailable`](crate::ErrorKind::Unavailable) and
///   [`Timeout`](crate::ErrorKind::Timeout) for the network).
/// - Integers written by [`Cache`](crate::Cache) are stored as ASCII decimal (`b"42"`), so
///   `incr` parses exactly that form; every other value is opaque.
#[async_trait]
pub trait CacheBackend: Debug + Send + Sync + 'static {
    /// The backend's name: `"memory"`, `"redis"`, …
    fn name(&self) -> &'static str;

    /// Reads one key.
    ///
    /// # Behavior
    /// - Returns `None` for a missing or expired key.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Reads many keys at once (Redis: one `MGET`).
    ///
    /// # Behavior
    /// - Returns one slot per key, in the order given; `None` for missing or expired keys.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>>;

    /// Writes one key.
    ///
    /// # Behavior
    /// - Returns whether the value was written (always `true` for [`SetMode::Always`]).
    /// - [`SetMode::IfAbsent`] writes over an expired entry.
    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool>;

    /// Writes many keys with one expiry (Redis: one pipeline).
    ///
    /// # Behavior
    /// - Returns the indices (into `entries`) of the entries that were not written.
    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>>;

    /// Deletes one key and says whether it existed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Deletes many keys and returns how many existed.
    async fn delete_many(&self, keys: &[String]) -> Result<u64>;

    /// Deletes the key only if it holds exactly `expected`, atomically; answers whether it
    /// deleted.
    ///
    /// This is a compare-and-delete: a lease is released only by the owner of its token.
    ///
    /// # Behavior
    /// - A missing, expired or different value is left alone, and `false` is returned.
    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool>;

    /// Sets a new expiry on an existing key and says whether it existed.
    ///
    /// # Behavior
    /// - [`Expiry::Never`] makes the key permanent.
    /// - A missing or expired key is left missing, and `false` is returned.
    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool>;

    /// Whether the key exists and has not expired.
    async fn has_key(&self, key: &str) -> Result<bool>;

    /// Adds `delta` to the integer stored at `key`, atomically, and returns the new value.
    ///
    /// # Behavior
    /// - The key's expiry does not change.
    /// - A missing or expired key is an error of kind [`NotFound`](crate::ErrorKind::NotFound).
    /// - A value that is not an ASCII decimal integer is
    ///   [`NotInteger`](crate::ErrorKind::NotInteger); a result past `i64` is
    ///   [`Overflow`](crate::ErrorKind::Overflow). Either way the value is unchanged.
    async fn incr(&self, key: &str, delta: i64) -> Result<i64>;

    /// The remaining life of a key.
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Deletes every key that starts with `prefix`, and only those; returns how many.
    ///
    /// # Behavior
    /// - `prefix` is matched literally: characters such as `*`, `?` or `[` have no special
    ///   meaning.
    async fn clear(&self, prefix: &str) -> Result<u64>;

    /// Releases connections and background tasks. Later calls may fail.
    async fn close(&self) -> Result<()>;
}

/// A backend chosen at run time.
pub type DynCacheBackend = Arc<dyn CacheBackend>;

macro_rules! forward_backend {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<T: CacheBackend + ?Sized> CacheBackend for $ptr<T> {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            async fn get(&self, key: &str) -> Result<Option<Bytes>> {
                (**self).get(key).await
            }
            async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
                (**self).get_many(keys).await
            }
            async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
                (**self).set(key, value, options).await
            }
            async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
                (**self).set_many(entries, expiry).await
            }
            async fn delete(&self, key: &str) -> Result<bool> {
                (**self).delete(key).await
            }
            async fn delete_many(&self, keys: &[String]) -> Result<u64> {
                (**self).delete_many(keys).await
            }
            async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
                (**self).delete_if_value(key, expected).await
            }
            async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
                (**self).touch(key, expiry).await
            }
            async fn has_key(&self, key: &str) -> Result<bool> {
                (**self).has_key(key).await
            }
            async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
                (**self).incr(key, delta).await
            }
            async fn ttl(&self, key: &str) -> Result<KeyTtl> {
                (**self).ttl(key).await
            }
            async fn clear(&self, prefix: &str) -> Result<u64> {
                (**self).clear(prefix).await
            }
            async fn close(&self) -> Result<()> {
                (**self).close().await
            }
        }
    )*};
}

forward_backend!(Arc, Box);
