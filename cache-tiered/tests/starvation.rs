//! A task that does nothing but L1 hits, on a current-thread runtime, must not starve the
//! listener: the confirmations keep coming, the hits stay confirmed and L1 stays trusted.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cachette_api::{Bytes, CacheBackend, Expiry, SetOptions};
use cachette_memory::MemoryBackend;
use cachette_tiered::{LocalInvalidation, TieredLayer};

const HEARTBEAT: Duration = Duration::from_millis(20);
/// Long enough that a machine shared with a build does not distrust L1 by itself; the loop
/// below runs longer than the heartbeat plus this, so a starved listener is caught either way.
const NETWORK_TIMEOUT: Duration = Duration::from_millis(200);
/// How long the loop of hits runs: more than the heartbeat plus the network timeout.
const HITTING: Duration = Duration::from_millis(600);

#[tokio::test(flavor = "current_thread")]
async fn a_task_doing_only_l1_hits_does_not_starve_the_heartbeat() {
    let layer = TieredLayer::builder(MemoryBackend::new(), MemoryBackend::new())
        .with_invalidation(Arc::new(LocalInvalidation::new()))
        .with_heartbeat_interval(HEARTBEAT)
        .with_network_timeout(NETWORK_TIMEOUT)
        .build()
        .await
        .unwrap();
    let minute = SetOptions::new(Expiry::After(Duration::from_secs(60)));
    layer
        .set("k", Bytes::from_static(b"v"), minute)
        .await
        .unwrap();
    let before = layer.stats();

    // Nothing but L1 hits: no sleep, no other await, as a hot read path.
    let started = Instant::now();
    let mut hits = 0u64;
    while started.elapsed() < HITTING {
        let value = layer.get("k").await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"v"[..]), "after {hits} hits");
        hits += 1;
    }

    let after = layer.stats();
    println!("{hits} L1 hits in {HITTING:?}: {after:?}");
    assert_eq!(
        after.l1_hits - before.l1_hits,
        hits,
        "every read from L1: {after:?}"
    );
    assert_eq!(
        after.l1_misses, before.l1_misses,
        "L1 stayed trusted: {after:?}"
    );
    assert_eq!(after.disconnects, 0, "{after:?}");
    assert_eq!(after.reconnects, 0, "{after:?}");
    // A confirmation lands a little after its heartbeat (the timer's millisecond, the turn of
    // the hitting task): the hits of that gap are counted unconfirmed, a few per heartbeat.
    // Starved, all but the first heartbeat's would be.
    let unconfirmed = after.unconfirmed_hits - before.unconfirmed_hits;
    assert!(
        unconfirmed * 10 < hits,
        "{unconfirmed} of {hits} hits unconfirmed: {after:?}"
    );
    layer.close().await.unwrap();
}
