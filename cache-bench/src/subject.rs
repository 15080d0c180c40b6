//! The subjects: our `Cache` on each backend, the raw crate doing the same work (per-entry
//! expiry, a fresh value buffer per write, MessagePack encode and decode on every call), and
//! the bare raw crate (stored bytes as they are) for reference.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cachette_api::Cache;
use moka::ops::compute::Op;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::{RedisFuture, Value};

use crate::external::RedisBenchmark;
use crate::fixture::{compose, Fixture, OpInput, Payload, Workload, BATCH, EXPIRY_MS};
use crate::Result;

/// Which backend a subject stands for: subjects of one family take turns in a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Family {
    /// In-process: our memory backend and moka.
    Memory,
    /// Over the network: our Redis backend, the redis crate and `redis-benchmark`.
    Redis,
}

impl Family {
    /// Both, in the order of the report.
    pub(crate) const ALL: [Family; 2] = [Family::Memory, Family::Redis];

    /// Our subject of the family.
    pub(crate) fn ours(self) -> SubjectId {
        match self {
            Family::Memory => SubjectId::OursMemory,
            Family::Redis => SubjectId::OursRedis,
        }
    }

    /// The raw crate doing the same work as ours: what the targets are measured against.
    pub(crate) fn same_work(self) -> SubjectId {
        match self {
            Family::Memory => SubjectId::MokaSameWork,
            Family::Redis => SubjectId::RedisSameWork,
        }
    }

    /// The bare raw crate, for reference.
    pub(crate) fn bare(self) -> SubjectId {
        match self {
            Family::Memory => SubjectId::BareMoka,
            Family::Redis => SubjectId::BareRedis,
        }
    }

    /// The name in the report.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Family::Memory => "Memory backend against moka",
            Family::Redis => "Redis backend against the redis crate",
        }
    }
}

/// Which subject a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SubjectId {
    /// Our `Cache` on `cache-memory`.
    OursMemory,
    /// moka with per-entry expiry, encoding and decoding every value.
    MokaSameWork,
    /// `moka::future::Cache<String, Bytes>`, one time to live, stored bytes shared.
    BareMoka,
    /// Our `Cache` on `cache-redis`.
    OursRedis,
    /// Our `Cache` on the tiered layer: the memory backend as L1 over the Redis backend,
    /// coherent through Redis pub/sub; measured on L1 hits (the in-process family).
    OursTiered,
    /// [`OursTiered`](SubjectId::OursTiered) read with `Cache::get_shared`: an L1 hit answers
    /// the value its L1 entry decoded once.
    OursTieredShared,
    /// [`OursMemory`](SubjectId::OursMemory) read with `Cache::get_shared`.
    OursMemoryShared,
    /// The redis crate encoding and decoding every value; `incr` is the minimal script.
    RedisSameWork,
    /// The redis crate sending stored bytes as they are; `incr` is `INCRBY`.
    BareRedis,
    /// The same work as [`RedisSameWork`](SubjectId::RedisSameWork) through the redis
    /// crate's `ConnectionManager` (as our backend), to show what that layer costs.
    RedisManager,
    /// `redis-benchmark`, run for one chunk in its turn (GET and SET only).
    RedisBenchmark,
}

impl SubjectId {
    /// Every subject, in the order of the report.
    pub(crate) const ALL: [SubjectId; 11] = [
        SubjectId::OursMemory,
        SubjectId::MokaSameWork,
        SubjectId::BareMoka,
        SubjectId::OursTiered,
        SubjectId::OursTieredShared,
        SubjectId::OursMemoryShared,
        SubjectId::OursRedis,
        SubjectId::RedisSameWork,
        SubjectId::BareRedis,
        SubjectId::RedisManager,
        SubjectId::RedisBenchmark,
    ];

