//! [`Sentinel`]: a primary (and its replicas) found through Redis Sentinel, followed across
//! failovers.
//!
//! The sentinels are asked directly (`SENTINEL get-master-addr-by-name`, then
//! `SENTINEL replicas` when reads go to replicas); the node they name is checked with `ROLE`
//! before any call goes to it. Calls then run on one multiplexed connection to the primary,
//! as on a single server ([`Server`]). A call that fails in a way a failover explains (the
//! connection refused or dropped, no answer in time, `READONLY`, `MASTERDOWN`) starts a
//! *discovery* in the background (one at a time): the sentinels are asked again, every
//! [`DISCOVERY_PAUSE`], until the primary they name answers `ROLE` as a primary, or for
//! [`DISCOVERY_LIMIT`]. The call waits for it within its own bound (the connect timeout plus
//! the response timeout, counted from its start), then
//! - a read, or a write that certainly was not applied (connection refused, `READONLY`),
//!   runs again on the new primary within what is left of the bound;
//! - a write that may have been applied (the connection dropped, a timeout) fails with its
//!   error, which is temporary.
//!
//! Besides, a background task subscribes to the sentinels' `+switch-master` and starts a
//! discovery at once when they announce a new primary, and every [`CHECK_EVERY`] the
//! sentinels are asked whether the primary in use is still theirs (a primary demoted behind a
//! partition, or during a graceful failover, would answer without an error), and which
//! replicas there are.
//!
//! Every call therefore ends within its bound, whatever the sentinels do. Each question to a
//! sentinel is bounded by the same timeouts, and a sentinel that cannot be reached is skipped
//! for the next one.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cachette_api::{async_trait, Error, ErrorKind, Result};
use redis::{Cmd, ConnectionAddr, Pipeline, RedisError, ServerErrorKind, Value};
use tokio::sync::watch;

use super::replicas::{Replica, Replicas};
use super::server::Server;
use super::{Answers, Node, Part, Topology};
use crate::connection::{self, bounded, OnReplace, Timeouts};
use crate::error::{self, BACKEND};

/// How long a discovery keeps asking the sentinels before it gives up (the next failing call
/// starts another).
pub(crate) const DISCOVERY_LIMIT: Duration = Duration::from_secs(30);

/// The pause between two rounds of questions during a discovery.
pub(crate) const DISCOVERY_PAUSE: Duration = Duration::from_millis(100);

/// How often the sentinels are asked, in the background, whether the primary is still the
/// one in use (a primary demoted behind a partition answers reads without an error) and which
/// replicas there are.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Where the sentinels are and what they watch, as the builder parsed it.
#[derive(Clone)]
pub(crate) struct SentinelSpec {
    /// One client per sentinel (with the sentinels' password, if any).
    pub(crate) sentinels: Vec<redis::Client>,
    /// The sentinels' addresses, for messages.
    pub(crate) sentinel_addrs: Vec<String>,
    /// The name the sentinels monitor the primary under.
    pub(crate) master: String,
    /// The connection settings of the data nodes (user, password, database, protocol); the
    /// address is replaced by each node's.
    pub(crate) template: redis::ConnectionInfo,
    /// Whether reads go to the replicas the sentinels list.
    pub(crate) replica_reads: bool,
}

impl fmt::Debug for SentinelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelSpec")
            .field("sentinels", &self.sentinel_addrs)
            .field("master", &self.master)
            .field("replica_reads", &self.replica_reads)
            .finish()
    }
}

/// The primary calls go to.
struct Primary {
    host: String,
    port: u16,
    server: Server,
}

/// A primary found through Sentinel.
pub(super) struct Sentinel {
    shared: Arc<Shared>,
}

struct Shared {
    spec: SentinelSpec,
    timeouts: Timeouts,
    /// `None` once closed.
    primary: RwLock<Option<Arc<Primary>>>,
    /// Bumped at the end of each successful discovery; calls waiting for one watch it.
    generation: watch::Sender<u64>,
    /// Whether a discovery is under way.
    discovering: AtomicBool,
    /// The replicas reads go to, when asked for.
    replicas: Option<Arc<Replicas>>,
}

