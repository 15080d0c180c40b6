//! Several instances over one real Redis server: convergence after a write, a clear that
//! empties every L1, every kind of change invalidating the others, and the channel killed
//! (`CLIENT KILL`, a revoked ACL, the whole server) without any instance serving a value
//! older than its configured staleness.
//!
//! The figures printed (run with `--nocapture`) are those quoted in `docs/tiered.md`.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, Expiry, SetOptions};
use cachette_memory::MemoryBackend;
use cachette_redis::RedisBackend;
use cachette_redis::RedisInvalidation;
use cachette_tiered::{DisconnectedMode, TieredLayer, TieredLayerBuilder};

/// One instance: the backend and a handle on its L1, to look inside.
struct Instance {
    backend: TieredLayer,
    l1: MemoryBackend,
}

async fn instance(
    redis_url: &str,
    channel_url: &str,
    channel: &str,
    configure: impl FnOnce(TieredLayerBuilder) -> TieredLayerBuilder,
) -> Instance {
    let l1 = MemoryBackend::new();
    let l2 = RedisBackend::connect(redis_url).await.unwrap();
    // The channel's own bound is its default (1 s): the layer bounds every call on it by its
    // own network timeout, and drops a stream silent for longer than the heartbeat plus that
    // timeout, so the tests' shorter timeouts apply all the same.
    let channel = RedisInvalidation::connect(channel_url, channel)
        .await
        .unwrap();
    let builder = TieredLayer::builder(l1.clone(), l2).with_invalidation(Arc::new(channel));
    let backend = configure(builder).build().await.unwrap();
    Instance { backend, l1 }
}

async fn instances(url: &str, n: usize) -> (Vec<Instance>, String) {
    let channel = unique("tiered-test-channel");
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(instance(url, url, &channel, |b| b).await);
    }
    (all, unique("tiered-test"))
}

fn unique(stem: &str) -> String {
    format!("{stem}:{:016x}:", rand::random::<u64>())
}

fn bytes(s: impl ToString) -> Bytes {
    Bytes::from(s.to_string())
}

fn minute() -> SetOptions {
    SetOptions::new(Expiry::After(Duration::from_secs(60)))
}

/// Whether `key` has an entry (valid or not) in this instance's L1.
async fn in_l1(i: &Instance, key: &str) -> bool {
    i.l1.get(key).await.unwrap().is_some()
}

/// Writes through `writer` and waits until every one of `readers` has received the
/// invalidation, so that a test's next read does not race it.
async fn set_and_wait(writer: &Instance, readers: &[&Instance], key: &str, value: Bytes) {
    let before: Vec<u64> = readers
        .iter()
        .map(|r| r.backend.stats().invalidations_received)
        .collect();
    writer.backend.set(key, value, minute()).await.unwrap();
    for (reader, before) in readers.iter().zip(before) {
        eventually(
            "the invalidation arrives",
            Duration::from_secs(5),
            || async { reader.backend.stats().invalidations_received > before },
        )
        .await;
    }
}

/// Polls `check` every millisecond until it holds, failing after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(label: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "{label}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        samples[samples.len() - 1]
    )
}