    /// The name on the command line (`--subjects`).
    pub(crate) fn slug(self) -> &'static str {
        match self {
            SubjectId::OursMemory => "ours-memory",
            SubjectId::MokaSameWork => "moka-same-work",
            SubjectId::BareMoka => "bare-moka",
            SubjectId::OursRedis => "ours-redis",
            SubjectId::OursTiered => "ours-tiered",
            SubjectId::OursTieredShared => "ours-tiered-shared",
            SubjectId::OursMemoryShared => "ours-memory-shared",
            SubjectId::RedisSameWork => "redis-same-work",
            SubjectId::BareRedis => "bare-redis",
            SubjectId::RedisManager => "redis-manager",
            SubjectId::RedisBenchmark => "redis-benchmark",
        }
    }

    /// The name in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SubjectId::OursMemory => "ours (memory)",
            SubjectId::MokaSameWork => "moka, same work",
            SubjectId::BareMoka => "bare moka",
            SubjectId::OursRedis => "ours (redis)",
            SubjectId::OursTiered => "ours (tiered, L1 hit)",
            SubjectId::OursTieredShared => "ours (tiered, L1 hit, get_shared)",
            SubjectId::OursMemoryShared => "ours (memory, get_shared)",
            SubjectId::RedisSameWork => "redis crate, same work",
            SubjectId::BareRedis => "bare redis crate",
            SubjectId::RedisManager => "redis crate via ConnectionManager, same work",
            SubjectId::RedisBenchmark => "redis-benchmark",
        }
    }

    /// The family it belongs to.
    pub(crate) fn family(self) -> Family {
        match self {
            SubjectId::OursMemory
            | SubjectId::MokaSameWork
            | SubjectId::BareMoka
            | SubjectId::OursTiered
            | SubjectId::OursTieredShared
            | SubjectId::OursMemoryShared => Family::Memory,
            _ => Family::Redis,
        }
    }

    /// Whether it runs `workload` (redis-benchmark knows GET and SET only; the tiered layer
    /// is measured where it differs from Redis: hits served by its L1; `get_shared` is a
    /// read of one key).
    pub(crate) fn runs(self, workload: Workload) -> bool {
        match self {
            SubjectId::RedisBenchmark => matches!(workload, Workload::GetHit | Workload::Set),
            SubjectId::OursTiered | SubjectId::OursTieredShared | SubjectId::OursMemoryShared => {
                workload == Workload::GetHit
            }
            _ => true,
        }
    }

    /// Whether it is the tiered layer.
    pub(crate) fn is_tiered(self) -> bool {
        matches!(self, SubjectId::OursTiered | SubjectId::OursTieredShared)
    }

    /// Whether it reads with `Cache::get_shared` rather than `Cache::get`.
    pub(crate) fn reads_shared(self) -> bool {
        matches!(
            self,
            SubjectId::OursTieredShared | SubjectId::OursMemoryShared
        )
    }
}

/// One subject, ready to run any workload.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// Our `Cache`, on whichever backend `id` names.
    Ours {
        /// `OursMemory` or `OursRedis`.
        id: SubjectId,
        /// The handle.
        cache: Cache,
    },
    /// moka doing what our memory backend does.
    MokaSameWork(MokaSameWork),
    /// Bare moka.
    BareMoka(RawMoka),
    /// The redis crate; `same_work` says whether it runs the codec (and the `incr` script).
    Redis {
        /// The connection and key head.
        raw: RawRedis,
        /// Same work (codec, script) or bare.
        same_work: bool,
    },
    /// `redis-benchmark` against the same server.
    RedisBenchmark(RedisBenchmark),
}

/// A value with its own time to live, as an application keeps one in moka when each entry
/// may live differently.
#[derive(Debug, Clone)]
pub(crate) struct Timed {
    value: Bytes,
    ttl: Duration,
}

/// Tells moka each entry's own time to live.
#[derive(Debug, Clone, Copy)]
struct PerEntry;

impl moka::Expiry<String, Timed> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Timed,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Timed,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// moka with per-entry expiry (moka's `Expiry`), a fresh MessagePack buffer per write
/// (`rmp-serde`) and a decode per read: the work our memory backend does, written as an
/// application would write it on moka directly.
#[derive(Debug, Clone)]
pub(crate) struct MokaSameWork {
    store: moka::future::Cache<String, Timed>,
    head: Arc<str>,
}

