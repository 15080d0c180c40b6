//! [`TieredLayer`]: the contract on an L1 over an L2, any two backends, kept coherent across
//! instances by an invalidation channel.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cachette_api::{
    async_trait, Bytes, Cache, CacheBackend, CacheBuilder, DynCacheBackend, Error, ErrorKind,
    Expiry, KeyTtl, Result, SetOptions, StoredEntry,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::channel::{self, ListenerConfig, Publisher, Shared};
use crate::coherence::{self, Coherence, Stamp};
use crate::error::{self, is_ambiguous, BACKEND};
use crate::link::{Link, Trust};
use crate::message::Invalidation;
use crate::stats::{bump, Counters};
use crate::{TieredLayerBuilder, TieredStats};

/// A two-level cache as a layer over two contracts: an L1 (usually an in-process memory
/// backend) over an L2 (usually a shared one such as Redis), any two [`CacheBackend`]s, kept
/// coherent across instances by an [`InvalidationChannel`](cachette_api::InvalidationChannel).
///
/// It is named a layer, not a backend, because it stores nothing itself: like the `*Layer`
/// wrappers of tower, it composes the contracts beneath it, and is itself a [`CacheBackend`]
/// that a [`Cache`] (or another layer) can sit on.
///
/// - **Reads** try L1, then L2; a value read from L2 is put in L1 for its remaining TTL in L2,
///   at most [`l1_max_ttl`](TieredLayerBuilder::with_l1_max_ttl). The value and its remaining
///   life come from L2 in one call
///   ([`get_with_expiry`](CacheBackend::get_with_expiry), and
///   [`get_many_with_expiry`](CacheBackend::get_many_with_expiry) for `get_many`): one round
///   trip per L1 miss on Redis, one per `get_many`.
/// - **Changes** (`set`, `set_many`, `delete`, `delete_many`, `delete_if_value`, `touch`,
///   `incr`, `clear`) go to L2 first; then this instance updates or evicts its L1 and
///   publishes an invalidation, which every other instance applies to its own L1.
/// - **`ttl`** always asks L2, which alone knows the exact remaining life.
///
/// # Coherence
///
/// A change made through one instance is invisible in every other instance's L1 as soon as
/// that instance has received its invalidation (sub-millisecond on a LAN; see
/// `docs/tiered.md` for measured figures). An L1 entry is served only if no invalidation of
/// its key was applied after the L2 call that produced it began, which rules out the race
/// where a read of the old value lands in L1 just after the new value's invalidation.
///
/// When the channel is lost, L1 is distrusted at once: reads go to L2 only, or to L1 within
/// the [`DisconnectedMode::MaxStaleness`](crate::DisconnectedMode::MaxStaleness) the user
/// chose. When the channel is back, L1 is cleared before it serves again. A channel that
/// silently stops delivering is caught by its confirmations, due every
/// [`heartbeat interval`](TieredLayerBuilder::with_heartbeat_interval): L1 is trusted for at
/// most the interval plus the network timeout after the last one, and the hits served after
/// one interval without a confirmation are counted apart
/// ([`TieredStats::unconfirmed_hits`]): they may be older than a write another instance saw
/// succeed, when the server stalled between that write and its invalidation.
///
/// Changes made to L2 by anything else than a `TieredLayer` on the same channel (another
/// program, `redis-cli`) are not seen by L1 before its entries expire.
///
/// # Time bound
///
/// A change (`set`, `set_many`, `delete`, …, `clear`) takes at most **L2's bound plus the
/// [network timeout](TieredLayerBuilder::with_network_timeout)** (plus L1's own time,
/// microseconds for a memory L1): the L2 call, then the publication of its invalidation,
/// which is queued and retried at the next confirmation when it does not complete in time.
/// A read takes at most L1's bound plus L2's. With Redis' defaults (5 s + 5 s) and a network
/// timeout of 1 s: 11 s for a change; the fault tests check the bound with a frozen server.
///
/// # Cancel safety
///
/// Each change runs in a task of its own: a caller that stops waiting (a timeout, a `select!`)
/// does not stop the invalidation that follows the L2 write, so no instance is left with a
/// stale L1. The batch changes are as atomic as L2's (see `RedisBackend`).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::sync::Arc;
/// use cachette_memory::MemoryBackend;
/// use cachette_redis::{RedisBackend, RedisInvalidation};
/// use cachette_tiered::TieredLayer;
///
/// let url = "redis://127.0.0.1:6379/0";
/// let l2 = RedisBackend::connect(url).await?;
/// let channel = RedisInvalidation::connect(url, "myapp:invalidation").await?;
/// let backend = TieredLayer::builder(MemoryBackend::new(), l2)
///     .with_invalidation(Arc::new(channel))
///     .build()
///     .await?;
/// let cache = backend.cache_builder().with_prefix("myapp").build()?;
/// cache.set("greeting", "hello").await?;
/// // From L1, until another instance changes it.
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TieredLayer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    l2: DynCacheBackend,
    publisher: Arc<Publisher>,
    l1_max_ttl: Duration,
    closed: AtomicBool,
    shutdown: watch::Sender<bool>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl fmt::Debug for TieredLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredLayer")
            .field("l1", &self.inner.shared.l1)
            .field("l2", &self.inner.l2)
            .field("publisher", &self.inner.publisher)
            .field("l1_max_ttl", &self.inner.l1_max_ttl)
            .field("channel_connected", &self.channel_connected())
            .field("closed", &self.inner.closed.load(Ordering::SeqCst))
            .finish()
    }
}