/// Three instances; each round one writes a new value while the two others poll the key
/// (answered by their L1 until the invalidation arrives). Measures, per reader, the time from
/// the write's return (and from its start) to the first read of the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_is_seen_by_the_others() {
    let url = cache_test_support::shared_redis_url();
    let (all, prefix) = instances(&url, 3).await;
    let all = Arc::new(all);
    let key = format!("{prefix}k");
    all[0].backend.set(&key, bytes(0), minute()).await.unwrap();
    let rounds: i64 = 300;
    let mut after_return = Vec::new();
    let mut after_start = Vec::new();
    for round in 1..=rounds {
        let writer = (round % 3) as usize;
        // The readers hold the previous value in L1 and keep reading it.
        let mut readers = Vec::new();
        for r in (0..3).filter(|&r| r != writer) {
            let all = all.clone();
            let key = key.clone();
            readers.push(tokio::spawn(async move {
                let me = &all[r].backend;
                let limit = Instant::now() + Duration::from_secs(5);
                let mut last = -1_i64;
                loop {
                    let value = me.get(&key).await.unwrap().unwrap();
                    let value: i64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
                    assert!(value >= last, "reader {r} went back from {last} to {value}");
                    last = value;
                    if value == round {
                        return Instant::now();
                    }
                    assert!(Instant::now() < limit, "reader {r} never saw {round}");
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        let started = Instant::now();
        all[writer]
            .backend
            .set(&key, bytes(round), minute())
            .await
            .unwrap();
        let returned = Instant::now();
        for reader in readers {
            let seen = reader.await.unwrap();
            after_return.push(seen.saturating_duration_since(returned));
            after_start.push(seen.saturating_duration_since(started));
        }
    }
    let stats: Vec<_> = all.iter().map(|i| i.backend.stats()).collect();
    println!("convergence over {rounds} writes, 2 readers each, 3 instances on one host:");
    println!(
        "  {}",
        summary("after the write returned", &mut after_return)
    );
    println!(
        "  {}",
        summary("after the write began   ", &mut after_start)
    );
    for (n, s) in stats.iter().enumerate() {
        println!("  instance {n}: {s:?}");
        assert!(s.l1_hits > 0, "instance {n} never read from L1: {s:?}");
        assert!(
            s.invalidations_received >= (rounds as u64) * 2 / 3 - 1,
            "{s:?}"
        );
        assert_eq!(s.publish_failures, 0);
    }
    assert!(
        percentile(&after_return, 0.99) < Duration::from_millis(250),
        "convergence too slow"
    );
}

/// A namespace clear on one instance empties that prefix from every instance's L1, and only
/// that prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_on_one_instance_empties_l1_everywhere() {
    let url = cache_test_support::shared_redis_url();
    let (all, prefix) = instances(&url, 3).await;
    let cleared = format!("{prefix}ns:");
    let kept = format!("{prefix}other:");
    let keys = |p: &str| (0..50).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    let entries: Vec<(String, Bytes)> = keys(&cleared)
        .into_iter()
        .chain(keys(&kept))
        .map(|k| (k.clone(), bytes(&k)))
        .collect();
    all[0]
        .backend
        .set_many(&entries, Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap();
    let all_keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    for i in &all {
        let got = i.backend.get_many(&all_keys).await.unwrap();
        assert!(got.iter().all(Option::is_some));
        for key in &all_keys {
            assert!(in_l1(i, key).await, "{key} not in L1");
        }
    }
    let started = Instant::now();
    assert_eq!(all[1].backend.clear(&cleared).await.unwrap(), 50);
    let returned = started.elapsed();
    let mut took = Vec::new();
    for (n, i) in all.iter().enumerate() {
        let when = eventually(
            &format!("instance {n} empties {cleared}"),
            Duration::from_secs(5),
            || async {
                for key in keys(&cleared) {
                    if in_l1(i, &key).await {
                        return false;
                    }
                }
                true
            },
        )
        .await;
        took.push(started.elapsed().min(when + returned));
        for key in keys(&cleared) {
            assert_eq!(i.backend.get(&key).await.unwrap(), None, "{key} on {n}");
        }
        for key in keys(&kept) {
            assert!(
                in_l1(i, &key).await,
                "{key} was cleared from instance {n}'s L1"
            );
        }
    }
    let before = all[2].backend.stats().l1_hits;
    for key in keys(&kept) {
        assert!(all[2].backend.get(&key).await.unwrap().is_some());
    }
    assert_eq!(
        all[2].backend.stats().l1_hits - before,
        50,
        "the kept keys are L1 hits"
    );
    println!("clear of 50 keys: returned after {returned:?}; L1s empty after {took:?}");
}

/// Each kind of change made on one instance evicts the key from another instance's L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_invalidates_the_others() {
    let url = cache_test_support::shared_redis_url();
    let (all, prefix) = instances(&url, 2).await;
    let (a_instance, b) = (&all[0], &all[1]);
    let a = &a_instance.backend;
    let key = |op: &str| format!("{prefix}{op}");
    let cached_on_b = |k: String| async move {
        set_and_wait(a_instance, &[b], &k, bytes(7)).await;
        assert_eq!(b.backend.get(&k).await.unwrap(), Some(bytes(7)));
        assert!(in_l1(b, &k).await);
        k
    };
    let evicted = |op: &'static str, k: String| async move {
        eventually(op, Duration::from_secs(5), || {
            let k = k.clone();
            async move { !in_l1(b, &k).await }
        })
        .await;
    };

    let k = cached_on_b(key("set")).await;
    a.set(&k, bytes(8), minute()).await.unwrap();
    evicted("set", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), Some(bytes(8)));

    let k = cached_on_b(key("set_xx")).await;
    let xx = minute().with_mode(cachette_api::SetMode::IfPresent);
    assert!(a.set(&k, bytes(9), xx).await.unwrap());
    evicted("set if present", k.clone()).await;

    let k = cached_on_b(key("set_many")).await;
    a.set_many(&[(k.clone(), bytes(10))], Expiry::Never)
        .await
        .unwrap();
    evicted("set_many", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), Some(bytes(10)));

    let k = cached_on_b(key("delete")).await;
    assert!(a.delete(&k).await.unwrap());
    evicted("delete", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), None);

    let k = cached_on_b(key("delete_many")).await;
    assert_eq!(a.delete_many(std::slice::from_ref(&k)).await.unwrap(), 1);
    evicted("delete_many", k.clone()).await;

    let k = cached_on_b(key("delete_if_value")).await;
    assert!(!a.delete_if_value(&k, b"other").await.unwrap());
    assert!(a.delete_if_value(&k, b"7").await.unwrap());
    evicted("delete_if_value", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), None);

    let k = cached_on_b(key("touch")).await;
    assert!(a
        .touch(&k, Expiry::After(Duration::from_millis(300)))
        .await
        .unwrap());
    evicted("touch", k.clone()).await;
    // B now caches it for the new, shorter life only.
    assert!(b.backend.get(&k).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), None);

    let k = cached_on_b(key("incr")).await;
    assert_eq!(a.incr(&k, 5).await.unwrap(), 12);
    evicted("incr", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), Some(bytes(12)));

    let k = cached_on_b(key("clear")).await;
    assert_eq!(a.clear(&prefix).await.unwrap(), 5);
    evicted("clear", k.clone()).await;
    assert_eq!(b.backend.get(&k).await.unwrap(), None);

    assert_eq!(a.stats().publish_failures, 0);
}

