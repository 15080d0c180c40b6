//! The conformance suite against a real memcached server.
//!
//! The server is started by the test support on a free loopback port (`memcached -l 127.0.0.1
//! -p <port> -U 0`, killed when this test process exits), or is the one named by
//! `CACHE_TEST_MEMCACHED_URL`. A missing `memcached` fails every case with a message saying
//! what to install; nothing is skipped.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::DynCacheBackend;
use cachette_memcached::MemcachedBackend;

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_memcached_url();
    match MemcachedBackend::connect(&url).await {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test memcached server: {err}"),
    }
}

mod memcached {
    cachette_conformance::conformance_suite!("memcached", super::backend);
}
