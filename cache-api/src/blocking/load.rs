//! The blocking twins of the loading methods, with synchronous loaders.

use std::collections::HashMap;
use std::future::ready;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Cache;
use crate::load::BoxError;
use crate::{Error, ErrorKind, LoadPolicy, Loaded, Result, WriteOptions};

impl Cache {
    /// Returns the cached value, or stores `default` and returns what is then cached:
    /// Django's `get_or_set`; see [`crate::Cache::get_or_set`].
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set`].
    pub fn get_or_set<T>(&self, key: &str, default: T) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        self.wait(self.as_async().get_or_set(key, default))
    }

    /// [`get_or_set`](Cache::get_or_set) with per-call options.
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_opts`].
    pub fn get_or_set_opts<T>(
        &self,
        key: &str,
        default: T,
        options: impl Into<WriteOptions>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        self.wait(self.as_async().get_or_set_opts(key, default, options))
    }

    /// Returns the cached value, or runs `load` (on the calling thread) to compute it,
    /// stores it and returns it; see [`crate::Cache::get_or_set_with`].
    ///
    /// On a miss, `load` runs once per key in this process, however many threads (or tasks
    /// of the async handle) ask at the same time; the others wait for its outcome. A failed
    /// `load` caches nothing and fails every waiter with
    /// [`Loader`](crate::ErrorKind::Loader).
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache().blocking()?;
    /// let price: f64 = cache.get_or_set_with("price:AAPL", || Ok::<_, std::io::Error>(189.5))?;
    /// assert_eq!(price, 189.5);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_with`].
    pub fn get_or_set_with<T, F, E>(&self, key: &str, load: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        self.get_or_set_with_opts(key, WriteOptions::new(), load)
    }

    /// [`get_or_set_with`](Cache::get_or_set_with) with per-call options.
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_with_opts`].
    pub fn get_or_set_with_opts<T, F, E>(
        &self,
        key: &str,
        options: impl Into<WriteOptions>,
        load: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        let load = || ready(load());
        self.wait(self.as_async().get_or_set_with_opts(key, options, load))
    }

    /// [`get_or_set_with`](Cache::get_or_set_with) with the protections of a
    /// [`LoadPolicy`] (stale-while-revalidate, fail-safe, timeouts, a lease); see
    /// [`crate::Cache::get_or_set_with_policy`].
    ///
    /// `load` runs on a thread of the runtime's blocking pool, so that it goes on (and fills
    /// the cache) when the caller stops waiting at a soft or hard timeout. A panic of `load`
    /// is a failed load, as with the async handle.
    ///
    /// ```
    /// # fn main() -> cachette_api::Result<()> {
    /// use std::time::Duration;
    /// use cachette_api::{FailSafe, LoadPolicy, Source};
    ///
    /// let cache = cachette_memory::MemoryBackend::new().cache().blocking()?;
    /// let policy = LoadPolicy::new()
    ///     .with_ttl(Duration::from_secs(60))
    ///     .with_fail_safe(FailSafe::new(Duration::from_secs(3600), Duration::from_secs(10)));
    /// let quote = cache.get_or_set_with_policy("quote:AAPL", &policy, || Ok::<_, std::io::Error>(189.5))?;
    /// assert_eq!((quote.value, quote.source), (189.5, Source::Loaded));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_with_policy`].
    pub fn get_or_set_with_policy<T, F, E>(
        &self,
        key: &str,
        policy: &LoadPolicy,
        load: F,
    ) -> Result<Loaded<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let load = move || async move {
            let run = move || load().map_err(Into::<BoxError>::into);
            match tokio::task::spawn_blocking(run).await {
                Ok(loaded) => loaded,
                // The engine catches the loader's panic and treats it as a failed load.
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(err) => Err(BoxError::from(
                    Error::new(ErrorKind::Loader, "the loader's thread was cancelled")
                        .with_source(err),
                )),
            }
        };
        self.wait(self.as_async().get_or_set_with_policy(key, policy, load))
    }

    /// Reads many keys at once and loads the missing ones with one call of a batch loader;
    /// see [`crate::Cache::get_or_set_many`]. One result per key, in the order given.
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_many`].
    pub fn get_or_set_many<T, K, F, E>(
        &self,
        keys: &[K],
        load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> std::result::Result<HashMap<String, T>, E>,
        E: Into<BoxError>,
    {
        self.get_or_set_many_opts(keys, WriteOptions::new(), load)
    }

    /// [`get_or_set_many`](Cache::get_or_set_many) with per-call options.
    ///
    /// # Errors
    /// As [`crate::Cache::get_or_set_many_opts`].
    pub fn get_or_set_many_opts<T, K, F, E>(
        &self,
        keys: &[K],
        options: impl Into<WriteOptions>,
        mut load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> std::result::Result<HashMap<String, T>, E>,
        E: Into<BoxError>,
    {
        let load = move |missing| ready(load(missing));
        self.wait(self.as_async().get_or_set_many_opts(keys, options, load))
    }
}
