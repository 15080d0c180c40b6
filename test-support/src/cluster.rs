//! [`RedisCluster`]: six `redis-server` processes on loopback ports, joined into a Redis Cluster
//! of three masters with one replica each.
//!
//! Each node is a [`RedisServer`] (so each has its own temporary directory and the watchdog that
//! kills it when the test process is gone) started with `--cluster-enabled yes` and a node
//! timeout of one second, so that a replica takes over from a killed master within a few
//! seconds. The nodes are joined with `redis-cli --cluster create … --cluster-replicas 1`, and
//! [`RedisCluster::start`] returns once every node reports `cluster_state:ok`, every node sees a
//! replica for every master, each of those replicas reports `master_link_status:up`, and every
//! replica is in sync with its master ([`RedisCluster::wait_until_ready`]). Without the replica
//! check, a test that kills a master could find no replica to wait for: `redis-cli` returns
//! before the replicas have attached, and a busy machine makes that window wide.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::{free_port, on_path, RedisServer, NOT_FOUND_MESSAGE};

/// The environment variable naming a Redis Cluster (a `redis+cluster://` URL) that tests may use
/// instead of starting one.
pub const REDIS_CLUSTER_URL_VAR: &str = "CACHE_TEST_REDIS_CLUSTER_URL";

/// The error of [`RedisCluster::start`] when `redis-cli` is not on `PATH`.
pub const REDIS_CLI_NOT_FOUND_MESSAGE: &str = "redis-cli was not found; the cluster tests join \
their nodes with it: install it with `apt-get install redis-server` (Debian/Ubuntu; it comes \
with redis-tools) or `brew install redis`, or set CACHE_TEST_REDIS_CLUSTER_URL to a cluster \
the tests may use.";

/// How many nodes a test cluster has: three masters and a replica for each.
const NODES: usize = 6;

/// The node timeout of the test clusters, in milliseconds: how long a master may be unreachable
/// before its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// How long a new cluster may take to report `cluster_state:ok` everywhere.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one raw command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// How many times a node is started on fresh ports when another process takes one.
const NODE_START_ATTEMPTS: usize = 3;

/// A local Redis Cluster: three masters and three replicas on free loopback ports, all killed
/// on `Drop` (or by their watchdogs when the test process is gone).
///
/// ```no_run
/// use cache_test_support::RedisCluster;
///
/// let cluster = RedisCluster::start()?;
/// // `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`, every node a seed.
/// let url = cluster.url();
/// # let _ = url;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// The nodes killed by [`kill_node`](Self::kill_node), by port.
    killed: Vec<u16>,
    password: Option<String>,
}

impl RedisCluster {
    /// Starts six nodes and joins them into a cluster of three masters, each with a replica.
    ///
    /// # Errors
    /// [`NOT_FOUND_MESSAGE`](crate::NOT_FOUND_MESSAGE) or [`REDIS_CLI_NOT_FOUND_MESSAGE`] when a
    /// binary is missing; otherwise a message saying which step failed, with `redis-cli`'s
    /// output or the state the nodes report.
    pub fn start() -> Result<RedisCluster, String> {
        RedisCluster::start_inner(None)
    }

