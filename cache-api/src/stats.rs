//! Hit, miss, write, delete and error counters, kept with relaxed atomics, and (feature
//! `metrics`) pushed to the `metrics` crate as they change, with a latency histogram per
//! backend call.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one cache (shared by its namespaces and version views).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// The backend's name, the `backend` label of the pushed metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    backend: &'static str,
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
    ignored_errors: AtomicU64,
    stale_served: AtomicU64,
    fail_safe_served: AtomicU64,
    undecodable_reloaded: AtomicU64,
}

/// Pushes `n` to the counter `name` (feature `metrics`).
#[cfg(feature = "metrics")]
fn push(name: &'static str, backend: &'static str, n: u64) {
    metrics::counter!(name, "backend" => backend).increment(n);
}

#[cfg(not(feature = "metrics"))]
fn push(_name: &'static str, _backend: &'static str, _n: u64) {}

/// Records one backend call: `cachette_calls_total` and the latency histogram
/// `cachette_call_duration_seconds`, labelled `backend`, `operation`, `outcome`.
#[cfg(feature = "metrics")]
pub(crate) fn record_call(
    backend: &'static str,
    operation: &'static str,
    outcome: &'static str,
    elapsed: std::time::Duration,
) {
    let labels = [
        ("backend", backend),
        ("operation", operation),
        ("outcome", outcome),
    ];
    metrics::counter!("cachette_calls_total", &labels).increment(1);
    metrics::histogram!("cachette_call_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

impl Counters {
    /// Counters whose pushed metrics carry `backend`.
    pub(crate) fn new(backend: &'static str) -> Self {
        Counters {
            backend,
            ..Counters::default()
        }
    }

    pub(crate) fn hit(&self, n: u64) {
        if n > 0 {
            self.hits.fetch_add(n, Ordering::Relaxed);
            push("cachette_hits_total", self.backend, n);
        }
    }
    pub(crate) fn miss(&self, n: u64) {
        if n > 0 {
            self.misses.fetch_add(n, Ordering::Relaxed);
            push("cachette_misses_total", self.backend, n);
        }
    }
    pub(crate) fn set(&self, n: u64) {
        if n > 0 {
            self.sets.fetch_add(n, Ordering::Relaxed);
            push("cachette_sets_total", self.backend, n);
        }
    }
    pub(crate) fn delete(&self, n: u64) {
        if n > 0 {
            self.deletes.fetch_add(n, Ordering::Relaxed);
            push("cachette_deletes_total", self.backend, n);
        }
    }
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        push("cachette_errors_total", self.backend, 1);
    }

    pub(crate) fn ignored_error(&self) {
        self.ignored_errors.fetch_add(1, Ordering::Relaxed);
        push("cachette_ignored_errors_total", self.backend, 1);
    }

    pub(crate) fn stale_served(&self) {
        self.stale_served.fetch_add(1, Ordering::Relaxed);
        push("cachette_stale_served_total", self.backend, 1);
    }

    pub(crate) fn fail_safe_served(&self) {
        self.fail_safe_served.fetch_add(1, Ordering::Relaxed);
        push("cachette_fail_safe_served_total", self.backend, 1);
    }

    pub(crate) fn undecodable_reloaded(&self) {
        self.undecodable_reloaded.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            ignored_errors: self.ignored_errors.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            fail_safe_served: self.fail_safe_served.load(Ordering::Relaxed),
            undecodable_reloaded: self.undecodable_reloaded.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// let cache = cachette_memory::MemoryBackend::new().cache();
/// cache.set("a", &1).await?;
/// let _: Option<i32> = cache.get("a").await?;
/// let _: Option<i32> = cache.get("b").await?;
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.sets), (1, 1, 1));
/// assert_eq!(stats.hit_rate(), Some(0.5));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Keys read and found.
    pub hits: u64,
    /// Keys read and not found.
    pub misses: u64,
    /// Keys written.
    pub sets: u64,
    /// Keys deleted (that existed).
    pub deletes: u64,
    /// Operations that returned an error.
    pub errors: u64,
    /// Backend outages answered as misses because the cache is fail-open.
    pub ignored_errors: u64,
    /// Stale values served by a [`LoadPolicy`](crate::LoadPolicy) (stale-while-revalidate,
    /// soft timeout, a lease held elsewhere).
    pub stale_served: u64,
    /// Stale values served because the loader failed or timed out (fail-safe).
    pub fail_safe_served: u64,
    /// Stored values that no longer decoded and were reloaded
    /// ([`OnUndecodable::Reload`](crate::OnUndecodable)).
    pub undecodable_reloaded: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or `None` before the first read.
    pub fn hit_rate(&self) -> Option<f64> {
        let reads = self.hits + self.misses;
        (reads > 0).then(|| self.hits as f64 / reads as f64)
    }
}
