//! `get_or_set` and `get_or_set_with`: one key, loaded inline by the caller.

use std::convert::Infallible;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::single_flight::{Joined, Patience};
use super::{loader_error, BoxError};
use crate::{Cache, Result, WriteOptions};

impl Cache {
    /// Returns the cached value, or stores `default` (unless another caller stored first)
    /// and returns what is then cached: Django's `get_or_set`.
    ///
    /// With a zero TTL nothing is stored and `default` is returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// assert_eq!(cache.get_or_set("mode", "fast".to_owned()).await?, "fast");
    /// assert_eq!(cache.get_or_set("mode", "slow".to_owned()).await?, "fast");
    /// # Ok(()) }
    /// ```
    pub async fn get_or_set<T>(&self, key: &str, default: T) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        self.get_or_set_opts(key, default, WriteOptions::new())
            .await
    }

    /// [`get_or_set`](Cache::get_or_set) with per-call options.
    pub async fn get_or_set_opts<T>(
        &self,
        key: &str,
        default: T,
        options: impl Into<WriteOptions>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        let load = || async { Ok::<_, Infallible>(default) };
        self.load_one("get_or_set", key, options.into(), load).await
    }

    /// Returns the cached value, or runs `load` to compute it, stores it and returns it.
    ///
    /// On a miss, `load` runs **once per key in this process**, however many tasks ask at the
    /// same time: the others wait for its outcome. The value is stored only if no other
    /// writer stored one meanwhile; otherwise the other writer's value is returned (to every
    /// waiter) and stays stored. If `load` fails, nothing is cached and every waiter gets the
    /// error, of kind [`Loader`](crate::ErrorKind::Loader) with the loader's error as its
    /// source.
    ///
    /// A miss costs two backend calls (a read, then a write that answers the winner), a hit
    /// one.
    ///
    /// # Cancel safety
    /// Dropping the future of the task that runs the loader (or a panic of the loader) frees
    /// its slot: a waiting task takes over, and nothing stays stuck. Waiting tasks wait as
    /// long as the loader runs; [`get_or_set_with_policy`](Cache::get_or_set_with_policy)
    /// bounds that wait.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
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
        E: Into<BoxError>,
    {
        self.get_or_set_with_opts(key, WriteOptions::new(), load)
            .await
    }

    /// [`get_or_set_with`](Cache::get_or_set_with) with per-call options.
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
        E: Into<BoxError>,
    {
        self.load_one("get_or_set_with", key, options.into(), load)
            .await
    }

    /// Reads `key`; on a miss, leads or follows its load in this process.
    async fn load_one<T, F, Fut, E>(
        &self,
        op: &'static str,
        key: &str,
        options: WriteOptions,
        load: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<BoxError>,
    {
        let call = self.call(op, Some(key));
        let composed = call.compose(key)?;
        let flights = &self.shared.flights;
        let epoch = flights.epoch(&composed);
        let backend = self.backend();
        if let Some(bytes) = call.run_or(1, backend.get(&composed), || None).await? {
            self.counters().hit(1);
            return call.decode(&bytes);
        }
        self.counters().miss(1);
        let leader = match flights.lead_or_wait(&composed, Patience::default()).await {
            Joined::Outcome(outcome) => return call.decode(&outcome?),
            Joined::Lead(leader) => leader,
        };
        // Only when a load of a key like this one finished in this process since our read
        // may its value be stored by now: read again then, and only then.
        if flights.epoch(&composed) != epoch {
            match call.run_or(1, backend.get(&composed), || None).await {
                Ok(Some(bytes)) => {
                    leader.finish(Ok(bytes.clone()));
                    return call.decode(&bytes);
                }
                Ok(None) => {}
                Err(err) => {
                    leader.finish(Err(err.clone()));
                    return Err(err);
                }
            }
        }
        let produced = async {
            let value = load()
                .await
                .map_err(|e| call.fail(loader_error(e.into())))?;
            call.produce(&composed, value, self.lifetime(options.ttl))
                .await
        }
        .await;
        leader.hand_over(&produced);
        call.value_of(produced?)
    }
}
