//! [`RedisBackend`]: the contract on one multiplexed, self-reconnecting Redis connection, or on
//! a Redis Cluster.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cache_api::{
    async_trait, Bytes, Cache, CacheBackend, CacheBuilder, Error, ErrorKind, Expiry, KeyTtl,
    Result, SetMode, SetOptions,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use crate::cluster;
use crate::error::{self, BACKEND};
use crate::watchdog::Watchdog;
use crate::RedisBackendBuilder;

/// How many keys one `SCAN` of [`CacheBackend::clear`] asks for.
const SCAN_COUNT: usize = 1000;

/// The longest expiry sent to Redis, in milliseconds (about 146 million years): Redis refuses
/// an expiry whose deadline does not fit in a signed 64-bit count of milliseconds, where the
/// memory backend keeps such an entry for good. Longer expiries are shortened to this one.
const MAX_EXPIRY_MS: u64 = 1 << 62;

/// The Redis backend, on the `redis` crate's [`ConnectionManager`] for one server, or its
/// [`ClusterConnection`] for a Redis Cluster.
///
/// All clones share one multiplexed connection (one per node on a cluster), on which many tasks
/// pipeline their commands.
/// When the connection drops (a server restart, a network failure), the calls in flight fail
/// with [`ErrorKind::Unavailable`], the next call reconnects, and the same backend works again
/// once the server is back: there is nothing to rebuild. No call waits longer than the connect
/// timeout plus the response timeout; a server that does not answer in time gives
/// [`ErrorKind::Timeout`].
///
/// Every operation is one round trip: `GET`, one `MGET`, `SET` with `PX` and `NX`/`XX`, one
/// pipeline of `SET`s, `UNLINK`, `PEXPIRE`, `EXISTS`, `PTTL`, and one Lua script for `incr`.
/// Only [`clear`](CacheBackend::clear) takes several (`SCAN` and `UNLINK` in batches): it never
/// runs `FLUSHDB`, which is [`flush_db`](RedisBackend::flush_db), named for what it does.
///
/// # Redis Cluster
///
/// A `redis+cluster://host1:7000,host2:7001` URL, or
/// [`with_cluster_urls`](RedisBackendBuilder::with_cluster_urls), connects to a cluster instead;
/// the backend behaves the same (the same conformance suite passes on both). Each command goes
/// to the master of its key's hash slot, and `MOVED`/`ASK` redirections (a resharding) and a
/// failover are followed within the call's time bound. The multi-key calls are split by slot and
/// the parts sent at once: `get_many` is one `MGET` and `delete_many` one `UNLINK` per slot,
/// `set_many` one `SET` per entry; `clear` scans every master. See `docs/cluster.md`.
///
/// # Cancel safety
///
/// A call dropped before it completes (a `select!`, a timeout) may or may not have reached the
/// server. The batch writes are not transactions: a cancelled or failed `set_many` may have
/// written some of its entries, and a cancelled `clear` may have deleted some batches. Each
/// single-key operation, `incr` included, is applied entirely or not at all.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_api::Result<()> {
/// use cache_redis::RedisBackend;
///
/// let backend = RedisBackend::connect("redis://127.0.0.1:6379/0").await?;
/// let cache = backend.cache_builder().with_prefix("wheel_analyzer").build()?;
/// cache.set("scanner:last_run", "2025-11-10T14:00:00Z").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed.
    connection: RwLock<Option<Connection>>,
    /// The URL (or the cluster's seed URLs) with the password hidden.
    url: String,
    /// For a Redis Cluster: what replaces its connection when it stops answering.
    watchdog: Option<Watchdog>,
    connect_timeout: Duration,
    response_timeout: Duration,
    incr: redis::Script,
    /// The compare-and-delete script (`delete_if_value.lua`).
    delete_if_value: redis::Script,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.url)
            .field("cluster", &self.inner.watchdog.is_some())
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("response_timeout", &self.inner.response_timeout)
            .field("closed", &self.connection().is_err())
            .finish()
    }
}

