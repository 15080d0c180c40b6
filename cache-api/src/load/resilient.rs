//! `get_or_set_with_policy`: one key, loaded in a task of its own with the protections of a
//! [`LoadPolicy`] (stale-while-revalidate, fail-safe, soft and hard timeouts, a distributed
//! lease, deploy-safe decoding).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use super::envelope::{self, millis, now_ms};
use super::single_flight::{Joined, Leader, Patience, Role};
use super::unwind::CatchUnwind;
use super::{loader_error, BoxError, Lease, LoadPolicy, Loaded, OnUndecodable, Source};
use crate::expiry::Lifetime;
use crate::{Cache, Error, ErrorKind, Expiry, Result, SetMode, SetOptions};

/// What the load task of one key ended with.
enum LoadOutcome {
    /// The value's encoding (plain or in an envelope; the codec reads both).
    Value(Bytes),
    /// Another process holds the lease and a stale value is at hand: serve it.
    ServeStale,
}

/// What the caller found in the cache before loading.
struct Found {
    /// The stale value's own encoding, when one can be served.
    stale: Option<Bytes>,
    /// Whether the key holds an entry (stale or undecodable) that the load replaces.
    occupied: bool,
}

/// The key of the lease of `composed`: NUL cannot appear in a validated key, so it never
/// collides with a user's key, and it shares the cache's prefix, so `clear` removes it.
fn lease_key(composed: &str) -> String {
    format!("{composed}\u{0}lease")
}

/// A token unique to this process and call.
fn new_token() -> Bytes {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Bytes::from(format!("{}-{}-{n}", std::process::id(), now_ms()))
}

/// How often a caller without the lease looks for the lease owner's value.
const LEASE_POLL: Duration = Duration::from_millis(20);