    /// As [`start`](Self::start), every node asking for `password` (`requirepass`, and
    /// `masterauth` for the replicas).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_password(password: &str) -> Result<RedisCluster, String> {
        RedisCluster::start_inner(Some(password.to_owned()))
    }

    fn start_inner(password: Option<String>) -> Result<RedisCluster, String> {
        if !on_path("redis-server") {
            return Err(NOT_FOUND_MESSAGE.to_owned());
        }
        if !on_path("redis-cli") {
            return Err(REDIS_CLI_NOT_FOUND_MESSAGE.to_owned());
        }
        let mut cluster = RedisCluster {
            nodes: Vec::with_capacity(NODES),
            killed: Vec::new(),
            password,
        };
        for _ in 0..NODES {
            let node = cluster.start_node()?;
            cluster.nodes.push(node);
        }
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(
            cluster
                .ports()
                .iter()
                .map(|port| format!("127.0.0.1:{port}")),
        );
        create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(str::to_owned));
        cluster.redis_cli(&create)?;
        cluster.wait_until_ready(FORM_TIMEOUT)?;
        cluster.wait_for_replication(FORM_TIMEOUT)?;
        Ok(cluster)
    }

    /// Starts one node, with a cluster bus port of its own.
    fn start_node(&self) -> Result<RedisServer, String> {
        let mut last_error = String::new();
        for _ in 0..NODE_START_ATTEMPTS {
            // The bus port is given explicitly: the default, port + 10000, may be out of range
            // or taken.
            let bus_port = free_port()?.to_string();
            let config_file = format!("nodes-{bus_port}.conf");
            let timeout = NODE_TIMEOUT_MS.to_string();
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config_file,
                "--cluster-node-timeout",
                &timeout,
                "--cluster-port",
                &bus_port,
                // A replica's first sync starts at once instead of after 5 seconds.
                "--repl-diskless-sync-delay",
                "0",
            ];
            if let Some(password) = &self.password {
                args.extend(["--requirepass", password, "--masterauth", password]);
            }
            match RedisServer::start_with(&args) {
                Ok(server) => return Ok(server),
                Err(e) if e == NOT_FOUND_MESSAGE => return Err(e),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The ports of the six nodes, in the order they were started (killed ones included).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// `redis://127.0.0.1:{port}` for every node (without the password).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `redis+cluster://127.0.0.1:{p1},127.0.0.1:{p2},…` naming every node as a seed, with the
    /// password if the cluster has one.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports()
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let auth = self
            .password
            .as_ref()
            .map(|password| format!(":{password}@"))
            .unwrap_or_default();
        format!("redis+cluster://{auth}{}", hosts.join(","))
    }

    /// The ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|port| !self.killed.contains(port))
            .collect()
    }

    /// Sends one command to the node on `port` and returns its answer as text (a status, a
    /// bulk string or an integer).
    ///
    /// # Errors
    /// When the node cannot be reached, answers an error, or answers an array.
    pub fn command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        raw_command(port, self.password.as_deref(), args)
    }

    /// The node id (`CLUSTER MYID`) of the node on `port`.
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub fn node_id(&self, port: u16) -> Result<String, String> {
        self.command(port, &["CLUSTER", "MYID"])
    }

    /// The nodes as a live node sees them (`CLUSTER NODES`).
    fn topology(&self) -> Result<Vec<NodeLine>, String> {
        let mut last_error = "no node is running".to_owned();
        for port in self.live_ports() {
            match self.command(port, &["CLUSTER", "NODES"]) {
                Ok(text) => return Ok(text.lines().filter_map(NodeLine::parse).collect()),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The ports of the masters that serve slots, as a live node sees them.
    ///
    /// # Errors
    /// When no live node answers `CLUSTER NODES`.
    pub fn masters(&self) -> Result<Vec<u16>, String> {
        Ok(self
            .topology()?
            .into_iter()
            .filter(|node| node.is_master && node.has_slots)
            .map(|node| node.port)
            .collect())
    }

    /// The ports of the replicas of the master on `port`, as a live node sees them.
    ///
    /// # Errors
    /// When no live node answers `CLUSTER NODES`.
    pub fn replicas_of(&self, port: u16) -> Result<Vec<u16>, String> {
        let topology = self.topology()?;
        let Some(master) = topology.iter().find(|node| node.port == port) else {
            return Err(format!("no node on port {port} in the topology"));
        };
        Ok(topology
            .iter()
            .filter(|node| node.master_id == master.id)
            .map(|node| node.port)
            .collect())
    }

    /// The port of the master that serves `key`'s slot, as a live node sees it.
    ///
    /// # Errors
    /// When no live node answers, or no master serves the slot.
    pub fn master_of_key(&self, key: &str) -> Result<u16, String> {
        let any = self
            .live_ports()
            .first()
            .copied()
            .ok_or_else(|| "no node is running".to_owned())?;
        let slot: u16 = self
            .command(any, &["CLUSTER", "KEYSLOT", key])?
            .parse()
            .map_err(|e| format!("CLUSTER KEYSLOT: {e}"))?;
        self.topology()?
            .into_iter()
            .find(|node| node.is_master && node.serves(slot))
            .map(|node| node.port)
            .ok_or_else(|| format!("no master serves slot {slot}"))
    }

    /// Kills the node on `port` with `SIGKILL` (no shutdown, no goodbye to the other nodes).
    ///
    /// # Errors
    /// When no node runs on `port`, or `kill` fails.
    pub fn kill_node(&mut self, port: u16) -> Result<(), String> {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port() == port)
            .ok_or_else(|| format!("no cluster node on port {port}"))?;
        node.kill()?;
        self.killed.push(port);
        Ok(())
    }

    /// Waits until every live node reports `cluster_state:ok`, and every slot is served by a
    /// live master that no node flags as failed: after a master is killed, this returns once a
    /// replica has taken its place.
    ///
    /// # Errors
    /// After `timeout`, with the state the nodes last reported.
    pub fn wait_until_ok(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.state();
            match &state {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    return Err(format!(
                        "the cluster on ports {:?} is not ok after {timeout:?}: {e}",
                        self.ports()
                    ))
                }
            }
        }
    }

    /// Waits until the cluster is whole ([`wait_until_ok`](Self::wait_until_ok)) and every master
    /// that serves slots has a replica, as every live node sees it, that reports
    /// `master_link_status:up`: a test that kills a master then always finds a replica to
    /// take over (`redis-cli --cluster create` returns before the replicas have attached).
    ///
    /// # Errors
    /// After `timeout`, saying which master has no attached replica, or which replica's link
    /// is down, as last seen.
    pub fn wait_until_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.state().and_then(|()| self.replicas_attached());
            match state {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    return Err(format!(
                        "the cluster on ports {:?} is not ready after {timeout:?}: {e}",
                        self.ports()
                    ))
                }
            }
        }
    }

    /// `Ok` when every live node sees a replica for every master that serves slots, and each
    /// of those replicas reports its link to its master up.
    fn replicas_attached(&self) -> Result<(), String> {
        let live = self.live_ports();
        for &port in &live {
            let text = self.command(port, &["CLUSTER", "NODES"])?;
            let nodes: Vec<NodeLine> = text.lines().filter_map(NodeLine::parse).collect();
            for master in nodes.iter().filter(|n| n.is_master && n.has_slots) {
                let replicas: Vec<u16> = nodes
                    .iter()
                    .filter(|n| n.master_id == master.id && !n.failed && live.contains(&n.port))
                    .map(|n| n.port)
                    .collect();
                if replicas.is_empty() {
                    return Err(format!(
                        "node {port} sees no replica of the master {}",
                        master.port
                    ));
                }
                let mut linked = false;
                for &replica in &replicas {
                    let info = self.command(replica, &["INFO", "replication"])?;
                    if info_field(&info, "master_link_status") == Some("up") {
                        linked = true;
                        break;
                    }
                }
                if !linked {
                    return Err(format!(
                        "no replica of the master {} ({replicas:?}) reports master_link_status:up",
                        master.port
                    ));
                }
            }
        }
        Ok(())
    }

    /// `Ok` when the cluster is whole, as described in [`wait_until_ok`](Self::wait_until_ok).
    fn state(&self) -> Result<(), String> {
        let live = self.live_ports();
        for &port in &live {
            let info = self.command(port, &["CLUSTER", "INFO"])?;
            if !info.lines().any(|line| line.trim() == "cluster_state:ok") {
                return Err(format!("node {port}: {}", first_lines(&info, 3)));
            }
            let text = self.command(port, &["CLUSTER", "NODES"])?;
            let nodes: Vec<NodeLine> = text.lines().filter_map(NodeLine::parse).collect();
            let mut served = 0u32;
            for node in nodes.iter().filter(|node| node.is_master && node.has_slots) {
                if node.failed || !live.contains(&node.port) {
                    return Err(format!(
                        "node {port} sees slots on the dead master {}",
                        node.port
                    ));
                }
                served += node.slot_count;
            }
            if served != 16384 {
                return Err(format!("node {port} sees {served} of 16384 slots served"));
            }
        }
        Ok(())
    }

    /// Waits until every live replica has received everything its master had written when this
    /// was called (compares `master_repl_offset` with the replicas' offsets).
    ///
    /// # Errors
    /// After `timeout`, naming the replica that lags.
    pub fn wait_for_replication(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for master in self.masters()? {
            let target = info_field(
                &self.command(master, &["INFO", "replication"])?,
                "master_repl_offset",
            )
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("node {master}: no master_repl_offset"))?;
            for replica in self.replicas_of(master)? {
                if self.killed.contains(&replica) {
                    continue;
                }
                loop {
                    let info = self.command(replica, &["INFO", "replication"])?;
                    let linked = info_field(&info, "master_link_status") == Some("up");
                    let offset = info_field(&info, "slave_repl_offset")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    if linked && offset >= target {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "replica {replica} of {master} is at offset {offset} (link \
                             {linked}), its master at {target}, after {timeout:?}"
                        ));
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(())
    }

    /// Moves `slots` hash slots (and their keys) from the master on `from` to the master on
    /// `to`, with `redis-cli --cluster reshard`; returns when the move is complete.
    ///
    /// # Errors
    /// When `redis-cli` fails, with its output.
    pub fn reshard(&self, from: u16, to: u16, slots: u32) -> Result<(), String> {
        let args = [
            "--cluster".to_owned(),
            "reshard".to_owned(),
            format!("127.0.0.1:{from}"),
            "--cluster-from".to_owned(),
            self.node_id(from)?,
            "--cluster-to".to_owned(),
            self.node_id(to)?,
            "--cluster-slots".to_owned(),
            slots.to_string(),
            "--cluster-yes".to_owned(),
        ];
        self.redis_cli(&args).map(|_| ())
    }

    /// Runs `redis-cli` with `args` (and the password), and returns its output.
    fn redis_cli(&self, args: &[String]) -> Result<String, String> {
        let mut command = Command::new("redis-cli");
        if let Some(password) = &self.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running redis-cli: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // redis-cli --cluster reports some failures with the exit status 0 and `[ERR]`.
        if output.status.success() && !text.contains("[ERR]") {
            Ok(text)
        } else {
            Err(format!(
                "redis-cli {} failed ({}):\n{text}",
                args.join(" "),
                output.status
            ))
        }
    }
}

