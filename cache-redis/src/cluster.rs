//! The operations that differ on a Redis Cluster: the multi-key ones, split by hash slot, and
//! `clear`, which scans every master.
//!
//! Single-key commands (and the Lua scripts, which take one key) go through the `redis` crate's
//! [`ClusterConnection`] as they are: it routes each to the master of its key's slot and follows
//! `MOVED` and `ASK` redirections. A multi-key command is only accepted by Redis when all its
//! keys hash to one slot, so these functions split the keys by slot, send one command per slot
//! (one `SET` per entry for `set_many`), all at once, and put the answers back in the caller's
//! order.

use std::time::Duration;

use cache_api::{Bytes, Error, ErrorKind, Result};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Cmd, FromRedisValue, RedisError, RedisResult, Value};
use tokio::task::JoinSet;

use crate::backend::bounded;
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

/// The indices of `keys`, grouped by hash slot; the groups in the order their first key comes.
fn by_slot<K: AsRef<[u8]>>(keys: &[K]) -> Vec<(Slot, Vec<usize>)> {
    let mut groups: Vec<(Slot, Vec<usize>)> = Vec::new();
    let mut group_of: std::collections::HashMap<Slot, usize> = std::collections::HashMap::new();
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

/// The indices of `keys`, grouped by key; the groups in the order their first key comes.
fn by_key(keys: &[&str]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        match group_of.get(key) {
            Some(&g) => {
                if let Some(indices) = groups.get_mut(g) {
                    indices.push(i);
                }
            }
            None => {
                group_of.insert(key, groups.len());
                groups.push(vec![i]);
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
) -> RedisResult<Vec<Vec<RedisResult<Value>>>> {
    let mut answers: Vec<Vec<RedisResult<Value>>> = Vec::new();
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

/// [`send_all`] for independent commands: one answer per command.
async fn send_each(
    conn: &ClusterConnection,
    commands: Vec<(Cmd, RoutingInfo)>,
) -> RedisResult<Vec<RedisResult<Value>>> {
    let count = commands.len();
    let chains = commands.into_iter().map(|command| vec![command]).collect();
    let answers: Vec<RedisResult<Value>> = send_all(conn, chains)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if answers.len() == count {
        Ok(answers)
    } else {
        Err(RedisError::from((
            redis::ErrorKind::Client,
            "a part of a multi-key call has no answer",
        )))
    }
}

/// Converts one answer of [`send_all`], mapping its error.
fn convert<T: FromRedisValue>(command: &str, answer: RedisResult<Value>) -> Result<T> {
    answer
        .and_then(|value| Ok(redis::from_redis_value(value)?))
        .map_err(|e| error::from_redis(command, e))
}

/// `get_many`: one `MGET` per hash slot.
pub(crate) async fn get_many(
    conn: &ClusterConnection,
    keys: &[String],
    bound: Duration,
) -> Result<Vec<Option<Bytes>>> {
    let groups = by_slot(keys);
    let commands = groups
        .iter()
        .map(|(slot, indices)| {
            let mut cmd = redis::cmd("MGET");
            for key in indices.iter().filter_map(|&i| keys.get(i)) {
                cmd.arg(key);
            }
            (cmd, to_master(*slot))
        })
        .collect();
    let answers = bounded("MGET", bound, send_each(conn, commands)).await?;
    let mut found = vec![None; keys.len()];
    for ((_, indices), answer) in groups.into_iter().zip(answers) {
        let values: Vec<Option<Bytes>> = convert("MGET", answer)?;
        if values.len() != indices.len() {
            return Err(error::unexpected(
                "MGET",
                format!("{} values for {} keys", values.len(), indices.len()),
            ));
        }
        for (i, value) in indices.into_iter().zip(values) {
            if let Some(slot) = found.get_mut(i) {
                *slot = value;
            }
        }
    }
    Ok(found)
}

/// `set_many`: one `SET` per entry, all at once; returns the indices of the entries the server
/// refused.
///
/// Not one pipeline per slot: while a slot migrates, a pipeline whose keys are split between
/// the two nodes cannot be redirected as a whole, where each `SET` follows its own `ASK`. The
/// entries of one key are written one after the other, in the caller's order, so that the
/// last one wins as on one server.
pub(crate) async fn set_many(
    conn: &ClusterConnection,
    entries: &[(String, Bytes)],
    px: Option<u64>,
    bound: Duration,
) -> Result<Vec<usize>> {
    let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
    let groups = by_key(&keys);
    let chains = groups
        .iter()
        .map(|indices| {
            indices
                .iter()
                .filter_map(|&i| entries.get(i))
                .map(|(key, value)| {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(key).arg(value.as_ref());
                    if let Some(ms) = px {
                        cmd.arg("PX").arg(ms);
                    }
                    (cmd, to_master(Slot::for_key(key)))
                })
                .collect()
        })
        .collect();
    let answers = bounded("SET", bound, send_all(conn, chains)).await?;
    let mut failed = Vec::new();
    for (indices, chain_answers) in groups.into_iter().zip(answers) {
        if chain_answers.len() != indices.len() {
            return Err(error::unexpected(
                "SET",
                format!(
                    "{} answers for {} entries",
                    chain_answers.len(),
                    indices.len()
                ),
            ));
        }
        for (i, answer) in indices.into_iter().zip(chain_answers) {
            match answer {
                Ok(Value::Okay) => {}
                Ok(reply) => {
                    tracing::debug!(
                        backend = BACKEND,
                        index = i,
                        ?reply,
                        "SET in set_many failed"
                    );
                    failed.push(i);
                }
                Err(e) => {
                    // As on one server: the network failing fails the call; a refusal by the
                    // server (out of memory…) fails that entry only.
                    let err = error::from_redis("SET", e);
                    if matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) {
                        return Err(err);
                    }
                    tracing::debug!(backend = BACKEND, index = i, %err, "SET in set_many failed");
                    failed.push(i);
                }
            }
        }
    }
    failed.sort_unstable();
    Ok(failed)
}

/// `delete_many`: one `UNLINK` per hash slot; returns how many keys existed.
pub(crate) async fn delete_many<K: AsRef<[u8]>>(
    conn: &ClusterConnection,
    keys: &[K],
    bound: Duration,
) -> Result<u64> {
    let commands = by_slot(keys)
        .into_iter()
        .map(|(slot, indices)| {
            let mut cmd = redis::cmd("UNLINK");
            for key in indices.iter().filter_map(|&i| keys.get(i)) {
                cmd.arg(key.as_ref());
            }
            (cmd, to_master(slot))
        })
        .collect();
    let answers = bounded("UNLINK", bound, send_each(conn, commands)).await?;
    let mut deleted = 0;
    for answer in answers {
        let removed: i64 = convert("UNLINK", answer)?;
        deleted += u64::try_from(removed).unwrap_or(0);
    }
    Ok(deleted)
}

/// `clear`: scans every master for `pattern` (already escaped) and deletes what it finds, the
/// masters in parallel; returns how many keys were deleted.
pub(crate) async fn clear(
    conn: &ClusterConnection,
    pattern: &str,
    scan_count: usize,
    bound: Duration,
) -> Result<u64> {
    let masters = masters(conn, bound).await?;
    let mut tasks = JoinSet::new();
    for (host, port) in masters {
        let conn = conn.clone();
        let pattern = pattern.to_owned();
        tasks
            .spawn(async move { clear_node(&conn, host, port, &pattern, scan_count, bound).await });
    }
    let mut deleted = 0;
    while let Some(joined) = tasks.join_next().await {
        // The first failure ends the call; the other masters' scans stop with it.
        deleted += joined.map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("SCAN: a master's scan did not complete: {e}"),
            )
            .with_backend(BACKEND)
        })??;
    }
    Ok(deleted)
}

