//! The Redis backend on a Redis Cluster, each test on a private cluster of six `redis-server`
//! processes: what only a cluster can show (keys on different masters, a password on every
//! node), and a cluster changing under load: a master killed (its replica takes over) and slots
//! moved between masters (resharding), while tasks keep using one `Cache` handle. The
//! behaviour shared with every backend is checked by the conformance suite
//! (`conformance-tests/tests/redis_cluster.rs`).
//!
//! The figures each test measures (how long the failover took, how long calls failed, the
//! slowest call) are printed; run with `--nocapture` to see them. `docs/cluster.md` quotes them.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_test_support::RedisCluster;
use cachette_api::{Bytes, Cache, CacheBackend, ErrorKind, Expiry, SetOptions};
use cachette_redis::RedisBackend;

/// The connect timeout and the response timeout of the backends here: a call is bounded by
/// their sum.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest any single call may take: the backend's bound (2 s) plus a margin for a loaded
/// 2-core machine.
const CALL_BOUND: Duration = Duration::from_secs(4);
/// How long the cluster may take to promote a replica, or to finish a resharding.
const CLUSTER_BOUND: Duration = Duration::from_secs(60);

fn start_cluster() -> RedisCluster {
    match RedisCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => panic!("{e}"),
    }
}

async fn cache_over(cluster: &RedisCluster, prefix: &str) -> Cache {
    RedisBackend::builder()
        .with_url(cluster.url())
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix(prefix)
        .build()
        .unwrap()
}

/// What one call of a load task saw.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// When it started, from the start of the test's clock.
    at: Duration,
    took: Duration,
    /// `None` when it succeeded.
    error: Option<ErrorKind>,
}

/// Writes `n` entries `key-{i}` → `i` and returns when all are acknowledged.
async fn fill(cache: &Cache, n: usize) {
    let entries: Vec<(String, u64)> = (0..n).map(|i| (format!("key-{i}"), i as u64)).collect();
    for chunk in entries.chunks(500) {
        let failed = cache
            .set_many(chunk.iter().map(|(k, v)| (k.as_str(), v)))
            .await
            .unwrap();
        assert!(failed.is_empty(), "{failed:?}");
    }
}

/// Reads `key-0` … `key-{n-1}` back, in batches and one by one, and checks every value.
async fn check_all(cache: &Cache, n: usize) {
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    for chunk in keys.chunks(500) {
        let found: std::collections::HashMap<String, u64> = cache.get_many(chunk).await.unwrap();
        assert_eq!(found.len(), chunk.len(), "missing keys after the change");
        for key in chunk {
            let i: u64 = key["key-".len()..].parse().unwrap();
            assert_eq!(found.get(key), Some(&i), "{key}");
        }
    }
    for i in (0..n).step_by(7) {
        assert_eq!(
            cache.get::<u64>(&format!("key-{i}")).await.unwrap(),
            Some(i as u64)
        );
    }
}

