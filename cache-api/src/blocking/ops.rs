//! The blocking twins of the async handle's reads, writes, counters and version moves.
//!
//! Each method waits for the method of the same name of [`crate::Cache`]: the same
//! arguments, semantics and errors (its documentation is the reference).

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Cache;
use crate::{KeyTtl, Result, WriteOptions};

impl Cache {
    /// Reads a value: `Some` on a hit, `None` on a miss; see [`crate::Cache::get`].
    ///
    /// # Errors
    /// As [`crate::Cache::get`].
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache().blocking()?;
    /// cache.set("ticker", "AAPL")?;
    /// assert_eq!(cache.get::<String>("ticker")?.as_deref(), Some("AAPL"));
    /// assert_eq!(cache.get::<String>("missing")?, None);
    /// # Ok(()) }
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.wait(self.as_async().get(key))
    }

    /// Reads a value that may be shared, decoded once per stored value; see
    /// [`crate::Cache::get_shared`].
    ///
    /// # Errors
    /// As [`crate::Cache::get_shared`].
    pub fn get_shared<T>(&self, key: &str) -> Result<Option<Arc<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.wait(self.as_async().get_shared(key))
    }

    /// Reads many values at once; see [`crate::Cache::get_many`].
    ///
    /// # Errors
    /// As [`crate::Cache::get_many`].
    pub fn get_many<T: DeserializeOwned, K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<HashMap<String, T>> {
        self.wait(self.as_async().get_many(keys))
    }

    /// Whether the key exists; see [`crate::Cache::has_key`].
    ///
    /// # Errors
    /// As [`crate::Cache::has_key`].
    pub fn has_key(&self, key: &str) -> Result<bool> {
        self.wait(self.as_async().has_key(key))
    }

    /// The remaining life of a key; see [`crate::Cache::ttl`].
    ///
    /// # Errors
    /// As [`crate::Cache::ttl`].
    pub fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.wait(self.as_async().ttl(key))
    }

    /// Writes a value with the default TTL; see [`crate::Cache::set`].
    ///
    /// # Errors
    /// As [`crate::Cache::set`].
    pub fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.wait(self.as_async().set(key, value))
    }

    /// [`set`](Cache::set) with per-call options; see [`crate::Cache::set_opts`].
    ///
    /// # Errors
    /// As [`crate::Cache::set_opts`].
    pub fn set_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<()> {
        self.wait(self.as_async().set_opts(key, value, options))
    }

    /// Writes a value only if the key is absent; see [`crate::Cache::add`].
    ///
    /// # Errors
    /// As [`crate::Cache::add`].
    pub fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool> {
        self.wait(self.as_async().add(key, value))
    }

    /// [`add`](Cache::add) with per-call options; see [`crate::Cache::add_opts`].
    ///
    /// # Errors
    /// As [`crate::Cache::add_opts`].
    pub fn add_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<bool> {
        self.wait(self.as_async().add_opts(key, value, options))
    }

    /// Writes many values; returns the keys that could not be stored; see
    /// [`crate::Cache::set_many`].
    ///
    /// # Errors
    /// As [`crate::Cache::set_many`].
    pub fn set_many<K, V, I>(&self, entries: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        self.wait(self.as_async().set_many(entries))
    }

    /// [`set_many`](Cache::set_many) with per-call options; see
    /// [`crate::Cache::set_many_opts`].
    ///
    /// # Errors
    /// As [`crate::Cache::set_many_opts`].
    pub fn set_many_opts<K, V, I>(
        &self,
        entries: I,
        options: impl Into<WriteOptions>,
    ) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        self.wait(self.as_async().set_many_opts(entries, options))
    }

    /// Gives an existing key the default TTL again; see [`crate::Cache::touch`].
    ///
    /// # Errors
    /// As [`crate::Cache::touch`].
    pub fn touch(&self, key: &str) -> Result<bool> {
        self.wait(self.as_async().touch(key))
    }

    /// [`touch`](Cache::touch) with per-call options; see [`crate::Cache::touch_opts`].
    ///
    /// # Errors
    /// As [`crate::Cache::touch_opts`].
    pub fn touch_opts(&self, key: &str, options: impl Into<WriteOptions>) -> Result<bool> {
        self.wait(self.as_async().touch_opts(key, options))
    }

    /// Deletes a key; answers whether it existed; see [`crate::Cache::delete`].
    ///
    /// # Errors
    /// As [`crate::Cache::delete`].
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.wait(self.as_async().delete(key))
    }

    /// Deletes many keys; returns how many existed; see [`crate::Cache::delete_many`].
    ///
    /// # Errors
    /// As [`crate::Cache::delete_many`].
    pub fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        self.wait(self.as_async().delete_many(keys))
    }

    /// Deletes every key of this cache (or of this namespace view); see
    /// [`crate::Cache::clear`].
    ///
    /// # Errors
    /// As [`crate::Cache::clear`].
    pub fn clear(&self) -> Result<u64> {
        self.wait(self.as_async().clear())
    }

    /// Closes the backend's connections; see [`crate::Cache::close`].
    ///
    /// # Errors
    /// As [`crate::Cache::close`].
    pub fn close(&self) -> Result<()> {
        self.wait(self.as_async().close())
    }

    /// Adds `delta` to the integer at `key`, atomically; see [`crate::Cache::incr`].
    ///
    /// # Errors
    /// As [`crate::Cache::incr`]: [`NotFound`](crate::ErrorKind::NotFound) for a missing
    /// key, [`NotInteger`](crate::ErrorKind::NotInteger),
    /// [`Overflow`](crate::ErrorKind::Overflow).
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache().blocking()?;
    /// cache.set("hits", &41)?;
    /// assert_eq!(cache.incr("hits", 1)?, 42);
    /// assert_eq!(cache.decr("hits", 2)?, 40);
    /// # Ok(()) }
    /// ```
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.wait(self.as_async().incr(key, delta))
    }

    /// Subtracts `delta` from the integer at `key`; see [`crate::Cache::decr`].
    ///
    /// # Errors
    /// As [`crate::Cache::decr`].
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        self.wait(self.as_async().decr(key, delta))
    }

    /// Moves a key's value to the next version; see [`crate::Cache::incr_version`].
    ///
    /// # Errors
    /// As [`crate::Cache::incr_version`].
    pub fn incr_version(&self, key: &str) -> Result<i64> {
        self.wait(self.as_async().incr_version(key))
    }

    /// Moves a key's value to the previous version; see [`crate::Cache::decr_version`].
    ///
    /// # Errors
    /// As [`crate::Cache::decr_version`].
    pub fn decr_version(&self, key: &str) -> Result<i64> {
        self.wait(self.as_async().decr_version(key))
    }
}
