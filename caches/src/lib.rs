#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod config;
mod duration;
#[cfg(feature = "memory")]
mod memory_stores;
#[cfg(feature = "metrics")]
mod metrics_export;
mod options;
mod registry;

pub use cachette_api::*;
pub use config::{supported_schemes, CacheConfig};
pub use duration::DurationValue;
pub use registry::{Caches, CachesConfig, DEFAULT_CACHE};

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics_export::record_metrics;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cachette_memory::{MemoryBackend, MemoryBackendBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cachette_redis::{RedisBackend, RedisBackendBuilder};

/// Builds a [`Cache`] from a URL: `memory://`, `redis://…`, `rediss://…`, with options in the
/// query (`?prefix=wheel_analyzer&default_timeout=45m`); see [`CacheConfig`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette::Result<()> {
/// let cache = cachette::from_url("memory://?prefix=wheel_analyzer&default_timeout=45m").await?;
/// cache.set("scanner:last_run", "now").await?;
/// assert_eq!(cache.backend().name(), "memory");
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ErrorKind::Config`] for an unknown scheme or option; the backend's connection errors.
pub async fn from_url(url: &str) -> Result<Cache> {
    CacheConfig::from_url(url)?.build().await
}

/// The guide in `docs/`: every Rust block of every page is compiled and run as a doc test.
/// The test `every_guide_page_is_a_doc_test` fails when a page is missing from this list.
#[cfg(doctest)]
mod guide {
    macro_rules! pages {
        ($($name:ident = $path:literal),* $(,)?) => {$(
            #[doc = include_str!($path)]
            struct $name;
        )*};
    }
    pages!(
        Index = "../../docs/README.md",
        GettingStarted = "../../docs/getting-started.md",
        ChoosingABackend = "../../docs/choosing-a-backend.md",
        Configuration = "../../docs/configuration.md",
        KeysAndVersions = "../../docs/keys-and-versions.md",
        Timeouts = "../../docs/timeouts.md",
        Testing = "../../docs/testing.md",
        Conformance = "../../docs/conformance.md",
        Migrating = "../../docs/migrating-from-django.md",
        Redis = "../../docs/redis.md",
        Resilience = "../../docs/resilience.md",
        FailureModes = "../../docs/failure-modes.md",
        Benchmarks = "../../docs/benchmarks.md",
        Cluster = "../../docs/cluster.md",
        Tiered = "../../docs/tiered.md",
        Observability = "../../docs/observability.md",
        Readme = "../../README.md",
    );
}

#[cfg(test)]
mod guide_pages {
    /// Every Markdown page of `docs/` is in the doc-test list of `mod guide`.
    #[test]
    fn every_guide_page_is_a_doc_test() {
        let lib = include_str!("lib.rs");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".md") && !lib.contains(&format!("\"../../docs/{name}\"")) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "docs pages missing from `mod guide` in caches/src/lib.rs: {missing:?}"
        );
    }
}
