//! Where the keys live: one server or a Redis Cluster, behind one private trait
//! ([`Topology`]), and every multi-key algorithm written once over it ([`Driver`]).
//!
//! A topology knows how to send one command, one pipeline on one key, and a batch of command
//! chains; how keys group (one group on a server, one per hash slot on a cluster); and which
//! nodes hold keys (for `SCAN`). The driver builds on that: `get_many` (one `MGET` per group),
//! `get_many_with_expiry` (one script call per group), `set_many` (one `SET` per entry, the
//! refusals reported per entry), `delete_many` (one `UNLINK` per group), `clear` (a `SCAN`
//! loop per node), the scripts (`EVALSHA`, `EVAL` after `NOSCRIPT`), and the check that no
//! argument exceeds the server's bulk limit. The choice between the two topologies is made
//! once, in [`connect`].

mod cluster;
mod replicas;
mod sentinel;
mod server;

pub(crate) use cluster::{MAX_RETRY_WAIT_MS, MIN_RETRY_WAIT_MS, RETRIES};
pub(crate) use sentinel::SentinelSpec;

use std::fmt;
use std::sync::Arc;

use cachette_api::{async_trait, Bytes, ErrorKind, Expiry, Result};
use redis::cluster_routing::Slot;
use redis::{Cmd, FromRedisValue, Pipeline, RedisResult, Value};

use crate::connection::{self, ClusterLink, OnReplace, Timeouts};
use crate::error::{self, BACKEND};
use crate::scripts::{Lua, Scripts};

/// How many keys one `SCAN` of `clear` asks for.
const SCAN_COUNT: usize = 1000;

/// What [`RedisBackendBuilder::build`](crate::RedisBackendBuilder::build) hands over to
/// connect.
// Both clients are large and one is made per `build`, then consumed: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Client {
    /// One server.
    Server(redis::Client),
    /// A Redis Cluster, from its seed nodes.
    Cluster {
        client: redis::cluster::ClusterClient,
        /// A one-server client for each seed, to tell why the cluster client failed.
        seeds: Vec<redis::Client>,
    },
    /// A primary (and its replicas) found through Redis Sentinel.
    Sentinel(SentinelSpec),
}

/// Where reads go besides the primary: replicas given by URL, and how long the reads of a
/// key written by this handle go to the primary.
#[derive(Clone, Default)]
pub(crate) struct Reads {
    /// Replicas given by URL (address for messages, client).
    pub(crate) replicas: Vec<(String, redis::Client)>,
    /// The read-your-writes window (zero: none).
    pub(crate) read_your_writes: std::time::Duration,
}

/// One command of a batch, with the hash slot of its keys (a cluster routes it there).
#[derive(Clone)]
pub(crate) struct Part {
    pub(crate) cmd: Cmd,
    pub(crate) slot: Slot,
}

/// One `name key…` command per group of `keys` (the groups that [`Topology::group`]
/// made: keys one node holds), each a chain of its own.
fn per_group(name: &'static str, keys: &[&[u8]], groups: &[Vec<usize>]) -> Vec<Vec<Part>> {
    groups
        .iter()
        .map(|indices| {
            let mut cmd = redis::cmd(name);
            let mut first: &[u8] = &[];
            for key in indices.iter().filter_map(|&i| keys.get(i)) {
                if first.is_empty() {
                    first = key;
                }
                cmd.arg(*key);
            }
            vec![Part::new(cmd, first)]
        })
        .collect()
}

impl Part {
    fn new(cmd: Cmd, first_key: &[u8]) -> Part {
        Part {
            cmd,
            slot: Slot::for_key(first_key),
        }
    }
}

/// A node that holds keys, for `SCAN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The only server.
    Server,
    /// A cluster master, by address.
    Master { host: String, port: u16 },
}

/// The answers of a batch: one per command, chain by chain. A refusal by the server is the
/// answer of its command; a network failure fails the whole batch.
pub(crate) type Answers = Vec<Vec<RedisResult<Value>>>;

