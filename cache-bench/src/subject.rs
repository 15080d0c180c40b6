//! The subjects: our `Cache` on each backend, and what it is compared with, doing the same
//! operations on the same bytes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_api::Cache;
use moka::ops::compute::Op;
use redis::aio::MultiplexedConnection;

use crate::fixture::{compose, Fixture, OpInput, Payload, Workload, BATCH, EXPIRY_MS};
use crate::Result;

/// Which subject a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SubjectId {
    /// Our `Cache` on `cache-memory`.
    OursMemory,
    /// `moka::future::Cache<String, Bytes>` used directly.
    RawMoka,
    /// Our `Cache` on `cache-redis`.
    OursRedis,
    /// The `redis` crate on one multiplexed connection.
    RawRedis,
}

impl SubjectId {
    /// Every subject, in the order of the report.
    pub(crate) const ALL: [SubjectId; 4] = [
        SubjectId::OursMemory,
        SubjectId::RawMoka,
        SubjectId::OursRedis,
        SubjectId::RawRedis,
    ];

    /// The name on the command line (`--subjects`).
    pub(crate) fn slug(self) -> &'static str {
        match self {
            SubjectId::OursMemory => "ours-memory",
            SubjectId::RawMoka => "raw-moka",
            SubjectId::OursRedis => "ours-redis",
            SubjectId::RawRedis => "raw-redis",
        }
    }

    /// The name in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SubjectId::OursMemory => "ours (memory)",
            SubjectId::RawMoka => "raw moka",
            SubjectId::OursRedis => "ours (redis)",
            SubjectId::RawRedis => "raw redis crate",
        }
    }
}

/// One subject, ready to run any workload.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// Our `Cache`, on whichever backend `id` names.
    Ours {
        /// `OursMemory` or `OursRedis`.
        id: SubjectId,
        /// The handle, prefix [`OURS_PREFIX`](crate::fixture::OURS_PREFIX).
        cache: Cache,
    },
    /// Raw moka.
    Moka(RawMoka),
    /// The raw redis crate.
    Redis(RawRedis),
}

/// `moka::future::Cache<String, Bytes>` with the same bound and expiry as our memory backend.
#[derive(Debug, Clone)]
pub(crate) struct RawMoka {
    store: moka::future::Cache<String, Bytes>,
    head: Arc<str>,
}

impl RawMoka {
    /// A store bounded to `max_entries`, entries living 300 s.
    pub(crate) fn new(max_entries: u64, head: &str) -> RawMoka {
        RawMoka {
            store: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(Duration::from_millis(EXPIRY_MS))
                .build(),
            head: Arc::from(head),
        }
    }

    /// Stores `value` under the composed `key`.
    pub(crate) async fn insert(&self, key: &str, value: Bytes) {
        self.store.insert(compose(&self.head, key), value).await;
    }

    /// Runs moka's pending maintenance.
    pub(crate) async fn run_pending_tasks(&self) {
        self.store.run_pending_tasks().await;
    }

    /// The number of entries (approximate, as moka's).
    pub(crate) fn entry_count(&self) -> u64 {
        self.store.entry_count()
    }
}

/// The `redis` crate on one multiplexed connection, sending the commands our backend sends
/// (except `incr`, which is a plain `INCRBY`).
#[derive(Debug, Clone)]
pub(crate) struct RawRedis {
    conn: MultiplexedConnection,
    head: Arc<str>,
}

impl RawRedis {
    /// Connects to `url`.
    pub(crate) async fn connect(url: &str, head: &str) -> Result<RawRedis> {
        let client = redis::Client::open(url)?;
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(RawRedis {
            conn,
            head: Arc::from(head),
        })
    }

    /// The `redis_version` of `INFO server`.
    pub(crate) async fn server_version(&self) -> Result<String> {
        let mut conn = self.conn.clone();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown")
            .trim()
            .to_owned())
    }
}

fn unexpected(workload: Workload, what: &str) -> crate::BoxError {
    format!("{}: {what}", workload.label()).into()
}

impl Subject {
    /// Which subject this is.
    pub(crate) fn id(&self) -> SubjectId {
        match self {
            Subject::Ours { id, .. } => *id,
            Subject::Moka(_) => SubjectId::RawMoka,
            Subject::Redis(_) => SubjectId::RawRedis,
        }
    }

