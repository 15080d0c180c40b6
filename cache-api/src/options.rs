//! [`WriteOptions`]: the per-call options of the writing `_opts` methods.

use std::time::Duration;

use crate::Ttl;

/// Options of one write: Django's `timeout=` argument, as a [`Ttl`].
///
/// A version other than the cache's is not a per-call option: take a view with
/// [`Cache::with_version`](crate::Cache::with_version). Anything that converts into a
/// [`Ttl`] converts into `WriteOptions` too, so the common case reads like Django:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::time::Duration;
/// use cachette_api::{Ttl, WriteOptions};
///
/// let cache = cachette_memory::MemoryBackend::new().cache();
/// cache.set_opts("a", &1, Duration::from_secs(60)).await?;
/// cache.set_opts("b", &2, Ttl::Never).await?;
/// cache.set_opts("c", &3, WriteOptions::new().with_ttl(Ttl::secs(30))).await?;
/// cache.with_version(2).set("d", &4).await?;
/// assert_eq!(cache.with_version(2).get::<i32>("d").await?, Some(4));
/// assert_eq!(cache.get::<i32>("d").await?, None);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct WriteOptions {
    /// How long the written entry lives.
    pub ttl: Ttl,
}

impl WriteOptions {
    /// The cache's default TTL.
    pub fn new() -> Self {
        WriteOptions::default()
    }

    /// Sets the TTL.
    pub fn with_ttl(mut self, ttl: impl Into<Ttl>) -> Self {
        self.ttl = ttl.into();
        self
    }
}

impl From<Ttl> for WriteOptions {
    fn from(ttl: Ttl) -> Self {
        WriteOptions::new().with_ttl(ttl)
    }
}

impl From<Duration> for WriteOptions {
    fn from(ttl: Duration) -> Self {
        WriteOptions::new().with_ttl(ttl)
    }
}
