//! [`RedisSentinel`]: a primary, a replica and three sentinels on loopback ports.
//!
//! The primary and the replica are [`RedisServer`]s (their own temporary directories, the
//! watchdog that kills them when the test process is gone). Each sentinel is
//! `redis-server <conf> --sentinel` started through the same launcher, with a config file in
//! its own temporary directory (a sentinel rewrites it), a quorum of two, and short timeouts
//! ([`DOWN_AFTER_MS`], [`FAILOVER_TIMEOUT_MS`]) so that a killed primary is replaced within a
//! few seconds. [`RedisSentinel::start`] returns once the replica is in sync and every
//! sentinel sees the replica and the two other sentinels: bounded waits, no fixed sleeps.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cluster::{info_field, raw_command};
use crate::{
    free_port, fresh_dir, ping, read_log, read_pid, redis_server_on_path, signal, RedisServer,
    LAUNCHER, NOT_FOUND_MESSAGE,
};

/// The name the test sentinels monitor the primary under.
pub const MASTER_NAME: &str = "mymaster";

/// How long the primary may be unreachable before the sentinels call it down.
pub const DOWN_AFTER_MS: u64 = 1000;

/// The sentinels' failover timeout.
pub const FAILOVER_TIMEOUT_MS: u64 = 3000;

/// How long the sentinels may take to see each other and the replica.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many sentinels a test deployment has.
const SENTINELS: usize = 3;

/// One sentinel process.
#[derive(Debug)]
struct SentinelProcess {
    port: u16,
    dir: PathBuf,
    pid: u32,
    launcher: Option<Child>,
}

impl SentinelProcess {
    fn start(port: u16, config: &str) -> Result<SentinelProcess, String> {
        let dir = fresh_dir()?;
        let mut process = SentinelProcess {
            port,
            dir,
            pid: 0,
            launcher: None,
        };
        process.launch(config)?;
        Ok(process)
    }