impl fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let primary = self.shared.current().ok();
        f.debug_struct("Sentinel")
            .field("spec", &self.shared.spec)
            .field(
                "primary",
                &primary.map(|p| format!("{}:{}", p.host, p.port)),
            )
            .field("replicas", &self.shared.replicas)
            .finish()
    }
}

impl Sentinel {
    /// Asks the sentinels for the primary (and the replicas, when reads go to them) and
    /// connects, within one bound for the question and one for the connection.
    pub(super) async fn connect(
        spec: SentinelSpec,
        timeouts: Timeouts,
    ) -> Result<(Sentinel, Option<Arc<Replicas>>)> {
        let replicas = spec.replica_reads.then(|| Arc::new(Replicas::default()));
        let shared = Arc::new(Shared {
            spec,
            timeouts,
            primary: RwLock::new(None),
            generation: watch::Sender::new(0),
            discovering: AtomicBool::new(false),
            replicas: replicas.clone(),
        });
        let primary = shared.find_primary(None).await?;
        *shared
            .primary
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(primary);
        shared.refresh_replicas().await;
        tokio::spawn(check_periodically(Arc::downgrade(&shared)));
        tokio::spawn(follow_switch_master(Arc::downgrade(&shared)));
        Ok((Sentinel { shared }, replicas))
    }
}

impl Shared {
    fn current(&self) -> Result<Arc<Primary>> {
        self.primary
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(error::closed)
    }

