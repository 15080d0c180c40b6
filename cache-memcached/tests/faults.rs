//! Faults against real memcached servers started for these tests: a server killed and
//! restarted under load, one of three servers down, a frozen server, an item over the server's
//! size limit. Every wait is bounded; nothing sleeps a fixed time to let something happen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_test_support::MemcachedServer;
use cachette_api::{CacheBackend, ErrorKind, Expiry, SetOptions};
use cachette_memcached::MemcachedBackend;

const BOUND: Duration = Duration::from_secs(20);

fn backend(url: &str) -> MemcachedBackend {
    MemcachedBackend::builder()
        .with_url(url)
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn minute() -> SetOptions {
    SetOptions::new(Expiry::After(Duration::from_secs(60)))
}

/// Waits (bounded) until `check` holds, polling.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + BOUND;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unavailable: AtomicU64,
    timeout: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_under_load_recovers_and_never_answers_wrong() {
    let mut server = MemcachedServer::start().unwrap();
    let backend = Arc::new(backend(&server.url()));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..16 {
        let (backend, tally, stop) = (backend.clone(), tally.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("load:{task}");
            let mut round = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let value = Bytes::from(round.to_string());
                let result = async {
                    backend.set(&key, value.clone(), minute()).await?;
                    backend.get(&key).await
                }
                .await;
                match result {
                    // Our own key, just written: that value, or nothing after a restart.
                    Ok(got) => {
                        assert!(got.is_none() || got == Some(value), "{key}: {got:?}");
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == ErrorKind::Unavailable => {
                        assert!(e.is_temporary(), "{e}");
                        tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == ErrorKind::Timeout => {
                        tally.timeout.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("unexpected error under faults: {e:#}"),
                }
            }
        }));
    }
    let ok = || tally.ok.load(Ordering::Relaxed);
    let failed =
        || tally.unavailable.load(Ordering::Relaxed) + tally.timeout.load(Ordering::Relaxed);
    let before = ok();
    eventually("load runs", || async { ok() > before + 100 }).await;
    server.kill().unwrap();
    let failed_before = failed();
    eventually("calls fail while the server is down", || async {
        failed() > failed_before + 50
    })
    .await;
    let down_at = Instant::now();
    server.restart().unwrap();
    let after_restart = ok();
    eventually("calls succeed again after the restart", || async {
        ok() > after_restart + 200
    })
    .await;
    let recovered_in = down_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "kill/restart under load: {} ok, {} unavailable, {} timeouts; 200 successes {:?} after the restart",
        ok(),
        tally.unavailable.load(Ordering::Relaxed),
        tally.timeout.load(Ordering::Relaxed),
        recovered_in
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_servers_down_fails_only_its_keys() {
    let mut servers: Vec<MemcachedServer> =
        (0..3).map(|_| MemcachedServer::start().unwrap()).collect();
    let url = format!(
        "memcached://{}",
        servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let backend = backend(&url);
    let keys: Vec<String> = (0..300).map(|i| format!("spread:{i}")).collect();
    let entries: Vec<(String, Bytes)> = keys
        .iter()
        .map(|k| (k.clone(), Bytes::from(k.clone())))
        .collect();
    assert!(backend
        .set_many(&entries, Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap()
        .is_empty());
    servers[1].kill().unwrap();
    let (mut alive, mut failed) = (0, 0);
    for key in &keys {
        match backend.get(key).await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some(key.as_bytes()));
                alive += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                failed += 1;
            }
        }
    }
    // Rendezvous hashing spreads 300 keys about evenly: the dead server held about a third.
    assert!(
        (50..150).contains(&failed),
        "{alive} alive, {failed} failed"
    );
    let batch = backend.get_many(&keys).await.unwrap_err();
    assert_eq!(batch.kind(), ErrorKind::Unavailable);
    servers[1].restart().unwrap();
    // Its keys come back empty (memcached keeps nothing across a restart), then work again.
    let mut missing = 0;
    for (key, slot) in keys.iter().zip(backend.get_many(&keys).await.unwrap()) {
        match slot {
            Some(value) => assert_eq!(value.as_ref(), key.as_bytes()),
            None => missing += 1,
        }
    }
    assert_eq!(missing, failed);
    assert_eq!(backend.clear("spread:").await.unwrap(), alive as u64);
    println!("one of three down: {alive} keys served, {failed} unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_a_timeout_within_the_bound() {
    let server = MemcachedServer::start().unwrap();
    let backend = backend(&server.url());
    backend
        .set("k", Bytes::from_static(b"v"), minute())
        .await
        .unwrap();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let began = Instant::now();
    let err = backend.get("k").await.unwrap_err();
    let waited = began.elapsed();
    signal("-CONT");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_temporary());
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // The connection that timed out was dropped: the next call reads its own reply.
    assert_eq!(backend.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_servers_item_limit_is_too_large_and_the_old_value_is_gone() {
    // memcached's default item size limit: 1 MiB.
    let server = MemcachedServer::start().unwrap();
    let backend = backend(&server.url());
    let big = Bytes::from(vec![b'x'; 2 * 1024 * 1024]);
    backend
        .set("k", Bytes::from_static(b"old"), minute())
        .await
        .unwrap();
    let err = backend.set("k", big.clone(), minute()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(backend.get("k").await.unwrap(), None);
    // The connection stays in step: the next reply is the next command's.
    backend
        .set("k", Bytes::from_static(b"new"), minute())
        .await
        .unwrap();
    let entries = vec![
        ("a".to_owned(), Bytes::from_static(b"1")),
        ("k".to_owned(), big),
    ];
    let failed = backend
        .set_many(&entries, Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(failed, [1]);
    assert_eq!(backend.get("k").await.unwrap(), None);
    assert_eq!(backend.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    let err = backend
        .add_or_get("big", Bytes::from(vec![b'y'; 2 << 20]), Expiry::Never)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

#[tokio::test]
async fn a_closed_backend_refuses_calls() {
    let server = MemcachedServer::start().unwrap();
    let backend = backend(&server.url());
    backend.ping().await.unwrap();
    backend.close().await.unwrap();
    let err = backend.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let mut server = MemcachedServer::start().unwrap();
    let url = server.url();
    server.kill().unwrap();
    let err = MemcachedBackend::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
}