/// The connection a backend holds: to one server, or to every node of a cluster.
#[derive(Clone)]
enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// The outer time bound a call needs on this connection, `None` when the connection
    /// bounds every call itself.
    ///
    /// The single-server connection manager applies its own response and connection
    /// timeouts to each request, so a second timer per call would only cost time (about 13%
    /// of throughput at 64 tasks, measured by `cache-bench`); the cluster client needs the
    /// outer bound (see [`Watchdog`]).
    fn outer_bound(&self, bound: Duration) -> Option<Duration> {
        match self {
            Connection::Server(_) => None,
            Connection::Cluster(_) => Some(bound),
        }
    }
}

/// Single-key commands, pipelines on one key and scripts run the same way on both.
impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

/// What [`RedisBackendBuilder::build`] hands over to connect.
// Both clients are large and one is made per `build`, then consumed: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Client {
    /// One server.
    Server(redis::Client),
    /// A Redis Cluster, from its seed nodes.
    Cluster {
        client: ClusterClient,
        /// A one-server client for each seed, to tell why the cluster client failed.
        seeds: Vec<redis::Client>,
    },
}

// Compile-time check: the backend crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RedisBackend>();
};

impl RedisBackend {
    /// A builder for the URL and the timeouts; see [`RedisBackendBuilder`].
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::new()
    }

    /// Connects to `url` with the default timeouts: `RedisBackend::builder().with_url(url)
    /// .build()`.
    ///
    /// # Errors
    /// As [`RedisBackendBuilder::build`].
    pub async fn connect(url: &str) -> Result<RedisBackend> {
        RedisBackendBuilder::new().with_url(url).build().await
    }

    /// Connects with a parsed client; called by [`RedisBackendBuilder::build`].
    pub(crate) async fn connect_client(
        client: Client,
        url: String,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<RedisBackend> {
        let bound = connect_timeout + response_timeout;
        let mut watchdog = None;
        let connection = match client {
            Client::Server(client) => {
                // No retries inside the manager: a call during an outage fails at once with
                // `Unavailable` rather than waiting through a backoff, and the next call
                // reconnects.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout))
                    .set_number_of_retries(0);
                Connection::Server(
                    bounded(
                        "opening the connection",
                        bound,
                        ConnectionManager::new_with_config(client, config),
                    )
                    .await?,
                )
            }
            // Connects to the seeds, reads the slot map (`CLUSTER SLOTS`) and connects to
            // every node.
            Client::Cluster { client, seeds } => {
                let command = "opening the cluster connections";
                let connection = match bounded(command, bound, client.get_async_connection()).await
                {
                    Ok(connection) => connection,
                    Err(err) => {
                        return Err(cluster::explain_connect_failure(
                            command,
                            err,
                            &seeds,
                            connect_timeout,
                            response_timeout,
                        )
                        .await)
                    }
                };
                watchdog = Some(Watchdog::new(client, connect_timeout, response_timeout));
                Connection::Cluster(connection)
            }
        };
        let backend = RedisBackend {
            inner: Arc::new(Inner {
                connection: RwLock::new(Some(connection)),
                url,
                watchdog,
                connect_timeout,
                response_timeout,
                incr: redis::Script::new(include_str!("incr.lua")),
                delete_if_value: redis::Script::new(include_str!("delete_if_value.lua")),
            }),
        };
        // The connection alone does not prove that commands are allowed: a server with a
        // password answers NOAUTH only now.
        backend.query::<Value>("PING", &redis::cmd("PING")).await?;
        Ok(backend)
    }

    /// A [`Cache`] with Django's defaults (no prefix, version 1, 300 s) over this backend.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(self.clone()))
    }

    /// A [`CacheBuilder`] over this backend, to set the prefix, version and default timeout.
    pub fn cache_builder(&self) -> CacheBuilder {
        Cache::builder(Arc::new(self.clone()))
    }

    /// Deletes every key of the database (`FLUSHDB`), whoever wrote it; on a cluster, of every
    /// master.
    ///
    /// Meant for tests on a private server; a [`Cache`]'s `clear` deletes only its own keys.
    ///
    /// # Errors
    /// The network errors of every call ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`]).
    pub async fn flush_db(&self) -> Result<()> {
        self.query("FLUSHDB", &redis::cmd("FLUSHDB")).await
    }

    /// The shared connection, or an error once closed.
    fn connection(&self) -> Result<Connection> {
        self.inner
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(error::closed)
    }

    /// The longest any call may take: one connection attempt and one answer.
    fn call_bound(&self) -> Duration {
        self.inner.connect_timeout + self.inner.response_timeout
    }

    /// Sends one command that changes nothing, and converts its reply.
    async fn query_read<T: FromRedisValue>(&self, command: &'static str, cmd: &Cmd) -> Result<T> {
        self.run(command, OnReplace::Retry, |mut conn, bound| async move {
            let bound = conn.outer_bound(bound);
            bounded(command, bound, cmd.query_async(&mut conn)).await
        })
        .await
    }

    /// Sends one command and converts its reply.
    async fn query<T: FromRedisValue>(&self, command: &'static str, cmd: &Cmd) -> Result<T> {
        self.run(command, OnReplace::Fail, |mut conn, bound| async move {
            let bound = conn.outer_bound(bound);
            bounded(command, bound, cmd.query_async(&mut conn)).await
        })
        .await
    }

    /// Sends one pipeline and converts its replies.
    async fn query_pipeline<T: FromRedisValue>(
        &self,
        command: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T> {
        self.run(command, OnReplace::Fail, |mut conn, bound| async move {
            let bound = conn.outer_bound(bound);
            bounded(command, bound, pipe.query_async(&mut conn)).await
        })
        .await
    }

    /// Runs a Lua script and converts its reply.
    async fn invoke<T: FromRedisValue>(
        &self,
        command: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        self.run(command, OnReplace::Fail, |mut conn, bound| async move {
            let bound = conn.outer_bound(bound);
            bounded(command, bound, invocation.invoke_async(&mut conn)).await
        })
        .await
    }

    /// Runs `op` with the connection and the time it may take (the call bound).
    ///
    /// On a cluster, under the [`Watchdog`]: when no answer has come after a short while, the
    /// connection is checked; if it was replaced meanwhile, a read (`on_replace` is
    /// [`OnReplace::Retry`]) runs again on the new one within what is left of the bound, and
    /// anything else fails with [`ErrorKind::Unavailable`].
    async fn run<'a, T, F, Fut>(&'a self, command: &str, on_replace: OnReplace, op: F) -> Result<T>
    where
        F: Fn(Connection, Duration) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let bound = self.call_bound();
        let Some(watchdog) = &self.inner.watchdog else {
            return op(self.connection()?, bound).await;
        };
        let deadline = Instant::now() + bound;
        let mut replacements = watchdog.subscribe();
        loop {
            let generation = *replacements.borrow_and_update();
            let conn = self.connection()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(error::from_redis(command, error::timed_out(bound)));
            }
            let call = op(conn, remaining);
            tokio::pin!(call);
            let probe = tokio::time::sleep(watchdog.probe_after());
            tokio::pin!(probe);
            let mut probed = false;
            loop {
                tokio::select! {
                    result = &mut call => {
                        if matches!(&result, Err(e) if e.kind() == ErrorKind::Timeout) {
                            self.check_cluster(generation);
                        }
                        return result;
                    }
                    () = &mut probe, if !probed => {
                        probed = true;
                        self.check_cluster(generation);
                    }
                    changed = replacements.changed() => {
                        if changed.is_ok() {
                            break;
                        }
                        // The watchdog lives as long as the backend: not reached. Wait for
                        // the call alone.
                        return call.await;
                    }
                }
            }
            if on_replace == OnReplace::Fail {
                return Err(error::replaced(command));
            }
        }
    }

    /// Checks, in the background, the cluster connection of `generation`, and replaces it if it
    /// does not answer; see [`Watchdog`].
    fn check_cluster(&self, generation: u64) {
        let Some(watchdog) = &self.inner.watchdog else {
            return;
        };
        if !watchdog.start() {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let Some(watchdog) = &inner.watchdog else {
                return;
            };
            let current = inner
                .connection
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let (Some(Connection::Cluster(conn)), true) =
                (current, watchdog.generation() == generation)
            {
                if !watchdog.answers(&conn).await {
                    if let Some(fresh) = watchdog.rebuild().await {
                        let mut slot = inner
                            .connection
                            .write()
                            .unwrap_or_else(PoisonError::into_inner);
                        // Not after `close`, and not over a connection replaced meanwhile.
                        if slot.is_some() && watchdog.generation() == generation {
                            *slot = Some(Connection::Cluster(fresh));
                            watchdog.replaced();
                            tracing::warn!(
                                backend = BACKEND,
                                "the cluster connection stopped answering: replaced it"
                            );
                        }
                    }
                }
            }
            watchdog.finish();
        });
    }
}

