//! The layer against a frozen server (`SIGSTOP`): every change returns within its documented
//! bound (L2's bound plus the network timeout), and the L1 hits served while the channel's
//! confirmation is late are counted apart (`unconfirmed_hits`), never beyond the heartbeat
//! plus the network timeout.
//!
//! The figures printed (run with `--nocapture`) are those quoted in `docs/tiered.md`.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, ErrorKind, Expiry, SetOptions};
use cachette_memory::MemoryBackend;
use cachette_redis::{RedisBackend, RedisInvalidation};
use cachette_tiered::TieredLayer;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
const NETWORK_TIMEOUT: Duration = Duration::from_millis(300);
const HEARTBEAT: Duration = Duration::from_millis(100);

/// What scheduling may add on a loaded machine (two cores shared with a build).
const SLACK: Duration = Duration::from_millis(250);

/// How long a test waits for a condition before it fails.
const WAIT_BOUND: Duration = Duration::from_secs(10);

/// Resumes a frozen server when dropped, so that a failed assertion leaves nothing frozen
/// (the server is killed on its own drop in any case).
struct Frozen<'a>(&'a RedisServer);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let _ = self.0.cont_signal();
    }
}

fn start() -> RedisServer {
    match RedisServer::start() {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

async fn layer(url: &str, channel: &str) -> TieredLayer {
    let l2 = RedisBackend::builder()
        .with_url(url)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_response_timeout(RESPONSE_TIMEOUT)
        .build()
        .await
        .unwrap();
    let channel = RedisInvalidation::builder(url, channel)
        .with_timeout(NETWORK_TIMEOUT)
        .build()
        .await
        .unwrap();
    TieredLayer::builder(MemoryBackend::new(), l2)
        .with_invalidation(Arc::new(channel))
        .with_heartbeat_interval(HEARTBEAT)
        .with_network_timeout(NETWORK_TIMEOUT)
        .build()
        .await
        .unwrap()
}

fn minute() -> Expiry {
    Expiry::After(Duration::from_secs(60))
}

async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT_BOUND;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_against_a_frozen_server_return_within_their_bound() {
    let server = start();
    let url = server.url();
    let a = layer(&url, "bound").await;
    a.set("k", Bytes::from_static(b"v0"), SetOptions::new(minute()))
        .await
        .unwrap();
    // The documented bound: L2's (connect + response timeout), then the publication's.
    let bound = CONNECT_TIMEOUT + RESPONSE_TIMEOUT + NETWORK_TIMEOUT;

    server.stop_signal().unwrap();
    let frozen = Frozen(&server);
    let mut worst = Duration::ZERO;
    for op in ["set", "set_many", "delete", "incr", "touch", "clear"] {
        let started = Instant::now();
        let result = match op {
            "set" => a
                .set("k", Bytes::from_static(b"v1"), SetOptions::new(minute()))
                .await
                .map(|_| ()),
            "set_many" => a
                .set_many(&[("k".to_owned(), Bytes::from_static(b"v2"))], minute())
                .await
                .map(|_| ()),
            "delete" => a.delete("k").await.map(|_| ()),
            "incr" => a.incr("n", 1).await.map(|_| ()),
            "touch" => a.touch("k", minute()).await.map(|_| ()),
            _ => a.clear("").await.map(|_| ()),
        };
        let took = started.elapsed();
        worst = worst.max(took);
        println!("tiered {op} against a frozen server: {took:?}, {result:?}");
        let err = result.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
            "{op}: {err:?}"
        );
        assert!(
            took <= bound + SLACK,
            "{op} took {took:?}, over its bound of {bound:?} (+{SLACK:?})"
        );
    }
    let stats = a.stats();
    println!("worst change {worst:?} (bound {bound:?}); {stats:?}");
    assert!(stats.publish_failures > 0, "{stats:?}");

    drop(frozen);
    // Once the server is back, the layer works again without being rebuilt.
    eventually("the channel is back", || async { a.channel_connected() }).await;
    a.set("k", Bytes::from_static(b"v3"), SetOptions::new(minute()))
        .await
        .unwrap();
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"v3"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_while_the_channel_is_unconfirmed_are_counted_apart() {
    let server = start();
    let url = server.url();
    let b = layer(&url, "unconfirmed").await;
    b.set("k", Bytes::from_static(b"v"), SetOptions::new(minute()))
        .await
        .unwrap();
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    // Let a confirmation come, so that the window starts from a known state.
    let confirmed = b.stats();
    assert_eq!(confirmed.unconfirmed_hits, 0, "{confirmed:?}");

    server.stop_signal().unwrap();
    let frozen = Frozen(&server);
    let stopped = Instant::now();
    let mut last_hit = None;
    let mut hits = 0u64;
    loop {
        let read_at = Instant::now();
        match b.get("k").await {
            Ok(Some(_)) => {
                hits += 1;
                last_hit = Some(read_at.duration_since(stopped));
            }
            // Once L1 is no longer trusted, the read goes to the frozen L2.
            Err(err) => {
                assert!(
                    matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
                    "{err:?}"
                );
                break;
            }
            Ok(None) => panic!("the key vanished"),
        }
        assert!(
            read_at.duration_since(stopped) < HEARTBEAT + NETWORK_TIMEOUT + SLACK,
            "L1 still served {:?} after the server froze",
            read_at.duration_since(stopped)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stats = b.stats();
    println!(
        "frozen server: {hits} L1 hits, the last {last_hit:?} after SIGSTOP; {} counted \
         unconfirmed; {stats:?}",
        stats.unconfirmed_hits
    );
    assert!(stats.unconfirmed_hits > 0, "{stats:?}");
    assert!(stats.unconfirmed_hits <= hits, "{stats:?}");
    assert_eq!(
        stats.stale_hits, 0,
        "L2Only serves nothing stale: {stats:?}"
    );

    drop(frozen);
    eventually("the channel is back", || async { b.channel_connected() }).await;
    let before = b.stats().unconfirmed_hits;
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(b.stats().unconfirmed_hits, before, "healthy again");
}
