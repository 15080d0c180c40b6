//! Counters: `incr`, `decr`.

use crate::{Cache, Error, ErrorKind, Result};

impl Cache {
    /// Adds `delta` to the integer at `key`, atomically, and returns the new value.
    ///
    /// Works on a value stored with `set(key, &5)`. The key's expiry does not change.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) for a missing or expired key (Django's
    /// `ValueError`); [`NotInteger`](ErrorKind::NotInteger) for a value that is not an
    /// integer; [`Overflow`](ErrorKind::Overflow) past `i64`. The stored value is unchanged
    /// on error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set("hits", &41).await?;
    /// assert_eq!(cache.incr("hits", 1).await?, 42);
    /// assert_eq!(cache.decr("hits", 2).await?, 40);
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.add_to("incr", key, Some(delta)).await
    }

    /// Subtracts `delta` from the integer at `key`; see [`incr`](Cache::incr).
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        self.add_to("decr", key, delta.checked_neg()).await
    }

    /// Adds `delta` (`None`: a delta that cannot be negated) to the integer at `key`.
    async fn add_to(&self, op: &'static str, key: &str, delta: Option<i64>) -> Result<i64> {
        let call = self.call(op, Some(key));
        let composed = call.compose(key)?;
        let Some(delta) = delta else {
            return Err(call.fail(Error::new(
                ErrorKind::Overflow,
                "the delta cannot be negated",
            )));
        };
        call.run(1, self.backend().incr(&composed, delta)).await
    }
}