impl MokaSameWork {
    /// A store bounded to `max_entries`.
    pub(crate) fn new(max_entries: u64, head: &str) -> MokaSameWork {
        MokaSameWork {
            store: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntry)
                .build(),
            head: Arc::from(head),
        }
    }

    fn timed(value: Bytes) -> Timed {
        Timed {
            value,
            ttl: Duration::from_millis(EXPIRY_MS),
        }
    }

    /// Encodes `payload` into a fresh buffer and stores it under the composed `key`.
    pub(crate) async fn set(&self, key: &str, payload: &Payload) -> Result<()> {
        let value = Bytes::from(rmp_serde::to_vec_named(payload)?);
        self.store
            .insert(compose(&self.head, key), Self::timed(value))
            .await;
        Ok(())
    }

    /// Stores the integer 0 under the composed `counter`.
    pub(crate) async fn set_counter(&self, counter: &str) {
        self.store
            .insert(
                compose(&self.head, counter),
                Self::timed(Bytes::from_static(b"0")),
            )
            .await;
    }

    /// Adds one to the integer under the composed `counter`, keeping its time to live;
    /// `None` when there is none.
    pub(crate) async fn incr(&self, counter: &str) -> Option<i64> {
        let key = compose(&self.head, counter);
        let mut outcome: Option<i64> = None;
        self.store
            .entry_by_ref(key.as_str())
            .and_compute_with(|current| {
                let next = current.and_then(|e| {
                    let t = e.into_value();
                    incremented(&t.value).map(|n| (n, t.ttl))
                });
                outcome = next.map(|(n, _)| n);
                std::future::ready(match next {
                    Some((n, ttl)) => Op::Put(Timed {
                        value: Bytes::from(n.to_string()),
                        ttl,
                    }),
                    None => Op::Nop,
                })
            })
            .await;
        outcome
    }

    /// Reads and decodes the composed `key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Payload>> {
        match self.store.get(compose(&self.head, key).as_str()).await {
            Some(t) => Ok(Some(rmp_serde::from_slice(&t.value)?)),
            None => Ok(None),
        }
    }
}

/// `moka::future::Cache<String, Bytes>` with the same bound as our memory backend, one time
/// to live for all entries, storing clones of one buffer.
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

    /// The bytes under the composed `key`.
    pub(crate) async fn get(&self, key: &str) -> Option<Bytes> {
        self.store.get(compose(&self.head, key).as_str()).await
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

/// The `redis` crate on one multiplexed connection, sending the commands our backend sends.
#[derive(Debug, Clone)]
pub(crate) struct RawRedis {
    conn: Conn,
    head: Arc<str>,
    incr: Arc<redis::Script>,
}

/// The connection a raw Redis subject sends on.
#[derive(Clone)]
enum Conn {
    /// One multiplexed connection, used directly.
    Multiplexed(MultiplexedConnection),
    /// The same behind the redis crate's reconnecting `ConnectionManager`.
    Manager(ConnectionManager),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Multiplexed(_) => "Multiplexed",
            Conn::Manager(_) => "Manager",
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Manager(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Manager(c) => c.get_db(),
        }
    }
}

/// The minimal atomic `incr` (as django-redis): `INCRBY` only when the key exists.
const INCR_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then \
                           return redis.call('INCRBY', KEYS[1], ARGV[1]) end return false";

impl RawRedis {
    /// Connects to `url`.
    pub(crate) async fn connect(url: &str, head: &str) -> Result<RawRedis> {
        let client = redis::Client::open(url)?;
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(RawRedis {
            conn: Conn::Multiplexed(conn),
            head: Arc::from(head),
            incr: Arc::new(redis::Script::new(INCR_SCRIPT)),
        })
    }