/// An admin connection to a private server, for `CLIENT KILL` and `ACL SETUSER`.
async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn command(conn: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let _: redis::Value = cmd.query_async(conn).await.unwrap();
}

/// A private server where the user `sub` (the reader's channel) can be cut off the channel.
async fn server_with_channel_user() -> (RedisServer, redis::aio::MultiplexedConnection, String) {
    let server = RedisServer::start().unwrap();
    let mut conn = admin(&server).await;
    command(
        &mut conn,
        &["ACL", "SETUSER", "sub", "on", ">pw", "~*", "&*", "+@all"],
    )
    .await;
    let channel_url = format!("redis://sub:pw@127.0.0.1:{}", server.port());
    (server, conn, channel_url)
}

/// Cuts `sub` off: it may no longer subscribe, and its connections are closed.
async fn cut(conn: &mut redis::aio::MultiplexedConnection) {
    command(conn, &["ACL", "SETUSER", "sub", "resetchannels"]).await;
    command(conn, &["CLIENT", "KILL", "USER", "sub"]).await;
}

async fn restore(conn: &mut redis::aio::MultiplexedConnection) {
    command(conn, &["ACL", "SETUSER", "sub", "&*"]).await;
}

fn quick(b: TieredLayerBuilder) -> TieredLayerBuilder {
    b.with_heartbeat_interval(Duration::from_millis(100))
        .with_network_timeout(Duration::from_millis(200))
}