    fn is_closed(&self) -> bool {
        self.primary
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// A client for the data node at `host:port`.
    fn node_client(&self, host: &str, port: u16) -> Result<redis::Client> {
        let info = self
            .spec
            .template
            .clone()
            .set_addr(ConnectionAddr::Tcp(host.to_owned(), port));
        redis::Client::open(info)
            .map_err(|e| error::config_from_redis(&format!("the node {host}:{port}"), e))
    }

    /// Sends `cmd` to the sentinels in turn, and answers the first reply that `accept` takes
    /// (`Ok(None)`: this sentinel does not know the primary's name; the next is asked).
    async fn ask<T>(
        &self,
        what: &str,
        cmd: &Cmd,
        accept: impl Fn(Value) -> Result<Option<T>>,
    ) -> Result<T> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(Some(self.timeouts.response));
        let bound = self.timeouts.bound();
        let mut last = None;
        let mut unknown = false;
        for (client, addr) in self.spec.sentinels.iter().zip(&self.spec.sentinel_addrs) {
            let asked = async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                cmd.query_async::<Value>(&mut conn).await
            };
            match bounded(what, bound, asked).await.and_then(&accept) {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => unknown = true,
                // A refused password is the configuration's fault: said as such.
                Err(e) if e.kind() == ErrorKind::Config => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the sentinel at {addr} refused `{what}`"),
                    )
                    .with_temporary(false)
                    .with_backend(BACKEND)
                    .with_source(e));
                }
                Err(e) => {
                    tracing::debug!(backend = BACKEND, sentinel = %addr, error = %e,
                        "a sentinel did not answer");
                    last = Some(e);
                }
            }
        }
        if unknown {
            return Err(error::config(format!(
                "the sentinels ({}) monitor no primary named `{}`",
                self.spec.sentinel_addrs.join(", "),
                self.spec.master
            )));
        }
        let err = Error::new(
            ErrorKind::Unavailable,
            format!(
                "no sentinel answered `{what}` for `{}` (asked {})",
                self.spec.master,
                self.spec.sentinel_addrs.join(", ")
            ),
        )
        .with_temporary(true)
        .with_backend(BACKEND);
        Err(match last {
            Some(source) => err.with_source(source),
            None => err,
        })
    }

    /// The primary's address, as the sentinels name it.
    async fn ask_primary(&self) -> Result<(String, u16)> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(&self.spec.master);
        self.ask(
            "SENTINEL get-master-addr-by-name",
            &cmd,
            |reply| match reply {
                Value::Nil => Ok(None),
                reply => parse_addr(reply).map(Some).ok_or_else(|| {
                    error::unexpected("SENTINEL get-master-addr-by-name", "not [host, port]")
                }),
            },
        )
        .await
    }

    /// Asks the sentinels for the primary and connects to it, checking with `ROLE` that it
    /// is one. `current` is kept when the sentinels still name it and it still answers.
    async fn find_primary(&self, current: Option<&Arc<Primary>>) -> Result<Arc<Primary>> {
        let (host, port) = self.ask_primary().await?;
        if let Some(current) = current.filter(|p| p.host == host && p.port == port) {
            if is_primary(&current.server, self.timeouts).await? {
                return Ok(current.clone());
            }
        }
        let client = self.node_client(&host, port)?;
        let conn = connection::connect_server(client, self.timeouts).await?;
        let server = Server::new(conn);
        if !is_primary(&server, self.timeouts).await? {
            server.close();
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the sentinels name {host}:{port} as the primary of `{}`, which is not one \
                     (yet)",
                    self.spec.master
                ),
            )
            .with_temporary(true)
            .with_backend(BACKEND));
        }
        tracing::info!(backend = BACKEND, master = %self.spec.master, primary = %format!("{host}:{port}"),
            "connected to the primary named by the sentinels");
        Ok(Arc::new(Primary { host, port, server }))
    }

    /// Asks the sentinels for the replicas and keeps the connections to those already known.
    async fn refresh_replicas(&self) {
        let Some(replicas) = &self.replicas else {
            return;
        };
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("replicas").arg(&self.spec.master);
        let listed = match self
            .ask("SENTINEL replicas", &cmd, |reply| {
                Ok(Some(parse_replicas(reply)))
            })
            .await
        {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(backend = BACKEND, error = %e, "could not list the replicas");
                return;
            }
        };
        let known = replicas.nodes();
        let mut nodes = Vec::with_capacity(listed.len());
        for (host, port) in listed {
            let addr = format!("{host}:{port}");
            if let Some(node) = known.iter().find(|n| n.addr() == addr) {
                nodes.push(node.clone());
            } else if let Ok(client) = self.node_client(&host, port) {
                nodes.push(Arc::new(Replica::new(addr, client)));
            }
        }
        replicas.set(nodes);
    }

    /// Starts a discovery in the background, unless one is under way, or the primary
    /// changed since `generation`.
    fn rediscover(self: &Arc<Self>, generation: u64) {
        if *self.generation.borrow() != generation || self.is_closed() {
            return;
        }
        if self.discovering.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + DISCOVERY_LIMIT;
            loop {
                let current = shared.current().ok();
                if current.is_none() {
                    break;
                }
                match shared.find_primary(current.as_ref()).await {
                    Ok(primary) => {
                        let changed = current.as_ref().is_some_and(|c| !Arc::ptr_eq(c, &primary));
                        {
                            let mut slot = shared
                                .primary
                                .write()
                                .unwrap_or_else(PoisonError::into_inner);
                            if slot.is_none() {
                                // Closed meanwhile.
                                primary.server.close();
                                break;
                            }
                            *slot = Some(primary.clone());
                        }
                        if changed {
                            tracing::warn!(backend = BACKEND, master = %shared.spec.master,
                                primary = %format!("{}:{}", primary.host, primary.port),
                                "followed the sentinels to a new primary");
                        }
                        shared.refresh_replicas().await;
                        shared.generation.send_modify(|g| *g += 1);
                        break;
                    }
                    Err(e) if Instant::now() >= deadline => {
                        tracing::error!(backend = BACKEND, master = %shared.spec.master, error = %e,
                            "no primary found through the sentinels; the next failing call asks again");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(backend = BACKEND, error = %e, "still looking for the primary");
                        tokio::time::sleep(DISCOVERY_PAUSE).await;
                    }
                }
            }
            shared.discovering.store(false, Ordering::Release);
        });
    }
}

/// Every [`CHECK_EVERY`], while the backend lives and is open: asks the sentinels for the
/// primary, starts a discovery when they name another one than the one in use, and refreshes
/// the replicas.
async fn check_periodically(shared: std::sync::Weak<Shared>) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Ok(current) = shared.current() else {
            return;
        };
        let generation = *shared.generation.borrow();
        match shared.ask_primary().await {
            Ok((host, port)) if host != current.host || port != current.port => {
                tracing::info!(backend = BACKEND, master = %shared.spec.master,
                    "the sentinels name another primary; following them");
                shared.rediscover(generation);
            }
            Ok(_) => shared.refresh_replicas().await,
            Err(e) => {
                tracing::debug!(backend = BACKEND, error = %e, "the periodic check found no sentinel");
            }
        }
    }
}