/// One server or a cluster: how commands reach the keys.
#[async_trait]
pub(crate) trait Topology: fmt::Debug + Send + Sync + 'static {
    /// Sends one command (its keys in one slot) within the call's bound.
    async fn query(&self, command: &str, on_replace: OnReplace, cmd: &Cmd) -> Result<Value>;

    /// Sends one pipeline whose commands all touch one key.
    async fn pipeline(
        &self,
        command: &str,
        on_replace: OnReplace,
        pipe: &Pipeline,
    ) -> Result<Vec<Value>>;

    /// Sends chains of commands, all within one bound: the chains at once, each chain's
    /// commands in order.
    async fn batch(
        &self,
        command: &str,
        on_replace: OnReplace,
        chains: Vec<Vec<Part>>,
    ) -> Result<Answers>;

    /// The indices of `keys` grouped so that each group may go in one command, the groups in
    /// the order their first key comes.
    fn group(&self, keys: &[&[u8]]) -> Vec<Vec<usize>>;

    /// Whether [`batch`](Topology::batch) sends every chain in one pipeline on one
    /// connection, in the order given (one server): then a batch need not keep keys in
    /// chains of their own to keep their order. A cluster runs its chains side by side.
    fn pipelines_in_order(&self) -> bool {
        false
    }

    /// The nodes that hold keys.
    async fn nodes(&self) -> Result<Vec<Node>>;

    /// Sends one command to `node`.
    async fn query_node(&self, command: &str, node: &Node, cmd: &Cmd) -> Result<Value>;

    /// Drops the connections; later calls fail with `Unavailable`.
    fn close(&self);
}

/// Connects to the server or the cluster, and reads its bulk limit.
pub(crate) async fn connect(client: Client, reads: Reads, timeouts: Timeouts) -> Result<Driver> {
    let mut replicas = None;
    let topology: Box<dyn Topology> = match client {
        Client::Server(client) => {
            let conn = connection::connect_server(client, timeouts).await?;
            Box::new(server::Server::new(conn))
        }
        Client::Cluster { client, seeds } => {
            let link: Arc<ClusterLink> = ClusterLink::connect(client, &seeds, timeouts).await?;
            Box::new(cluster::Cluster::new(link, timeouts))
        }
        Client::Sentinel(spec) => {
            let (topology, listed) = sentinel::Sentinel::connect(spec, timeouts).await?;
            replicas = listed;
            Box::new(topology)
        }
    };
    if !reads.replicas.is_empty() {
        // A replica down now is connected to at a later read.
        let mut nodes = Vec::with_capacity(reads.replicas.len());
        for (addr, client) in reads.replicas {
            let node = match connection::connect_server(client.clone(), timeouts).await {
                Ok(conn) => replicas::Replica::connected(addr, client, conn),
                Err(e) => {
                    tracing::warn!(backend = BACKEND, replica = %addr, error = %e,
                        "a replica cannot be reached; reads go to the others");
                    replicas::Replica::new(addr, client)
                }
            };
            nodes.push(Arc::new(node));
        }
        replicas = Some(Arc::new(replicas::Replicas::new(nodes)));
    }
    let read_your_writes = replicas::ReadYourWrites::new(reads.read_your_writes);
    // The connection alone does not prove that commands are allowed: a server with a
    // password answers NOAUTH only now. On a cluster, `CONFIG GET` goes to one node: every
    // node of a cluster is expected to share the setting.
    topology
        .query("PING", OnReplace::Retry, &redis::cmd("PING"))
        .await?;
    let mut config = redis::cmd("CONFIG");
    config.arg("GET").arg("proto-max-bulk-len");
    let bulk_limit = match topology
        .query("CONFIG GET", OnReplace::Retry, &config)
        .await
    {
        Ok(reply) => connection::parse_bulk_limit(reply).unwrap_or(connection::DEFAULT_BULK_LIMIT),
        Err(e) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => return Err(e),
        Err(e) => {
            tracing::debug!(backend = BACKEND, error = %e,
                "CONFIG GET proto-max-bulk-len refused; assuming 512 MiB");
            connection::DEFAULT_BULK_LIMIT
        }
    };
    Ok(Driver {
        topology,
        bulk_limit,
        scripts: Scripts::default(),
        replicas,
        read_your_writes,
        timeouts,
    })
}

