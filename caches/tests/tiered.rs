//! The tiered cache from a URL (feature `tiered`): `l1_max_entries=` on a Redis URL builds an
//! in-process L1 over that server, coherent across instances by pub/sub invalidation.

#![cfg(feature = "tiered")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cache_test_support::RedisServer;
use cachette::{CacheConfig, ErrorKind};

#[tokio::test]
async fn a_redis_url_with_l1_max_entries_builds_a_coherent_tiered_cache() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "{}?prefix=tiered-url&l1_max_entries=1000&l1_max_ttl=30s",
        server.url()
    );
    let a = cachette::from_url(&url).await.unwrap();
    let b = cachette::from_url(&url).await.unwrap();
    assert_eq!(a.backend().name(), "tiered");
    a.set("quote", &1).await.unwrap();
    assert_eq!(b.get::<i32>("quote").await.unwrap(), Some(1)); // now in b's L1
    a.set("quote", &2).await.unwrap();
    // b's L1 copy is invalidated by a's publication: wait for it, bounded.
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if b.get::<i32>("quote").await.unwrap() == Some(2) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "b kept serving the old value");
}

#[tokio::test]
async fn tiered_options_are_checked() {
    let err = CacheConfig::from_url(
        "redis+cluster://127.0.0.1:1,127.0.0.1:2?l1_max_entries=10&connect_timeout=100ms",
    )
    .unwrap()
    .build()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    assert!(err.message().contains("not a cluster"), "{err}");
    let err = CacheConfig::from_url("memory://?l1_max_entries=10")
        .unwrap()
        .build()
        .await
        .unwrap_err();
    assert!(err.message().contains("does not apply"), "{err}");
    let err = CacheConfig::from_url("redis://h/0?l1_max_entries=0").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
