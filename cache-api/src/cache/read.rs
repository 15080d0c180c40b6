//! Reads: `get`, `get_shared`, `get_many`, `has_key`, `ttl`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::{Cache, KeyTtl, Result};

impl Cache {
    /// Reads a value: `Some` on a hit, `None` on a miss.
    ///
    /// A stored `None` (of an `Option` type) is a hit: `get::<Option<T>>` answers
    /// `Some(None)`.
    ///
    /// # Errors
    /// [`InvalidKey`](crate::ErrorKind::InvalidKey);
    /// [`Decode`](crate::ErrorKind::Decode) (naming the key) when the stored value is not a
    /// `T`; the backend's errors.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set("ticker", "AAPL").await?;
    /// assert_eq!(cache.get::<String>("ticker").await?.as_deref(), Some("AAPL"));
    /// assert_eq!(cache.get::<String>("missing").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let call = self.call("get", Some(key));
        let composed = call.compose(key)?;
        let found = call
            .run_or(1, self.backend().get(&composed), || None)
            .await?;
        self.counted(found)
            .map(|bytes| call.decode(&bytes))
            .transpose()
    }

    /// [`get`](Cache::get), answering a value that may be shared: on a backend that keeps
    /// decoded values with its entries (the memory backend, the tiered layer's L1), each
    /// stored value is decoded once, and every later `get_shared` of it for the same type
    /// answers the same [`Arc`] without decoding again, until the key changes. On other
    /// backends, or for a second type asked of the same entry, each call decodes as `get`
    /// does. Worth it for large values read often; the answers, counters and errors are
    /// `get`'s.
    ///
    /// The decoded value is kept as long as the entry (or any caller's `Arc`) lives, besides
    /// the stored bytes.
    ///
    /// # Errors
    /// As [`get`](Cache::get).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// use std::sync::Arc;
    ///
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set("report", &vec![1.5_f64; 1_000]).await?;
    /// let first = cache.get_shared::<Vec<f64>>("report").await?;
    /// let again = cache.get_shared::<Vec<f64>>("report").await?;
    /// assert_eq!(first.as_deref().map(Vec::len), Some(1_000));
    /// // Decoded once: both reads share it.
    /// assert!(matches!((&first, &again), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
    /// assert_eq!(cache.get_shared::<Vec<f64>>("missing").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn get_shared<T>(&self, key: &str) -> Result<Option<Arc<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let call = self.call("get_shared", Some(key));
        let composed = call.compose(key)?;
        let found = call
            .run_or(1, self.backend().get_entry(&composed), || None)
            .await?;
        self.counted(found)
            .map(|entry| call.decode_shared(&entry))
            .transpose()
    }

    /// Counts a one-key read as a hit or a miss, and hands its answer on.
    fn counted<V>(&self, found: Option<V>) -> Option<V> {
        match found {
            Some(_) => self.counters().hit(1),
            None => self.counters().miss(1),
        }
        found
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
        let call = self.call("get_many", None);
        let found = self.read_many(call, keys).await?;
        let mut out = HashMap::with_capacity(found.len());
        for (key, bytes) in keys.iter().zip(found) {
            if let Some(bytes) = bytes {
                let key = key.as_ref();
                out.insert(key.to_owned(), call.about(key).decode(&bytes)?);
            }
        }
        self.counters().hit(out.len() as u64);
        self.counters().miss((keys.len() - out.len()) as u64);
        Ok(out)
    }

    /// Composes `keys` and reads them with one backend call (none for no keys); fail-open
    /// answers "nothing found". One slot per key, in order.
    pub(crate) async fn read_many<K: AsRef<str>>(
        &self,
        call: crate::cache::Call<'_>,
        keys: &[K],
    ) -> Result<Vec<Option<Bytes>>> {
        let composed = call.compose_all(keys)?;
        if composed.is_empty() {
            return Ok(Vec::new());
        }
        let n = composed.len();
        call.run_or(n, self.backend().get_many(&composed), || vec![None; n])
            .await
    }

    /// Whether the key exists (and has not expired). A stored `None` exists.
    pub async fn has_key(&self, key: &str) -> Result<bool> {
        let call = self.call("has_key", Some(key));
        let composed = call.compose(key)?;
        call.run_or(1, self.backend().has_key(&composed), || false)
            .await
    }

    /// The remaining life of a key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// use cachette_api::{KeyTtl, Ttl};
    ///
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set_opts("forever", &1, Ttl::Never).await?;
    /// assert_eq!(cache.ttl("forever").await?, KeyTtl::Persistent);
    /// assert_eq!(cache.ttl("missing").await?, KeyTtl::Missing);
    /// # Ok(()) }
    /// ```
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let call = self.call("ttl", Some(key));
        let composed = call.compose(key)?;
        call.run(1, self.backend().ttl(&composed)).await
    }
}
