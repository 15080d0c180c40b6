//! [`Cluster`]: a Redis Cluster, through the `redis` crate's [`ClusterConnection`] under the
//! [`ClusterLink`]'s watchdog.
//!
//! Single-key commands (and the Lua scripts, whose keys share a slot) go through the cluster
//! connection as they are: it routes each to the master of its key's slot and follows `MOVED`
//! and `ASK` redirections. A batch sends each command as a request of its own, routed to the
//! master of its slot, all at once (the connection to each node pipelines those in flight);
//! keys group by hash slot, and `SCAN` goes to every master.
//!
//! A batch is not sent as one pipeline per slot: while a slot migrates, a pipeline whose keys
//! are split between the two nodes cannot be redirected as a whole, where each command follows
//! its own `ASK`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cachette_api::{async_trait, Error, ErrorKind, Result};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Cmd, Pipeline, RedisError, RedisResult, Value};
use tokio::task::JoinSet;

use super::{Answers, Node, Part, Topology};
use crate::connection::{bounded, ClusterLink, OnReplace, Timeouts};
use crate::error::{self, BACKEND};

/// The number of hash slots of every Redis Cluster.
const SLOTS: u32 = 16384;

/// How many times the cluster client retries one command (after a redirection, a `TRYAGAIN`,
/// a lost connection during a failover…), always within the call's time bound.
pub(crate) const RETRIES: u32 = 32;

/// The shortest wait between two retries, in milliseconds.
pub(crate) const MIN_RETRY_WAIT_MS: u64 = 20;

/// The longest wait between two retries, in milliseconds.
pub(crate) const MAX_RETRY_WAIT_MS: u64 = 500;

/// A Redis Cluster.
pub(super) struct Cluster {
    link: Arc<ClusterLink>,
    timeouts: Timeouts,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("closed", &self.link.connection().is_err())
            .finish()
    }
}

impl Cluster {
    pub(super) fn new(link: Arc<ClusterLink>, timeouts: Timeouts) -> Cluster {
        Cluster { link, timeouts }
    }
}

#[async_trait]
impl Topology for Cluster {
    async fn query(&self, command: &str, on_replace: OnReplace, cmd: &Cmd) -> Result<Value> {
        self.link
            .run(command, on_replace, |mut conn, bound| async move {
                bounded(command, bound, cmd.query_async(&mut conn)).await
            })
            .await
    }

    async fn pipeline(
        &self,
        command: &str,
        on_replace: OnReplace,
        pipe: &Pipeline,
    ) -> Result<Vec<Value>> {
        self.link
            .run(command, on_replace, |mut conn, bound| async move {
                bounded(command, bound, pipe.query_async(&mut conn)).await
            })
            .await
    }

    async fn batch(
        &self,
        command: &str,
        on_replace: OnReplace,
        chains: Vec<Vec<Part>>,
    ) -> Result<Answers> {
        // The commands are kept to be sent again on a new connection (reads only).
        let chains: Vec<Vec<(Cmd, RoutingInfo)>> = chains
            .into_iter()
            .map(|chain| {
                chain
                    .into_iter()
                    .map(|part| (part.cmd, to_master(part.slot)))
                    .collect()
            })
            .collect();
        let chains = &chains;
        self.link
            .run(command, on_replace, |conn, bound| async move {
                bounded(command, bound, send_all(&conn, chains.clone())).await
            })
            .await
    }

    fn group(&self, keys: &[&[u8]]) -> Vec<Vec<usize>> {
        by_slot(keys)
            .into_iter()
            .map(|(_, indices)| indices)
            .collect()
    }

    async fn nodes(&self) -> Result<Vec<Node>> {
        let conn = self.link.connection()?;
        let masters = masters(&conn, self.timeouts.bound()).await;
        self.after(&masters);
        Ok(masters?
            .into_iter()
            .map(|(host, port)| Node::Master { host, port })
            .collect())
    }

    async fn query_node(&self, command: &str, node: &Node, cmd: &Cmd) -> Result<Value> {
        let routing = match node {
            Node::Master { host, port } => {
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                })
            }
            Node::Server => RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        };
        let mut conn = self.link.connection()?;
        let cmd = cmd.clone();
        // Each round trip of a scan has its own bound, as on one server.
        let call = async move { conn.route_command(cmd, routing).await?.extract_error() };
        let answer = bounded(command, self.timeouts.bound(), call).await;
        self.after(&answer);
        answer
    }

    fn close(&self) {
        self.link.close();
    }
}

impl Cluster {
    /// After a call made outside [`ClusterLink::run`]: a timeout has the connection checked.
    fn after<T>(&self, result: &Result<T>) {
        if matches!(result, Err(e) if e.kind() == ErrorKind::Timeout) {
            self.link.check_current();
        }
    }
}

/// The indices of `keys`, grouped by hash slot; the groups in the order their first key comes.
fn by_slot(keys: &[&[u8]]) -> Vec<(Slot, Vec<usize>)> {
    let mut groups: Vec<(Slot, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<Slot, usize> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let slot = Slot::for_key(key);
        match group_of.get(&slot) {
            Some(&g) => {
                if let Some((_, indices)) = groups.get_mut(g) {
                    indices.push(i);
                }
            }
            None => {
                group_of.insert(slot, groups.len());
                groups.push((slot, vec![i]));
            }
        }
    }
    groups
}

