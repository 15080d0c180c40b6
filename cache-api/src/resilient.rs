//! `get_or_set_with_policy` (stale-while-revalidate, fail-safe, soft and hard timeouts, a
//! distributed lease, deploy-safe decoding) and `get_or_set_many` (a batch loader).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::inflight::{self, Leader, Role};
use crate::policy::{LoadPolicy, Loaded, OnUndecodable, Source};
use crate::{codec, Cache, CallOptions, Error, ErrorKind, Expiry, Result, SetMode, SetOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the load task of one key ended with.
enum LoadOutcome {
    /// The value's encoding (plain or in an envelope; [`codec::decode`] reads both).
    Value(Bytes),
    /// Another process holds the lease and a stale value is at hand: serve it.
    ServeStale,
}

/// Milliseconds since the Unix epoch: freshness deadlines are shared between processes.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The error of a failed loader, keeping the loader's error as its source.
pub(crate) fn loader_error(error: BoxError) -> Error {
    let source: Arc<dyn std::error::Error + Send + Sync> = Arc::from(error);
    Error::new(ErrorKind::Loader, format!("the loader failed: {source}")).with_shared_source(source)
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
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Bytes::from(format!("{}-{nanos}-{n}", std::process::id()))
}

impl Cache {
    /// [`get_or_set_with`](Cache::get_or_set_with) with the protections of a [`LoadPolicy`]:
    /// stale-while-revalidate, fail-safe, soft and hard loader timeouts, a distributed lease,
    /// and a policy for values that no longer decode. Returns the value and its [`Source`].
    ///
    /// The loader runs in a task of its own, so it goes on (and fills the cache) when the
    /// caller stops waiting (a soft or hard timeout) or is cancelled; the in-process slot and
    /// the lease are always released by that task.
    ///
    /// Entries written here carry their freshness deadline; plain reads (`get`) see the
    /// value until the entry's physical expiry (the fresh window plus the longer of the
    /// stale-while-revalidate and fail-safe windows).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_api::Result<()> {
    /// use std::time::Duration;
    /// use cache_api::{FailSafe, LoadPolicy, Source};
    ///
    /// let cache = cache_memory::MemoryBackend::new().cache();
    /// let policy = LoadPolicy::new()
    ///     .with_timeout(Duration::from_secs(60))
    ///     .with_fail_safe(FailSafe::new(Duration::from_secs(3600), Duration::from_secs(10)));
    /// let quote = cache
    ///     .get_or_set_with_policy("quote:AAPL", &policy, || async { Ok::<_, std::io::Error>(189.5) })
    ///     .await?;
    /// assert_eq!((quote.value, quote.source), (189.5, Source::Loaded));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Loader`] when the loader fails and no stale value can be served;
    /// [`ErrorKind::Timeout`] past the hard timeout without a stale value;
    /// [`ErrorKind::Decode`] for a stored value that no longer decodes, unless the policy
    /// says [`OnUndecodable::Reload`]; the backend's errors.
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
        let op = "get_or_set";
        let fail = |e| self.fail(op, Some(key), e);
        let composed = self.compose(key, policy.version).map_err(fail)?;
        let found = self
            .traced("get", 1, self.shared.backend.get(&composed))
            .await;
        let found = self.tolerate(op, found, || None).map_err(fail)?;
        let now = now_ms();
        let mut stale = None;
        if let Some(bytes) = found {
            let (fresh_until, inner) = codec::split_envelope(&bytes);
            match codec::decode::<T>(inner) {
                Ok(value) => {
                    self.shared.counters.hit(1);
                    if fresh_until.is_none_or(|until| now < until) {
                        return Ok(Loaded::new(value, Source::Fresh));
                    }
                    let stale_since = fresh_until.unwrap_or(now);
                    let inner = Bytes::copy_from_slice(inner);
                    if let Some(window) = policy.stale_while_revalidate {
                        if now < stale_since.saturating_add(millis(window)) {
                            self.shared.counters.stale_served();
                            if let Role::Leader(leader) = self.shared.inflight.join(&composed) {
                                drop(self.spawn_load(composed, *policy, Some(inner), leader, load));
                            }
                            return Ok(Loaded::new(value, Source::Stale));
                        }
                    }
                    stale = Some(inner);
                }
                Err(err) => match policy.on_undecodable {
                    OnUndecodable::Reload => self.shared.counters.undecodable_reloaded(),
                    _ => return Err(fail(err)),
                },
            }
        } else {
            self.shared.counters.miss(1);
        }
        self.load_with_policy(key, composed, policy, stale, load)
            .await
    }

    /// Joins or leads the load of `composed`, then waits for it within the policy's timeouts.
    async fn load_with_policy<T, F, Fut, E>(
        &self,
        key: &str,
        composed: String,
        policy: &LoadPolicy,
        stale: Option<Bytes>,
        load: F,
    ) -> Result<Loaded<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let started = tokio::time::Instant::now();
        let leader = loop {
            match self.shared.inflight.join(&composed) {
                Role::Leader(leader) => break leader,
                Role::Follower(rx) => {
                    let waited = match policy.hard_timeout {
                        Some(hard) => {
                            let left = hard.saturating_sub(started.elapsed());
                            match tokio::time::timeout(left, inflight::wait(rx)).await {
                                Ok(outcome) => outcome,
                                Err(_) => {
                                    return self.after_failure(
                                        key,
                                        policy,
                                        stale,
                                        hard_timeout(hard),
                                    )
                                }
                            }
                        }
                        None => inflight::wait(rx).await,
                    };
                    match waited {
                        None => continue,
                        Some(Ok(bytes)) => return self.loaded(key, &bytes, Source::Loaded),
                        Some(Err(err)) => return self.after_failure(key, policy, stale, err),
                    }
                }
            }
        };
        let mut task = self.spawn_load(composed, *policy, stale.clone(), leader, load);
        if let (Some(soft), Some(inner)) = (policy.soft_timeout, &stale) {
            let left = soft.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, &mut task).await {
                Ok(joined) => return self.joined(key, policy, stale, joined),
                Err(_) => {
                    self.shared.counters.stale_served();
                    return self.loaded(key, inner, Source::Stale);
                }
            }
        }
        let joined = match policy.hard_timeout {
            Some(hard) => {
                let left = hard.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => return self.after_failure(key, policy, stale, hard_timeout(hard)),
                }
            }
            None => task.await,
        };
        self.joined(key, policy, stale, joined)
    }

    /// Spawns the task that takes the lease (if any), runs the loader, stores the value,
    /// hands the outcome to the in-process followers, and releases the lease.
    fn spawn_load<T, F, Fut, E>(
        &self,
        composed: String,
        policy: LoadPolicy,
        stale: Option<Bytes>,
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
            let backend = cache.shared.backend.clone();
            let mut lease = None;
            if let Some(l) = policy.lease {
                let lease_key = lease_key(&composed);
                let token = new_token();
                let expiry =
                    Expiry::after(l.ttl).unwrap_or(Expiry::After(Duration::from_millis(1)));
                let options = SetOptions::new(expiry).with_mode(SetMode::IfAbsent);
                match backend.set(&lease_key, token.clone(), options).await {
                    Ok(true) => lease = Some((lease_key, token)),
                    Ok(false) if stale.is_some() => {
                        // Another process loads; serve the stale value meanwhile.
                        drop(leader);
                        return Ok(LoadOutcome::ServeStale);
                    }
                    Ok(false) => {
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
            let outcome = async {
                let value = load().await.map_err(|e| loader_error(e.into()))?;
                let inner = cache.encode(&value)?;
                cache.store_fresh(&composed, &policy, &inner).await?;
                Ok::<_, Error>(inner)
            }
            .await;
            if let (Err(_), Some(inner), Some(fail_safe)) = (&outcome, &stale, policy.fail_safe) {
                // Serve the stale value as if fresh for `retry_after`, so that the
                // loader is not retried more often than that.
                let until = now_ms().saturating_add(millis(fail_safe.retry_after));
                let keep = fail_safe.retry_after.saturating_add(fail_safe.keep_for);
                if let Some(expiry) = Expiry::after(keep) {
                    let wrapped = codec::wrap_envelope(until, inner);
                    let _ = backend
                        .set(&composed, wrapped, SetOptions::new(expiry))
                        .await;
                }
            }
            // Release the lease before telling the followers, so that whoever reads the
            // value next also finds the lease free.
            if let Some((lease_key, token)) = lease {
                let _ = backend.delete_if_value(&lease_key, &token).await;
            }
            leader.finish(outcome.clone());
            outcome.map(LoadOutcome::Value)
        })
    }

    /// Writes a loaded value with its freshness deadline; a zero timeout stores nothing.
    async fn store_fresh(&self, composed: &str, policy: &LoadPolicy, inner: &[u8]) -> Result<()> {
        let Some(fresh) = self.expiry(policy.timeout) else {
            return Ok(());
        };
        let (until, physical) = match fresh {
            Expiry::After(d) => (
                now_ms().saturating_add(millis(d)),
                Expiry::after(d.saturating_add(policy.stale_window())).unwrap_or(fresh),
            ),
            _ => (u64::MAX, Expiry::Never),
        };
        let wrapped = codec::wrap_envelope(until, inner);
        let written = self
            .traced(
                "set",
                1,
                self.shared
                    .backend
                    .set(composed, wrapped, SetOptions::new(physical)),
            )
            .await;
        self.tolerate("get_or_set", written, || false)?;
        self.shared.counters.set(1);
        Ok(())
    }

    /// Polls for a fresh value written by the lease's owner, for at most `wait`.
    async fn wait_for_fresh(&self, composed: &str, wait: Duration) -> Option<Bytes> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(Some(bytes)) = self.shared.backend.get(composed).await {
                let (until, _) = codec::split_envelope(&bytes);
                if until.is_none_or(|u| now_ms() < u) {
                    return Some(bytes);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
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
                    self.shared.counters.stale_served();
                    self.loaded(key, &inner, Source::Stale)
                }
                None => Err(self.fail(
                    "get_or_set",
                    Some(key),
                    Error::new(ErrorKind::Loader, "no stale value to serve"),
                )),
            },
            Ok(Err(err)) => self.after_failure(key, policy, stale, err),
            Err(join) => self.after_failure(
                key,
                policy,
                stale,
                Error::new(ErrorKind::Loader, format!("the loader task failed: {join}")),
            ),
        }
    }

    fn loaded<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
        source: Source,
    ) -> Result<Loaded<T>> {
        codec::decode(bytes)
            .map(|value| Loaded::new(value, source))
            .map_err(|e| self.fail("get_or_set", Some(key), e))
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
                self.shared.counters.fail_safe_served();
                tracing::warn!(
                    backend = self.shared.backend.name(),
                    kind = err.kind().as_str(),
                    "loader failed; serving the stale value (fail-safe)"
                );
                self.loaded(key, &inner, Source::FailSafe)
            }
            _ => Err(self.fail("get_or_set", Some(key), err)),
        }
    }

    /// Reads many keys at once and loads the missing ones with **one** call of a batch
    /// loader: one read for all keys (one `MGET` on Redis), the missing keys deduplicated
    /// against loads already running in this process, one call of `load` with the rest,
    /// one pipelined write-back. Returns one result per key, in the order given, so that a
    /// partial failure is explicit.
    ///
    /// A key that `load` leaves out of its map fails with [`ErrorKind::NotFound`]; when
    /// `load` fails, every key it was asked for fails with [`ErrorKind::Loader`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_api::Result<()> {
    /// use std::collections::HashMap;
    ///
    /// let cache = cache_memory::MemoryBackend::new().cache();
    /// cache.set("price:AAPL", &189.5).await?;
    /// let results = cache
    ///     .get_or_set_many(&["price:AAPL", "price:MSFT", "price:NOPE"], |missing| async move {
    ///         assert_eq!(missing, ["price:MSFT", "price:NOPE"]);
    ///         Ok::<_, std::io::Error>(HashMap::from([("price:MSFT".to_owned(), 402.1)]))
    ///     })
    ///     .await?;
    /// assert_eq!(results[0].1.as_ref().ok(), Some(&189.5));
    /// assert_eq!(results[1].1.as_ref().ok(), Some(&402.1));
    /// assert!(results[2].1.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The whole call fails only for an invalid key or a backend error on the read.
    pub async fn get_or_set_many<T, K, F, Fut, E>(
        &self,
        keys: &[K],
        load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        self.get_or_set_many_opts(keys, CallOptions::new(), load)
            .await
    }

    /// [`get_or_set_many`](Cache::get_or_set_many) with per-call options.
    pub async fn get_or_set_many_opts<T, K, F, Fut, E>(
        &self,
        keys: &[K],
        options: impl Into<CallOptions>,
        load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        let options = options.into();
        let op = "get_or_set_many";
        let (composed, found) = self.read_many(op, keys, options.version).await?;
        if composed.is_empty() {
            return Ok(Vec::new());
        }

        let mut results: Vec<Option<Result<T>>> = Vec::with_capacity(keys.len());
        let mut missing: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for (i, bytes) in found.into_iter().enumerate() {
            match bytes {
                Some(bytes) => {
                    let key = keys[i].as_ref();
                    results.push(Some(
                        codec::decode(&bytes).map_err(|e| self.fail(op, Some(key), e)),
                    ));
                }
                None => {
                    results.push(None);
                    let slots = missing.entry(composed[i].as_str()).or_default();
                    if slots.is_empty() {
                        order.push(i);
                    }
                    slots.push(i);
                }
            }
        }
        self.shared
            .counters
            .hit((keys.len() - missing.values().map(Vec::len).sum::<usize>()) as u64);
        self.shared.counters.miss(order.len() as u64);

        // Deduplicate against loads already running in this process.
        let mut leaders = Vec::new();
        let mut followers = Vec::new();
        for i in order {
            match self.shared.inflight.join(&composed[i]) {
                Role::Leader(leader) => leaders.push((i, leader)),
                Role::Follower(rx) => followers.push((i, rx)),
            }
        }

        let mut loaded: Vec<(usize, Result<T>)> = Vec::new();
        if !leaders.is_empty() {
            let asked: Vec<String> = leaders
                .iter()
                .map(|(i, _)| keys[*i].as_ref().to_owned())
                .collect();
            let outcome = load(asked).await.map_err(|e| loader_error(e.into()));
            let mut to_write = Vec::new();
            let mut outcomes = Vec::new();
            match outcome {
                Ok(mut values) => {
                    for (i, leader) in leaders {
                        let key = keys[i].as_ref();
                        let result = match values.remove(key) {
                            Some(value) => match self.encode(&value) {
                                Ok(bytes) => {
                                    to_write.push((composed[i].clone(), bytes.clone()));
                                    Ok((value, bytes))
                                }
                                Err(e) => Err(e),
                            },
                            None => Err(Error::new(
                                ErrorKind::NotFound,
                                "the loader returned no value for this key",
                            )),
                        };
                        outcomes.push((i, leader, result));
                    }
                }
                Err(err) => {
                    for (i, leader) in leaders {
                        outcomes.push((i, leader, Err(err.clone())));
                    }
                }
            }
            if let (false, Some(expiry)) = (to_write.is_empty(), self.expiry(options.timeout)) {
                let written = self
                    .traced(
                        "set_many",
                        to_write.len(),
                        self.shared.backend.set_many(&to_write, expiry),
                    )
                    .await;
                let failed = self.tolerate(op, written, || (0..to_write.len()).collect());
                if let Ok(failed) = failed {
                    self.shared
                        .counters
                        .set((to_write.len() - failed.len()) as u64);
                }
            }
            for (i, leader, result) in outcomes {
                let key = keys[i].as_ref();
                match result {
                    Ok((value, bytes)) => {
                        leader.finish(Ok(bytes));
                        loaded.push((i, Ok(value)));
                    }
                    Err(err) => {
                        let err = self.fail(op, Some(key), err);
                        leader.finish(Err(err.clone()));
                        loaded.push((i, Err(err)));
                    }
                }
            }
        }
        for (i, rx) in followers {
            let key = keys[i].as_ref();
            let result = match inflight::wait(rx).await {
                Some(Ok(bytes)) => codec::decode(&bytes).map_err(|e| self.fail(op, Some(key), e)),
                Some(Err(err)) => Err(err),
                None => Err(self.fail(
                    op,
                    Some(key),
                    Error::new(
                        ErrorKind::Loader,
                        "the load this key waited for was cancelled",
                    ),
                )),
            };
            loaded.push((i, result));
        }

        // Fill every slot of a missing key (a key asked twice gets the same outcome).
        for (i, result) in loaded {
            let slots = missing.remove(composed[i].as_str()).unwrap_or_default();
            match result {
                Ok(value) => {
                    let bytes = self.encode(&value);
                    for &slot in slots.iter().skip(1) {
                        results[slot] = Some(match &bytes {
                            Ok(b) => codec::decode(b),
                            Err(e) => Err(e.clone()),
                        });
                    }
                    results[i] = Some(Ok(value));
                }
                Err(err) => {
                    for &slot in &slots {
                        results[slot] = Some(Err(err.clone()));
                    }
                }
            }
        }
        Ok(keys
            .iter()
            .zip(results)
            .map(|(key, result)| {
                let result = result.unwrap_or_else(|| {
                    Err(Error::new(ErrorKind::Loader, "no outcome for this key"))
                });
                (key.as_ref().to_owned(), result)
            })
            .collect())
    }
}

fn hard_timeout(hard: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("the loader did not finish within the hard timeout of {hard:?}"),
    )
}
