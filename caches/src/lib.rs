#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod config;
mod duration;
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub mod memoize;
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

/// Caches the results of a function, keyed by its path and its arguments: `cached` of Python,
/// `@cache_page` of Django, for async and sync functions.
///
/// ```
/// use std::sync::LazyLock;
/// use std::time::Duration;
///
/// static QUOTES: LazyLock<cachette::Cache> = LazyLock::new(|| cachette::MemoryBackend::new().cache());
///
/// #[cachette::cached(cache = QUOTES, ttl = Duration::from_secs(60))]
/// async fn quote(ticker: &str) -> Result<f64, cachette::Error> {
///     Ok(189.5) // the slow call to the quote API
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette::Result<()> {
/// assert_eq!(quote("AAPL").await?, 189.5); // loaded
/// assert_eq!(quote("AAPL").await?, 189.5); // from the cache
/// # Ok(()) }
/// ```
///
/// Options, as `name = value`:
/// - the cache, exactly one of: `cache = EXPR` (a [`Cache`] or [`blocking::Cache`], or a
///   static holding one: an async function uses the async handle, a sync one the blocking
///   handle) or `named = "name"` (a cache installed with [`memoize::install`]);
/// - `key = EXPR`: the key (anything `Display`, e.g. `format!("quote:{ticker}")`); by
///   default the function's path and its arguments, which must then be `Serialize`
///   ([`memoize::Key`]);
/// - `ttl = EXPR` (a `Duration` or a [`Ttl`]), `version = EXPR` (an `i64`);
/// - for a function returning `Result`: `stale_while_revalidate = Duration`,
///   `fail_safe = FailSafe`, `soft_timeout = Duration`, `hard_timeout = Duration` (the
///   [`LoadPolicy`] options; the arguments must then be owned, as the load may outlive the
///   call).
///
/// On a miss the function runs once per key in the process, however many callers ask at the
/// same time (single flight). A function returning `Result` caches only its `Ok` values; its
/// own error is returned as it is, and a cache error converts into its error type with
/// `From<cachette::Error>`. A function without `Result` needs a `Clone` value, and is simply
/// run when the cache fails.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cachette_macros::cached;
#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub use cachette_memcached::{MemcachedBackend, MemcachedBackendBuilder};

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cachette_memory::{MemoryBackend, MemoryBackendBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use cachette_postgres::{PostgresBackend, PostgresBackendBuilder};
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
        Postgres = "../../docs/postgres.md",
        Memcached = "../../docs/memcached.md",
        Resilience = "../../docs/resilience.md",
        FailureModes = "../../docs/failure-modes.md",
        Benchmarks = "../../docs/benchmarks.md",
        Cluster = "../../docs/cluster.md",
        Tiered = "../../docs/tiered.md",
        Observability = "../../docs/observability.md",
        Sentinel = "../../docs/sentinel.md",
        DjangoInterop = "../../docs/django-interop.md",
        Readme = "../../README.md",
    );

    #[cfg(feature = "macros")]
    pages!(
        Blocking = "../../docs/blocking.md",
        Memoize = "../../docs/memoize.md",
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