/// Routing to the master that serves `slot`.
fn to_master(slot: Slot) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_slot(
        slot,
        SlotAddr::Master,
    )))
}

/// Sends the chains of commands at once, each chain's commands one after the other, and
/// returns the answers in the same order.
///
/// Each command is its own request of the cluster client, so each follows its own
/// redirections; the connection to each node pipelines the requests that are in flight
/// together. The outer `Err` is only for a task that did not complete (a panic, a runtime
/// shutting down).
async fn send_all(
    conn: &ClusterConnection,
    chains: Vec<Vec<(Cmd, RoutingInfo)>>,
) -> RedisResult<Answers> {
    let mut answers: Answers = Vec::new();
    answers.resize_with(chains.len(), Vec::new);
    let mut tasks = JoinSet::new();
    for (i, chain) in chains.into_iter().enumerate() {
        let mut conn = conn.clone();
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(chain.len());
            for (cmd, routing) in chain {
                let answer = conn
                    .route_command(cmd, routing)
                    .await
                    .and_then(Value::extract_error);
                answers.push(answer);
            }
            (i, answers)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (i, chain_answers) = joined.map_err(|e| {
            RedisError::from((
                redis::ErrorKind::Client,
                "a part of a multi-key call did not complete",
                e.to_string(),
            ))
        })?;
        if let Some(slot) = answers.get_mut(i) {
            *slot = chain_answers;
        }
    }
    Ok(answers)
}

/// The addresses of the masters, from `CLUSTER SLOTS` as one master sees them; an
/// [`ErrorKind::Unavailable`] error when some slots have no master (a failover under way).
async fn masters(conn: &ClusterConnection, bound: Duration) -> Result<Vec<(String, u16)>> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
    let mut conn = conn.clone();
    let call = async move { conn.route_command(cmd, routing).await?.extract_error() };
    let reply: Value = bounded("CLUSTER SLOTS", bound, call).await?;
    let (masters, covered) = parse_slots(reply)
        .ok_or_else(|| error::unexpected("CLUSTER SLOTS", "not a list of slot ranges"))?;
    if covered < SLOTS {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("CLUSTER SLOTS: only {covered} of {SLOTS} slots have a master"),
        )
        .with_temporary(true)
        .with_backend(BACKEND));
    }
    Ok(masters)
}

/// The distinct master addresses of a `CLUSTER SLOTS` reply, and how many slots they serve.
///
/// Each range is `[start, end, [host, port, id, …], replicas…]`.
fn parse_slots(reply: Value) -> Option<(Vec<(String, u16)>, u32)> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut masters: Vec<(String, u16)> = Vec::new();
    let mut covered = 0u32;
    for range in ranges {
        let Value::Array(fields) = range else {
            return None;
        };
        let mut fields = fields.into_iter();
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let mut master = master.into_iter();
        let host = match master.next()? {
            Value::BulkString(bytes) => String::from_utf8(bytes).ok()?,
            Value::SimpleString(text) => text,
            _ => return None,
        };
        let Some(Value::Int(port)) = master.next() else {
            return None;
        };
        // An empty host means "the node you asked", which a routed command cannot name.
        if host.is_empty() || host == "?" {
            return None;
        }
        let address = (host, u16::try_from(port).ok()?);
        if !masters.contains(&address) {
            masters.push(address);
        }
        covered += u32::try_from(end.checked_sub(start)? + 1).ok()?;
    }
    Some((masters, covered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_grouped_by_slot_in_first_seen_order() {
        let keys: Vec<&[u8]> = ["{a}1", "b", "{a}2", "c", "{a}3"]
            .iter()
            .map(|k| k.as_bytes())
            .collect();
        let groups = by_slot(&keys);
        assert_eq!(groups.first().map(|g| g.1.clone()), Some(vec![0, 2, 4]));
        let all: usize = groups.iter().map(|g| g.1.len()).sum();
        assert_eq!(all, keys.len());
        assert_eq!(groups.first().map(|g| g.0), Some(Slot::for_key("a")));
        assert!(by_slot(&[]).is_empty());
    }

    #[test]
    fn cluster_slots_replies_give_masters_and_coverage() {
        let node = |host: &str, port| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |start, end, master: Value, replica: Value| {
            Value::Array(vec![Value::Int(start), Value::Int(end), master, replica])
        };
        let reply = Value::Array(vec![
            range(0, 5460, node("127.0.0.1", 7000), node("127.0.0.1", 7003)),
            range(
                5461,
                10922,
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7004),
            ),
            range(
                10923,
                16000,
                node("127.0.0.1", 7002),
                node("127.0.0.1", 7005),
            ),
            range(
                16001,
                16383,
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7003),
            ),
        ]);
        let (masters, covered) = parse_slots(reply).unwrap();
        assert_eq!(covered, SLOTS);
        assert_eq!(
            masters,
            [7000, 7001, 7002].map(|port| ("127.0.0.1".to_owned(), port))
        );
        assert!(parse_slots(Value::Okay).is_none());
        let unknown = Value::Array(vec![range(0, 1, node("", 7000), node("", 7001))]);
        assert!(parse_slots(unknown).is_none());
    }
}