impl Cache {
    /// [`get_or_set_with`](Cache::get_or_set_with) with the protections of a [`LoadPolicy`]:
    /// stale-while-revalidate, fail-safe, soft and hard loader timeouts, a distributed lease,
    /// and a policy for values that no longer decode. Returns the value and its [`Source`].
    ///
    /// The loader runs in a Tokio task of its own, so it goes on (and fills the cache) when
    /// the caller stops waiting (a soft or hard timeout) or is cancelled; the in-process slot
    /// and the lease are always released by that task, also when the loader panics.
    ///
    /// Callers of the same key in this process wait for the loading one at most the hard
    /// timeout, and take over from it after the lease's TTL.
    ///
    /// Entries written here carry their freshness deadline; plain reads (`get`) see the
    /// value until the entry's physical expiry (the fresh window plus the longer of the
    /// stale-while-revalidate and fail-safe windows).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// use std::time::Duration;
    /// use cachette_api::{FailSafe, LoadPolicy, Source};
    ///
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// let policy = LoadPolicy::new()
    ///     .with_ttl(Duration::from_secs(60))
    ///     .with_fail_safe(FailSafe::new(Duration::from_secs(3600), Duration::from_secs(10)));
    /// let quote = cache
    ///     .get_or_set_with_policy("quote:AAPL", &policy, || async { Ok::<_, std::io::Error>(189.5) })
    ///     .await?;
    /// assert_eq!((quote.value, quote.source), (189.5, Source::Loaded));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Loader`](ErrorKind::Loader) when the loader fails (or panics) and no stale value can
    /// be served; [`Timeout`](ErrorKind::Timeout) past the hard timeout without a stale
    /// value; [`Decode`](ErrorKind::Decode) for a stored value that no longer decodes, unless
    /// the policy says [`OnUndecodable::Reload`]; [`Config`](ErrorKind::Config) outside a
    /// Tokio runtime; the backend's errors.
    pub async fn get_or_set_with_policy<T, F, Fut, E>(
        &self,
        key: &str,
        policy: &LoadPolicy,
        load: F,
    ) -> Result<Loaded<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let call = self.call("get_or_set_with_policy", Some(key));
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(call.fail(Error::new(
                ErrorKind::Config,
                "get_or_set_with_policy runs its loader in a Tokio task: call it inside a Tokio runtime",
            )));
        }
        let composed = call.compose(key)?;
        let started = tokio::time::Instant::now();
        let found = call
            .run_or(1, self.backend().get(&composed), || None)
            .await?;
        let mut before = Found {
            stale: None,
            occupied: found.is_some(),
        };
        if let Some(bytes) = found {
            let (fresh_until, inner) = envelope::split(&bytes);
            match self.shared.codec.decode_plain::<T>(inner) {
                Ok(value) => {
                    self.counters().hit(1);
                    let now = now_ms();
                    if fresh_until.is_none_or(|until| now < until) {
                        return Ok(Loaded::new(value, Source::Fresh));
                    }
                    let inner = bytes.slice_ref(inner);
                    let stale_since = fresh_until.unwrap_or(now);
                    if let Some(window) = policy.stale_while_revalidate {
                        if now < stale_since.saturating_add(millis(window)) {
                            self.counters().stale_served();
                            if let Role::Leader(leader) = self.shared.flights.join(&composed) {
                                let refresh = Found {
                                    stale: Some(inner),
                                    occupied: true,
                                };
                                drop(self.spawn_load(composed, *policy, refresh, leader, load));
                            }
                            return Ok(Loaded::new(value, Source::Stale));
                        }
                    }
                    before.stale = Some(inner);
                }
                Err(err) => match policy.on_undecodable {
                    OnUndecodable::Reload => self.counters().undecodable_reloaded(),
                    OnUndecodable::Error => return Err(call.fail(err)),
                },
            }
        } else {
            self.counters().miss(1);
        }

        let patience = Patience {
            deadline: policy
                .hard_timeout
                .and_then(|hard| started.checked_add(hard).map(|at| (at, hard))),
            take_over_after: policy.lease.map(|lease| lease.ttl),
        };
        let stale = before.stale.clone();
        let leader = match self.shared.flights.lead_or_wait(&composed, patience).await {
            Joined::Lead(leader) => leader,
            Joined::Outcome(Ok(bytes)) => return self.loaded(key, &bytes, Source::Loaded),
            Joined::Outcome(Err(err)) => return self.after_failure(key, policy, stale, err),
        };
        let mut task = self.spawn_load(composed, *policy, before, leader, load);
        if let (Some(soft), Some(inner)) = (policy.soft_timeout, &stale) {
            let left = soft.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, &mut task).await {
                Ok(joined) => return self.joined(key, policy, stale, joined),
                Err(_) => {
                    self.counters().stale_served();
                    return self.loaded(key, inner, Source::Stale);
                }
            }
        }
        let joined = match policy.hard_timeout {
            Some(hard) => {
                let left = hard.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        let err = super::hard_timeout_error(hard);
                        return self.after_failure(key, policy, stale, err);
                    }
                }
            }
            None => task.await,
        };
        self.joined(key, policy, stale, joined)
    }

    /// Spawns the task that takes the lease (if any), runs the loader, stores the value,
    /// hands the outcome to the in-process followers, and releases the lease — also when the
    /// loader panics, before the panic goes on.
    fn spawn_load<T, F, Fut, E>(
        &self,
        composed: String,
        policy: LoadPolicy,
        before: Found,
        leader: Leader,
        load: F,
    ) -> JoinHandle<Result<LoadOutcome>>
    where
        T: Serialize + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut lease = None;
            if let Some(l) = policy.lease {
                match cache.take_lease(&composed, l).await {
                    Ok(Some(held)) => lease = Some(held),
                    Ok(None) if before.stale.is_some() => {
                        // Another process loads; serve the stale value meanwhile.
                        drop(leader);
                        return Ok(LoadOutcome::ServeStale);
                    }
                    Ok(None) => {
                        if let Some(bytes) = cache.wait_for_fresh(&composed, l.wait).await {
                            leader.finish(Ok(bytes.clone()));
                            return Ok(LoadOutcome::Value(bytes));
                        }
                        // The owner did not deliver in time: load ourselves.
                    }
                    // The lease is an optimisation: without the backend, load anyway.
                    Err(_) => {}
                }
            }
            let loaded = CatchUnwind::new(async {
                let value = load().await.map_err(|e| loader_error(e.into()))?;
                let call = cache.call("get_or_set_with_policy", None);
                let inner = call.encode(&value)?;
                cache.store_fresh(&composed, &policy, &before, inner).await
            })
            .await;
            let outcome = match loaded {
                Ok(outcome) => outcome,
                Err(panic) => {
                    cache.release_lease(lease).await;
                    drop(leader);
                    std::panic::resume_unwind(panic);
                }
            };
            if let (Err(_), Some(inner), Some(fail_safe)) =
                (&outcome, &before.stale, policy.fail_safe)
            {
                // Serve the stale value as if fresh for `retry_after`, so that the loader is
                // not retried more often than that.
                let until = now_ms().saturating_add(millis(fail_safe.retry_after));
                let keep = fail_safe.retry_after.saturating_add(fail_safe.keep_for);
                if let Some(expiry) = Expiry::after(keep) {
                    let wrapped = envelope::wrap(until, inner);
                    let options = SetOptions::new(expiry);
                    let _ = cache.backend().set(&composed, wrapped, options).await;
                }
            }
            // Release the lease before telling the followers, so that whoever reads the
            // value next also finds the lease free.
            cache.release_lease(lease).await;
            leader.finish(outcome.clone());
            outcome.map(LoadOutcome::Value)
        })
    }

    /// Takes the lease of `composed`: its key and token when taken, `None` when another
    /// process holds it. A zero TTL takes no lease (and reports it taken).
    async fn take_lease(&self, composed: &str, lease: Lease) -> Result<Option<(String, Bytes)>> {
        let lease_key = lease_key(composed);
        let token = new_token();
        let Lifetime::Keep(expiry) = Lifetime::after(lease.ttl) else {
            return Ok(Some((lease_key, Bytes::new())));
        };
        let options = SetOptions::new(expiry).with_mode(SetMode::IfAbsent);
        let taken = self
            .backend()
            .set(&lease_key, token.clone(), options)
            .await?;
        Ok(taken.then_some((lease_key, token)))
    }

    /// Releases a lease taken by [`take_lease`](Cache::take_lease), if it is still ours.
    async fn release_lease(&self, lease: Option<(String, Bytes)>) {
        if let Some((lease_key, token)) = lease.filter(|(_, token)| !token.is_empty()) {
            let _ = self.backend().delete_if_value(&lease_key, &token).await;
        }
    }

    /// Writes a loaded value with its freshness deadline and returns what is then cached: on
    /// a miss only if no other writer stored first (the winner is returned), over the stale
    /// or undecodable entry otherwise. A zero TTL stores nothing.
    async fn store_fresh(
        &self,
        composed: &str,
        policy: &LoadPolicy,
        before: &Found,
        inner: Bytes,
    ) -> Result<Bytes> {
        let call = self.call("get_or_set_with_policy", None);
        let Lifetime::Keep(fresh) = self.lifetime(policy.ttl) else {
            return Ok(inner);
        };
        let (until, physical) = match fresh {
            Expiry::After(d) => (
                now_ms().saturating_add(millis(d)),
                Lifetime::after(d.saturating_add(policy.stale_window())),
            ),
            _ => (u64::MAX, Lifetime::Keep(Expiry::Never)),
        };
        let wrapped = envelope::wrap(until, &inner);
        if !before.occupied {
            return Ok(call
                .store_first(composed, wrapped, physical)
                .await?
                .unwrap_or(inner));
        }
        if let Lifetime::Keep(expiry) = physical {
            let options = SetOptions::new(expiry);
            let set = self.backend().set(composed, wrapped, options);
            if call.run_or(1, set, || false).await? {
                self.counters().set(1);
            }
        }
        Ok(inner)
    }

    /// Polls for a fresh value written by the lease's owner, for at most `wait`.
    async fn wait_for_fresh(&self, composed: &str, wait: Duration) -> Option<Bytes> {
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(Some(bytes)) = self.backend().get(composed).await {
                let (until, _) = envelope::split(&bytes);
                if until.is_none_or(|u| now_ms() < u) {
                    return Some(bytes);
                }
            }
            if started.elapsed() >= wait {
                return None;
            }
            tokio::time::sleep(LEASE_POLL.min(wait)).await;
        }
    }

    fn joined<T: DeserializeOwned>(
        &self,
        key: &str,
        policy: &LoadPolicy,
        stale: Option<Bytes>,
        joined: std::result::Result<Result<LoadOutcome>, tokio::task::JoinError>,
    ) -> Result<Loaded<T>> {
        match joined {
            Ok(Ok(LoadOutcome::Value(bytes))) => self.loaded(key, &bytes, Source::Loaded),
            Ok(Ok(LoadOutcome::ServeStale)) => match stale {
                Some(inner) => {
                    self.counters().stale_served();
                    self.loaded(key, &inner, Source::Stale)
                }
                None => self.after_failure(
                    key,
                    policy,
                    None,
                    Error::new(ErrorKind::Loader, "no stale value to serve"),
                ),
            },
            Ok(Err(err)) => self.after_failure(key, policy, stale, err),
            Err(join) => {
                let what = if join.is_panic() {
                    "the loader panicked"
                } else {
                    "the loader task was cancelled"
                };
                let err = Error::new(ErrorKind::Loader, what);
                self.after_failure(key, policy, stale, err)
            }
        }
    }

    fn loaded<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
        source: Source,
    ) -> Result<Loaded<T>> {
        let call = self.call("get_or_set_with_policy", Some(key));
        call.decode(bytes).map(|value| Loaded::new(value, source))
    }

    /// Serves the stale value when fail-safe allows it, or returns the error.
    fn after_failure<T: DeserializeOwned>(
        &self,
        key: &str,
        policy: &LoadPolicy,
        stale: Option<Bytes>,
        err: Error,
    ) -> Result<Loaded<T>> {
        match (stale, policy.fail_safe) {
            (Some(inner), Some(_)) => {
                self.counters().fail_safe_served();
                tracing::warn!(
                    backend = self.backend().name(),
                    kind = err.kind().as_str(),
                    "loader failed; serving the stale value (fail-safe)"
                );
                self.loaded(key, &inner, Source::FailSafe)
            }
            _ => Err(self.call("get_or_set_with_policy", Some(key)).fail(err)),
        }
    }
}
