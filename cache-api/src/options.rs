//! Per-call options of the [`Cache`](crate::Cache) handle's `_opts` methods.

use std::time::Duration;

use crate::Timeout;

/// Options of one call: Django's `timeout=` and `version=` arguments.
///
/// Anything that converts into a [`Timeout`] converts into `CallOptions` too, so the common
/// case reads like Django:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_api::Result<()> {
/// use std::time::Duration;
/// use cache_api::{CallOptions, Timeout};
///
/// let cache = cache_memory::MemoryBackend::new().cache();
/// cache.set_opts("a", &1, Duration::from_secs(60)).await?;
/// cache.set_opts("b", &2, Timeout::Never).await?;
/// cache.set_opts("c", &3, CallOptions::new().with_version(2)).await?;
/// assert_eq!(cache.get_opts::<i32>("c", CallOptions::new().with_version(2)).await?, Some(3));
/// assert_eq!(cache.get::<i32>("c").await?, None);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// The timeout of a write (`touch` included); ignored by reads.
    pub timeout: Timeout,
    /// The version to use instead of the cache's own.
    pub version: Option<i64>,
}

impl CallOptions {
    /// The cache's default timeout and version.
    pub fn new() -> Self {
        CallOptions::default()
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: impl Into<Timeout>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Sets the version.
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }
}

impl From<Timeout> for CallOptions {
    fn from(timeout: Timeout) -> Self {
        CallOptions::new().with_timeout(timeout)
    }
}

impl From<Duration> for CallOptions {
    fn from(timeout: Duration) -> Self {
        CallOptions::new().with_timeout(timeout)
    }
}
