//! Version moves: `incr_version`, `decr_version`.

use crate::{Cache, Error, ErrorKind, Result, SetOptions};

impl Cache {
    /// Moves a key's value to the next version, keeping its remaining life, and returns the
    /// new version. The value is then read through `cache.with_version(new)`.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) for a missing key (Django's `ValueError`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set("answer", &42).await?;
    /// assert_eq!(cache.incr_version("answer").await?, 2);
    /// assert_eq!(cache.get::<i32>("answer").await?, None);
    /// assert_eq!(cache.with_version(2).get::<i32>("answer").await?, Some(42));
    /// # Ok(()) }
    /// ```
    pub async fn incr_version(&self, key: &str) -> Result<i64> {
        self.move_version("incr_version", key, 1).await
    }

    /// Moves a key's value to the previous version; see [`incr_version`](Cache::incr_version).
    pub async fn decr_version(&self, key: &str) -> Result<i64> {
        self.move_version("decr_version", key, -1).await
    }

    /// Moves a key's value from this view's version to `version + delta`.
    async fn move_version(&self, op: &'static str, key: &str, delta: i64) -> Result<i64> {
        let call = self.call(op, Some(key));
        let Some(target) = self.version().checked_add(delta) else {
            return Err(call.fail(Error::new(ErrorKind::Overflow, "version out of range")));
        };
        let from = call.compose(key)?;
        let to = self.with_version(target);
        let to = to.call(op, Some(key)).compose(key)?;
        let not_found = || call.fail(Error::new(ErrorKind::NotFound, "key does not exist"));
        let backend = self.backend();
        let Some((bytes, expiry)) = call.run(1, backend.get_with_expiry(&from)).await? else {
            return Err(not_found());
        };
        call.run(1, backend.set(&to, bytes, SetOptions::new(expiry)))
            .await?;
        call.run(1, backend.delete(&from)).await?;
        Ok(target)
    }
}