    /// Runs one call of `workload`; the answer is checked (a hit is a hit) so that no subject
    /// can win by doing nothing.
    pub(crate) async fn run(
        &self,
        workload: Workload,
        fx: &Fixture,
        input: &OpInput,
    ) -> Result<()> {
        match self {
            Subject::Ours { cache, .. } => ours(cache, workload, fx, input).await,
            Subject::Moka(raw) => moka_op(raw, workload, fx, input).await,
            Subject::Redis(raw) => redis_op(raw, workload, fx, input).await,
        }
    }

    /// Writes every key and counter of `fx` (untimed).
    pub(crate) async fn populate(&self, fx: &Fixture) -> Result<()> {
        match self {
            Subject::Ours { cache, .. } => {
                for batch in fx.keys.chunks(BATCH) {
                    cache
                        .set_many(batch.iter().map(|k| (k, &fx.payload)))
                        .await?;
                }
                for counter in &fx.counters {
                    cache.set(counter, &0_i64).await?;
                }
            }
            Subject::Moka(raw) => {
                for key in &fx.keys {
                    raw.insert(key, fx.encoded.clone()).await;
                }
                for counter in &fx.counters {
                    raw.insert(counter, Bytes::from_static(b"0")).await;
                }
                raw.run_pending_tasks().await;
            }
            Subject::Redis(raw) => {
                let mut conn = raw.conn.clone();
                for batch in fx.keys.chunks(BATCH) {
                    let mut pipe = redis::pipe();
                    for key in batch {
                        pipe.cmd("SET")
                            .arg(compose(&raw.head, key))
                            .arg(fx.encoded.as_ref())
                            .arg("PX")
                            .arg(EXPIRY_MS)
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await?;
                }
                let mut pipe = redis::pipe();
                for counter in &fx.counters {
                    pipe.cmd("SET")
                        .arg(compose(&raw.head, counter))
                        .arg("0")
                        .arg("PX")
                        .arg(EXPIRY_MS)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await?;
            }
        }
        Ok(())
    }

    /// Deletes the keys an `add` chunk wrote (untimed).
    pub(crate) async fn remove(&self, keys: &[String]) -> Result<()> {
        for batch in keys.chunks(1_000) {
            match self {
                Subject::Ours { cache, .. } => {
                    cache.delete_many(batch).await?;
                }
                Subject::Moka(raw) => {
                    for key in batch {
                        raw.store.invalidate(&compose(&raw.head, key)).await;
                    }
                }
                Subject::Redis(raw) => {
                    let mut conn = raw.conn.clone();
                    let composed: Vec<String> =
                        batch.iter().map(|k| compose(&raw.head, k)).collect();
                    redis::cmd("UNLINK")
                        .arg(&composed)
                        .query_async::<i64>(&mut conn)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Our `Cache`, as an application calls it: typed values, encoded and decoded on each call.
async fn ours(cache: &Cache, workload: Workload, fx: &Fixture, input: &OpInput) -> Result<()> {
    let i = input.index;
    match workload {
        Workload::GetHit => {
            let key = &fx.keys[i % fx.keys.len()];
            if cache.get::<Payload>(key).await?.is_none() {
                return Err(unexpected(workload, "a miss"));
            }
        }
        Workload::GetMiss => {
            let key = &fx.miss_keys[i % fx.miss_keys.len()];
            if cache.get::<Payload>(key).await?.is_some() {
                return Err(unexpected(workload, "a hit"));
            }
        }
        Workload::Set => {
            cache.set(&fx.keys[i % fx.keys.len()], &fx.payload).await?;
        }
        Workload::Add => {
            if !cache.add(&input.fresh_key, &fx.payload).await? {
                return Err(unexpected(workload, "the fresh key was there"));
            }
        }
        Workload::Incr => {
            cache.incr(&fx.counters[i % fx.counters.len()], 1).await?;
        }
        Workload::GetMany => {
            let found: HashMap<String, Payload> = cache.get_many(fx.batch(i)).await?;
            if found.len() != BATCH {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            let failed = cache
                .set_many(fx.batch(i).iter().map(|k| (k, &fx.payload)))
                .await?;
            if !failed.is_empty() {
                return Err(unexpected(workload, "keys not stored"));
            }
        }
        Workload::GetOrSetWithHit => {
            let key = &fx.keys[i % fx.keys.len()];
            let _value: Payload = cache
                .get_or_set_with(key, || async { Ok::<_, Infallible>(fx.payload.clone()) })
                .await?;
        }
    }
    Ok(())
}

/// Raw moka: composed keys, the encoded bytes stored as they are (no codec).
async fn moka_op(raw: &RawMoka, workload: Workload, fx: &Fixture, input: &OpInput) -> Result<()> {
    let i = input.index;
    let store = &raw.store;
    match workload {
        Workload::GetHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            if store.get(key.as_str()).await.is_none() {
                return Err(unexpected(workload, "a miss"));
            }
        }
        Workload::GetMiss => {
            let key = compose(&raw.head, &fx.miss_keys[i % fx.miss_keys.len()]);
            if store.get(key.as_str()).await.is_some() {
                return Err(unexpected(workload, "a hit"));
            }
        }
        Workload::Set => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            store.insert(key, fx.encoded.clone()).await;
        }
        Workload::Add => {
            let key = compose(&raw.head, &input.fresh_key);
            if !store
                .entry(key)
                .or_insert(fx.encoded.clone())
                .await
                .is_fresh()
            {
                return Err(unexpected(workload, "the fresh key was there"));
            }
        }
        Workload::Incr => {
            let key = compose(&raw.head, &fx.counters[i % fx.counters.len()]);
            let mut outcome: Option<i64> = None;
            store
                .entry_by_ref(key.as_str())
                .and_compute_with(|current| {
                    let next = current
                        .and_then(|e| std::str::from_utf8(e.value()).ok()?.parse::<i64>().ok())
                        .and_then(|n| n.checked_add(1));
                    outcome = next;
                    std::future::ready(match next {
                        Some(n) => Op::Put(Bytes::from(n.to_string())),
                        None => Op::Nop,
                    })
                })
                .await;
            if outcome.is_none() {
                return Err(unexpected(workload, "no integer"));
            }
        }
        Workload::GetMany => {
            let batch = fx.batch(i);
            let mut found = Vec::with_capacity(batch.len());
            for key in batch {
                found.push(store.get(compose(&raw.head, key).as_str()).await);
            }
            if found.iter().any(Option::is_none) {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            for key in fx.batch(i) {
                store
                    .insert(compose(&raw.head, key), fx.encoded.clone())
                    .await;
            }
        }
        Workload::GetOrSetWithHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            let _value = store.get_with(key, async { fx.encoded.clone() }).await;
        }
    }
    Ok(())
}

/// The raw redis crate: the commands our backend sends, with `INCRBY` for `incr`.
async fn redis_op(raw: &RawRedis, workload: Workload, fx: &Fixture, input: &OpInput) -> Result<()> {
    let i = input.index;
    let mut conn = raw.conn.clone();
    match workload {
        Workload::GetHit | Workload::GetOrSetWithHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            if found.is_none() {
                if workload == Workload::GetHit {
                    return Err(unexpected(workload, "a miss"));
                }
                // get_or_set_with's miss path; never taken on a hit.
                redis::cmd("SET")
                    .arg(&key)
                    .arg(fx.encoded.as_ref())
                    .arg("PX")
                    .arg(EXPIRY_MS)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
        }
        Workload::GetMiss => {
            let key = compose(&raw.head, &fx.miss_keys[i % fx.miss_keys.len()]);
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            if found.is_some() {
                return Err(unexpected(workload, "a hit"));
            }
        }
        Workload::Set => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            redis::cmd("SET")
                .arg(&key)
                .arg(fx.encoded.as_ref())
                .arg("PX")
                .arg(EXPIRY_MS)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Workload::Add => {
            let key = compose(&raw.head, &input.fresh_key);
            let stored: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(fx.encoded.as_ref())
                .arg("PX")
                .arg(EXPIRY_MS)
                .arg("NX")
                .query_async(&mut conn)
                .await?;
            if stored.is_none() {
                return Err(unexpected(workload, "the fresh key was there"));
            }
        }
        Workload::Incr => {
            let key = compose(&raw.head, &fx.counters[i % fx.counters.len()]);
            redis::cmd("INCRBY")
                .arg(&key)
                .arg(1)
                .query_async::<i64>(&mut conn)
                .await?;
        }
        Workload::GetMany => {
            let keys: Vec<String> = fx.batch(i).iter().map(|k| compose(&raw.head, k)).collect();
            let found: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
            if found.len() != BATCH || found.iter().any(Option::is_none) {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            let mut pipe = redis::pipe();
            for key in fx.batch(i) {
                pipe.cmd("SET")
                    .arg(compose(&raw.head, key))
                    .arg(fx.encoded.as_ref())
                    .arg("PX")
                    .arg(EXPIRY_MS)
                    .ignore();
            }
            pipe.query_async::<()>(&mut conn).await?;
        }
    }
    Ok(())
}
