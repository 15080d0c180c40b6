//! The conformance suite against a real Redis Cluster: three masters with a replica each.
//!
//! The cluster is started by the test support on free loopback ports (persistence off, killed
//! when this test process exits), or is the one named by `CACHE_TEST_REDIS_CLUSTER_URL`. A
//! missing `redis-server` or `redis-cli` fails every case with a message saying what to
//! install; nothing is skipped.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::DynCacheBackend;
use cachette_redis::RedisBackend;

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_cluster_url();
    match RedisBackend::connect(&url).await {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test Redis Cluster: {err}"),
    }
}

mod redis_cluster {
    cachette_conformance::conformance_suite!("redis", super::backend);
}