/// The algorithms over a [`Topology`], written once.
#[derive(Debug)]
pub(crate) struct Driver {
    topology: Box<dyn Topology>,
    /// The server's `proto-max-bulk-len`: no argument longer than this is sent.
    bulk_limit: u64,
    pub(crate) scripts: Scripts,
    /// The replicas reads go to, when asked for.
    replicas: Option<Arc<replicas::Replicas>>,
    read_your_writes: replicas::ReadYourWrites,
    timeouts: Timeouts,
}

impl Driver {
    pub(crate) fn bulk_limit(&self) -> u64 {
        self.bulk_limit
    }

    pub(crate) fn close(&self) {
        self.topology.close();
        if let Some(replicas) = &self.replicas {
            replicas.set(Vec::new());
        }
    }

    /// Refuses a command with an argument over the bulk limit, before it is sent: the server
    /// would answer with a protocol error and close the connection every call shares.
    fn check(&self, command: &str, cmd: &Cmd) -> Result<()> {
        for arg in cmd.args_iter() {
            if let redis::Arg::Simple(bytes) = arg {
                if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.bulk_limit {
                    return Err(error::too_large(command, bytes.len(), self.bulk_limit));
                }
            }
        }
        Ok(())
    }

    /// Sends a batch, every command checked first: nothing is sent if one is refused.
    async fn batch(
        &self,
        command: &str,
        on_replace: OnReplace,
        chains: Vec<Vec<Part>>,
    ) -> Result<Answers> {
        for part in chains.iter().flatten() {
            self.check(command, &part.cmd)?;
        }
        self.topology.batch(command, on_replace, chains).await
    }