/// Scans one master with `SCAN … MATCH` and deletes each batch it finds.
async fn clear_node(
    conn: &ClusterConnection,
    host: String,
    port: u16,
    pattern: &str,
    scan_count: usize,
    bound: Duration,
) -> Result<u64> {
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(scan_count);
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: host.clone(),
            port,
        });
        let (next, keys): (u64, Vec<Vec<u8>>) = route("SCAN", conn, scan, routing, bound).await?;
        if !keys.is_empty() {
            // A key SCAN returns twice is counted once: UNLINK counts what it removed.
            deleted += delete_many(conn, &keys, bound).await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Sends one command to `routing` and converts its answer.
async fn route<T: FromRedisValue>(
    command: &str,
    conn: &ClusterConnection,
    cmd: Cmd,
    routing: RoutingInfo,
    bound: Duration,
) -> Result<T> {
    let mut conn = conn.clone();
    let call = async move {
        let value = conn.route_command(cmd, routing).await?.extract_error()?;
        Ok(redis::from_redis_value(value)?)
    };
    bounded(command, bound, call).await
}

/// The error to report when the cluster client could not connect: `err`, unless a seed,
/// connected to as a single server, gives a configuration error (a refused password, a TLS
/// mismatch…), which is then reported instead.
///
/// The cluster client reports every failed connection to its seeds as an I/O error whose
/// message holds the real cause; its kind is read again here from the seeds themselves, never
/// from that message.
pub(crate) async fn explain_connect_failure(
    command: &str,
    err: Error,
    seeds: &[redis::Client],
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Error {
    if err.kind() != ErrorKind::Unavailable {
        return err;
    }
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout));
    let bound = connect_timeout + response_timeout;
    let explain = async {
        for seed in seeds {
            let attempt = seed.get_multiplexed_async_connection_with_config(&config);
            if let Err(seed_err) = bounded(command, bound, attempt).await {
                if seed_err.kind() == ErrorKind::Config {
                    return Some(seed_err);
                }
            }
        }
        None
    };
    // All the seeds together get one bound more, not one each.
    match tokio::time::timeout(bound, explain).await {
        Ok(Some(config_err)) => config_err,
        _ => err,
    }
}

/// The addresses of the masters, from `CLUSTER SLOTS` as one master sees them; an
/// [`ErrorKind::Unavailable`] error when some slots have no master (a failover under way).
async fn masters(conn: &ClusterConnection, bound: Duration) -> Result<Vec<(String, u16)>> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
    let reply: Value = route("CLUSTER SLOTS", conn, cmd, routing, bound).await?;
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
        let keys = ["{a}1", "b", "{a}2", "c", "{a}3"];
        let groups = by_slot(&keys);
        assert_eq!(groups.first().map(|g| g.1.clone()), Some(vec![0, 2, 4]));
        let all: usize = groups.iter().map(|g| g.1.len()).sum();
        assert_eq!(all, keys.len());
        assert_eq!(groups.first().map(|g| g.0), Some(Slot::for_key("a")));
        assert!(by_slot::<&str>(&[]).is_empty());
        assert_eq!(by_key(&["x", "y", "x"]), [vec![0, 2], vec![1]]);
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