/// With the default `L2Only`, an instance whose channel is down reads L2 only, so it sees a
/// write made elsewhere at once; when the channel is back, its L1 starts empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_only_reads_l2_while_the_channel_is_down() {
    let (server, mut conn, channel_url) = server_with_channel_user().await;
    let url = server.url();
    let a = instance(&url, &url, "ch", quick).await;
    let b = instance(&url, &channel_url, "ch", quick).await;
    set_and_wait(&a, &[&b], "k", bytes("v1")).await;
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v1")));
    assert!(in_l1(&b, "k").await);

    cut(&mut conn).await;
    eventually("b notices", Duration::from_secs(5), || async {
        !b.backend.channel_connected()
    })
    .await;
    a.backend.set("k", bytes("v2"), minute()).await.unwrap();
    // B's L1 still holds v1 (nobody told it), but it is not trusted.
    assert!(in_l1(&b, "k").await);
    let misses = b.backend.stats().l1_misses;
    for _ in 0..20 {
        assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v2")));
    }
    assert_eq!(b.backend.stats().l1_misses - misses, 20, "all from L2");

    restore(&mut conn).await;
    eventually("b reconnects", Duration::from_secs(5), || async {
        b.backend.channel_connected()
    })
    .await;
    assert!(!in_l1(&b, "k").await, "L1 cleared on reconnect");
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v2")));
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v2")));
    let stats = b.backend.stats();
    assert_eq!((stats.disconnects, stats.reconnects), (1, 1), "{stats:?}");
    assert!(stats.l1_hits >= 1, "{stats:?}");
}

