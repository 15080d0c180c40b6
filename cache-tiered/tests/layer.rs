//! The layer over the contract: L2 calls counted (one per L1 miss, one per `get_many`, on a
//! counting wrapper and in Redis' own `INFO commandstats`), and other backends than memory
//! over Redis in either level.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_test_support::RedisServer;
use cachette_api::{
    async_trait, Bytes, CacheBackend, DynCacheBackend, Expiry, KeyTtl, Result, SetOptions,
};
use cachette_memory::MemoryBackend;
use cachette_redis::{RedisBackend, RedisInvalidation};
use cachette_tiered::{TieredLayer, TieredStats};

/// A layer of test code that counts the calls made to the backend beneath it (a real one).
#[derive(Debug, Clone)]
struct Counting {
    inner: DynCacheBackend,
    calls: Arc<Mutex<HashMap<&'static str, u64>>>,
}

impl Counting {
    fn new(inner: impl CacheBackend) -> Counting {
        Counting {
            inner: Arc::new(inner),
            calls: Arc::default(),
        }
    }

    fn count(&self, method: &'static str) {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
    }

    /// The calls since the last `take`, by method.
    fn take(&self) -> HashMap<&'static str, u64> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl CacheBackend for Counting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.count("get");
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.count("get_many");
        self.inner.get_many(keys).await
    }
    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        self.count("get_with_expiry");
        self.inner.get_with_expiry(key).await
    }
    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        self.count("get_many_with_expiry");
        self.inner.get_many_with_expiry(keys).await
    }
    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        self.count("set");
        self.inner.set(key, value, options).await
    }
    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        self.count("add_or_get");
        self.inner.add_or_get(key, value, expiry).await
    }
    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        self.count("set_many");
        self.inner.set_many(entries, expiry).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.count("delete");
        self.inner.delete(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        self.count("delete_many");
        self.inner.delete_many(keys).await
    }
    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.count("delete_if_value");
        self.inner.delete_if_value(key, expected).await
    }
    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        self.count("touch");
        self.inner.touch(key, expiry).await
    }
    async fn has_key(&self, key: &str) -> Result<bool> {
        self.count("has_key");
        self.inner.has_key(key).await
    }
    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.count("incr");
        self.inner.incr(key, delta).await
    }
    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.count("ttl");
        self.inner.ttl(key).await
    }
    async fn clear(&self, prefix: &str) -> Result<u64> {
        self.count("clear");
        self.inner.clear(prefix).await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

fn start() -> RedisServer {
    match RedisServer::start() {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

async fn channel(url: &str, name: &str) -> Arc<RedisInvalidation> {
    Arc::new(RedisInvalidation::connect(url, name).await.unwrap())
}

/// `INFO commandstats` of the server as command → calls.
async fn command_calls(conn: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    cache_test_support::command_calls(&info)
}

async fn reset_stats(conn: &mut redis::aio::MultiplexedConnection) {
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .unwrap();
}

fn minute() -> SetOptions {
    SetOptions::new(Expiry::After(Duration::from_secs(60)))
}

#[tokio::test]
async fn one_l2_call_per_l1_miss_and_per_get_many() {
    let server = start();
    let url = server.url();
    let l2 = Counting::new(RedisBackend::connect(&url).await.unwrap());
    let layer = TieredLayer::builder(MemoryBackend::new(), l2.clone())
        .with_invalidation(channel(&url, "count").await)
        .build()
        .await
        .unwrap();
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    // Written straight into L2, so that the layer's L1 knows nothing of them.
    for key in &keys {
        l2.inner
            .set(key, Bytes::from(key.clone()), minute())
            .await
            .unwrap();
    }
    // The script loads on the first call (NOSCRIPT, then EVAL): warm it outside the counts.
    l2.inner.get_with_expiry("k0").await.unwrap();
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    l2.take();
    reset_stats(&mut raw).await;

    // Ten L1 misses: ten L2 calls, ten round trips.
    for key in &keys[..10] {
        assert_eq!(
            layer.get(key).await.unwrap(),
            Some(Bytes::from(key.clone()))
        );
    }
    assert_eq!(l2.take(), HashMap::from([("get_with_expiry", 10)]));
    let calls = command_calls(&mut raw).await;
    assert_eq!(calls.get("evalsha"), Some(&10), "{calls:?}");
    assert_eq!(calls.get("mget"), None, "{calls:?}");

    // Hits: no L2 call at all.
    for key in &keys[..10] {
        assert!(layer.get(key).await.unwrap().is_some());
    }
    assert_eq!(l2.take(), HashMap::new());

    // A get_many of 50 keys, 10 in L1 and 40 not: one L2 call, one round trip.
    reset_stats(&mut raw).await;
    let found = layer.get_many(&keys).await.unwrap();
    assert!(found.iter().all(Option::is_some));
    assert_eq!(l2.take(), HashMap::from([("get_many_with_expiry", 1)]));
    let calls = command_calls(&mut raw).await;
    assert_eq!(calls.get("evalsha"), Some(&1), "{calls:?}");
    // Now all in L1.
    layer.get_many(&keys).await.unwrap();
    assert_eq!(l2.take(), HashMap::new());

    let stats: TieredStats = layer.stats();
    println!("{stats:?}");
    assert_eq!((stats.l1_misses, stats.l1_fills), (50, 50), "{stats:?}");
    // The L1 entries live no longer than L2's.
    let (_, expiry) = layer.get_with_expiry("k1").await.unwrap().unwrap();
    assert!(
        matches!(expiry, Expiry::After(d) if d <= Duration::from_secs(60)),
        "{expiry:?}"
    );
    layer.close().await.unwrap();
}

#[tokio::test]
async fn any_backend_in_either_level() {
    let server = start();
    let url = server.url();
    let name = "levels";
    // Two instances over one shared in-process L2, kept coherent by the Redis channel.
    let shared_l2 = MemoryBackend::new();
    let a = TieredLayer::builder(MemoryBackend::new(), shared_l2.clone())
        .with_invalidation(channel(&url, name).await)
        .build()
        .await
        .unwrap();
    let b = TieredLayer::builder(MemoryBackend::new(), shared_l2.clone())
        .with_invalidation(channel(&url, name).await)
        .build()
        .await
        .unwrap();
    a.set("k", Bytes::from_static(b"v1"), minute())
        .await
        .unwrap();
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    let received = b.stats().invalidations_received;
    a.set("k", Bytes::from_static(b"v2"), minute())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while b.stats().invalidations_received == received {
        assert!(std::time::Instant::now() < deadline, "no invalidation");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));

    // Redis as L1 (database 1) over memory as L2: the layer does not care.
    let l1 = RedisBackend::connect(&format!("{url}/1")).await.unwrap();
    let c = TieredLayer::builder(l1, MemoryBackend::new())
        .with_invalidation(channel(&url, "other").await)
        .build()
        .await
        .unwrap();
    c.set("x", Bytes::from_static(b"y"), minute())
        .await
        .unwrap();
    assert_eq!(c.get("x").await.unwrap().as_deref(), Some(&b"y"[..]));
    assert_eq!(c.stats().l1_hits, 1);
    assert_eq!(
        c.incr("x", 1).await.unwrap_err().kind(),
        cachette_api::ErrorKind::NotInteger
    );
    assert_eq!(
        c.add_or_get("x", Bytes::from_static(b"z"), Expiry::Never)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
}

/// Extreme durations given to the builder are configuration errors, never a panic.
#[tokio::test]
async fn extreme_durations_are_config_errors() {
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::MAX,
        Duration::from_secs(u64::MAX),
    ] {
        let builders = [
            cachette_tiered::TieredLayer::builder(
                cachette_memory::MemoryBackend::new(),
                cachette_memory::MemoryBackend::new(),
            )
            .with_network_timeout(d),
            cachette_tiered::TieredLayer::builder(
                cachette_memory::MemoryBackend::new(),
                cachette_memory::MemoryBackend::new(),
            )
            .with_heartbeat_interval(d),
            cachette_tiered::TieredLayer::builder(
                cachette_memory::MemoryBackend::new(),
                cachette_memory::MemoryBackend::new(),
            )
            .with_l1_max_ttl(d),
        ];
        for builder in builders {
            let channel = cachette_tiered::LocalInvalidation::new();
            let err = builder
                .with_invalidation(channel)
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), cachette_api::ErrorKind::Config, "{d:?}: {err}");
        }
    }
}