// Compile-time check: the backend crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TieredLayer>();
};

impl TieredLayer {
    /// A builder over `l1` and `l2`; see [`TieredLayerBuilder`].
    pub fn builder(l1: impl CacheBackend, l2: impl CacheBackend) -> TieredLayerBuilder {
        TieredLayerBuilder::new(l1, l2)
    }

    /// Subscribes to the channel and starts listening; called by [`TieredLayerBuilder::build`].
    pub(crate) async fn start(builder: TieredLayerBuilder) -> Result<TieredLayer> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| error::config("a TieredLayer must be built within a tokio runtime"))?;
        let Some(channel) = builder.channel else {
            return Err(error::config("no invalidation channel"));
        };
        let timeout = builder.network_timeout;
        let instance: u128 = rand::random();
        let publisher = Arc::new(Publisher::new(channel.clone(), instance, timeout));
        let config = ListenerConfig {
            channel,
            heartbeat: builder.heartbeat_interval,
            timeout,
        };
        let subscription = config
            .subscribe()
            .await
            .map_err(|e| e.with_operation("connect"))?;
        let shared = Arc::new(Shared {
            l1: builder.l1,
            coherence: Coherence::default(),
            link: Link::new(
                builder.heartbeat_interval,
                timeout,
                builder.disconnected_mode,
            ),
            counters: Counters::default(),
            instance,
        });
        // Entries the caller may have left in L1 were not written by this layer: the first
        // subscription clears L1 like every later one.
        shared.connected(subscription.since).await;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let listener = runtime.spawn(channel::listen(
            shared.clone(),
            publisher.clone(),
            config,
            subscription,
            shutdown_rx,
        ));
        Ok(TieredLayer {
            inner: Arc::new(Inner {
                shared,
                l2: builder.l2,
                publisher,
                l1_max_ttl: builder.l1_max_ttl,
                closed: AtomicBool::new(false),
                shutdown,
                listener: Mutex::new(Some(listener)),
            }),
        })
    }

    /// A [`Cache`] with Django's defaults (no prefix, version 1, 300 s) over this backend.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(self.clone()))
    }

    /// A [`CacheBuilder`] over this backend, to set the prefix, version and default timeout.
    pub fn cache_builder(&self) -> CacheBuilder {
        Cache::builder(Arc::new(self.clone()))
    }

    /// The counters of L1, L2 and the channel; see [`TieredStats`].
    pub fn stats(&self) -> TieredStats {
        self.inner.shared.counters.snapshot()
    }

    /// Whether the invalidation channel is subscribed now. While it is not, L1 serves
    /// according to the [`DisconnectedMode`](crate::DisconnectedMode).
    pub fn channel_connected(&self) -> bool {
        self.inner.shared.link.is_connected()
    }

    /// The L2 backend.
    pub fn l2(&self) -> &DynCacheBackend {
        &self.inner.l2
    }

    /// The L1 backend. Its entries carry a stamp before the value: read them through the
    /// layer.
    pub fn l1(&self) -> &DynCacheBackend {
        &self.inner.shared.l1
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(error::closed())
        } else {
            Ok(())
        }
    }

    /// Runs a change in a task of its own, so that it completes, invalidation included, even
    /// when the caller stops waiting.
    async fn change<T, F>(&self, operation: &'static str, change: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.check_open()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(ErrorKind::Backend, "no tokio runtime").with_backend(BACKEND)
        })?;
        match runtime.spawn(change).await {
            Ok(result) => result,
            Err(e) => Err(Error::new(
                ErrorKind::Backend,
                format!("the task running {operation} did not complete: {e}"),
            )
            .with_operation(operation)
            .with_backend(BACKEND)),
        }
    }
}

