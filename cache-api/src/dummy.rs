//! [`DummyBackend`]: Django's `DummyCache`, a backend that accepts every call and stores
//! nothing.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{CacheBackend, SetMode, SetOptions};
use crate::expiry::{Expiry, KeyTtl};
use crate::{Cache, Error, ErrorKind, Result};

/// A backend that stores nothing: Django's `DummyCache`, to turn caching off (in development,
/// in a test of the code without its cache) without changing the code that calls the cache.
///
/// Every call succeeds and nothing is kept: `get` is always a miss, `add` answers `true`,
/// `set_many` reports no failure, `has_key` is `false`, `get_or_set` returns (and "stores") the
/// default, `delete` and `touch` find nothing, `incr` fails with
/// [`NotFound`](ErrorKind::NotFound), as on any missing key. Its name is `"dummy"`; the
/// facade's URL is `dummy://`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_api::{DummyBackend, ErrorKind};
///
/// let cache = DummyBackend::new().cache();
/// cache.set("answer", &42).await?;
/// assert_eq!(cache.get::<i32>("answer").await?, None);
/// assert!(cache.add("answer", &42).await?);
/// assert_eq!(cache.get_or_set("mode", "fast".to_owned()).await?, "fast");
/// assert_eq!(cache.incr("answer", 1).await.unwrap_err().kind(), ErrorKind::NotFound);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DummyBackend;

impl DummyBackend {
    /// The backend.
    pub fn new() -> Self {
        DummyBackend
    }

    /// A [`Cache`] with Django's defaults over this backend.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(*self))
    }
}

#[async_trait]
impl CacheBackend for DummyBackend {
    fn name(&self) -> &'static str {
        "dummy"
    }

    async fn get(&self, _key: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Ok(vec![None; keys.len()])
    }

    /// `true` for [`SetMode::Always`] and [`SetMode::IfAbsent`] (every key is absent, so
    /// `add` "writes", as Django's `DummyCache.add` answers `True`); `false` for
    /// [`SetMode::IfPresent`] (no key is present).
    async fn set(&self, _key: &str, _value: Bytes, options: SetOptions) -> Result<bool> {
        Ok(options.mode != SetMode::IfPresent)
    }

    async fn add_or_get(
        &self,
        _key: &str,
        _value: Bytes,
        _expiry: Expiry,
    ) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn get_with_expiry(&self, _key: &str) -> Result<Option<(Bytes, Expiry)>> {
        Ok(None)
    }

    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        Ok(vec![None; keys.len()])
    }

    async fn set_many(&self, _entries: &[(String, Bytes)], _expiry: Expiry) -> Result<Vec<usize>> {
        Ok(Vec::new())
    }

    async fn delete(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    async fn delete_many(&self, _keys: &[String]) -> Result<u64> {
        Ok(0)
    }

    async fn delete_if_value(&self, _key: &str, _expected: &[u8]) -> Result<bool> {
        Ok(false)
    }

    async fn touch(&self, _key: &str, _expiry: Expiry) -> Result<bool> {
        Ok(false)
    }

    async fn has_key(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    async fn incr(&self, _key: &str, _delta: i64) -> Result<i64> {
        Err(Error::new(
            ErrorKind::NotFound,
            "key does not exist (the dummy cache stores nothing)",
        )
        .with_backend("dummy"))
    }

    async fn ttl(&self, _key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::Missing)
    }

    async fn clear(&self, _prefix: &str) -> Result<u64> {
        Ok(0)
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Ttl;

    #[tokio::test]
    async fn stores_nothing_and_answers_as_djangos_dummy_cache() -> Result<()> {
        let cache = DummyBackend::new().cache();
        assert_eq!(cache.backend().name(), "dummy");
        cache.set("k", &"v").await?;
        assert_eq!(cache.get::<String>("k").await?, None);
        assert!(!cache.has_key("k").await?);
        assert!(cache.add("k", &"v").await?);
        assert!(cache.add("k", &"v").await?, "add answers true every time");
        assert_eq!(cache.get_or_set("k", 7).await?, 7);
        assert_eq!(cache.get_or_set("k", 8).await?, 8, "nothing was kept");
        let loaded: i32 = cache
            .get_or_set_with("k", || async { Ok::<_, std::io::Error>(9) })
            .await?;
        assert_eq!(loaded, 9);
        assert_eq!(
            cache.incr("k", 1).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            cache.decr("k", 1).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(!cache.delete("k").await?);
        assert!(!cache.touch_opts("k", Ttl::secs(10)).await?);
        assert_eq!(cache.ttl("k").await?, KeyTtl::Missing);
        cache.clear().await?;
        Ok(())
    }

    #[tokio::test]
    async fn batches_report_no_failure_and_find_nothing() -> Result<()> {
        let cache = DummyBackend::new().cache();
        let failed = cache
            .set_many_opts([("a", 1), ("b", 2)], Duration::from_secs(60))
            .await?;
        assert!(failed.is_empty());
        assert!(cache.get_many::<i32, _>(&["a", "b"]).await?.is_empty());
        assert_eq!(cache.delete_many(&["a", "b"]).await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn keys_are_still_validated() {
        let cache = DummyBackend::new().cache();
        let err = cache.set("bad key", &1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
    }
}
