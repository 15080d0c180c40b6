//! The conformance suite against the tiered layer: a fresh in-process L1 over a Redis L2 on a
//! real redis-server, with its Redis pub/sub invalidation channel subscribed.
//!
//! Each case gets its own backend and its own channel, so that cases running in parallel do
//! not invalidate each other's L1; cross-instance coherence is tested in `cache-tiered/tests`.
//!
//! `tiered_in_process` runs the suite again on the layer over two memory backends with an
//! in-process channel: the layer sees only the contracts, whatever is beneath it.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::DynCacheBackend;
use cachette_memory::MemoryBackend;
use cachette_redis::{RedisBackend, RedisInvalidation};
use cachette_tiered::{LocalInvalidation, TieredLayer};

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_redis_url();
    let l2 = match RedisBackend::connect(&url).await {
        Ok(l2) => l2,
        Err(err) => panic!("cannot connect to the test Redis server: {err}"),
    };
    let name = format!("conformance:tiered:{:032x}", rand::random::<u128>());
    let channel = match RedisInvalidation::connect(&url, name).await {
        Ok(channel) => Arc::new(channel),
        Err(err) => panic!("cannot connect the invalidation channel: {err}"),
    };
    match TieredLayer::builder(MemoryBackend::new(), l2)
        .with_invalidation(channel)
        .build()
        .await
    {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot build the tiered layer: {err}"),
    }
}

mod tiered {
    cachette_conformance::conformance_suite!("tiered", super::backend);
}

async fn in_process() -> DynCacheBackend {
    match TieredLayer::builder(MemoryBackend::new(), MemoryBackend::new())
        .with_invalidation(Arc::new(LocalInvalidation::new()))
        .build()
        .await
    {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot build the tiered layer: {err}"),
    }
}

mod tiered_in_process {
    cachette_conformance::conformance_suite!("tiered", super::in_process);
}
