//! The conformance suite through Redis Sentinel: a primary, a replica and three sentinels,
//! started by the test support on free loopback ports (killed when this test process exits),
//! the backend connected with a `redis+sentinel://` URL carrying a data password and a
//! separate sentinel password. A missing `redis-server` fails every case with a message
//! saying what to install; nothing is skipped.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use cache_test_support::RedisSentinel;
use cachette_api::DynCacheBackend;
use cachette_redis::RedisBackend;

/// One deployment for the whole test process.
fn url() -> String {
    static DEPLOYMENT: OnceLock<Result<RedisSentinel, String>> = OnceLock::new();
    match DEPLOYMENT.get_or_init(|| RedisSentinel::start_with(Some("data-pw"), Some("sentinel-pw")))
    {
        Ok(deployment) => deployment.url(),
        Err(e) => panic!("cannot start the test Sentinel deployment: {e}"),
    }
}

async fn backend() -> DynCacheBackend {
    let url = tokio::task::spawn_blocking(url).await.unwrap();
    match RedisBackend::connect(&url).await {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect through the test sentinels: {err}"),
    }
}

mod redis_sentinel {
    cachette_conformance::conformance_suite!("redis", super::backend);
}
