//! Reads: `get`, `get_many`, `has_key`, `ttl`.

use std::collections::HashMap;

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
        let backend = self.backend();
        match call.run_or(1, backend.get(&composed), || None).await? {
            Some(bytes) => {
                self.counters().hit(1);
                call.decode(&bytes).map(Some)
            }
            None => {
                self.counters().miss(1);
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
