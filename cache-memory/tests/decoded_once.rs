//! `Cache::get_shared` on the memory backend: each stored value is decoded once, and every
//! read of it until the next change shares that one decoded value.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_memory::MemoryBackend;

#[tokio::test]
async fn reads_share_one_decoded_value_until_the_entry_changes() {
    let cache = MemoryBackend::new().cache();
    cache.set("k", "one").await.unwrap();
    let first = cache.get_shared::<String>("k").await.unwrap().unwrap();
    let again = cache.get_shared::<String>("k").await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &again), "decoded once");
    // Another type is decoded apart, and does not displace the first.
    let bytes = cache.get_shared::<Vec<u8>>("k").await;
    assert!(
        bytes.is_err(),
        "a string is not a Vec<u8> in MessagePack: {bytes:?}"
    );
    let after_other = cache.get_shared::<String>("k").await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &after_other));

    // `touch` changes the life, not the value: still the same decoded value.
    assert!(cache.touch("k").await.unwrap());
    let touched = cache.get_shared::<String>("k").await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &touched),
        "touch keeps the decoded value"
    );

    cache.set("k", "two").await.unwrap();
    let second = cache.get_shared::<String>("k").await.unwrap().unwrap();
    assert_eq!(second.as_str(), "two");
    assert!(Arc::ptr_eq(
        &second,
        &cache.get_shared::<String>("k").await.unwrap().unwrap()
    ));

    cache.set("n", &1_i64).await.unwrap();
    assert_eq!(*cache.get_shared::<i64>("n").await.unwrap().unwrap(), 1);
    cache.incr("n", 1).await.unwrap();
    assert_eq!(*cache.get_shared::<i64>("n").await.unwrap().unwrap(), 2);
}

/// Through `Arc<MemoryBackend>` (the contract's forwarding impl for smart pointers), the
/// entries' decoded values are still shared.
#[tokio::test]
async fn the_forwarding_impl_keeps_the_decoded_values() {
    let backend: cachette_api::DynCacheBackend = Arc::new(Arc::new(MemoryBackend::new()));
    let cache = cachette_api::Cache::new(backend);
    cache.set("k", "one").await.unwrap();
    let first = cache.get_shared::<String>("k").await.unwrap().unwrap();
    let again = cache.get_shared::<String>("k").await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &again));
}