/// The URL of a Redis Cluster that tests may share: `CACHE_TEST_REDIS_CLUSTER_URL` when it is
/// set, otherwise one cluster started for the whole test process (and killed by the watchdogs
/// of its nodes when the process exits).
///
/// Tests that share a cluster must keep to their own keys (a random prefix), never flush it,
/// and never kill its nodes: tests that do start a private [`RedisCluster`].
///
/// # Panics
/// When no cluster can be started, saying why (a missing `redis-server` or `redis-cli`
/// included).
pub fn shared_cluster_url() -> String {
    if let Ok(url) = std::env::var(REDIS_CLUSTER_URL_VAR) {
        if !url.is_empty() {
            return url;
        }
    }
    static SHARED: OnceLock<Result<RedisCluster, String>> = OnceLock::new();
    match SHARED.get_or_init(RedisCluster::start) {
        Ok(cluster) => cluster.url(),
        Err(e) => panic!("cannot start the shared test Redis Cluster: {e}"),
    }
}

/// One line of `CLUSTER NODES`.
#[derive(Debug)]
struct NodeLine {
    id: String,
    port: u16,
    is_master: bool,
    failed: bool,
    /// The id of its master, for a replica; `-` for a master.
    master_id: String,
    has_slots: bool,
    slot_count: u32,
    /// Slot ranges, inclusive.
    ranges: Vec<(u16, u16)>,
}