impl Inner {
    fn l1(&self) -> &DynCacheBackend {
        &self.shared.l1
    }

    fn coherence(&self) -> &Coherence {
        &self.shared.coherence
    }

    fn trust(&self) -> Trust {
        self.shared.link.trust(Instant::now())
    }

    /// The expiry of an L1 entry whose L2 life was `remaining` (`None`: no expiry) as measured
    /// from `since`; `None` when too little is left to be worth caching.
    ///
    /// Counting from `since`, taken before the L2 call, makes the L1 entry end no later than
    /// the L2 one; whole milliseconds, rounded down, keep it so.
    fn l1_expiry(&self, remaining: Option<Duration>, since: Instant) -> Option<Expiry> {
        let left = match remaining {
            Some(d) => d.saturating_sub(since.elapsed()).min(self.l1_max_ttl),
            None => self.l1_max_ttl,
        };
        Expiry::after(Duration::from_millis(
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
        ))
    }

    /// The value of `key` in L1, if it may be served, with the L1 entry's memo (a new L1
    /// entry, written by a fill, has a new one: the memo never outlives its value).
    ///
    /// Each read spends one unit of Tokio's cooperative budget: an in-process L1 answers at
    /// once, so a task doing nothing but L1 hits would otherwise never yield, and on a
    /// current-thread runtime the listener would never run: no confirmation, every hit
    /// counted unconfirmed, then L1 distrusted and cleared. With the budget, the task yields
    /// once every 128 reads or so (see `tokio::task::coop`).
    async fn read_l1(&self, key: &str) -> Option<StoredEntry> {
        tokio::task::coop::consume_budget().await;
        // Called on the trait object itself: the `Arc`'s forwarding impl would box a
        // second future on every hit.
        let mut entry = (**self.l1()).get_entry(key).await.ok()??;
        // The memo of the sealed entry is the memo of its value: one L1 entry, one value.
        entry.bytes = self.open(key, &entry.bytes)?;
        Some(entry)
    }

    /// One key: from L1 when trusted and there, else from L2 (filling L1).
    async fn read(&self, key: &str) -> Result<Option<StoredEntry>> {
        let trust = self.trust();
        if trust != Trust::None {
            if let Some(entry) = self.read_l1(key).await {
                self.count_hit(trust);
                return Ok(Some(entry));
            }
        }
        Ok(self
            .read_through(key, trust)
            .await?
            .map(|(value, _)| StoredEntry::new(value)))
    }

    /// The value in sealed L1 bytes, if still current.
    fn open(&self, key: &str, sealed: &Bytes) -> Option<Bytes> {
        match coherence::open(sealed) {
            Some((stamp, value)) if self.coherence().is_current(key, stamp) => Some(value),
            _ => {
                bump(&self.shared.counters.l1_rejected);
                None
            }
        }
    }

