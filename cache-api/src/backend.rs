//! The contract a storage driver implements: bytes in, bytes out, final keys.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::expiry::{Expiry, KeyTtl};
use crate::{Result, StoredEntry};

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

/// How many times the default [`CacheBackend::add_or_get`] tries before giving up.
const ADD_OR_GET_ATTEMPTS: usize = 8;

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

    /// Reads one key with the entry's [`DecodedMemo`](crate::DecodedMemo), so that
    /// [`Cache::get_shared`](crate::Cache::get_shared) decodes each stored value once.
    ///
    /// # Behavior
    /// - Answers what [`get`](CacheBackend::get) answers, the bytes in a [`StoredEntry`].
    /// - A backend that keeps memos makes a new one for every value it stores (any change of
    ///   the bytes: a write, `incr`), and hands out the same one for every read of that value.
    ///
    /// The default implementation answers `get`'s bytes without a memo (every
    /// `get_shared` then decodes, as `get` does): the right answer for a backend whose values
    /// live outside the process. An in-process backend keeps a memo with each entry.
    async fn get_entry(&self, key: &str) -> Result<Option<StoredEntry>> {
        Ok(self.get(key).await?.map(StoredEntry::new))
    }

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

    /// Writes `value` only if the key is absent or expired; otherwise leaves the key alone and
    /// returns the value it holds. This is Django's `add` followed by `get`, in one atomic
    /// step: the first writer wins and everyone learns the winner (Redis 7: `SET NX GET`).
    ///
    /// # Behavior
    /// - Returns `None` when `value` was written, `Some(current)` when the key held a value
    ///   (which is unchanged).
    /// - An expired entry counts as absent and is replaced.
    ///
    /// The default implementation makes two calls (`set` with [`SetMode::IfAbsent`], then
    /// `get`), retrying when the entry vanishes between them; drivers answer in one.
    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        let options = SetOptions::new(expiry).with_mode(SetMode::IfAbsent);
        for _ in 0..ADD_OR_GET_ATTEMPTS {
            if self.set(key, value.clone(), options).await? {
                return Ok(None);
            }
            if let Some(current) = self.get(key).await? {
                return Ok(Some(current));
            }
        }
        Err(crate::Error::new(
            crate::ErrorKind::Backend,
            "the key was written and deleted by others on every attempt of add_or_get",
        ))
    }

    /// [`add_or_get`](CacheBackend::add_or_get) for many entries at once: each entry is
    /// written only if its key is absent or expired, and otherwise answers the value its key
    /// holds. This is how `get_or_set_many` stores what its loader returned (Redis: one
    /// pipeline of `SET … NX GET` per group of keys, one round trip on a single server).
    ///
    /// # Behavior
    /// - Returns one slot per entry, in the order given: `Ok(None)` when the entry was
    ///   written, `Ok(Some(current))` when its key held a value (which is unchanged), or the
    ///   error of that entry alone (a refusal by the server).
    /// - Entries are applied in order: an entry whose key came earlier in `entries` finds the
    ///   earlier entry's value.
    /// - The whole call fails only when the backend cannot answer
    ///   ([`Unavailable`](crate::ErrorKind::Unavailable), [`Timeout`](crate::ErrorKind::Timeout)).
    ///
    /// The default implementation calls `add_or_get` once per entry, in order.
    async fn add_or_get_many(
        &self,
        entries: &[(String, Bytes)],
        expiry: Expiry,
    ) -> Result<Vec<Result<Option<Bytes>>>> {
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match self.add_or_get(key, value.clone(), expiry).await {
                Err(err)
                    if matches!(
                        err.kind(),
                        crate::ErrorKind::Unavailable | crate::ErrorKind::Timeout
                    ) =>
                {
                    return Err(err)
                }
                slot => out.push(slot),
            }
        }
        Ok(out)
    }

    /// Reads one key with its remaining life, so that a tier above can cache it for no longer
    /// than this backend will.
    ///
    /// # Behavior
    /// - Returns `None` for a missing or expired key; otherwise the value and
    ///   [`Expiry::Never`] or the time left (at least one millisecond).
    ///
    /// The default implementation makes two calls (`get`, then `ttl`); drivers answer in one
    /// round trip.
    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let Some(value) = self.get(key).await? else {
            return Ok(None);
        };
        Ok(match self.ttl(key).await? {
            KeyTtl::Persistent => Some((value, Expiry::Never)),
            KeyTtl::Expires(left) => Expiry::after(left).map(|e| (value, e)),
            KeyTtl::Missing => None,
        })
    }

    /// Reads many keys with their remaining life; see
    /// [`get_with_expiry`](CacheBackend::get_with_expiry).
    ///
    /// # Behavior
    /// - One slot per key, in the order given.
    ///
    /// The default implementation calls `get_with_expiry` once per key.
    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get_with_expiry(key).await?);
        }
        Ok(out)
    }

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

/// Reads the integer that [`Cache`](crate::Cache) stored at a key (ASCII decimal), as a
/// driver's [`incr`](CacheBackend::incr) must.
///
/// # Errors
/// [`Overflow`](crate::ErrorKind::Overflow) for an integer in `u64`'s range but past `i64`;
/// [`NotInteger`](crate::ErrorKind::NotInteger) for anything else that is not an `i64` in
/// ASCII decimal.
///
/// ```
/// use cachette_api::{parse_stored_integer, ErrorKind};
///
/// assert_eq!(parse_stored_integer(b"-42").ok(), Some(-42));
/// assert_eq!(parse_stored_integer(b"\xa242").unwrap_err().kind(), ErrorKind::NotInteger);
/// ```
pub fn parse_stored_integer(bytes: &[u8]) -> Result<i64> {
    crate::codec::stored_integer(bytes)
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
            async fn get_entry(&self, key: &str) -> Result<Option<StoredEntry>> {
                (**self).get_entry(key).await
            }
            async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
                (**self).get_many(keys).await
            }
            async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
                (**self).set(key, value, options).await
            }
            async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
                (**self).add_or_get(key, value, expiry).await
            }
            async fn add_or_get_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<Result<Option<Bytes>>>> {
                (**self).add_or_get_many(entries, expiry).await
            }
            async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
                (**self).get_with_expiry(key).await
            }
            async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
                (**self).get_many_with_expiry(keys).await
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
