#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod config;
mod duration;
mod registry;

pub use cache_api::*;
pub use config::{redact, supported_schemes, CacheConfig};
pub use duration::DurationValue;
pub use registry::{Caches, CachesConfig, DEFAULT_CACHE};

#[cfg(feature = "memory")]
pub use cache_memory::{MemoryBackend, MemoryBackendBuilder};
#[cfg(feature = "redis")]
pub use cache_redis::{RedisBackend, RedisBackendBuilder};

/// Builds a [`Cache`] from a URL: `memory://`, `redis://…`, `rediss://…`, with options in the
/// query (`?prefix=wheel_analyzer&default_timeout=45m`); see [`CacheConfig`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caches::Result<()> {
/// let cache = caches::from_url("memory://?prefix=wheel_analyzer&default_timeout=45m").await?;
/// cache.set("scanner:last_run", "now").await?;
/// assert_eq!(cache.backend_name(), "memory");
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ErrorKind::Config`] for an unknown scheme or option; the backend's connection errors.
pub async fn from_url(url: &str) -> Result<Cache> {
    CacheConfig::from_url(url)?.build().await
}