    fn count_hit(&self, trust: Trust) {
        bump(&self.shared.counters.l1_hits);
        match trust {
            Trust::Stale => bump(&self.shared.counters.stale_hits),
            Trust::Unconfirmed => bump(&self.shared.counters.unconfirmed_hits),
            _ => {}
        }
    }

    /// Puts a value read from (or written to) L2 in L1, stamped `stamp`, with L2's remaining
    /// life `expiry` as measured from `since`.
    async fn fill(&self, key: &str, value: &[u8], stamp: Stamp, expiry: Expiry, since: Instant) {
        let remaining = match expiry {
            Expiry::Never => None,
            Expiry::After(d) => Some(d),
            // An expiry of a later kind: do not cache.
            _ => return,
        };
        if let Some(expiry) = self.l1_expiry(remaining, since) {
            let sealed = coherence::seal(stamp, value);
            if self
                .l1()
                .set(key, sealed, SetOptions::new(expiry))
                .await
                .is_ok()
            {
                bump(&self.shared.counters.l1_fills);
            }
        }
    }

    /// Reads `key` from L2 with its remaining life (one call), filling L1 when the channel is
    /// trusted.
    async fn read_through(&self, key: &str, trust: Trust) -> Result<Option<(Bytes, Expiry)>> {
        bump(&self.shared.counters.l1_misses);
        let stamp = self.coherence().stamp(key);
        let since = Instant::now();
        let found = self.l2.get_with_expiry(key).await?;
        if let (Some((value, expiry)), true) = (&found, trust.may_fill()) {
            self.fill(key, value, stamp, *expiry, since).await;
        }
        Ok(found)
    }

    /// Evicts `keys` from this instance's L1, invalidating them first.
    async fn evict(&self, keys: &[String]) {
        self.shared.apply(&Invalidation::Keys(keys.to_vec())).await;
    }

    /// Tells the other instances.
    async fn publish(&self, invalidation: Invalidation) {
        self.publisher
            .publish(invalidation, &self.shared.counters)
            .await;
    }

    /// After this instance wrote `value` to `key` in L2: caches it in L1 when nothing else
    /// touched the key meanwhile (see [`Coherence::invalidate_after_write`]), evicts it
    /// otherwise.
    async fn written(
        &self,
        key: &str,
        value: &[u8],
        expiry: Expiry,
        before: Stamp,
        since: Instant,
    ) {
        let stamp = self.coherence().invalidate_after_write(key, before);
        match stamp {
            Some(stamp) if self.trust().may_fill() => {
                self.fill(key, value, stamp, expiry, since).await;
            }
            _ => {
                let _ = self.l1().delete(key).await;
            }
        }
    }

    /// After a change of `keys` in L2 that answered `result`: evicts and publishes them when
    /// `changed` says the change happened, or when the error leaves it unknown.
    async fn after_change<T>(
        &self,
        keys: Vec<String>,
        result: &Result<T>,
        changed: impl FnOnce(&T) -> bool,
    ) {
        let invalidate = match result {
            Ok(answer) => changed(answer),
            Err(err) => is_ambiguous(err),
        };
        if invalidate && !keys.is_empty() {
            self.evict(&keys).await;
            self.publish(Invalidation::Keys(keys)).await;
        }
    }

    async fn set(&self, key: String, value: Bytes, options: SetOptions) -> Result<bool> {
        let before = self.coherence().stamp(&key);
        let since = Instant::now();
        let result = self.l2.set(&key, value.clone(), options).await;
        match &result {
            Ok(true) => {
                self.written(&key, &value, options.expiry, before, since)
                    .await;
                self.publish(Invalidation::Keys(vec![key])).await;
            }
            Ok(false) => {}
            Err(_) => self.after_change(vec![key], &result, |_| true).await,
        }
        result
    }

