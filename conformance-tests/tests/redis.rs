//! The conformance suite against a real Redis server.
//!
//! The server is started by the test support on a free loopback port (persistence off, killed
//! when this test process exits), or is the one named by `CACHE_TEST_REDIS_URL`. A missing
//! `redis-server` fails every case with a message saying what to install; nothing is skipped.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::DynCacheBackend;
use cachette_redis::RedisBackend;

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_redis_url();
    match RedisBackend::connect(&url).await {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test Redis server: {err}"),
    }
}

mod redis {
    cachette_conformance::conformance_suite!("redis", super::backend);
}

/// A backend connected on the blocking handle's runtime, as a program without a runtime of
/// its own connects it (`cachette::blocking::from_url`): its connection lives there.
async fn blocking_backend() -> DynCacheBackend {
    let url = cache_test_support::shared_redis_url();
    let runtime = match cachette_api::blocking::Runtime::shared() {
        Ok(runtime) => runtime,
        Err(err) => panic!("cannot start the blocking runtime: {err}"),
    };
    match runtime.block_on(RedisBackend::connect(&url)) {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test Redis server: {err}"),
    }
}

mod blocking_redis {
    cachette_conformance::blocking_conformance_suite!("redis", super::blocking_backend);
}
