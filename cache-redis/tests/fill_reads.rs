//! What a tier above needs, answered in one round trip each, as `INFO commandstats` shows:
//! `add_or_get` is one `SET … NX GET`, `get_with_expiry` one script call, and
//! `get_many_with_expiry` one script call (per hash slot on a cluster).

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{command_calls, raw, raw_cmd, reset_stats, start};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use cache_test_support::RedisCluster;
use cachette_api::{Bytes, CacheBackend, Expiry, SetOptions};
use cachette_redis::RedisBackend;

/// How long a test waits for a condition (an entry expiring) before it fails.
const WAIT_BOUND: Duration = Duration::from_secs(5);

fn minute() -> Expiry {
    Expiry::After(Duration::from_secs(60))
}

/// The remaining life in an expiry, for assertions.
fn left(expiry: Expiry) -> Option<Duration> {
    match expiry {
        Expiry::After(d) => Some(d),
        _ => None,
    }
}

#[tokio::test]
async fn add_or_get_is_one_set_nx_get() {
    let server = start(&[]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let mut conn = raw(&server.url()).await;

    reset_stats(&mut conn).await;
    let first = backend
        .add_or_get("lock", Bytes::from_static(b"first"), minute())
        .await
        .unwrap();
    assert_eq!(first, None, "the first writer writes");
    let second = backend
        .add_or_get("lock", Bytes::from_static(b"second"), minute())
        .await
        .unwrap();
    assert_eq!(second.as_deref(), Some(&b"first"[..]), "and wins");
    let calls = command_calls(&mut conn).await;
    assert_eq!(calls, HashMap::from([("set".to_owned(), 2)]), "{calls:?}");
    let pttl: i64 = raw_cmd(&mut conn, &["PTTL", "lock"]).await;
    assert!(pttl > 59_000 && pttl <= 60_000, "PTTL {pttl}");

    // An expired entry counts as absent.
    backend
        .set(
            "short",
            Bytes::from_static(b"old"),
            SetOptions::new(Expiry::After(Duration::from_millis(30))),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT_BOUND;
    while backend.has_key("short").await.unwrap() {
        assert!(Instant::now() < deadline, "the entry did not expire");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let replaced = backend
        .add_or_get("short", Bytes::from_static(b"new"), Expiry::Never)
        .await
        .unwrap();
    assert_eq!(replaced, None);
    assert_eq!(
        backend.get("short").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );

    // Many writers at once: exactly one writes, and every other learns its value.
    let mut tasks = Vec::new();
    for i in 0..32 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let mine = Bytes::from(format!("writer-{i}"));
            (
                mine.clone(),
                backend.add_or_get("race", mine, minute()).await,
            )
        }));
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (mine, answer) = task.await.unwrap();
        match answer.unwrap() {
            None => winners.push(mine),
            Some(current) => seen.push(current),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert!(seen.iter().all(|v| *v == winners[0]), "{seen:?}");
}

#[tokio::test]
async fn reads_with_expiry_are_one_script_call() {
    let server = start(&[]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let mut conn = raw(&server.url()).await;
    let keys: Vec<String> = (0..100).map(|i| format!("fill:{i}")).collect();
    // Even keys expire in a minute, odd ones never; the last ten are missing.
    for (i, key) in keys.iter().enumerate().take(90) {
        let expiry = if i % 2 == 0 { minute() } else { Expiry::Never };
        backend
            .set(key, Bytes::from(key.clone()), SetOptions::new(expiry))
            .await
            .unwrap();
    }
    raw_cmd::<()>(&mut conn, &["RPUSH", "fill:list", "x"]).await;

    // The first call on a new server loads the script (NOSCRIPT, then EVAL).
    let started = Instant::now();
    let (value, expiry) = backend.get_with_expiry("fill:0").await.unwrap().unwrap();
    let first_call = started.elapsed();
    assert_eq!(value.as_ref(), b"fill:0");
    assert!(left(expiry).is_some_and(|d| d > Duration::from_secs(59)));

    reset_stats(&mut conn).await;
    let started = Instant::now();
    let (value, expiry) = backend.get_with_expiry("fill:1").await.unwrap().unwrap();
    let warm_call = started.elapsed();
    assert_eq!((value.as_ref(), expiry), (&b"fill:1"[..], Expiry::Never));
    assert_eq!(backend.get_with_expiry("fill:99").await.unwrap(), None);
    let calls = command_calls(&mut conn).await;
    println!("get_with_expiry x2: {calls:?}; first call {first_call:?}, warm {warm_call:?}");
    // Two client commands; the GETs and PTTLs are the script's own.
    assert_eq!(calls.get("evalsha"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("eval"), None, "{calls:?}");
    assert_eq!(calls.get("pttl"), Some(&1), "{calls:?}");

    // A key of another type is WRONGTYPE for one key, missing in a batch (as GET and MGET).
    let err = backend.get_with_expiry("fill:list").await.unwrap_err();
    assert_eq!(err.kind(), cachette_api::ErrorKind::WrongType, "{err:?}");

    let mut batch = keys.clone();
    batch.push("fill:list".to_owned());
    reset_stats(&mut conn).await;
    let started = Instant::now();
    let found = backend.get_many_with_expiry(&batch).await.unwrap();
    let many_call = started.elapsed();
    let calls = command_calls(&mut conn).await;
    println!(
        "get_many_with_expiry of {} keys: {calls:?} in {many_call:?}",
        batch.len()
    );
    assert_eq!(calls.get("evalsha"), Some(&1), "{calls:?}");
    assert_eq!(found.len(), batch.len());
    for (i, slot) in found.iter().enumerate() {
        match (i, slot) {
            (i, Some((value, expiry))) if i < 90 => {
                assert_eq!(value.as_ref(), batch[i].as_bytes());
                if i % 2 == 0 {
                    assert!(left(*expiry).is_some_and(|d| d > Duration::from_secs(59)));
                } else {
                    assert_eq!(*expiry, Expiry::Never);
                }
            }
            (i, None) if i >= 90 => {}
            (i, other) => panic!("slot {i}: {other:?}"),
        }
    }
    assert!(backend.get_many_with_expiry(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn cluster_reads_with_expiry_are_one_script_call_per_slot() {
    let cluster = match RedisCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => panic!("{e}"),
    };
    let backend = RedisBackend::connect(&cluster.url()).await.unwrap();
    // Three hash tags: three slots, whatever masters serve them.
    let keys: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|tag| (0..10).map(move |i| format!("{{{tag}}}:{i}")))
        .collect();
    for key in &keys {
        backend
            .set(key, Bytes::from(key.clone()), SetOptions::new(minute()))
            .await
            .unwrap();
    }
    // Load the script on every master.
    backend.get_many_with_expiry(&keys).await.unwrap();
    let masters = cluster.masters().unwrap();
    let mut conns = Vec::new();
    for port in &masters {
        let mut conn = raw(&format!("redis://127.0.0.1:{port}")).await;
        reset_stats(&mut conn).await;
        conns.push(conn);
    }
    let found = backend.get_many_with_expiry(&keys).await.unwrap();
    let mut evalsha = 0;
    for conn in &mut conns {
        let calls = command_calls(conn).await;
        evalsha += calls.get("evalsha").copied().unwrap_or(0);
    }
    assert_eq!(evalsha, 3, "one script call per slot");
    for (key, slot) in keys.iter().zip(&found) {
        let (value, expiry) = slot.as_ref().unwrap();
        assert_eq!(value.as_ref(), key.as_bytes());
        assert!(left(*expiry).is_some_and(|d| d > Duration::from_secs(50)));
    }
    let first = backend.get_with_expiry(&keys[0]).await.unwrap();
    assert!(first.is_some());
    let added = backend
        .add_or_get(&keys[0], Bytes::from_static(b"other"), minute())
        .await
        .unwrap();
    assert_eq!(added.as_deref(), Some(keys[0].as_bytes()));
}

/// What a backend answered, with expiries reduced to their class (their exact remaining time
/// differs by the time the calls take).
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Missing,
    Forever(Vec<u8>),
    Expiring(Vec<u8>),
}

fn seen(found: Option<(Bytes, Expiry)>) -> Seen {
    match found {
        None => Seen::Missing,
        Some((value, Expiry::Never)) => Seen::Forever(value.to_vec()),
        Some((value, expiry)) => {
            assert!(
                left(expiry).is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(60)),
                "{expiry:?}"
            );
            Seen::Expiring(value.to_vec())
        }
    }
}

/// The same story on the memory backend (the trait's default implementations) and on Redis
/// (one command or script each): the same answers.
async fn story(backend: &dyn CacheBackend, tag: &str) -> Vec<String> {
    let key = |name: &str| format!("{tag}:{name}");
    let mut log = Vec::new();
    backend
        .set(
            &key("forever"),
            Bytes::from_static(b"f"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();
    backend
        .set(
            &key("minute"),
            Bytes::from_static(b"m"),
            SetOptions::new(minute()),
        )
        .await
        .unwrap();
    backend
        .set(
            &key("short"),
            Bytes::from_static(b"s"),
            SetOptions::new(Expiry::After(Duration::from_millis(20))),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT_BOUND;
    while backend.has_key(&key("short")).await.unwrap() {
        assert!(Instant::now() < deadline, "the entry did not expire");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for name in ["forever", "minute", "short", "missing"] {
        let found = backend.get_with_expiry(&key(name)).await.unwrap();
        log.push(format!("get_with_expiry {name}: {:?}", seen(found)));
    }
    let names = ["missing", "minute", "forever", "short", "minute"];
    let keys: Vec<String> = names.iter().map(|n| key(n)).collect();
    let found = backend.get_many_with_expiry(&keys).await.unwrap();
    let found: Vec<Seen> = found.into_iter().map(seen).collect();
    log.push(format!("get_many_with_expiry: {found:?}"));
    for (name, value) in [("short", "a"), ("forever", "b"), ("new", "c"), ("new", "d")] {
        let answer = backend
            .add_or_get(&key(name), Bytes::from(value), minute())
            .await
            .unwrap();
        log.push(format!("add_or_get {name}={value}: {answer:?}"));
    }
    let found = backend.get_with_expiry(&key("new")).await.unwrap();
    log.push(format!("new after add_or_get: {:?}", seen(found)));
    log
}

#[tokio::test]
async fn memory_and_redis_tell_the_same_story() {
    let server = start(&[]);
    let redis = RedisBackend::connect(&server.url()).await.unwrap();
    let memory = cachette_memory::MemoryBackend::new();
    let on_memory = story(&memory, "story").await;
    let on_redis = story(&redis, "story").await;
    for line in &on_redis {
        println!("{line}");
    }
    assert_eq!(on_memory, on_redis);
}