/// While the backend lives and is open: subscribes to `+switch-master` on a sentinel (each in
/// turn, when one goes away) and starts a discovery at each of its messages, so that a failover
/// is followed at once rather than at the next check. The subscription is a help only: the
/// periodic check and the failing calls follow a failover without it.
async fn follow_switch_master(weak: std::sync::Weak<Shared>) {
    use futures::StreamExt;
    let mut turn = 0usize;
    loop {
        let (client, bound) = {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if shared.is_closed() {
                return;
            }
            let n = shared.spec.sentinels.len().max(1);
            let Some(client) = shared.spec.sentinels.get(turn % n).cloned() else {
                return;
            };
            (client, shared.timeouts.bound())
        };
        turn += 1;
        let subscribed = tokio::time::timeout(bound, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            let mut messages = pubsub.into_on_message();
            loop {
                // Wakes up every check period to notice a dropped backend.
                let message = tokio::time::timeout(CHECK_EVERY, messages.next()).await;
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                if shared.is_closed() {
                    return;
                }
                match message {
                    Ok(Some(msg)) => {
                        let payload: String = msg.get_payload().unwrap_or_default();
                        // `<name> <old host> <old port> <new host> <new port>`
                        if payload.split(' ').next() == Some(shared.spec.master.as_str()) {
                            tracing::info!(backend = BACKEND, master = %shared.spec.master,
                                "+switch-master from a sentinel; following it");
                            let generation = *shared.generation.borrow();
                            shared.rediscover(generation);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Whether `server` answers `ROLE` as a primary. A server that does not allow `ROLE` (an ACL)
/// is taken at the sentinels' word.
async fn is_primary(server: &Server, timeouts: Timeouts) -> Result<bool> {
    let role = tokio::time::timeout(
        timeouts.bound(),
        server.query("ROLE", OnReplace::Retry, &redis::cmd("ROLE")),
    )
    .await
    .map_err(|_| error::from_redis("ROLE", error::timed_out(timeouts.bound())))?;
    match role {
        Ok(Value::Array(items)) => Ok(matches!(
            items.first(),
            Some(Value::BulkString(role)) if role == b"master"
        ) || matches!(items.first(), Some(Value::SimpleString(role)) if role == "master")),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == ErrorKind::Config => Ok(true),
        Err(e) => Err(e),
    }
}

/// `[host, port]`.
fn parse_addr(reply: Value) -> Option<(String, u16)> {
    let (host, port): (String, String) = redis::from_redis_value(reply).ok()?;
    Some((host, port.parse().ok()?))
}

/// The replicas of a `SENTINEL replicas` reply that are up and in sync: each a list of
/// field, value pairs (or a map, in RESP3).
fn parse_replicas(reply: Value) -> Vec<(String, u16)> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let fields: Vec<(String, String)> = match item {
                Value::Array(flat) => {
                    let flat: Vec<String> = redis::from_redis_value(Value::Array(flat)).ok()?;
                    flat.chunks(2)
                        .filter_map(|pair| match pair {
                            [k, v] => Some((k.clone(), v.clone())),
                            _ => None,
                        })
                        .collect()
                }
                Value::Map(pairs) => pairs
                    .into_iter()
                    .filter_map(|(k, v)| {
                        Some((
                            redis::from_redis_value(k).ok()?,
                            redis::from_redis_value(v).ok()?,
                        ))
                    })
                    .collect(),
                _ => return None,
            };
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let flags = field("flags").unwrap_or_default();
            let healthy = !flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
                && field("master-link-status") == Some("ok");
            if !healthy {
                return None;
            }
            Some((field("ip")?.to_owned(), field("port")?.parse().ok()?))
        })
        .collect()
}

/// The `redis` crate's error under one of ours.
fn redis_error(err: &Error) -> Option<&RedisError> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<RedisError>())
}

/// Whether `err` may mean that the primary moved: the connection refused or dropped, no
/// answer in time, or a server that no longer takes writes.
fn primary_may_have_moved(err: &Error) -> bool {
    let Some(e) = redis_error(err) else {
        return false;
    };
    e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_io_error()
        || is_refused_write(e)
}

/// `READONLY` (a replica, or a demoted primary) or `MASTERDOWN`: refused, so not applied.
fn is_refused_write(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
    ) || matches!(e.code(), Some("READONLY" | "MASTERDOWN"))
}

/// Whether the call certainly was not applied: the connection was refused, or the server
/// refused the write.
fn not_applied(err: &Error) -> bool {
    redis_error(err).is_some_and(|e| e.is_connection_refusal() || is_refused_write(e))
}

impl Sentinel {
    /// Runs `op` on the primary; see the module's documentation for what happens when it
    /// fails.
    async fn run<'a, T, F, Fut>(&'a self, command: &str, on_replace: OnReplace, op: F) -> Result<T>
    where
        F: Fn(Arc<Primary>) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let bound = self.shared.timeouts.bound();
        let deadline = Instant::now() + bound;
        let mut generations = self.shared.generation.subscribe();
        let generation = *generations.borrow_and_update();
        let primary = self.shared.current()?;
        let err = match op(primary).await {
            Ok(answer) => return Ok(answer),
            Err(err) => err,
        };
        if !primary_may_have_moved(&err) {
            return Err(err);
        }
        self.shared.rediscover(generation);
        if on_replace == OnReplace::Fail && !not_applied(&err) {
            return Err(err);
        }
        // Wait for the discovery, within the call's bound.
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, generations.changed()).await {
            Ok(Ok(())) => {}
            _ => return Err(err),
        }
        let primary = self.shared.current()?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, op(primary)).await {
            Ok(result) => result,
            Err(_) => Err(error::from_redis(command, error::timed_out(bound))),
        }
    }
}