    /// Connects to `url` through a `ConnectionManager`.
    pub(crate) async fn connect_manager(url: &str, head: &str) -> Result<RawRedis> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RawRedis {
            conn: Conn::Manager(conn),
            head: Arc::from(head),
            incr: Arc::new(redis::Script::new(INCR_SCRIPT)),
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
            Subject::MokaSameWork(_) => SubjectId::MokaSameWork,
            Subject::BareMoka(_) => SubjectId::BareMoka,
            Subject::Redis { raw, .. } if matches!(raw.conn, Conn::Manager(_)) => {
                SubjectId::RedisManager
            }
            Subject::Redis {
                same_work: true, ..
            } => SubjectId::RedisSameWork,
            Subject::Redis { .. } => SubjectId::BareRedis,
            Subject::RedisBenchmark(_) => SubjectId::RedisBenchmark,
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
            Subject::Ours { id, cache } => {
                ours(cache, id.reads_shared(), workload, fx, input).await
            }
            Subject::MokaSameWork(raw) => moka_same_work(raw, workload, fx, input).await,
            Subject::BareMoka(raw) => bare_moka(raw, workload, fx, input).await,
            Subject::Redis { raw, same_work } => {
                redis_op(raw, *same_work, workload, fx, input).await
            }
            Subject::RedisBenchmark(_) => Err("redis-benchmark runs whole chunks only".into()),
        }
    }

    /// Writes every key and counter of `fx` (untimed).
    pub(crate) async fn populate(&self, fx: &Fixture) -> Result<()> {
        match self {
            Subject::Ours { id, cache } => {
                for batch in fx.keys.chunks(BATCH) {
                    cache
                        .set_many(batch.iter().map(|k| (k, &fx.payload)))
                        .await?;
                }
                for counter in &fx.counters {
                    cache.set(counter, &0_i64).await?;
                }
                if id.is_tiered() {
                    // The steady state of an application's L1: every key read once since the
                    // last write. (Writes of keys that share an invalidation stripe hide each
                    // other's fresh L1 entries until the next read fills them again.)
                    for batch in fx.keys.chunks(BATCH) {
                        let _: std::collections::HashMap<String, Payload> =
                            cache.get_many(batch).await?;
                    }
                }
            }
            Subject::MokaSameWork(raw) => {
                for key in &fx.keys {
                    raw.set(key, &fx.payload).await?;
                }
                for counter in &fx.counters {
                    raw.set_counter(counter).await;
                }
                raw.store.run_pending_tasks().await;
            }
            Subject::BareMoka(raw) => {
                for key in &fx.keys {
                    raw.insert(key, fx.encoded.clone()).await;
                }
                for counter in &fx.counters {
                    raw.insert(counter, Bytes::from_static(b"0")).await;
                }
                raw.run_pending_tasks().await;
            }
            Subject::Redis { raw, .. } => {
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
            Subject::RedisBenchmark(rb) => {
                let rb = rb.clone();
                let (size, keys) = (fx.size, fx.keys.len());
                tokio::task::spawn_blocking(move || rb.populate(size, keys)).await??;
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
                Subject::MokaSameWork(raw) => {
                    for key in batch {
                        raw.store.invalidate(&compose(&raw.head, key)).await;
                    }
                }
                Subject::BareMoka(raw) => {
                    for key in batch {
                        raw.store.invalidate(&compose(&raw.head, key)).await;
                    }
                }
                Subject::Redis { raw, .. } => {
                    let mut conn = raw.conn.clone();
                    let composed: Vec<String> =
                        batch.iter().map(|k| compose(&raw.head, k)).collect();
                    redis::cmd("UNLINK")
                        .arg(&composed)
                        .query_async::<i64>(&mut conn)
                        .await?;
                }
                Subject::RedisBenchmark(_) => {}
            }
        }
        Ok(())
    }
}

