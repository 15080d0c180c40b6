//! Helpers shared by the Redis integration tests: a private server, and a connection of the
//! `redis` crate itself to look at what the backend stored.

// Each test file uses its own subset of these.
#![allow(dead_code)]

use cache_test_support::RedisServer;
use std::collections::HashMap;

use redis::aio::MultiplexedConnection;

/// A private `redis-server` with `args`; the test fails with the support's message (what to
/// install) when it cannot start.
pub(crate) fn start(args: &[&str]) -> RedisServer {
    match RedisServer::start_with(args) {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

/// A connection of the `redis` crate itself, outside the backend under test.
pub(crate) async fn raw(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Sends one raw command, `args[0]` being its name.
pub(crate) async fn raw_cmd<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    args: &[&str],
) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn).await.unwrap()
}

/// `INFO commandstats` as command name → calls, leaving out the commands of the raw
/// connection that reads them.
pub(crate) async fn command_calls(conn: &mut MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = raw_cmd(conn, &["INFO", "commandstats"]).await;
    cache_test_support::command_calls(&info)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("info") && !name.starts_with("config"))
        .collect()
}

pub(crate) async fn reset_stats(conn: &mut MultiplexedConnection) {
    raw_cmd::<()>(conn, &["CONFIG", "RESETSTAT"]).await;
}
pub(crate) mod load;
