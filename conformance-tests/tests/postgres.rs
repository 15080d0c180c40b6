//! The conformance suite against a real PostgreSQL server.
//!
//! The server is started by the test support on a free loopback port (in a temporary
//! directory, as an unprivileged user when the tests run as root, stopped when this test
//! process exits), or is the one named by `CACHE_TEST_POSTGRES_URL`. Missing server binaries
//! fail every case with a message saying what to install; nothing is skipped.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::DynCacheBackend;
use cachette_postgres::PostgresBackend;

async fn backend() -> DynCacheBackend {
    let url = cache_test_support::shared_postgres_url();
    match PostgresBackend::connect(&url).await {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test PostgreSQL server: {err:#}"),
    }
}

mod postgres {
    cachette_conformance::conformance_suite!("postgres", super::backend);
}