/// Our `Cache`, as an application calls it: typed values, encoded and decoded on each call
/// (a hit read with `get_shared` when `shared`: decoded once per stored value where the
/// backend keeps decoded values).
async fn ours(
    cache: &Cache,
    shared: bool,
    workload: Workload,
    fx: &Fixture,
    input: &OpInput,
) -> Result<()> {
    let i = input.index;
    match workload {
        Workload::GetHit => {
            let key = &fx.keys[i % fx.keys.len()];
            let hit = if shared {
                cache.get_shared::<Payload>(key).await?.is_some()
            } else {
                cache.get::<Payload>(key).await?.is_some()
            };
            if !hit {
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
            let batch = fx.batch(i, input.batch);
            let found: HashMap<String, Payload> = cache.get_many(batch).await?;
            if found.len() != batch.len() {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            let failed = cache
                .set_many(fx.batch(i, input.batch).iter().map(|k| (k, &fx.payload)))
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

/// The ASCII integer after `bytes` plus one, `None` when it is not one or would overflow.
fn incremented(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<i64>()
        .ok()?
        .checked_add(1)
}

/// moka doing our memory backend's work: composed keys, per-entry expiry, codec per call.
async fn moka_same_work(
    raw: &MokaSameWork,
    workload: Workload,
    fx: &Fixture,
    input: &OpInput,
) -> Result<()> {
    let i = input.index;
    let store = &raw.store;
    match workload {
        Workload::GetHit => {
            if raw.get(&fx.keys[i % fx.keys.len()]).await?.is_none() {
                return Err(unexpected(workload, "a miss"));
            }
        }
        Workload::GetMiss => {
            if raw
                .get(&fx.miss_keys[i % fx.miss_keys.len()])
                .await?
                .is_some()
            {
                return Err(unexpected(workload, "a hit"));
            }
        }
        Workload::Set => raw.set(&fx.keys[i % fx.keys.len()], &fx.payload).await?,
        Workload::Add => {
            let value = Bytes::from(rmp_serde::to_vec_named(&fx.payload)?);
            let key = compose(&raw.head, &input.fresh_key);
            if !store
                .entry(key)
                .or_insert(MokaSameWork::timed(value))
                .await
                .is_fresh()
            {
                return Err(unexpected(workload, "the fresh key was there"));
            }
        }
        Workload::Incr => {
            if raw
                .incr(&fx.counters[i % fx.counters.len()])
                .await
                .is_none()
            {
                return Err(unexpected(workload, "no integer"));
            }
        }
        Workload::GetMany => {
            let batch = fx.batch(i, input.batch);
            let mut found = HashMap::with_capacity(batch.len());
            for key in batch {
                if let Some(payload) = raw.get(key).await? {
                    found.insert(key.clone(), payload);
                }
            }
            if found.len() != batch.len() {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            for key in fx.batch(i, input.batch) {
                raw.set(key, &fx.payload).await?;
            }
        }
        Workload::GetOrSetWithHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            let stored = store
                .try_get_with(key, async {
                    rmp_serde::to_vec_named(&fx.payload)
                        .map(|v| MokaSameWork::timed(Bytes::from(v)))
                })
                .await
                .map_err(|e| e.to_string())?;
            let _value: Payload = rmp_serde::from_slice(&stored.value)?;
        }
    }
    Ok(())
}

/// Bare moka: composed keys, the encoded bytes stored as they are (no codec).
async fn bare_moka(raw: &RawMoka, workload: Workload, fx: &Fixture, input: &OpInput) -> Result<()> {
    let i = input.index;
    let store = &raw.store;
    match workload {
        Workload::GetHit => {
            if raw.get(&fx.keys[i % fx.keys.len()]).await.is_none() {
                return Err(unexpected(workload, "a miss"));
            }
        }
        Workload::GetMiss => {
            if raw
                .get(&fx.miss_keys[i % fx.miss_keys.len()])
                .await
                .is_some()
            {
                return Err(unexpected(workload, "a hit"));
            }
        }
        Workload::Set => {
            raw.insert(&fx.keys[i % fx.keys.len()], fx.encoded.clone())
                .await;
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
                    let next = current.and_then(|e| incremented(e.value()));
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
            let batch = fx.batch(i, input.batch);
            let mut found = Vec::with_capacity(batch.len());
            for key in batch {
                found.push(raw.get(key).await);
            }
            if found.iter().any(Option::is_none) {
                return Err(unexpected(workload, "misses"));
            }
        }
        Workload::SetMany => {
            for key in fx.batch(i, input.batch) {
                raw.insert(key, fx.encoded.clone()).await;
            }
        }
        Workload::GetOrSetWithHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            let _value = store.get_with(key, async { fx.encoded.clone() }).await;
        }
    }
    Ok(())
}

/// The value a raw Redis subject sends: encoded now (same work) or the stored bytes.
fn value_for(same_work: bool, fx: &Fixture) -> Result<Bytes> {
    if same_work {
        Ok(Bytes::from(rmp_serde::to_vec_named(&fx.payload)?))
    } else {
        Ok(fx.encoded.clone())
    }
}

/// Decodes what a raw Redis subject read, when it does the same work.
fn check_decodes(same_work: bool, bytes: &[u8]) -> Result<()> {
    if same_work {
        let _value: Payload = rmp_serde::from_slice(bytes)?;
    }
    Ok(())
}

/// The raw redis crate: the commands our backend sends; `incr` is the minimal script (same
/// work) or `INCRBY` (bare).
async fn redis_op(
    raw: &RawRedis,
    same_work: bool,
    workload: Workload,
    fx: &Fixture,
    input: &OpInput,
) -> Result<()> {
    let i = input.index;
    let mut conn = raw.conn.clone();
    match workload {
        Workload::GetHit | Workload::GetOrSetWithHit => {
            let key = compose(&raw.head, &fx.keys[i % fx.keys.len()]);
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            match found {
                Some(bytes) => check_decodes(same_work, &bytes)?,
                None if workload == Workload::GetHit => {
                    return Err(unexpected(workload, "a miss"));
                }
                None => {
                    // get_or_set_with's miss path; never taken on a hit.
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(value_for(same_work, fx)?.as_ref())
                        .arg("PX")
                        .arg(EXPIRY_MS)
                        .query_async::<()>(&mut conn)
                        .await?;
                }
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
                .arg(value_for(same_work, fx)?.as_ref())
                .arg("PX")
                .arg(EXPIRY_MS)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Workload::Add => {
            let key = compose(&raw.head, &input.fresh_key);
            let stored: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(value_for(same_work, fx)?.as_ref())
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
            if same_work {
                let n: Option<i64> = raw.incr.key(&key).arg(1).invoke_async(&mut conn).await?;
                if n.is_none() {
                    return Err(unexpected(workload, "no counter"));
                }
            } else {
                redis::cmd("INCRBY")
                    .arg(&key)
                    .arg(1)
                    .query_async::<i64>(&mut conn)
                    .await?;
            }
        }
        Workload::GetMany => {
            let batch = fx.batch(i, input.batch);
            let keys: Vec<String> = batch.iter().map(|k| compose(&raw.head, k)).collect();
            let found: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
            if found.len() != batch.len() || found.iter().any(Option::is_none) {
                return Err(unexpected(workload, "misses"));
            }
            if same_work {
                let mut out: HashMap<String, Payload> = HashMap::with_capacity(batch.len());
                for (key, bytes) in batch.iter().zip(found.into_iter().flatten()) {
                    out.insert(key.clone(), rmp_serde::from_slice(&bytes)?);
                }
            }
        }
        Workload::SetMany => {
            let mut pipe = redis::pipe();
            for key in fx.batch(i, input.batch) {
                pipe.cmd("SET")
                    .arg(compose(&raw.head, key))
                    .arg(value_for(same_work, fx)?.as_ref())
                    .arg("PX")
                    .arg(EXPIRY_MS)
                    .ignore();
            }
            pipe.query_async::<()>(&mut conn).await?;
        }
    }
    Ok(())
}
