//! The conformance suite with reads going to a replica: a primary and one replica, started by
//! the test support on free loopback ports (killed when this test process exits), the backend
//! given the replica with `with_replica_urls`.
//!
//! Nearly every case writes a key and reads it back at once, which a replica may not have
//! received yet (replication lag): so the whole suite runs with read-your-writes on (one
//! second), as a caller that needs those guarantees would. The reads of keys this handle did
//! not write within that second (misses, the reads after the expiry waits, other prefixes) go
//! to the replica. `cache-redis/tests/replicas.rs` checks which node answers what.
//! A missing `redis-server` fails every case with a message saying what to install.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_test_support::RedisServer;
use cachette_api::DynCacheBackend;
use cachette_redis::RedisBackend;

/// The read-your-writes window of the suite.
const READ_YOUR_WRITES: Duration = Duration::from_secs(1);

/// One primary and one replica for the whole test process: their URLs.
fn urls() -> (String, String) {
    static SERVERS: OnceLock<Result<(RedisServer, RedisServer), String>> = OnceLock::new();
    let servers = SERVERS.get_or_init(|| {
        let primary = RedisServer::start()?;
        let replica = RedisServer::start_replica_of(&primary, None, &[])?;
        Ok((primary, replica))
    });
    match servers {
        Ok((primary, replica)) => (primary.url(), replica.url()),
        Err(e) => panic!("cannot start the test primary and replica: {e}"),
    }
}

async fn backend() -> DynCacheBackend {
    let (primary, replica) = tokio::task::spawn_blocking(urls).await.unwrap();
    let built = RedisBackend::builder()
        .with_url(primary)
        .with_replica_urls([replica])
        .with_read_your_writes(READ_YOUR_WRITES)
        .build()
        .await;
    match built {
        Ok(backend) => Arc::new(backend),
        Err(err) => panic!("cannot connect to the test primary and replica: {err}"),
    }
}

mod redis_replicas {
    cachette_conformance::conformance_suite!("redis", super::backend);
}
