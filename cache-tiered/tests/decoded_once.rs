//! L1 hits through `Cache::get_shared`: each L1 entry is decoded once, and every hit on it
//! shares that decoded value; a change made by another instance (a new entry) is decoded anew.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cachette_api::Cache;
use cachette_memory::MemoryBackend;
use cachette_tiered::{LocalInvalidation, TieredLayer};

/// How long a test waits for an invalidation before it fails.
const WAIT_BOUND: Duration = Duration::from_secs(10);

async fn instance(l2: &MemoryBackend, channel: &LocalInvalidation) -> (TieredLayer, Cache) {
    let layer = TieredLayer::builder(MemoryBackend::new(), l2.clone())
        .with_invalidation(Arc::new(channel.clone()))
        .build()
        .await
        .unwrap();
    let cache = layer.cache();
    (layer, cache)
}

/// Reads `key` until two reads in a row share one decoded value (the first read after a
/// change may come from L2, which keeps no decoded value), and answers it.
async fn settled(cache: &Cache, key: &str) -> Arc<String> {
    let deadline = Instant::now() + WAIT_BOUND;
    let mut last = cache.get_shared::<String>(key).await.unwrap().unwrap();
    loop {
        let next = cache.get_shared::<String>(key).await.unwrap().unwrap();
        if Arc::ptr_eq(&last, &next) {
            return next;
        }
        assert!(Instant::now() < deadline, "{key}: no shared value");
        last = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_hits_share_one_decoded_value_until_the_entry_changes() {
    let l2 = MemoryBackend::new();
    let channel = LocalInvalidation::new();
    let (a, cache_a) = instance(&l2, &channel).await;
    let (_b, cache_b) = instance(&l2, &channel).await;

    cache_a.set("k", "one").await.unwrap();
    let hits = a.stats().l1_hits;
    let first = cache_a.get_shared::<String>("k").await.unwrap().unwrap();
    let again = cache_a.get_shared::<String>("k").await.unwrap().unwrap();
    assert_eq!(first.as_str(), "one");
    assert!(Arc::ptr_eq(&first, &again), "one decode for two L1 hits");
    assert_eq!(a.stats().l1_hits, hits + 2, "{:?}", a.stats());

    cache_b.set("k", "two").await.unwrap();
    let deadline = Instant::now() + WAIT_BOUND;
    while cache_a.get_shared::<String>("k").await.unwrap().as_deref() != Some(&"two".to_owned()) {
        assert!(Instant::now() < deadline, "the invalidation never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = settled(&cache_a, "k").await;
    assert_eq!(second.as_str(), "two");
    assert!(!Arc::ptr_eq(&first, &second));
}