/// What a call does when its cluster connection is replaced before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnReplace {
    /// Run again on the new connection: for reads, which change nothing.
    Retry,
    /// Fail with [`ErrorKind::Unavailable`]: the call may or may not have been applied.
    Fail,
}

/// Runs `call`, failing with a timeout after `bound`; maps its error.
pub(crate) async fn bounded<T>(
    command: &str,
    bound: impl Into<Option<Duration>>,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T> {
    let Some(bound) = bound.into() else {
        return call.await.map_err(|e| error::from_redis(command, e));
    };
    let result = match tokio::time::timeout(bound, call).await {
        Ok(result) => result,
        Err(_) => Err(error::timed_out(bound)),
    };
    result.map_err(|e| error::from_redis(command, e))
}

/// The `PX` argument of an expiry, `None` for [`Expiry::Never`].
fn px(expiry: Expiry) -> Option<u64> {
    expiry.as_millis().map(|ms| ms.clamp(1, MAX_EXPIRY_MS))
}

/// `prefix`, with the glob characters of `SCAN MATCH` escaped, followed by `*`.
fn match_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Reads a reply that is 1 for yes and 0 for no.
fn flag(reply: i64) -> bool {
    reply > 0
}

fn count(reply: i64) -> u64 {
    u64::try_from(reply).unwrap_or(0)
}

#[async_trait]
impl CacheBackend for RedisBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.query_read("GET", redis::cmd("GET").arg(key)).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.run("MGET", OnReplace::Retry, |conn, bound| async move {
            let found: Vec<Option<Bytes>> = match conn {
                Connection::Cluster(conn) => cluster::get_many(&conn, keys, bound).await?,
                Connection::Server(mut conn) => {
                    let mut cmd = redis::cmd("MGET");
                    cmd.arg(keys);
                    // The connection manager bounds the call itself.
                    let _ = bound;
                    bounded("MGET", None, cmd.query_async(&mut conn)).await?
                }
            };
            if found.len() != keys.len() {
                return Err(error::unexpected(
                    "MGET",
                    format!("{} values for {} keys", found.len(), keys.len()),
                ));
            }
            Ok(found)
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value.as_ref());
        if let Some(ms) = px(options.expiry) {
            cmd.arg("PX").arg(ms);
        }
        match options.mode {
            SetMode::IfAbsent => {
                cmd.arg("NX");
            }
            SetMode::IfPresent => {
                cmd.arg("XX");
            }
            _ => {}
        }
        match self.query::<Value>("SET", &cmd).await? {
            Value::Nil => Ok(false),
            Value::Okay => Ok(true),
            other => Err(error::unexpected("SET", format!("{other:?}"))),
        }
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let px = px(expiry);
        if self.inner.watchdog.is_some() {
            return self
                .run("SET", OnReplace::Fail, |conn, bound| async move {
                    match conn {
                        Connection::Cluster(conn) => {
                            cluster::set_many(&conn, entries, px, bound).await
                        }
                        Connection::Server(_) => Err(error::unexpected("SET", "not a cluster")),
                    }
                })
                .await;
        }
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            let cmd = pipe.cmd("SET").arg(key).arg(value.as_ref());
            if let Some(ms) = px {
                cmd.arg("PX").arg(ms);
            }
        }
        // Each SET answers on its own: one refused (out of memory…) does not fail the others.
        pipe.ignore_errors();
        let replies: Vec<Value> = self.query_pipeline("SET (pipeline)", &pipe).await?;
        if replies.len() != entries.len() {
            return Err(error::unexpected(
                "SET (pipeline)",
                format!("{} replies for {} entries", replies.len(), entries.len()),
            ));
        }
        let failed = replies
            .iter()
            .enumerate()
            .filter(|(_, reply)| !matches!(reply, Value::Okay))
            .map(|(i, reply)| {
                tracing::debug!(
                    backend = BACKEND,
                    index = i,
                    ?reply,
                    "SET in set_many failed"
                );
                i
            })
            .collect();
        Ok(failed)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.query("UNLINK", redis::cmd("UNLINK").arg(key))
            .await
            .map(flag)
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let mut invocation = self.inner.delete_if_value.prepare_invoke();
        invocation.key(key).arg(expected);
        let deleted: i64 = self
            .invoke("EVALSHA (delete_if_value)", &invocation)
            .await?;
        Ok(flag(deleted))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        if self.inner.watchdog.is_some() {
            return self
                .run("UNLINK", OnReplace::Fail, |conn, bound| async move {
                    match conn {
                        Connection::Cluster(conn) => cluster::delete_many(&conn, keys, bound).await,
                        Connection::Server(_) => Err(error::unexpected("UNLINK", "not a cluster")),
                    }
                })
                .await;
        }
        self.query("UNLINK", redis::cmd("UNLINK").arg(keys))
            .await
            .map(count)
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        match px(expiry) {
            Some(ms) => self
                .query("PEXPIRE", redis::cmd("PEXPIRE").arg(key).arg(ms))
                .await
                .map(flag),
            None => {
                let mut pipe = redis::pipe();
                pipe.cmd("PERSIST").arg(key).ignore();
                pipe.cmd("EXISTS").arg(key);
                let (exists,): (i64,) = self.query_pipeline("PERSIST, EXISTS", &pipe).await?;
                Ok(flag(exists))
            }
        }
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        self.query_read("EXISTS", redis::cmd("EXISTS").arg(key))
            .await
            .map(flag)
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let mut invocation = self.inner.incr.prepare_invoke();
        invocation.key(key).arg(delta.to_string());
        let (status, detail): (i64, Vec<u8>) = self.invoke("EVALSHA (incr)", &invocation).await?;
        let fail = |kind, message: &str| Err(Error::new(kind, message).with_backend(BACKEND));
        match status {
            0 => std::str::from_utf8(&detail)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    error::unexpected("incr", String::from_utf8_lossy(&detail).into_owned())
                }),
            1 => fail(ErrorKind::NotFound, "key does not exist"),
            2 => fail(ErrorKind::NotInteger, "the stored value is not an integer"),
            3 => fail(
                ErrorKind::Overflow,
                "the stored integer or the result is out of the i64 range",
            ),
            4 => fail(
                ErrorKind::WrongType,
                &format!(
                    "the key holds a Redis {}, not a string",
                    String::from_utf8_lossy(&detail)
                ),
            ),
            other => Err(error::unexpected("incr", format!("status {other}"))),
        }
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let ms: i64 = self.query_read("PTTL", redis::cmd("PTTL").arg(key)).await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => match u64::try_from(ms) {
                Ok(ms) => KeyTtl::Expires(Duration::from_millis(ms)),
                Err(_) => return Err(error::unexpected("PTTL", ms)),
            },
        })
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let pattern = match_pattern(prefix);
        if let Connection::Cluster(conn) = self.connection()? {
            // Each round trip has its own bound, as on one server.
            let result = cluster::clear(&conn, &pattern, SCAN_COUNT, self.call_bound()).await;
            if matches!(&result, Err(e) if e.kind() == ErrorKind::Timeout) {
                if let Some(watchdog) = &self.inner.watchdog {
                    self.check_cluster(watchdog.generation());
                }
            }
            return result;
        }
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query("SCAN", &scan).await?;
            if !keys.is_empty() {
                // A key SCAN returns twice is counted once: UNLINK counts what it removed.
                let removed: i64 = self
                    .query("UNLINK", redis::cmd("UNLINK").arg(&keys))
                    .await?;
                deleted += count(removed);
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    async fn close(&self) -> Result<()> {
        // Dropping the last handle of the manager closes the socket once the calls in flight
        // (which hold clones) are done.
        self.inner
            .connection
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(match_pattern("app:1:"), "app:1:*");
        assert_eq!(match_pattern("a*"), "a\\**");
        assert_eq!(match_pattern("a?[b]\\"), "a\\?\\[b\\]\\\\*");
        assert_eq!(match_pattern(""), "*");
    }

    #[test]
    fn expiries_become_px_within_redis_range() {
        assert_eq!(px(Expiry::Never), None);
        assert_eq!(px(Expiry::After(Duration::from_millis(1500))), Some(1500));
        assert_eq!(px(Expiry::After(Duration::MAX)), Some(MAX_EXPIRY_MS));
    }
}