    async fn add_or_get_many(
        &self,
        entries: Vec<(String, Bytes)>,
        expiry: Expiry,
    ) -> Result<Vec<Result<Option<Bytes>>>> {
        let before: Vec<Stamp> = entries
            .iter()
            .map(|(key, _)| self.coherence().stamp(key))
            .collect();
        let since = Instant::now();
        let result = self.l2.add_or_get_many(&entries, expiry).await;
        match &result {
            Ok(slots) => {
                let mut changed = Vec::new();
                let mut unknown = Vec::new();
                for (((key, value), before), slot) in entries.iter().zip(before).zip(slots) {
                    match slot {
                        Ok(None) => {
                            self.written(key, value, expiry, before, since).await;
                            changed.push(key.clone());
                        }
                        // The key held a value: nothing changed.
                        Ok(Some(_)) => {}
                        Err(err) if is_ambiguous(err) => unknown.push(key.clone()),
                        Err(_) => {}
                    }
                }
                if !unknown.is_empty() {
                    self.evict(&unknown).await;
                    changed.extend(unknown);
                }
                if !changed.is_empty() {
                    self.publish(Invalidation::Keys(changed)).await;
                }
            }
            Err(_) => {
                let keys = entries.into_iter().map(|(key, _)| key).collect();
                self.after_change(keys, &result, |_| true).await;
            }
        }
        result
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<usize>> {
        if entries.is_empty() {
            return self.l2.set_many(&entries, expiry).await;
        }
        let before: Vec<Stamp> = entries
            .iter()
            .map(|(key, _)| self.coherence().stamp(key))
            .collect();
        let since = Instant::now();
        let result = self.l2.set_many(&entries, expiry).await;
        let keys: Vec<String> = entries.iter().map(|(key, _)| key.clone()).collect();
        match &result {
            Ok(failed) => {
                let mut refused = vec![false; entries.len()];
                for &i in failed {
                    if let Some(slot) = refused.get_mut(i) {
                        *slot = true;
                    }
                }
                for ((key, value), (before, refused)) in
                    entries.iter().zip(before.into_iter().zip(refused))
                {
                    if refused {
                        self.evict(std::slice::from_ref(key)).await;
                    } else {
                        self.written(key, value, expiry, before, since).await;
                    }
                }
                self.publish(Invalidation::Keys(keys)).await;
            }
            Err(_) => self.after_change(keys, &result, |_| true).await,
        }
        result
    }
}

#[async_trait]
impl CacheBackend for TieredLayer {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check_open()?;
        Ok(self.inner.read(key).await?.map(|entry| entry.bytes))
    }

    /// As `get`; an L1 hit comes with its L1 entry's memo (when L1 keeps memos, as the
    /// memory backend does), so that `Cache::get_shared` decodes each L1 entry once.
    async fn get_entry(&self, key: &str) -> Result<Option<StoredEntry>> {
        self.check_open()?;
        self.inner.read(key).await
    }

