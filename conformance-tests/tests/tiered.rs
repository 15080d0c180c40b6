//! The conformance suite against the tiered backend: a fresh in-process L1 over a Redis L2 on
//! a real redis-server, with its invalidation channel subscribed.
//!
//! Each case gets its own backend and its own channel, so that cases running in parallel do
//! not invalidate each other's L1; cross-instance coherence is tested in `cache-tiered/tests`.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cache_api::DynCacheBackend;
use cache_memory::MemoryBackend;
use cache_redis::RedisBackend;
use cache_tiered::TieredBackend;

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_redis_url();
    let l2 = match RedisBackend::connect(&url).await {
        Ok(l2) => Arc::new(l2),
        Err(err) => panic!("cannot connect to the test Redis server: {err}"),
    };
    let channel = format!("conformance:tiered:{:032x}", rand::random::<u128>());
    match TieredBackend::builder(MemoryBackend::new(), l2)
        .with_redis_invalidation(&url, channel)
        .build()
        .await
    {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot build the tiered backend: {err}"),
    }
}

mod tiered {
    conformance_tests::conformance_suite!("tiered", super::backend);
}