    /// Sends one command and converts its reply.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        command: &str,
        on_replace: OnReplace,
        cmd: &Cmd,
    ) -> Result<T> {
        self.check(command, cmd)?;
        let reply = self.topology.query(command, on_replace, cmd).await?;
        convert(command, Ok(reply))
    }

    /// Sends a read of `keys` to a replica when reads go to replicas and none of `keys` was
    /// written by this handle within the read-your-writes window; to the primary otherwise,
    /// or when no replica can serve it at once.
    pub(crate) async fn read<T: FromRedisValue>(
        &self,
        command: &str,
        keys: &[&[u8]],
        cmd: &Cmd,
    ) -> Result<T> {
        if let Some(replicas) = &self.replicas {
            if !self.read_your_writes.recent(keys) {
                self.check(command, cmd)?;
                // Boxed, so that reads without replicas do not carry this future inline.
                if let replicas::ReplicaRead::Answer(answer) =
                    Box::pin(replicas.read(command, cmd, self.timeouts)).await
                {
                    return convert(command, Ok(answer?));
                }
            }
        }
        self.query(command, OnReplace::Retry, cmd).await
    }

    /// Records that `keys` were written (or may have been) by this handle just now, for
    /// read-your-writes.
    pub(crate) fn wrote(&self, keys: &[&[u8]]) {
        if self.replicas.is_some() {
            self.read_your_writes.wrote(keys);
        }
    }

    /// Records that any key may have been written by this handle just now (`clear`).
    pub(crate) fn wrote_everything(&self) {
        if self.replicas.is_some() {
            self.read_your_writes.wrote_everything();
        }
    }

    /// Sends one pipeline on one key and converts its replies.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        command: &str,
        on_replace: OnReplace,
        pipe: &Pipeline,
    ) -> Result<T> {
        for cmd in pipe.cmd_iter() {
            self.check(command, cmd)?;
        }
        let replies = self.topology.pipeline(command, on_replace, pipe).await?;
        convert(command, Ok(Value::Array(replies)))
    }

    /// Runs a script on `keys` (all in one slot) and converts its reply.
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        lua: &Lua,
        on_replace: OnReplace,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<T> {
        let evalsha = lua.evalsha(keys, args);
        self.check(lua.name, &evalsha)?;
        let reply = match self.topology.query(lua.name, on_replace, &evalsha).await {
            Err(e) if error::is_noscript_mapped(&e) => {
                self.topology
                    .query(lua.name, on_replace, &lua.eval(keys, args))
                    .await?
            }
            other => other?,
        };
        convert(lua.name, Ok(reply))
    }

    /// Runs a script once per group of keys, the groups at once; the answers per group.
    async fn script_per_group(
        &self,
        lua: &Lua,
        on_replace: OnReplace,
        groups: &[Vec<&[u8]>],
        args: &[&[u8]],
    ) -> Result<Vec<RedisResult<Value>>> {
        let chains = groups
            .iter()
            .map(|keys| {
                vec![Part::new(
                    lua.evalsha(keys, args),
                    keys.first().copied().unwrap_or_default(),
                )]
            })
            .collect();
        let mut answers = flatten(self.batch(lua.name, on_replace, chains).await?);
        // The nodes that have not seen the script yet get its source.
        let retry: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, answer)| matches!(answer, Err(e) if error::is_noscript(e)))
            .map(|(i, _)| i)
            .collect();
        if !retry.is_empty() {
            let chains = retry
                .iter()
                .filter_map(|&i| groups.get(i))
                .map(|keys| {
                    vec![Part::new(
                        lua.eval(keys, args),
                        keys.first().copied().unwrap_or_default(),
                    )]
                })
                .collect();
            let again = flatten(self.batch(lua.name, on_replace, chains).await?);
            for (i, answer) in retry.into_iter().zip(again) {
                if let Some(slot) = answers.get_mut(i) {
                    *slot = answer;
                }
            }
        }
        Ok(answers)
    }

    /// `get_many`: one `MGET` per group.
    pub(crate) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        if self.replicas.is_some() {
            // Replicas come with one primary (never a cluster): one MGET.
            let mut cmd = redis::cmd("MGET");
            for key in &refs {
                cmd.arg(*key);
            }
            let values: Vec<Option<Bytes>> = self.read("MGET", &refs, &cmd).await?;
            if values.len() != keys.len() {
                return Err(error::unexpected(
                    "MGET",
                    format!("{} values for {} keys", values.len(), keys.len()),
                ));
            }
            return Ok(values);
        }
        let groups = self.topology.group(&refs);
        let chains = per_group("MGET", &refs, &groups);
        let answers = flatten(
            self.topology
                .batch("MGET", OnReplace::Retry, chains)
                .await?,
        );
        let mut found = vec![None; keys.len()];
        for (indices, answer) in groups.into_iter().zip(answers) {
            let values: Vec<Option<Bytes>> = convert("MGET", answer)?;
            place(&mut found, &indices, values, "MGET")?;
        }
        Ok(found)
    }

    /// `get_with_expiry`: one script call.
    pub(crate) async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let lua = &self.scripts.get_with_expiry;
        let reply: Value = self
            .script(lua, OnReplace::Retry, &[key.as_bytes()], &[b"1"])
            .await?;
        let mut items = with_expiry_items(lua.name, reply)?;
        match (items.pop(), items.is_empty()) {
            (Some(item), true) => Ok(item),
            _ => Err(error::unexpected(lua.name, "not one item for one key")),
        }
    }

    /// `get_many_with_expiry`: one script call per group.
    pub(crate) async fn get_many_with_expiry(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let lua = &self.scripts.get_with_expiry;
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let groups = self.topology.group(&refs);
        let group_keys: Vec<Vec<&[u8]>> = groups
            .iter()
            .map(|indices| {
                indices
                    .iter()
                    .filter_map(|&i| refs.get(i).copied())
                    .collect()
            })
            .collect();
        let answers = self
            .script_per_group(lua, OnReplace::Retry, &group_keys, &[b"0"])
            .await?;
        let mut found = vec![None; keys.len()];
        for (indices, answer) in groups.into_iter().zip(answers) {
            let reply: Value = convert(lua.name, answer)?;
            place(
                &mut found,
                &indices,
                with_expiry_items(lua.name, reply)?,
                lua.name,
            )?;
        }
        Ok(found)
    }

    /// `set_many`: one `SET` per entry, the entries of one key one after the other in the
    /// caller's order (so that the last wins); answers the indices of the entries the server
    /// refused. The network failing fails the call; a refusal (out of memory…) fails that entry
    /// only.
    pub(crate) async fn set_many(
        &self,
        entries: &[(String, Bytes)],
        px: Option<u64>,
    ) -> Result<Vec<usize>> {
        let answers = self.set_each("SET", entries, px, &[]).await?;
        let mut failed = Vec::new();
        for (i, answer) in answers.into_iter().enumerate() {
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
                Err(err) => {
                    tracing::debug!(backend = BACKEND, index = i, %err, "SET in set_many failed");
                    failed.push(i);
                }
            }
        }
        Ok(failed)
    }

    /// `add_or_get_many`: one `SET … NX GET` per entry, sent like `set_many`'s; per entry,
    /// `None` when it was written, the value held when its key had one, or the refusal.
    pub(crate) async fn add_or_get_many(
        &self,
        entries: &[(String, Bytes)],
        px: Option<u64>,
    ) -> Result<Vec<Result<Option<Bytes>>>> {
        let answers = self
            .set_each("SET NX GET", entries, px, &["NX", "GET"])
            .await?;
        Ok(answers
            .into_iter()
            .map(|answer| match answer? {
                Value::Nil => Ok(None),
                Value::BulkString(held) => Ok(Some(Bytes::from(held))),
                other => Err(error::unexpected("SET NX GET", format!("{other:?}"))),
            })
            .collect())
    }

    /// One `SET key value [PX ms] flags…` per entry, chained by key (so that the entries of
    /// one key run in the caller's order, and the last wins), all chains in one batch. Answers
    /// one reply per entry, in the caller's order: a refusal by the server is that entry's
    /// answer; the network failing fails the call.
    async fn set_each(
        &self,
        command: &'static str,
        entries: &[(String, Bytes)],
        px: Option<u64>,
        flags: &[&str],
    ) -> Result<Vec<Result<Value>>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Entries of one key must be applied in the caller's order: one pipeline keeps the
        // order of everything; chains that run side by side keep it per key.
        let groups = if self.topology.pipelines_in_order() {
            vec![(0..entries.len()).collect()]
        } else {
            by_key(entries.iter().map(|(key, _)| key.as_str()))
        };
        let mut chains = Vec::with_capacity(groups.len());
        for indices in &groups {
            let mut chain = Vec::with_capacity(indices.len());
            for (key, value) in indices.iter().filter_map(|&i| entries.get(i)) {
                let cmd = set_command(key, value, px, flags);
                chain.push(Part::new(cmd, key.as_bytes()));
            }
            chains.push(chain);
        }
        let answers = self.batch(command, OnReplace::Fail, chains).await?;
        let mut replies: Vec<Option<Result<Value>>> = (0..entries.len()).map(|_| None).collect();
        for (indices, chain_answers) in groups.into_iter().zip(answers) {
            if chain_answers.len() != indices.len() {
                return Err(error::unexpected(
                    command,
                    format!(
                        "{} answers for {} entries",
                        chain_answers.len(),
                        indices.len()
                    ),
                ));
            }
            for (i, answer) in indices.into_iter().zip(chain_answers) {
                let reply = answer.map_err(|e| error::from_redis(command, e));
                if let Err(err) = &reply {
                    if matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) {
                        return Err(err.clone());
                    }
                }
                if let Some(slot) = replies.get_mut(i) {
                    *slot = Some(reply);
                }
            }
        }
        replies
            .into_iter()
            .map(|reply| reply.ok_or_else(|| error::unexpected(command, "an entry has no answer")))
            .collect()
    }

    /// `delete_many`: one `UNLINK` per group; answers how many keys existed.
    pub(crate) async fn delete_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        let chains = per_group("UNLINK", &refs, &self.topology.group(&refs));
        let answers = flatten(
            self.topology
                .batch("UNLINK", OnReplace::Fail, chains)
                .await?,
        );
        let mut deleted = 0;
        for answer in answers {
            let removed: i64 = convert("UNLINK", answer)?;
            deleted += u64::try_from(removed).unwrap_or(0);
        }
        Ok(deleted)
    }

    /// `clear`: scans every node for `pattern` (already escaped) and deletes what it finds,
    /// the nodes at once; answers how many keys were deleted. Each round trip has its own
    /// bound; the first failure ends the call.
    pub(crate) async fn clear(&self, pattern: &str) -> Result<u64> {
        let nodes = self.topology.nodes().await?;
        let scans = nodes.iter().map(|node| self.clear_node(node, pattern));
        let counts = futures::future::try_join_all(scans).await?;
        Ok(counts.into_iter().sum())
    }

    async fn clear_node(&self, node: &Node, pattern: &str) -> Result<u64> {
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let reply = self.topology.query_node("SCAN", node, &scan).await?;
            let (next, keys): (u64, Vec<Vec<u8>>) = convert("SCAN", Ok(reply))?;
            if !keys.is_empty() {
                // A key SCAN returns twice is counted once: UNLINK counts what it removed.
                deleted += self.delete_many(&keys).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// Converts one answer, mapping its error.
fn convert<T: FromRedisValue>(command: &str, answer: RedisResult<Value>) -> Result<T> {
    answer
        .and_then(|value| Ok(redis::from_redis_value(value)?))
        .map_err(|e| error::from_redis(command, e))
}

/// The answers of chains of one command each, one per chain (a missing one is an error).
fn flatten(answers: Answers) -> Vec<RedisResult<Value>> {
    answers
        .into_iter()
        .map(|chain| {
            chain.into_iter().next().unwrap_or_else(|| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a part of a multi-key call has no answer",
                )))
            })
        })
        .collect()
}