    fn launch(&mut self, config: &str) -> Result<(), String> {
        let conf = self.dir.join("sentinel.conf");
        let text = format!(
            "port {}\nbind 127.0.0.1\ndir {}\n{config}",
            self.port,
            self.dir.display()
        );
        std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let mut launcher = Command::new("sh")
            .arg("-c")
            .arg(LAUNCHER)
            .arg("cache-test-sentinel")
            .arg(&conf)
            .arg("--sentinel")
            .env("CACHE_TEST_DIR", &self.dir)
            .env("CACHE_TEST_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting redis-server --sentinel through sh: {e}"))?;
        let pid = match read_pid(&mut launcher) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = launcher.kill();
                let _ = launcher.wait();
                return Err(e);
            }
        };
        self.pid = pid;
        self.launcher = Some(launcher);
        let deadline = Instant::now() + Duration::from_secs(5);
        let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, self.port));
        while ping(addr).is_err() {
            if Instant::now() >= deadline {
                let log = read_log(&self.dir);
                self.kill();
                return Err(format!(
                    "the sentinel on port {} did not answer PING within 5 s; its log:\n{log}",
                    self.port
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut launcher) = self.launcher.take() {
            let _ = signal(self.pid, "-KILL");
            let _ = launcher.wait();
        }
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A primary, its replica and three sentinels watching them, on free loopback ports; all
/// killed on `Drop`.
///
/// ```no_run
/// use cache_test_support::RedisSentinel;
///
/// let deployment = RedisSentinel::start()?;
/// // `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/mymaster/0`
/// let url = deployment.url();
/// # let _ = url;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    /// The first primary, then its replica.
    nodes: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
    /// Each sentinel's config text (for restarts).
    config: String,
    password: Option<String>,
    sentinel_password: Option<String>,
}

impl RedisSentinel {
    /// Starts a primary, a replica and three sentinels, without passwords.
    ///
    /// # Errors
    /// [`NOT_FOUND_MESSAGE`](crate::NOT_FOUND_MESSAGE) when `redis-server` is missing; a
    /// message saying what did not come up otherwise.
    pub fn start() -> Result<RedisSentinel, String> {
        RedisSentinel::start_with(None, None)
    }

    /// As [`start`](Self::start), the data nodes asking for `password` and the sentinels for
    /// `sentinel_password`.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with(
        password: Option<&str>,
        sentinel_password: Option<&str>,
    ) -> Result<RedisSentinel, String> {
        if !redis_server_on_path() {
            return Err(NOT_FOUND_MESSAGE.to_owned());
        }
        let mut args = Vec::new();
        if let Some(password) = password {
            // The primary becomes a replica after a failover: it needs masterauth too.
            args.extend(["--requirepass", password, "--masterauth", password]);
        }
        let primary = RedisServer::start_with(&args)?;
        let replica = RedisServer::start_replica_of(&primary, password, &[])?;
        let mut config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            primary.port()
        );
        if let Some(password) = password {
            config.push_str(&format!("sentinel auth-pass {MASTER_NAME} {password}\n"));
        }
        if let Some(password) = sentinel_password {
            config.push_str(&format!("requirepass {password}\n"));
        }
        let mut sentinels = Vec::with_capacity(SENTINELS);
        for _ in 0..SENTINELS {
            sentinels.push(SentinelProcess::start(free_port()?, &config)?);
        }
        let deployment = RedisSentinel {
            nodes: vec![primary, replica],
            sentinels,
            config,
            password: password.map(str::to_owned),
            sentinel_password: sentinel_password.map(str::to_owned),
        };
        deployment.wait_until_settled(1)?;
        Ok(deployment)
    }

    /// `redis+sentinel://127.0.0.1:p1,…/mymaster/0`, with the data password before the
    /// sentinels and `?sentinel_password=` when they were given.
    pub fn url(&self) -> String {
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let query = self
            .sentinel_password
            .as_ref()
            .map(|p| format!("?sentinel_password={p}"))
            .unwrap_or_default();
        format!(
            "redis+sentinel://{auth}{}/{MASTER_NAME}/0{query}",
            hosts.join(",")
        )
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// `INFO sentinel` of the sentinel on `port`, its `master0` line split into fields.
    fn master_status(&self, port: u16) -> Result<Vec<(String, String)>, String> {
        let info = raw_command(
            port,
            self.sentinel_password.as_deref(),
            &["INFO", "sentinel"],
        )?;
        let line = info_field(&info, "master0").ok_or_else(|| format!("no master0 in {info}"))?;
        Ok(line
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// The port of the primary, as the first sentinel that answers names it.
    ///
    /// # Errors
    /// When no sentinel answers.
    pub fn primary_port(&self) -> Result<u16, String> {
        let mut last = String::from("no sentinel running");
        for sentinel in self.sentinels.iter().filter(|s| s.launcher.is_some()) {
            match self.master_status(sentinel.port) {
                Ok(fields) => {
                    let addr = field(&fields, "address").unwrap_or_default();
                    return addr
                        .rsplit_once(':')
                        .and_then(|(_, p)| p.parse().ok())
                        .ok_or_else(|| format!("bad address {addr:?}"));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The node (primary or replica) listening on `port`.
    fn node_mut(&mut self, port: u16) -> Result<&mut RedisServer, String> {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .ok_or_else(|| format!("no node on port {port}"))
    }

    /// The port of the node that is not the current primary.
    ///
    /// # Errors
    /// When no sentinel answers.
    pub fn replica_port(&self) -> Result<u16, String> {
        let primary = self.primary_port()?;
        self.nodes
            .iter()
            .map(RedisServer::port)
            .find(|&p| p != primary)
            .ok_or_else(|| "no replica".to_owned())
    }

    /// Sends one command to the data node on `port` (with the data password).
    ///
    /// # Errors
    /// As [`RedisServer::command`].
    pub fn node_command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        raw_command(port, self.password.as_deref(), args)
    }

    /// Kills the current primary (`SIGKILL`) and returns its port.
    ///
    /// # Errors
    /// When no sentinel answers or the kill fails.
    pub fn kill_primary(&mut self) -> Result<u16, String> {
        let port = self.primary_port()?;
        self.node_mut(port)?.kill()?;
        Ok(port)
    }

    /// Kills the data node on `port`.
    ///
    /// # Errors
    /// When there is no such node or the kill fails.
    pub fn kill_node(&mut self, port: u16) -> Result<(), String> {
        self.node_mut(port)?.kill()
    }

    /// Starts the data node on `port` again (an old primary comes back as a replica: the
    /// sentinels reconfigure it).
    ///
    /// # Errors
    /// As [`RedisServer::restart`].
    pub fn restart_node(&mut self, port: u16) -> Result<(), String> {
        self.node_mut(port)?.restart()
    }

    /// Kills sentinel `index` (0 to 2).
    pub fn kill_sentinel(&mut self, index: usize) {
        if let Some(s) = self.sentinels.get_mut(index) {
            s.kill();
        }
    }

    /// Starts sentinel `index` again, on the same port, with a fresh config.
    ///
    /// # Errors
    /// When it does not come up.
    pub fn restart_sentinel(&mut self, index: usize) -> Result<(), String> {
        let primary = self.primary_port()?;
        let config = self.config.replacen(
            &format!("{MASTER_NAME} 127.0.0.1 {} 2", self.nodes[0].port()),
            &format!("{MASTER_NAME} 127.0.0.1 {primary} 2"),
            1,
        );
        let Some(s) = self.sentinels.get_mut(index) else {
            return Err(format!("no sentinel {index}"));
        };
        s.kill();
        s.launch(&config)
    }

    /// Waits until every running sentinel names a primary other than `old_port` that
    /// answers `ROLE` as a primary; returns its port.
    ///
    /// # Errors
    /// When that does not happen within `timeout`, with what the sentinels report.
    pub fn wait_for_failover(&self, old_port: u16, timeout: Duration) -> Result<u16, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let ports: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .filter(|s| s.launcher.is_some())
                .map(|s| {
                    let fields = self.master_status(s.port).ok()?;
                    field(&fields, "address")?.rsplit_once(':')?.1.parse().ok()
                })
                .collect();
            if let Some(Some(port)) = ports.first() {
                let agreed = ports.iter().all(|p| *p == Some(*port));
                if agreed
                    && *port != old_port
                    && self
                        .node_command(*port, &["INFO", "replication"])
                        .ok()
                        .as_deref()
                        .and_then(|info| info_field(info, "role").map(str::to_owned))
                        .as_deref()
                        == Some("master")
                {
                    return Ok(*port);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no failover from {old_port} within {timeout:?}: the sentinels name {ports:?}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running sentinel reports the primary ok, `replicas` replicas and
    /// the other sentinels.
    ///
    /// # Errors
    /// When that does not happen within 30 s, with what the sentinels report.
    pub fn wait_until_settled(&self, replicas: usize) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let running = self
            .sentinels
            .iter()
            .filter(|s| s.launcher.is_some())
            .count();
        loop {
            let mut report = Vec::new();
            let mut settled = true;
            for s in self.sentinels.iter().filter(|s| s.launcher.is_some()) {
                match self.master_status(s.port) {
                    Ok(fields) => {
                        let ok = field(&fields, "status") == Some("ok")
                            && field(&fields, "slaves") == Some(&replicas.to_string())
                            && field(&fields, "sentinels") == Some(&running.to_string());
                        settled &= ok;
                        report.push(format!("{}: {fields:?}", s.port));
                    }
                    Err(e) => {
                        settled = false;
                        report.push(format!("{}: {e}", s.port));
                    }
                }
            }
            if settled {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the sentinels did not settle within {SETTLE_TIMEOUT:?}: {}; first log:\n{}",
                    report.join("; "),
                    self.sentinels
                        .first()
                        .map(|s| read_log(&s.dir))
                        .unwrap_or_default()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinels_settle_and_promote_the_replica() {
        let mut deployment = RedisSentinel::start_with(Some("pw"), Some("spw")).unwrap();
        assert!(deployment
            .url()
            .starts_with("redis+sentinel://:pw@127.0.0.1:"));
        let old = deployment.kill_primary().unwrap();
        let new = deployment
            .wait_for_failover(old, Duration::from_secs(30))
            .unwrap();
        assert_ne!(old, new);
    }
}
