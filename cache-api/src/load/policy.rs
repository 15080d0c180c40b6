//! [`LoadPolicy`]: the options of
//! [`Cache::get_or_set_with_policy`](crate::Cache::get_or_set_with_policy): the TTL of the
//! loaded value, and protections, all opt-in.

use std::time::Duration;

use crate::Ttl;

/// How `get_or_set_with_policy` protects an application from a slow or failing loader.
///
/// Everything is off by default: a default policy behaves like
/// [`get_or_set_with`](crate::Cache::get_or_set_with). The timeline of one entry:
///
/// ```text
///  set        fresh until                stale until (physical expiry)
///   |-------------|------------------------------|
///     fresh: hit   stale-while-revalidate: the stale value is served at once and
///                  refreshed in the background, once;
///                  fail-safe: served when the loader fails or times out, then kept
///                  `retry_after` more before the loader is tried again
/// ```
///
/// ```
/// use std::time::Duration;
/// use cachette_api::{FailSafe, Lease, LoadPolicy};
///
/// let policy = LoadPolicy::new()
///     .with_ttl(Duration::from_secs(60))                         // fresh for a minute
///     .with_stale_while_revalidate(Duration::from_secs(600))     // then served stale for 10 min
///     .with_fail_safe(FailSafe::new(Duration::from_secs(3600), Duration::from_secs(30)))
///     .with_soft_timeout(Duration::from_millis(100))
///     .with_hard_timeout(Duration::from_secs(2))
///     .with_lease(Lease::new(Duration::from_secs(10), Duration::from_secs(1)));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LoadPolicy {
    /// How long a loaded value is fresh (default: the cache's default TTL). The entry lives
    /// longer by the stale-while-revalidate or fail-safe window.
    pub ttl: Ttl,
    /// After the fresh window, how long a stale value is served at once while one
    /// background load refreshes it.
    pub stale_while_revalidate: Option<Duration>,
    /// Serve the stale value when the loader fails or times out.
    pub fail_safe: Option<FailSafe>,
    /// With a stale value at hand, how long to wait for the loader before serving the stale
    /// value; the loader goes on in the background and fills the cache.
    pub soft_timeout: Option<Duration>,
    /// How long to wait for the loader at all (leading or following another caller's load);
    /// then the caller gets the stale value (fail-safe) or an error of kind
    /// [`Timeout`](crate::ErrorKind::Timeout). The loader goes on in the background and fills
    /// the cache.
    pub hard_timeout: Option<Duration>,
    /// A lease in the backend, so that one process per key loads while the others wait
    /// (bounded) or serve stale.
    pub lease: Option<Lease>,
    /// What to do with a stored value that no longer decodes (a struct changed during a
    /// rolling deploy).
    pub on_undecodable: OnUndecodable,
}

impl LoadPolicy {
    /// Every protection off.
    pub fn new() -> Self {
        LoadPolicy::default()
    }

    /// Sets how long a loaded value is fresh.
    pub fn with_ttl(mut self, ttl: impl Into<Ttl>) -> Self {
        self.ttl = ttl.into();
        self
    }

    /// Sets the stale-while-revalidate window.
    pub fn with_stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = Some(window);
        self
    }

    /// Turns fail-safe on.
    pub fn with_fail_safe(mut self, fail_safe: FailSafe) -> Self {
        self.fail_safe = Some(fail_safe);
        self
    }

    /// Sets the soft timeout.
    pub fn with_soft_timeout(mut self, timeout: Duration) -> Self {
        self.soft_timeout = Some(timeout);
        self
    }

    /// Sets the hard timeout.
    pub fn with_hard_timeout(mut self, timeout: Duration) -> Self {
        self.hard_timeout = Some(timeout);
        self
    }

    /// Turns the distributed lease on.
    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Sets what to do with a stored value that no longer decodes.
    pub fn with_on_undecodable(mut self, on_undecodable: OnUndecodable) -> Self {
        self.on_undecodable = on_undecodable;
        self
    }

    /// How long after the fresh window a stale value is kept.
    pub(crate) fn stale_window(&self) -> Duration {
        let swr = self.stale_while_revalidate.unwrap_or_default();
        let keep = self.fail_safe.map(|f| f.keep_for).unwrap_or_default();
        swr.max(keep)
    }
}

/// Fail-safe: serve a stale value when the loader fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailSafe {
    /// How long after its fresh window a value is kept to be served on failure.
    pub keep_for: Duration,
    /// After a failure, how long the stale value is served before the loader is tried again.
    pub retry_after: Duration,
}

impl FailSafe {
    /// Keeps stale values `keep_for`, and retries a failed loader after `retry_after`.
    pub fn new(keep_for: Duration, retry_after: Duration) -> Self {
        FailSafe {
            keep_for,
            retry_after,
        }
    }
}

/// A lease taken in the backend (`SET NX PX` with a token, released only by its owner), so
/// that one process per key runs the loader.
///
/// The lease is released as soon as the load ends, a loader that panics included. Callers of
/// the same key in the same process wait for the loading caller at most `ttl`, then take
/// over: a loader that never returns holds them up no longer than the lease. A zero `ttl`
/// takes no lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// How long the lease lives if its owner never releases it (a crashed process).
    pub ttl: Duration,
    /// How long a process without the lease and without a stale value waits for the owner's
    /// value before loading itself.
    pub wait: Duration,
}

impl Lease {
    /// A lease of `ttl`, waited on for at most `wait`.
    pub fn new(ttl: Duration, wait: Duration) -> Self {
        Lease { ttl, wait }
    }
}

/// What to do with a stored value that no longer decodes into the requested type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnUndecodable {
    /// Return the [`Decode`](crate::ErrorKind::Decode) error (the default).
    #[default]
    Error,
    /// Treat it as a miss: load, and overwrite it. Counted in
    /// [`CacheStats::undecodable_reloaded`](crate::CacheStats::undecodable_reloaded).
    Reload,
}

/// Where a value returned by `get_or_set_with_policy` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A fresh value from the cache.
    Fresh,
    /// Just loaded (by this caller, or by another caller this one waited for).
    Loaded,
    /// A stale value, served while a refresh runs (stale-while-revalidate, soft timeout, or a
    /// lease held by another process).
    Stale,
    /// A stale value, served because the loader failed or timed out (fail-safe).
    FailSafe,
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Loaded<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Loaded<T> {
    pub(crate) fn new(value: T, source: Source) -> Self {
        Loaded { value, source }
    }
}
