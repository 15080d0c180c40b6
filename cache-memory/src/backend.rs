//! [`MemoryBackend`]: the contract on moka's future cache.

use std::fmt;
use std::sync::Arc;

use cachette_api::{
    async_trait, Bytes, Cache, CacheBackend, CacheBuilder, Error, ErrorKind, Expiry, KeyTtl,
    Result, SetMode, SetOptions, StoredEntry,
};
use moka::future::Cache as MokaCache;
use moka::ops::compute::Op;
use tokio::time::Instant;

use crate::entry::{deadline, Entry};
use crate::gate::Gate;
use crate::MemoryBackendBuilder;

/// The in-process backend, on [`moka`]'s future cache.
///
/// It stores the same encoded bytes as the Redis backend, so a value that fails to encode or
/// decode fails on both, and it answers every operation of the contract the same way: expiry
/// per entry (checked on every read, before eviction, on Tokio's clock, so that tests with
/// paused time can expire entries), atomic `incr` that keeps the expiry, `add` over an
/// expired entry, and `clear` limited to a prefix.
///
/// Clones share one store, like Django's `LocMemCache` handles that name the same
/// `LOCATION`: several [`Cache`] handles (other prefixes, other versions) can live in it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_memory::MemoryBackend;
///
/// let store = MemoryBackend::new();
/// let a = store.cache_builder().with_prefix("a").build()?;
/// let b = store.cache_builder().with_prefix("b").build()?;
/// a.set("k", "from a").await?;
/// b.set("k", "from b").await?;
/// a.clear().await?;
/// assert_eq!(b.get::<String>("k").await?.as_deref(), Some("from b"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryBackend {
    store: MokaCache<String, Entry>,
    /// Keeps plain inserts and computes apart on each key (see [`Gate`]).
    gate: Arc<Gate>,
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("entries", &self.store.entry_count())
            .finish()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

// Compile-time check: the backend crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemoryBackend>();
};

/// What a compute closure decided, read back after moka ran it.
type Decision<T> = Option<Result<T>>;

impl MemoryBackend {
    /// A backend bounded to [`DEFAULT_MAX_ENTRIES`](crate::DEFAULT_MAX_ENTRIES) entries.
    pub fn new() -> Self {
        MemoryBackendBuilder::new().build()
    }

    /// A builder for the bound (entries or bytes).
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::new()
    }

    pub(crate) fn from_store(store: MokaCache<String, Entry>) -> Self {
        MemoryBackend {
            store,
            gate: Arc::default(),
        }
    }

    /// A [`Cache`] with Django's defaults over this store.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(self.clone()))
    }

    /// A [`CacheBuilder`] over this store, to set the prefix, version and default timeout.
    pub fn cache_builder(&self) -> CacheBuilder {
        Cache::builder(Arc::new(self.clone()))
    }

    /// The number of entries, live or expired-but-not-yet-evicted (approximate, as moka's).
    pub fn entry_count(&self) -> u64 {
        self.store.entry_count()
    }

    /// Runs moka's pending maintenance (evictions, expirations) now.
    pub async fn run_pending_tasks(&self) {
        self.store.run_pending_tasks().await;
    }

    fn live(&self, entry: Option<Entry>, now: Instant) -> Option<Entry> {
        entry.filter(|e| e.is_live(now))
    }

    /// Runs `decide` on the live entry of `key` under moka's per-key lock, with the gate
    /// closed to plain inserts of the key's stripe meanwhile.
    async fn compute<T>(
        &self,
        key: &str,
        decide: impl FnOnce(Option<&Entry>, Instant) -> (Op<Entry>, Result<T>),
    ) -> Result<T> {
        let _pass = self.gate.compute(key).await;
        self.compute_ungated(key, decide).await
    }

    /// [`compute`](Self::compute) without the gate: for a blind put, which any order of
    /// the writes around it explains.
    async fn compute_ungated<T>(
        &self,
        key: &str,
        decide: impl FnOnce(Option<&Entry>, Instant) -> (Op<Entry>, Result<T>),
    ) -> Result<T> {
        let mut decision: Decision<T> = None;
        let result = self
            .store
            .entry_by_ref(key)
            .and_compute_with(|current| {
                let now = Instant::now();
                let current = current.map(|e| e.into_value());
                let live = current.as_ref().filter(|e| e.is_live(now));
                let (op, answer) = decide(live, now);
                // An expired entry that is left alone is removed now rather than later.
                let op = match op {
                    Op::Nop if live.is_none() && current.is_some() => Op::Remove,
                    op => op,
                };
                decision = Some(answer);
                std::future::ready(op)
            })
            .await;
        drop(result);
        decision.unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::Backend,
                "moka did not run the compute closure",
            ))
        })
    }
}