/// Puts the `values` of one group at their `indices` in `found`.
fn place<T>(
    found: &mut [Option<T>],
    indices: &[usize],
    values: Vec<Option<T>>,
    command: &str,
) -> Result<()> {
    if values.len() != indices.len() {
        return Err(error::unexpected(
            command,
            format!("{} values for {} keys", values.len(), indices.len()),
        ));
    }
    for (&i, value) in indices.iter().zip(values) {
        if let Some(slot) = found.get_mut(i) {
            *slot = value;
        }
    }
    Ok(())
}

/// The items of a `get_with_expiry.lua` reply: `nil` or `[value, pttl]` each.
fn with_expiry_items(command: &str, reply: Value) -> Result<Vec<Option<(Bytes, Expiry)>>> {
    let Value::Array(items) = reply else {
        return Err(error::unexpected(command, format!("{reply:?}")));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Nil => Ok(None),
            Value::Array(pair) => {
                let (value, pttl): (Bytes, i64) = convert(command, Ok(Value::Array(pair)))?;
                Ok(match pttl {
                    -1 => Some((value, Expiry::Never)),
                    ms => u64::try_from(ms)
                        .ok()
                        .and_then(|ms| Expiry::after(std::time::Duration::from_millis(ms)))
                        .map(|expiry| (value, expiry)),
                })
            }
            other => Err(error::unexpected(command, format!("{other:?}"))),
        })
        .collect()
}