    /// From L2 (one call), filling L1: the remaining life asked for is the entry's own, which
    /// L1 does not hold (it keeps entries at most `l1_max_ttl`); `incr_version` moves a value
    /// with it.
    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        self.check_open()?;
        let inner = &self.inner;
        inner.read_through(key, inner.trust()).await
    }

    /// One L2 call: `add_or_get`; a value written is then cached and published as by `set`.
    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        self.change("add_or_get", async move {
            let before = inner.coherence().stamp(&key);
            let since = Instant::now();
            let result = inner.l2.add_or_get(&key, value.clone(), expiry).await;
            match &result {
                Ok(None) => {
                    inner.written(&key, &value, expiry, before, since).await;
                    inner.publish(Invalidation::Keys(vec![key])).await;
                }
                // The key held a value: nothing changed.
                Ok(Some(_)) => {}
                Err(_) => inner.after_change(vec![key], &result, |_| true).await,
            }
            result
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let inner = &self.inner;
        let trust = inner.trust();
        let mut found: Vec<Option<Bytes>> = vec![None; keys.len()];
        let mut missing: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let hit = if trust == Trust::None {
                None
            } else {
                inner.read_l1(key).await.map(|entry| entry.bytes)
            };
            match hit {
                Some(value) => {
                    inner.count_hit(trust);
                    if let Some(slot) = found.get_mut(i) {
                        *slot = Some(value);
                    }
                }
                None => missing.push(i),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let missing_keys: Vec<String> = missing
            .iter()
            .filter_map(|&i| keys.get(i).cloned())
            .collect();
        for _ in &missing_keys {
            bump(&inner.shared.counters.l1_misses);
        }
        let stamps: Vec<Stamp> = missing_keys
            .iter()
            .map(|key| inner.coherence().stamp(key))
            .collect();
        let since = Instant::now();
        // One L2 call for every key L1 did not have, with their remaining lives.
        let values = inner.l2.get_many_with_expiry(&missing_keys).await?;
        if values.len() != missing_keys.len() {
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "L2 answered {} values for {} keys",
                    values.len(),
                    missing_keys.len()
                ),
            )
            .with_backend(BACKEND));
        }
        for (n, value) in values.into_iter().enumerate() {
            let (Some(&i), Some(key), Some(&stamp)) =
                (missing.get(n), missing_keys.get(n), stamps.get(n))
            else {
                continue;
            };
            if let (Some((value, expiry)), true) = (&value, trust.may_fill()) {
                inner.fill(key, value, stamp, *expiry, since).await;
            }
            if let Some(slot) = found.get_mut(i) {
                *slot = value.map(|(value, _)| value);
            }
        }
        Ok(found)
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        self.change("set", async move { inner.set(key, value, options).await })
            .await
    }

    async fn add_or_get_many(
        &self,
        entries: &[(String, Bytes)],
        expiry: Expiry,
    ) -> Result<Vec<Result<Option<Bytes>>>> {
        let inner = self.inner.clone();
        let entries = entries.to_vec();
        self.change("add_or_get_many", async move {
            inner.add_or_get_many(entries, expiry).await
        })
        .await
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        let inner = self.inner.clone();
        let entries = entries.to_vec();
        self.change(
            "set_many",
            async move { inner.set_many(entries, expiry).await },
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        self.change("delete", async move {
            let result = inner.l2.delete(&key).await;
            // Always: a key evicted from L2 by memory pressure may still be in another L1.
            inner.after_change(vec![key], &result, |_| true).await;
            result
        })
        .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let inner = self.inner.clone();
        let keys = keys.to_vec();
        self.change("delete_many", async move {
            let result = inner.l2.delete_many(&keys).await;
            inner.after_change(keys, &result, |_| true).await;
            result
        })
        .await
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        let expected = expected.to_vec();
        self.change("delete_if_value", async move {
            let result = inner.l2.delete_if_value(&key, &expected).await;
            inner
                .after_change(vec![key], &result, |deleted| *deleted)
                .await;
            result
        })
        .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        self.change("touch", async move {
            let result = inner.l2.touch(&key, expiry).await;
            inner
                .after_change(vec![key], &result, |existed| *existed)
                .await;
            result
        })
        .await
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        let inner = &self.inner;
        let trust = inner.trust();
        if trust != Trust::None && inner.read_l1(key).await.is_some() {
            inner.count_hit(trust);
            return Ok(true);
        }
        bump(&inner.shared.counters.l1_misses);
        inner.l2.has_key(key).await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        self.change("incr", async move {
            let result = inner.l2.incr(&key, delta).await;
            inner.after_change(vec![key], &result, |_| true).await;
            result
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.check_open()?;
        self.inner.l2.ttl(key).await
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let inner = self.inner.clone();
        let prefix = prefix.to_owned();
        self.change("clear", async move {
            let result = inner.l2.clear(&prefix).await;
            let cleared = match &result {
                Ok(_) => true,
                Err(err) => is_ambiguous(err),
            };
            if cleared {
                let invalidation = Invalidation::Prefix(prefix);
                inner.shared.apply(&invalidation).await;
                inner.publish(invalidation).await;
            }
            result
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.inner.shutdown.send(true);
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(listener) = listener {
            // The listener stops at its next await point; a second is plenty, and it is
            // aborted past that.
            let abort = listener.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), listener)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        let _ = self.inner.l1().clear("").await;
        self.inner.l2.close().await
    }
}
