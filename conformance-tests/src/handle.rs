//! [`Handle`]: the cache a case drives, the async [`Cache`] or the [blocking
//! one](cachette_api::blocking::Cache), behind the async handle's method names, so that one
//! case is written once and run against both.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use cachette_api::{
    blocking, Cache, CacheStats, DynCacheBackend, KeyTtl, Result, Ttl, WriteOptions,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The handle under test. The blocking one is called straight from the case's Tokio task:
/// that is also the proof that it neither panics nor deadlocks inside a runtime.
#[derive(Debug, Clone)]
pub enum Handle {
    /// The async handle.
    Async(Cache),
    /// The blocking handle.
    Blocking(blocking::Cache),
}

/// The same call on either handle: awaited on the async one, waited for on the blocking one.
macro_rules! either {
    ($self:ident, $cache:ident => $call:expr) => {
        match $self {
            Handle::Async($cache) => $call.await,
            Handle::Blocking($cache) => $call,
        }
    };
}

impl Handle {
    /// The async handle (the blocking one's inner handle).
    pub fn as_async(&self) -> &Cache {
        match self {
            Handle::Async(cache) => cache,
            Handle::Blocking(cache) => cache.as_async(),
        }
    }

    /// See [`Cache::namespace`].
    pub fn namespace(&self, namespace: &str) -> Handle {
        match self {
            Handle::Async(c) => Handle::Async(c.namespace(namespace)),
            Handle::Blocking(c) => Handle::Blocking(c.namespace(namespace)),
        }
    }

    /// See [`Cache::with_version`].
    pub fn with_version(&self, version: i64) -> Handle {
        match self {
            Handle::Async(c) => Handle::Async(c.with_version(version)),
            Handle::Blocking(c) => Handle::Blocking(c.with_version(version)),
        }
    }

    /// See [`Cache::backend`].
    pub fn backend(&self) -> &DynCacheBackend {
        self.as_async().backend()
    }

    /// See [`Cache::prefix`].
    pub fn prefix(&self) -> &str {
        self.as_async().prefix()
    }

    /// See [`Cache::version`].
    pub fn version(&self) -> i64 {
        self.as_async().version()
    }

    /// See [`Cache::default_ttl`].
    pub fn default_ttl(&self) -> Ttl {
        self.as_async().default_ttl()
    }

    /// See [`Cache::stats`].
    pub fn stats(&self) -> CacheStats {
        self.as_async().stats()
    }

    /// See [`Cache::make_key`].
    pub fn make_key(&self, key: &str) -> Result<String> {
        match self {
            Handle::Async(c) => c.make_key(key),
            Handle::Blocking(c) => c.make_key(key),
        }
    }

    /// See [`Cache::get`].
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        either!(self, c => c.get(key))
    }

    /// See [`Cache::get_shared`].
    pub async fn get_shared<T>(&self, key: &str) -> Result<Option<Arc<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        either!(self, c => c.get_shared(key))
    }

    /// See [`Cache::get_many`].
    pub async fn get_many<T: DeserializeOwned, K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<HashMap<String, T>> {
        either!(self, c => c.get_many(keys))
    }

    /// See [`Cache::has_key`].
    pub async fn has_key(&self, key: &str) -> Result<bool> {
        either!(self, c => c.has_key(key))
    }

    /// See [`Cache::ttl`].
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        either!(self, c => c.ttl(key))
    }

    /// See [`Cache::set`].
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        either!(self, c => c.set(key, value))
    }

    /// See [`Cache::set_opts`].
    pub async fn set_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<()> {
        either!(self, c => c.set_opts(key, value, options))
    }

    /// See [`Cache::add`].
    pub async fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool> {
        either!(self, c => c.add(key, value))
    }

    /// See [`Cache::add_opts`].
    pub async fn add_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<bool> {
        either!(self, c => c.add_opts(key, value, options))
    }

    /// See [`Cache::set_many`].
    pub async fn set_many<K, V, I>(&self, entries: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        either!(self, c => c.set_many(entries))
    }

    /// See [`Cache::set_many_opts`].
    pub async fn set_many_opts<K, V, I>(
        &self,
        entries: I,
        options: impl Into<WriteOptions>,
    ) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        either!(self, c => c.set_many_opts(entries, options))
    }

    /// See [`Cache::touch`].
    pub async fn touch(&self, key: &str) -> Result<bool> {
        either!(self, c => c.touch(key))
    }

    /// See [`Cache::touch_opts`].
    pub async fn touch_opts(&self, key: &str, options: impl Into<WriteOptions>) -> Result<bool> {
        either!(self, c => c.touch_opts(key, options))
    }

    /// See [`Cache::delete`].
    pub async fn delete(&self, key: &str) -> Result<bool> {
        either!(self, c => c.delete(key))
    }

    /// See [`Cache::delete_many`].
    pub async fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        either!(self, c => c.delete_many(keys))
    }

    /// See [`Cache::clear`].
    pub async fn clear(&self) -> Result<u64> {
        either!(self, c => c.clear())
    }

    /// See [`Cache::incr`].
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        either!(self, c => c.incr(key, delta))
    }

    /// See [`Cache::decr`].
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        either!(self, c => c.decr(key, delta))
    }

    /// See [`Cache::incr_version`].
    pub async fn incr_version(&self, key: &str) -> Result<i64> {
        either!(self, c => c.incr_version(key))
    }

    /// See [`Cache::decr_version`].
    pub async fn decr_version(&self, key: &str) -> Result<i64> {
        either!(self, c => c.decr_version(key))
    }

    /// See [`Cache::get_or_set`].
    pub async fn get_or_set<T>(&self, key: &str, default: T) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        either!(self, c => c.get_or_set(key, default))
    }

    /// See [`Cache::get_or_set_opts`].
    pub async fn get_or_set_opts<T>(
        &self,
        key: &str,
        default: T,
        options: impl Into<WriteOptions>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        either!(self, c => c.get_or_set_opts(key, default, options))
    }

    /// See [`Cache::get_or_set_with`]. On the blocking handle the loader's future is waited
    /// for on the calling thread, as a synchronous loader would run.
    pub async fn get_or_set_with<T, F, Fut, E>(&self, key: &str, load: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.get_or_set_with_opts(key, WriteOptions::new(), load)
            .await
    }

    /// See [`Cache::get_or_set_with_opts`].
    pub async fn get_or_set_with_opts<T, F, Fut, E>(
        &self,
        key: &str,
        options: impl Into<WriteOptions>,
        load: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self {
            Handle::Async(c) => c.get_or_set_with_opts(key, options, load).await,
            Handle::Blocking(c) => {
                let runtime = c.runtime().clone();
                c.get_or_set_with_opts(key, options, move || runtime.block_on(load()))
            }
        }
    }
}