/// `SET key value [PX ms] [flags…]`, its buffers sized once.
pub(crate) fn set_command(key: &str, value: &[u8], px: Option<u64>, flags: &[&str]) -> Cmd {
    let args = 3 + 2 * usize::from(px.is_some()) + flags.len();
    let data = 3 + key.len() + value.len() + 22 + flags.iter().map(|f| f.len()).sum::<usize>();
    let mut cmd = Cmd::with_capacity(args, data);
    cmd.arg("SET").arg(key).arg(value);
    if let Some(ms) = px {
        cmd.arg("PX").arg(ms);
    }
    for flag in flags {
        cmd.arg(*flag);
    }
    cmd
}

/// The indices of `keys`, grouped by key; the groups in the order their first key comes.
fn by_key<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, key) in keys.enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_grouped_by_key_in_first_seen_order() {
        assert_eq!(by_key(["x", "y", "x"].into_iter()), [vec![0, 2], vec![1]]);
        assert!(by_key(std::iter::empty()).is_empty());
    }

    #[test]
    fn with_expiry_replies_give_values_and_expiries() {
        let reply = Value::Array(vec![
            Value::Nil,
            Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Int(-1)]),
            Value::Array(vec![Value::BulkString(b"b".to_vec()), Value::Int(1500)]),
            Value::Array(vec![Value::BulkString(b"c".to_vec()), Value::Int(0)]),
        ]);
        let items = with_expiry_items("x", reply).unwrap();
        assert_eq!(
            items,
            vec![
                None,
                Some((Bytes::from_static(b"a"), Expiry::Never)),
                Some((
                    Bytes::from_static(b"b"),
                    Expiry::After(std::time::Duration::from_millis(1500))
                )),
                None,
            ]
        );
        assert!(with_expiry_items("x", Value::Okay).is_err());
    }
}