impl NodeLine {
    /// Parses `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`.
    fn parse(line: &str) -> Option<NodeLine> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let address = fields.get(1)?;
        let port = address
            .split('@')
            .next()?
            .rsplit_once(':')?
            .1
            .parse()
            .ok()?;
        let flags = fields.get(2)?;
        let mut ranges = Vec::new();
        // Slots being imported or migrated (`[…]`) are still served by their owner.
        for slot in fields.iter().skip(8).filter(|s| !s.starts_with('[')) {
            let range = match slot.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let s = slot.parse().ok()?;
                    (s, s)
                }
            };
            ranges.push(range);
        }
        let slot_count = ranges
            .iter()
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum();
        Some(NodeLine {
            id: (*fields.first()?).to_owned(),
            port,
            is_master: flags.split(',').any(|f| f == "master"),
            failed: flags.split(',').any(|f| f == "fail" || f == "fail?"),
            master_id: (*fields.get(3)?).to_owned(),
            has_slots: !ranges.is_empty(),
            slot_count,
            ranges,
        })
    }

    fn serves(&self, slot: u16) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }
}

/// The value of `name:value` in an `INFO` answer.
pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join(", ")
}

/// Sends one command (after `AUTH`, with a password) on a new connection to 127.0.0.1:`port`
/// and reads a status, error, integer or bulk-string answer.
pub(crate) fn raw_command(
    port: u16,
    password: Option<&str>,
    args: &[&str],
) -> Result<String, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let context = |e: std::io::Error| format!("node {port}, {}: {e}", args.join(" "));
    let stream = TcpStream::connect_timeout(&addr, COMMAND_TIMEOUT).map_err(context)?;
    stream
        .set_read_timeout(Some(COMMAND_TIMEOUT))
        .map_err(context)?;
    let mut writer = stream.try_clone().map_err(context)?;
    let mut reader = BufReader::new(stream);
    if let Some(password) = password {
        writer
            .write_all(&encode(&["AUTH", password]))
            .map_err(context)?;
        read_reply(&mut reader).map_err(|e| format!("node {port}, AUTH: {e}"))?;
    }
    writer.write_all(&encode(args)).map_err(context)?;
    read_reply(&mut reader).map_err(|e| format!("node {port}, {}: {e}", args.join(" ")))
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply that is not an array.
fn read_reply(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the reply: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(rest.to_owned()),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| format!("bad bulk length {rest:?}"))?;
            let Ok(len) = usize::try_from(len) else {
                return Ok(String::new()); // $-1: nil
            };
            let mut body = vec![0; len + 2];
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("reading a bulk string: {e}"))?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_forms_serves_every_slot_and_survives_a_master() {
        let started = Instant::now();
        let mut cluster = RedisCluster::start().unwrap();
        let formed = started.elapsed();
        let masters = cluster.masters().unwrap();
        assert_eq!(masters.len(), 3, "{masters:?}");
        for &master in &masters {
            assert_eq!(cluster.replicas_of(master).unwrap().len(), 1);
        }
        assert!(cluster.url().starts_with("redis+cluster://127.0.0.1:"));
        assert_eq!(cluster.urls().len(), 6);

        let victim = cluster.master_of_key("some-key").unwrap();
        let replica = cluster.replicas_of(victim).unwrap()[0];
        let killed = Instant::now();
        cluster.kill_node(victim).unwrap();
        cluster.wait_until_ok(Duration::from_secs(30)).unwrap();
        assert_eq!(cluster.master_of_key("some-key").unwrap(), replica);
        eprintln!(
            "cluster formed in {formed:?}; replica promoted {:?} after SIGKILL",
            killed.elapsed()
        );
    }

    #[test]
    fn node_lines_parse() {
        let line = "07c3 127.0.0.1:30004@31004 master - 0 1 4 connected 0-5460 5461 [5462->-abc]";
        let node = NodeLine::parse(line).unwrap();
        assert_eq!(node.port, 30004);
        assert!(node.is_master && !node.failed && node.has_slots);
        assert_eq!(node.slot_count, 5462);
        assert!(node.serves(5461) && !node.serves(5462));
        let line = "e7d1 127.0.0.1:30005@31005 slave,fail 07c3 0 1 4 disconnected";
        let node = NodeLine::parse(line).unwrap();
        assert!(!node.is_master && node.failed && !node.has_slots);
        assert_eq!(node.master_id, "07c3");
    }
}