#[async_trait]
impl Topology for Sentinel {
    async fn query(&self, command: &str, on_replace: OnReplace, cmd: &Cmd) -> Result<Value> {
        self.run(command, on_replace, |p| async move {
            p.server.query(command, on_replace, cmd).await
        })
        .await
    }

    async fn pipeline(
        &self,
        command: &str,
        on_replace: OnReplace,
        pipe: &Pipeline,
    ) -> Result<Vec<Value>> {
        self.run(command, on_replace, |p| async move {
            p.server.pipeline(command, on_replace, pipe).await
        })
        .await
    }

    async fn batch(
        &self,
        command: &str,
        on_replace: OnReplace,
        chains: Vec<Vec<Part>>,
    ) -> Result<Answers> {
        let chains = &chains;
        self.run(command, on_replace, |p| async move {
            p.server.batch(command, on_replace, chains.clone()).await
        })
        .await
    }

    fn group(&self, keys: &[&[u8]]) -> Vec<Vec<usize>> {
        if keys.is_empty() {
            Vec::new()
        } else {
            vec![(0..keys.len()).collect()]
        }
    }

    fn pipelines_in_order(&self) -> bool {
        true
    }

    async fn nodes(&self) -> Result<Vec<Node>> {
        Ok(vec![Node::Server])
    }

    async fn query_node(&self, command: &str, _: &Node, cmd: &Cmd) -> Result<Value> {
        // `SCAN` changes nothing: it runs again on a new primary.
        self.query(command, OnReplace::Retry, cmd).await
    }

    fn close(&self) {
        if let Some(primary) = self
            .shared
            .primary
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            primary.server.close();
        }
        if let Some(replicas) = &self.shared.replicas {
            replicas.set(Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn addresses_and_replica_lists_parse() {
        assert_eq!(
            parse_addr(Value::Array(vec![bulk("10.0.0.1"), bulk("6379")])),
            Some(("10.0.0.1".to_owned(), 6379))
        );
        assert_eq!(parse_addr(Value::Nil), None);
        let replica = |port: &str, flags: &str, link: &str| {
            Value::Array(
                [
                    ("ip", "127.0.0.1"),
                    ("port", port),
                    ("flags", flags),
                    ("master-link-status", link),
                ]
                .iter()
                .flat_map(|(k, v)| [bulk(k), bulk(v)])
                .collect(),
            )
        };
        let reply = Value::Array(vec![
            replica("7001", "slave", "ok"),
            replica("7002", "s_down,slave,disconnected", "err"),
            replica("7003", "slave", "err"),
        ]);
        assert_eq!(parse_replicas(reply), vec![("127.0.0.1".to_owned(), 7001)]);
    }
}