/// With `MaxStaleness(d)`, an instance whose channel is down keeps serving its L1 for at most
/// `d` after the channel was last known alive, then reads L2; a reconnection clears L1 even
/// within `d`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_staleness_bounds_what_l1_serves_while_the_channel_is_down() {
    let (server, mut conn, channel_url) = server_with_channel_user().await;
    let url = server.url();
    let staleness = Duration::from_millis(600);
    let a = instance(&url, &url, "ch", quick).await;
    let b = instance(&url, &channel_url, "ch", |builder| {
        quick(builder).with_disconnected_mode(DisconnectedMode::MaxStaleness(staleness))
    })
    .await;

    // First outage: B serves v1 from L1 for at most `staleness`, then v2 from L2.
    set_and_wait(&a, &[&b], "k", bytes("v1")).await;
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v1")));
    let cut_at = Instant::now();
    cut(&mut conn).await;
    eventually("b notices", Duration::from_secs(5), || async {
        !b.backend.channel_connected()
    })
    .await;
    a.backend.set("k", bytes("v2"), minute()).await.unwrap();
    let written = Instant::now();
    let mut last_stale = None;
    loop {
        let read_at = Instant::now();
        let value = b.backend.get("k").await.unwrap().unwrap();
        if value == bytes("v1") {
            last_stale = Some(read_at);
            assert!(
                read_at.duration_since(written) <= staleness,
                "served v1 {:?} after v2 was written",
                read_at.duration_since(written)
            );
        } else {
            assert_eq!(value, bytes("v2"));
            if read_at.duration_since(written) > staleness {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last_stale = last_stale.expect("L1 was never served while the channel was down");
    println!(
        "MaxStaleness({staleness:?}): v1 served until {:?} after the cut, {:?} after v2 was written",
        last_stale.duration_since(cut_at),
        last_stale.duration_since(written)
    );
    assert!(b.backend.stats().stale_hits > 0);

    // Reconnect: back to v1 in L1... then a second outage restored quickly, well within
    // `staleness`: the reconnection must clear L1 rather than serve the stale entry.
    restore(&mut conn).await;
    eventually("b reconnects", Duration::from_secs(5), || async {
        b.backend.channel_connected()
    })
    .await;
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v2")));
    assert!(in_l1(&b, "k").await);
    cut(&mut conn).await;
    eventually("b notices", Duration::from_secs(5), || async {
        !b.backend.channel_connected()
    })
    .await;
    a.backend.set("k", bytes("v3"), minute()).await.unwrap();
    restore(&mut conn).await;
    eventually("b reconnects", Duration::from_secs(5), || async {
        b.backend.channel_connected()
    })
    .await;
    assert_eq!(
        b.backend.get("k").await.unwrap(),
        Some(bytes("v3")),
        "a reconnection must clear L1"
    );
}

/// The brief's scenario: a writer and two readers under load while `CLIENT KILL TYPE pubsub`
/// cuts every subscription every 150 ms. Every read is checked against the writes that had
/// completed before it began: a value may be older than the newest only for as long as the
/// reader's configured staleness allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_channel_under_load_never_serves_past_the_staleness() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    let heartbeat = Duration::from_millis(100);
    let timeout = Duration::from_millis(200);
    let max_staleness = Duration::from_millis(250);
    let writer = instance(&url, &url, "ch", quick).await;
    let strict = instance(&url, &url, "ch", quick).await;
    let lenient = instance(&url, &url, "ch", |b| {
        quick(b).with_disconnected_mode(DisconnectedMode::MaxStaleness(max_staleness))
    })
    .await;
    // L2Only: served from L1 only while the channel was alive within heartbeat + timeout.
    let bounds = [heartbeat + timeout, max_staleness.max(heartbeat + timeout)];
    let run_for = Duration::from_secs(3);
    let base = Instant::now();
    writer.backend.set("k", bytes(0), minute()).await.unwrap();

    let done_at = Arc::new(std::sync::Mutex::new(vec![Duration::ZERO]));
    let writes = {
        let backend = writer.backend.clone();
        let done_at = done_at.clone();
        tokio::spawn(async move {
            let mut n = 0_u64;
            while base.elapsed() < run_for {
                n += 1;
                backend.set("k", bytes(n), minute()).await.unwrap();
                done_at.lock().unwrap().push(base.elapsed());
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let killer = {
        let mut conn = admin(&server).await;
        tokio::spawn(async move {
            let mut kills = 0;
            while base.elapsed() < run_for {
                tokio::time::sleep(Duration::from_millis(150)).await;
                command(&mut conn, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
                kills += 1;
            }
            kills
        })
    };
    let mut readers = Vec::new();
    for reader in [strict.backend.clone(), lenient.backend.clone()] {
        readers.push(tokio::spawn(async move {
            let mut reads = Vec::new();
            while base.elapsed() < run_for {
                let at = base.elapsed();
                let value = reader.get("k").await.unwrap().unwrap();
                let value: u64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
                reads.push((at, value));
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            reads
        }));
    }
    writes.await.unwrap();
    let kills = killer.await.unwrap();
    let done_at = done_at.lock().unwrap().clone();
    for ((name, reader), bound) in ["L2Only", "MaxStaleness(250ms)"]
        .into_iter()
        .zip(readers)
        .zip(bounds)
    {
        let reads = reader.await.unwrap();
        // A read of value v at `at` is stale by how long ago write v+1 had completed.
        let mut worst = Duration::ZERO;
        let mut stale_reads = 0;
        for &(at, value) in &reads {
            if let Some(&next_done) = done_at.get(value as usize + 1) {
                if next_done < at {
                    stale_reads += 1;
                    worst = worst.max(at - next_done);
                }
            }
        }
        println!(
            "{name}: {} reads over {kills} kills, {stale_reads} older than the newest completed \
             write, worst staleness {worst:?} (bound {bound:?})",
            reads.len()
        );
        assert!(worst <= bound, "{name}: staleness {worst:?} > {bound:?}");
    }
    for (name, i) in [("L2Only", &strict), ("MaxStaleness", &lenient)] {
        let s = i.backend.stats();
        println!("  {name}: {s:?}");
        assert!(s.reconnects >= 1, "{name} never reconnected: {s:?}");
        assert!(s.l1_hits > 0, "{name} never used L1: {s:?}");
    }
    // How long an instance stays without its channel after one kill.
    let mut conn = admin(&server).await;
    let before = strict.backend.stats().reconnects;
    let killed = Instant::now();
    command(&mut conn, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    let back = eventually("reconnects", Duration::from_secs(5), || async {
        strict.backend.stats().reconnects > before
    })
    .await;
    println!(
        "after one CLIENT KILL: subscribed again, L1 cleared, {:?} later",
        killed.elapsed().min(back)
    );
}

/// When the whole server dies, `MaxStaleness` keeps answering from L1 for at most its
/// staleness and `L2Only` fails at once; when the server is back (empty), L1 is cleared, so
/// the old values are not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_is_survived_within_the_staleness_only() {
    let mut server = RedisServer::start().unwrap();
    let url = server.url();
    let staleness = Duration::from_millis(500);
    let strict = instance(&url, &url, "ch", quick).await;
    let lenient = instance(&url, &url, "ch", |b| {
        quick(b).with_disconnected_mode(DisconnectedMode::MaxStaleness(staleness))
    })
    .await;
    set_and_wait(&strict, &[&lenient], "k", bytes("v")).await;
    assert_eq!(lenient.backend.get("k").await.unwrap(), Some(bytes("v")));
    assert_eq!(strict.backend.get("k").await.unwrap(), Some(bytes("v")));

    server.kill().unwrap();
    let killed = Instant::now();
    eventually("both notice", Duration::from_secs(5), || async {
        !strict.backend.channel_connected() && !lenient.backend.channel_connected()
    })
    .await;
    let err = strict.backend.get("k").await.unwrap_err();
    assert_eq!(err.kind(), cachette_api::ErrorKind::Unavailable, "{err:?}");
    let mut served_until = killed;
    loop {
        let at = Instant::now();
        match lenient.backend.get("k").await {
            Ok(value) => {
                assert_eq!(value, Some(bytes("v")));
                assert!(
                    at.duration_since(killed) <= staleness,
                    "served past the staleness"
                );
                served_until = at;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        cachette_api::ErrorKind::Unavailable | cachette_api::ErrorKind::Timeout
                    ),
                    "{e:?}"
                );
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "server killed: MaxStaleness({staleness:?}) served L1 for {:?}; L2Only failed at once",
        served_until.duration_since(killed)
    );
    assert!(
        served_until > killed,
        "L1 was never served while the server was down"
    );

    server.restart().unwrap();
    for i in [&strict, &lenient] {
        eventually("reconnects", Duration::from_secs(10), || async {
            i.backend.channel_connected()
        })
        .await;
        // The restarted server is empty: the old L1 entry must not come back. (L2's first
        // call after the restart may still fail: its connection reconnects on that call.)
        eventually("L2 answers again", Duration::from_secs(5), || async {
            match i.backend.get("k").await {
                Ok(found) => {
                    assert_eq!(found, None, "an L1 entry survived the reconnection");
                    true
                }
                Err(_) => false,
            }
        })
        .await;
    }
}

/// A change whose invalidation cannot be published (the channel's user lost the right to
/// publish) still succeeds; the invalidation is queued and published once possible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publication_is_retried() {
    let (server, mut conn, channel_url) = server_with_channel_user().await;
    let url = server.url();
    let a = instance(&url, &channel_url, "ch", quick).await;
    let b = instance(&url, &url, "ch", quick).await;
    set_and_wait(&a, &[&b], "k", bytes("v1")).await;
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v1")));
    // Revoke publishing only (A's subscription is killed too, and comes back once restored).
    command(&mut conn, &["ACL", "SETUSER", "sub", "resetchannels"]).await;
    a.backend.set("k", bytes("v2"), minute()).await.unwrap();
    assert!(a.backend.stats().publish_failures >= 1);
    // B was not told: it still serves v1 from L1.
    assert_eq!(b.backend.get("k").await.unwrap(), Some(bytes("v1")));
    restore(&mut conn).await;
    let took = eventually(
        "the queued invalidation reaches b",
        Duration::from_secs(5),
        || async { b.backend.get("k").await.unwrap() == Some(bytes("v2")) },
    )
    .await;
    println!("queued invalidation delivered {took:?} after the channel was restored");
}

/// A caller that gives up on a write (a timeout drops its future) does not stop the
/// invalidation: the change runs in a task of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_write_still_invalidates_the_others() {
    let url = cache_test_support::shared_redis_url();
    let (all, prefix) = instances(&url, 2).await;
    let key = format!("{prefix}k");
    set_and_wait(&all[0], &[&all[1]], &key, bytes("v1")).await;
    assert_eq!(all[1].backend.get(&key).await.unwrap(), Some(bytes("v1")));
    // Polled once, then dropped: the caller is gone before L2 even answered.
    let dropped = futures::FutureExt::now_or_never(all[0].backend.set(&key, bytes("v2"), minute()));
    assert!(dropped.is_none(), "the write finished on its first poll");
    eventually("b sees v2", Duration::from_secs(5), || async {
        all[1].backend.get(&key).await.unwrap() == Some(bytes("v2"))
    })
    .await;
    // The writer's own task may still be between its L2 write and its L1 update when B (whose
    // channel may have flapped on a loaded machine, sending it to L2) already reads v2.
    eventually("the writer sees v2", Duration::from_secs(5), || async {
        all[0].backend.get(&key).await.unwrap() == Some(bytes("v2"))
    })
    .await;
}