#[async_trait]
impl CacheBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let now = Instant::now();
        Ok(self.live(self.store.get(key).await, now).map(|e| e.value))
    }

    /// The value with its entry's memo: `Cache::get_shared` decodes each stored value once.
    async fn get_entry(&self, key: &str) -> Result<Option<StoredEntry>> {
        let now = Instant::now();
        Ok(self
            .live(self.store.get(key).await, now)
            .map(|e| StoredEntry::with_memo(e.value, e.memo)))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let mut out = Vec::with_capacity(keys.len());
        let now = Instant::now();
        for key in keys {
            out.push(self.live(self.store.get(key).await, now).map(|e| e.value));
        }
        Ok(out)
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let mode = options.mode;
        if mode == SetMode::Always {
            // A plain insert when no read-modify-write is in the key's stripe; else a put
            // through moka's per-key lock, ordered with the read-modify-writes of the key.
            if let Some(_pass) = self.gate.try_insert(key) {
                let entry = Entry::new(value, options.expiry, Instant::now());
                self.store.insert(key.to_owned(), entry).await;
                return Ok(true);
            }
            return self
                .compute_ungated(key, move |_, now| {
                    (Op::Put(Entry::new(value, options.expiry, now)), Ok(true))
                })
                .await;
        }
        self.compute(key, move |live, now| {
            let write = match mode {
                SetMode::IfAbsent => live.is_none(),
                SetMode::IfPresent => live.is_some(),
                _ => true,
            };
            if write {
                (Op::Put(Entry::new(value, options.expiry, now)), Ok(true))
            } else {
                (Op::Nop, Ok(false))
            }
        })
        .await
    }

    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        self.compute(key, move |live, now| match live {
            Some(entry) => (Op::Nop, Ok(Some(entry.value.clone()))),
            None => (Op::Put(Entry::new(value, expiry, now)), Ok(None)),
        })
        .await
    }

    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let now = Instant::now();
        let entry = self.store.get(key).await;
        Ok(entry.and_then(|e| e.expiry(now).map(|expiry| (e.value, expiry))))
    }

    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        let now = Instant::now();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let entry = self.store.get(key).await;
            out.push(entry.and_then(|e| e.expiry(now).map(|expiry| (e.value, expiry))));
        }
        Ok(out)
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        for (key, value) in entries {
            self.set(key, value.clone(), SetOptions::new(expiry))
                .await?;
        }
        Ok(Vec::new())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.compute(key, |live, _| (Op::Remove, Ok(live.is_some())))
            .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let mut deleted = 0;
        for key in keys {
            deleted += u64::from(self.delete(key).await?);
        }
        Ok(deleted)
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.compute(key, |live, _| match live {
            Some(entry) if entry.value == expected => (Op::Remove, Ok(true)),
            _ => (Op::Nop, Ok(false)),
        })
        .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        self.compute(key, move |live, now| match live {
            Some(entry) => {
                let mut entry = entry.clone();
                entry.expires_at = deadline(expiry, now);
                (Op::Put(entry), Ok(true))
            }
            None => (Op::Nop, Ok(false)),
        })
        .await
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let now = Instant::now();
        Ok(self.live(self.store.get(key).await, now).is_some())
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.compute(key, move |live, _| {
            let Some(entry) = live else {
                return (
                    Op::Nop,
                    Err(Error::new(ErrorKind::NotFound, "key does not exist")),
                );
            };
            let next = cachette_api::parse_stored_integer(&entry.value).and_then(|n| {
                n.checked_add(delta)
                    .ok_or_else(|| Error::new(ErrorKind::Overflow, "increment would overflow i64"))
            });
            match next {
                Ok(n) => {
                    let updated = entry.replaced(Bytes::from(n.to_string()));
                    (Op::Put(updated), Ok(n))
                }
                Err(e) => (Op::Nop, Err(e)),
            }
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let now = Instant::now();
        Ok(match self.store.get(key).await {
            Some(entry) => entry.ttl(now),
            None => KeyTtl::Missing,
        })
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let now = Instant::now();
        let doomed: Vec<Arc<String>> = self
            .store
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k)
            .collect();
        let mut deleted = 0;
        for key in doomed {
            if let Some(entry) = self.store.remove(key.as_str()).await {
                deleted += u64::from(entry.is_live(now));
            }
        }
        Ok(deleted)
    }

    async fn close(&self) -> Result<()> {
        self.store.run_pending_tasks().await;
        Ok(())
    }
}