fn summary(outcomes: &[Outcome]) -> String {
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in outcomes {
        *by_kind
            .entry(match outcome.error {
                None => "ok".to_owned(),
                Some(kind) => format!("{kind:?}"),
            })
            .or_default() += 1;
    }
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    format!("{by_kind:?}, slowest call {slowest:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_keeps_replicated_keys_and_the_same_handle_recovers() {
    let mut cluster = start_cluster();
    let cache = cache_over(&cluster, "failover").await;
    const KEYS: usize = 1000;
    fill(&cache, KEYS).await;
    // Every key acknowledged so far is on a replica too: these must survive the failover.
    tokio::task::block_in_place(|| cluster.wait_for_replication(CLUSTER_BOUND)).unwrap();

    // The victim: the master of some key; the load writes and reads keys of its slots only (a
    // hash tag on its slots), so that every call of the load meets the failover.
    let victim = cluster
        .master_of_key(&cache.make_key("key-0").unwrap())
        .unwrap();
    let replica = cluster.replicas_of(victim).unwrap()[0];
    let tag_on = |wanted: &dyn Fn(u16) -> bool| {
        (0..)
            .map(|t| format!("{{t{t}}}"))
            .find(|tag| wanted(cluster.master_of_key(tag).unwrap()))
            .unwrap()
    };
    let victim_tag = tag_on(&|master| master == victim);
    // And keys of another master, which the failover should not disturb.
    let other_tag = tag_on(&|master| master != victim);

    let clock = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let others = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for task in 0..6 {
        let (tag, outcomes) = if task < 4 {
            (victim_tag.clone(), outcomes.clone())
        } else {
            (other_tag.clone(), others.clone())
        };
        let (cache, stop) = (cache.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("load:{tag}:{task}:{i}");
                let at = clock.elapsed();
                let result = match cache.set(&key, &i).await {
                    Ok(()) => match cache.get::<u64>(&key).await {
                        Ok(Some(got)) => {
                            assert_eq!(got, i, "{key}");
                            Ok(())
                        }
                        Ok(None) => panic!("{key} was acknowledged and is missing"),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                let took = clock.elapsed() - at;
                assert!(took < CALL_BOUND, "{key}: a set and a get took {took:?}");
                if let Err(e) = &result {
                    assert!(
                        matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                        "{key}: {e:?}"
                    );
                    // A failed call does not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                outcomes.lock().unwrap().push(Outcome {
                    at,
                    took,
                    error: result.err().map(|e| e.kind()),
                });
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = clock.elapsed();
    cluster.kill_node(victim).unwrap();
    tokio::task::block_in_place(|| cluster.wait_until_ok(CLUSTER_BOUND)).unwrap();
    let promoted_after = clock.elapsed() - killed_at;
    assert_eq!(
        cluster
            .master_of_key(&cache.make_key("key-0").unwrap())
            .unwrap(),
        replica
    );
    // Let the load run on the new master for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap().clone();
    let others = others.lock().unwrap().clone();
    // Calls answered before the kill, and the others (in flight at the kill, or started after).
    let (before, after): (Vec<Outcome>, Vec<Outcome>) =
        outcomes.iter().partition(|o| o.at + o.took < killed_at);
    let others_after: Vec<Outcome> = others
        .iter()
        .copied()
        .filter(|o| o.at + o.took >= killed_at)
        .collect();
    assert!(
        before.iter().all(|o| o.error.is_none()),
        "{}",
        summary(&before)
    );
    // When the last failed call ended, and from when on every call succeeded (its start).
    let last_failure_end = after
        .iter()
        .filter(|o| o.error.is_some())
        .map(|o| o.at + o.took)
        .max();
    let all_ok_from = after
        .iter()
        .filter(|o| o.error.is_none())
        .filter(|o| last_failure_end.is_none_or(|end| o.at >= end))
        .map(|o| o.at)
        .min()
        .unwrap()
        .saturating_sub(killed_at);
    // The calls of the last second all succeeded.
    let tail_start = clock.elapsed().saturating_sub(Duration::from_secs(1));
    assert!(
        after
            .iter()
            .filter(|o| o.at > tail_start)
            .all(|o| o.error.is_none()),
        "{}",
        summary(&after)
    );

    // Nothing acknowledged and replicated before the kill is lost, and the same handle writes.
    check_all(&cache, KEYS).await;
    let failed = cache
        .set_many((0..300).map(|i| (format!("new-{i}"), i)))
        .await
        .unwrap();
    assert!(failed.is_empty());
    assert_eq!(cache.get::<i32>("new-299").await.unwrap(), Some(299));
    // The load's keys too (those written before the kill but not yet replicated may be gone).
    assert!(cache.clear().await.unwrap() >= (KEYS + 300) as u64);
    assert_eq!(cache.get::<u64>("key-0").await.unwrap(), None);

    eprintln!(
        "failover: replica promoted {promoted_after:?} after SIGKILL of the master (node \
         timeout {} ms); calls on its slots from the kill: {} (the last failure ended {:?} \
         after the kill, every call started from {all_ok_from:?} after it succeeded); calls \
         on another master's slots from the kill: {}",
        cache_test_support::NODE_TIMEOUT_MS,
        summary(&after),
        last_failure_end.map(|end| end.saturating_sub(killed_at)),
        summary(&others_after),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_under_reads_fails_no_read() {
    let cluster = start_cluster();
    let cache = cache_over(&cluster, "reshard").await;
    const KEYS: usize = 4000;
    fill(&cache, KEYS).await;

    let masters = cluster.masters().unwrap();
    let (from, to) = (masters[0], masters[1]);
    let probe: Vec<String> = (0..KEYS)
        .map(|i| cache.make_key(&format!("key-{i}")).unwrap())
        .collect();
    let moved_before = probe
        .iter()
        .filter(|key| cluster.master_of_key(key).unwrap() == from)
        .count();

    // The reads a tier makes to fill itself, on a backend of their own.
    let filler = RedisBackend::builder()
        .with_url(cluster.url())
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .build()
        .await
        .unwrap();
    let clock = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for task in 0..4u64 {
        let (cache, stop, outcomes) = (cache.clone(), stop.clone(), outcomes.clone());
        let (filler, probe) = (filler.clone(), probe.clone());
        load.push(tokio::spawn(async move {
            let mut n = task;
            while !stop.load(Ordering::Relaxed) {
                n = (n * 7919 + 13) % KEYS as u64;
                let at = clock.elapsed();
                // A batch across slots (some moving), then one key.
                let batch: Vec<String> = (0..20)
                    .map(|j| format!("key-{}", (n + j * 197) % KEYS as u64))
                    .collect();
                let found: std::collections::HashMap<String, u64> = cache
                    .get_many(&batch)
                    .await
                    .unwrap_or_else(|e| panic!("get_many during the resharding failed: {e:?}"));
                assert_eq!(found.len(), batch.len());
                let key = format!("key-{n}");
                let got = cache
                    .get::<u64>(&key)
                    .await
                    .unwrap_or_else(|e| panic!("get {key} during the resharding failed: {e:?}"));
                assert_eq!(got, Some(n), "{key}");
                let took = clock.elapsed() - at;
                assert!(took < CALL_BOUND, "{key}: took {took:?}");
                // And the same batch with the keys' remaining lives: one script call per slot.
                let filling = clock.elapsed();
                let composed: Vec<String> = (0..20)
                    .map(|j| probe[((n + j * 197) % KEYS as u64) as usize].clone())
                    .collect();
                let filled = filler
                    .get_many_with_expiry(&composed)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("get_many_with_expiry during the resharding failed: {e:?}")
                    });
                assert!(filled.iter().all(Option::is_some), "{composed:?}");
                let fill_took = clock.elapsed() - filling;
                assert!(
                    fill_took < CALL_BOUND,
                    "get_many_with_expiry took {fill_took:?}"
                );
                outcomes.lock().unwrap().push(Outcome {
                    at,
                    took,
                    error: None,
                });
            }
        }));
    }

    let slots = 2000;
    let started = clock.elapsed();
    tokio::task::block_in_place(|| cluster.reshard(from, to, slots)).unwrap();
    let resharding = clock.elapsed() - started;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let during: Vec<Outcome> = outcomes
        .iter()
        .copied()
        .filter(|o| o.at >= started && o.at < started + resharding)
        .collect();
    assert!(!during.is_empty(), "no read ran during the resharding");

    // The slots did move, and everything is still there, read and written by the same handle.
    let moved_after = probe
        .iter()
        .filter(|key| cluster.master_of_key(key).unwrap() == from)
        .count();
    assert!(
        moved_after < moved_before,
        "{moved_before} keys on the source before, {moved_after} after"
    );
    check_all(&cache, KEYS).await;
    assert_eq!(cache.delete_many(&["key-0", "key-1"]).await.unwrap(), 2);
    assert_eq!(cache.clear().await.unwrap(), KEYS as u64 - 2);

    eprintln!(
        "resharding: {slots} slots ({} of {KEYS} keys) moved in {resharding:?}; reads during \
         it (a get_many of 20 keys, a get, and a get_many_with_expiry of the same 20 each): {}",
        moved_before - moved_after,
        summary(&during),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_multi_key_calls_across_masters() {
    let password = "cl-s3cr3t";
    let cluster = match RedisCluster::start_with_password(password) {
        Ok(cluster) => cluster,
        Err(e) => panic!("{e}"),
    };
    let hosts: Vec<String> = cluster
        .ports()
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();

    // The password in the URL, once for every seed.
    let url = format!("redis+cluster://:{password}@{}", hosts.join(","));
    let backend = RedisBackend::connect(&url).await.unwrap();
    let shown = format!("{backend:?}");
    assert!(!shown.contains(password), "{shown}");
    assert!(shown.contains("cluster: true"), "{shown}");

    // The seeds as URLs, the password apart; one seed is enough.
    let seeded = RedisBackend::builder()
        .with_cluster_urls([format!("redis://127.0.0.1:{}", cluster.ports()[3])])
        .with_password(password)
        .build()
        .await
        .unwrap();
    let shown = format!("{seeded:?}");
    assert!(!shown.contains(password), "{shown}");

    // A wrong password is a configuration error, and says nothing of the password.
    for wrong in [
        RedisBackend::builder().with_url(format!("redis+cluster://:nope@{}", hosts[0])),
        RedisBackend::builder()
            .with_cluster_urls(cluster.urls())
            .with_password("nope"),
    ] {
        let err = wrong.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        assert!(!format!("{err} {err:?}").contains(password));
    }

    // Keys on every master: batches split by slot, answers in the caller's order.
    let keys: Vec<String> = (0..300).map(|i| format!("multi:{i}")).collect();
    let masters: std::collections::BTreeSet<u16> = keys
        .iter()
        .map(|key| cluster.master_of_key(key).unwrap())
        .collect();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let entries: Vec<(String, Bytes)> = keys
        .iter()
        .map(|key| (key.clone(), Bytes::from(format!("v-{key}"))))
        .collect();
    assert_eq!(
        backend.set_many(&entries, Expiry::Never).await.unwrap(),
        Vec::<usize>::new()
    );
    // Every other key asked is missing; the written ones come from the other handle.
    let asked: Vec<String> = keys
        .iter()
        .flat_map(|key| [key.clone(), format!("{key}:missing")])
        .collect();
    let found = seeded.get_many(&asked).await.unwrap();
    assert_eq!(found.len(), asked.len());
    for (key, value) in asked.iter().zip(&found) {
        let expected = (!key.ends_with(":missing")).then(|| Bytes::from(format!("v-{key}")));
        assert_eq!(value, &expected, "{key}");
    }
    // A key given twice is deleted (and counted) once.
    let mut doomed: Vec<String> = keys[..100].to_vec();
    doomed.push(keys[0].clone());
    doomed.push("multi:absent".to_owned());
    assert_eq!(backend.delete_many(&doomed).await.unwrap(), 100);
    // `clear` scans every master, and only the prefix.
    backend
        .set(
            "other:1",
            Bytes::from_static(b"x"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();
    assert_eq!(backend.clear("multi:").await.unwrap(), 200);
    assert!(backend.has_key("other:1").await.unwrap());
    backend.flush_db().await.unwrap();
    assert!(!seeded.has_key("other:1").await.unwrap());
}
