//! Real `redis-server` processes for the cache crates' tests: no mocks.
//!
//! [`RedisServer::start`] runs a private server on a free loopback port, in a fresh temporary
//! directory, with persistence off; it is killed (and its directory removed) on `Drop`. Tests
//! that only need *a* server share one per test process through [`shared_redis_url`], or use
//! the server named by `CACHE_TEST_REDIS_URL`.
//!
//! Every server is started through a small `sh` watchdog that kills it when the test process
//! is gone, so that no server outlives the tests, even when the process is killed or when the
//! server is held in a `static` that is never dropped.
//!
//! [`RedisCluster::start`] runs a Redis Cluster of six such servers (three masters, three
//! replicas); [`shared_cluster_url`] shares one per test process, or names the cluster in
//! `CACHE_TEST_REDIS_CLUSTER_URL`.
//!
//! When `redis-server` is not installed, starting fails with [`NOT_FOUND_MESSAGE`]: a test
//! that needs Redis fails and says what to install; it never skips and passes.
//!
//! ```no_run
//! use cache_test_support::RedisServer;
//!
//! let server = RedisServer::start_with(&["--requirepass", "secret"])?;
//! let url = format!("redis://:secret@127.0.0.1:{}/0", server.port());
//! # let _ = url;
//! # Ok::<(), String>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
// `shared_redis_url` and `shared_cluster_url` report a server that cannot be started by
// panicking: they are only called from tests, where a panic is how a failure is reported, and
// have no caller to return to.
#![allow(clippy::panic)]

mod cluster;
mod django;
mod memcached;
mod postgres;
mod sentinel;

pub use cluster::{
    shared_cluster_url, RedisCluster, NODE_TIMEOUT_MS, REDIS_CLI_NOT_FOUND_MESSAGE,
    REDIS_CLUSTER_URL_VAR,
};
pub use django::{
    django_python, run_python, DJANGO_REQUIREMENTS, DJANGO_VENV_VAR, PYTHON_NOT_FOUND_MESSAGE,
};
pub use memcached::{
    shared_memcached_url, MemcachedServer, MEMCACHED_NOT_FOUND_MESSAGE, MEMCACHED_URL_VAR,
    SHARED_SERVER_ARGS as SHARED_MEMCACHED_ARGS,
};
pub use postgres::{
    shared_postgres_url, PostgresServer, POSTGRES_NOT_FOUND_MESSAGE, POSTGRES_URL_VAR,
};
pub use sentinel::{RedisSentinel, DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS, MASTER_NAME};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable naming a Redis server that tests may use instead of starting one.
pub const REDIS_URL_VAR: &str = "CACHE_TEST_REDIS_URL";

/// The error of every start when `redis-server` is not on `PATH`.
pub const NOT_FOUND_MESSAGE: &str = "redis-server was not found; install it with \
`apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`, or set \
CACHE_TEST_REDIS_URL to a server the tests may use.";

/// How long a server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a replica may take to report its link to the master up.
pub const REPLICA_TIMEOUT: Duration = Duration::from_secs(20);

/// How many free ports are tried when another process takes the one picked first.
const START_ATTEMPTS: usize = 3;

/// Starts `redis-server` in the background, prints its pid, and waits for it; a watchdog
/// kills it (and removes its directory) once the test process (`$CACHE_TEST_PARENT_PID`) is
/// gone. Arguments are passed as `"$@"`, so nothing is re-parsed by the shell.
const LAUNCHER: &str = r#"
redis-server "$@" >"$CACHE_TEST_DIR/redis.log" 2>&1 &
server=$!
echo "$server"
(
    while kill -0 "$CACHE_TEST_PARENT_PID" 2>/dev/null; do sleep 0.5; done
    kill -9 "$server" 2>/dev/null
) >/dev/null 2>&1 &
watchdog=$!
wait "$server"
kill "$watchdog" 2>/dev/null
kill -0 "$CACHE_TEST_PARENT_PID" 2>/dev/null || rm -rf "$CACHE_TEST_DIR"
"#;

/// The error of [`RedisServer::start_tls`] when `openssl` is not on `PATH`.
pub const OPENSSL_NOT_FOUND_MESSAGE: &str = "openssl was not found; the TLS tests make their \
certificates with it: install it with `apt-get install openssl` (Debian/Ubuntu) or \
`brew install openssl`.";

/// A `redis-server` process on a free loopback port, killed on `Drop`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
    pid: u32,
    launcher: Option<Child>,
    tls: Option<Tls>,
}

/// The TLS side of a server started by [`RedisServer::start_tls`].
#[derive(Debug)]
struct Tls {
    port: u16,
    /// Holds the CA and the server's certificate and key.
    dir: PathBuf,
    ca_pem: Vec<u8>,
}

impl RedisServer {
    /// Starts a server with persistence off (`--save "" --appendonly no`).
    ///
    /// # Errors
    /// [`NOT_FOUND_MESSAGE`] when `redis-server` is not on `PATH`; otherwise a message with
    /// the server's log when it exits or does not answer `PING` within 5 seconds.
    pub fn start() -> Result<RedisServer, String> {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra arguments, for example `&["--requirepass", "secret"]`.
    ///
    /// # Errors
    /// As [`start`](RedisServer::start).
    pub fn start_with(extra_args: &[&str]) -> Result<RedisServer, String> {
        if !redis_server_on_path() {
            return Err(NOT_FOUND_MESSAGE.to_owned());
        }
        let args: Vec<String> = extra_args.iter().map(|a| (*a).to_owned()).collect();
        let dir = fresh_dir()?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let mut server = RedisServer {
                port,
                args: args.clone(),
                dir: dir.clone(),
                pid: 0,
                launcher: None,
                tls: None,
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                // Another process may have taken the port between our probe and the bind.
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Starts a server that listens with TLS too, on [`tls_port`](Self::tls_port), with a
    /// certificate for `127.0.0.1` and `localhost` signed by a CA made for it
    /// ([`tls_ca_pem`](Self::tls_ca_pem)). Clients need no certificate of their own. The plain
    /// port stays open, for checks.
    ///
    /// # Errors
    /// As [`start`](RedisServer::start); [`OPENSSL_NOT_FOUND_MESSAGE`] when `openssl` (which
    /// makes the certificates) is not on `PATH`.
    pub fn start_tls() -> Result<RedisServer, String> {
        if !on_path("openssl") {
            return Err(OPENSSL_NOT_FOUND_MESSAGE.to_owned());
        }
        let dir = fresh_dir()?;
        let made = make_certificates(&dir);
        let ca_pem = match made.and_then(|()| {
            std::fs::read(dir.join("ca.crt")).map_err(|e| format!("reading ca.crt: {e}"))
        }) {
            Ok(pem) => pem,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let port = free_port()?;
        let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
        let port_arg = port.to_string();
        let mut server = RedisServer::start_with(&[
            "--tls-port",
            &port_arg,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ]);
        match server.as_mut() {
            Ok(server) => server.tls = Some(Tls { port, dir, ca_pem }),
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        server
    }

    /// Starts a replica of `master` (`--replicaof 127.0.0.1 <port>`, and `--masterauth` when
    /// `password` is given), with `extra_args`, and returns once it reports
    /// `master_link_status:up` (its first sync done).
    ///
    /// # Errors
    /// As [`start`](RedisServer::start); when the link is not up within [`REPLICA_TIMEOUT`],
    /// a message with the replica's `INFO replication` and its log.
    pub fn start_replica_of(
        master: &RedisServer,
        password: Option<&str>,
        extra_args: &[&str],
    ) -> Result<RedisServer, String> {
        let port = master.port().to_string();
        let mut args = vec!["--replicaof", "127.0.0.1", port.as_str()];
        if let Some(password) = password {
            args.extend(["--masterauth", password, "--requirepass", password]);
        }
        args.extend_from_slice(extra_args);
        let replica = RedisServer::start_with(&args)?;
        let deadline = Instant::now() + REPLICA_TIMEOUT;
        loop {
            let info = cluster::raw_command(replica.port(), password, &["INFO", "replication"])
                .unwrap_or_default();
            if cluster::info_field(&info, "master_link_status") == Some("up") {
                return Ok(replica);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the replica on port {} of {} has no link up after {REPLICA_TIMEOUT:?}: \
                     {}; its log:\n{}",
                    replica.port(),
                    master.port(),
                    info.lines().take(12).collect::<Vec<_>>().join(", "),
                    read_log(&replica.dir)
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command on a new connection (after `AUTH` when `password` is given) and
    /// returns its answer as text: a status, a bulk string or an integer.
    ///
    /// # Errors
    /// When the server cannot be reached, answers an error, or answers an array.
    pub fn command(&self, password: Option<&str>, args: &[&str]) -> Result<String, String> {
        cluster::raw_command(self.port, password, args)
    }

    /// The TLS port of a server started by [`start_tls`](Self::start_tls).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|tls| tls.port)
    }

    /// `rediss://127.0.0.1:{tls_port}` for a server started by [`start_tls`](Self::start_tls).
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port()
            .map(|port| format!("rediss://127.0.0.1:{port}"))
    }

    /// The PEM certificate of the CA that signed the server's certificate.
    pub fn tls_ca_pem(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_slice())
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`, without a password or a database number.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id of the server (of the last one started, after a [`kill`](Self::kill)).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the server with `SIGKILL` and waits until it is gone.
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn kill(&mut self) -> Result<(), String> {
        stop_launched(&mut self.launcher, self.pid, "-KILL", "redis-server")
    }

    /// Starts the server again on the same port with the same arguments (killing the running
    /// one first, if any), and waits until it answers `PING`.
    ///
    /// # Errors
    /// As [`start`](RedisServer::start); the port may have been taken in the meantime.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill()?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        self.launch()
    }

    /// Freezes the server with `SIGSTOP`: it keeps its connections but answers nothing.
    ///
    /// # Errors
    /// When `kill` cannot be run or the process is gone.
    pub fn stop_signal(&self) -> Result<(), String> {
        signal(self.pid, "-STOP")
    }

    /// Resumes a server frozen by [`stop_signal`](Self::stop_signal) with `SIGCONT`.
    ///
    /// # Errors
    /// When `kill` cannot be run or the process is gone.
    pub fn cont_signal(&self) -> Result<(), String> {
        signal(self.pid, "-CONT")
    }

    /// Spawns the launcher on `self.port` and waits for the server to answer.
    fn launch(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(LAUNCHER)
            .arg("cache-test-redis")
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir", &dir])
            .args(&self.args)
            .env("CACHE_TEST_DIR", &dir)
            .env("CACHE_TEST_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut launcher = command
            .spawn()
            .map_err(|e| format!("starting redis-server through sh: {e}"))?;
        let pid = read_pid(&mut launcher);
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                let _ = launcher.kill();
                let _ = launcher.wait();
                return Err(e);
            }
        };
        self.pid = pid;
        self.launcher = Some(launcher);
        if let Err(e) = self.wait_until_ready() {
            let _ = self.kill();
            return Err(e);
        }
        Ok(())
    }

    /// Polls with a raw `PING` until the server answers `+PONG` (or `-NOAUTH`, which proves
    /// it is up just as well), the server exits, or [`START_TIMEOUT`] passes.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(launcher) = self.launcher.as_mut() {
                if let Ok(Some(status)) = launcher.try_wait() {
                    self.launcher = None;
                    return Err(format!(
                        "redis-server on port {} exited ({status}) before answering PING; \
                         its log:\n{}",
                        self.port,
                        read_log(&self.dir)
                    ));
                }
            }
            if ping(addr).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server on port {} did not answer PING within {START_TIMEOUT:?}; \
                     its log:\n{}",
                    self.port,
                    read_log(&self.dir)
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen server dies of SIGKILL all the same.
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(tls) = &self.tls {
            let _ = std::fs::remove_dir_all(&tls.dir);
        }
    }
}

/// The URL of a server that tests may share: `CACHE_TEST_REDIS_URL` when it is set, otherwise
/// one server started for the whole test process (and killed by its watchdog when the process
/// exits).
///
/// Tests that share a server must keep to their own keys (a random prefix) and never flush it.
///
/// # Panics
/// When no server can be started, with [`NOT_FOUND_MESSAGE`] if `redis-server` is missing.
pub fn shared_redis_url() -> String {
    if let Ok(url) = std::env::var(REDIS_URL_VAR) {
        if !url.is_empty() {
            return url;
        }
    }
    static SHARED: OnceLock<Result<RedisServer, String>> = OnceLock::new();
    match SHARED.get_or_init(RedisServer::start) {
        Ok(server) => server.url(),
        Err(e) => panic!("cannot start the shared test Redis server: {e}"),
    }
}

/// Sends one raw `PING` and checks that the answer proves a live server.
fn ping(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply).map_err(|e| e.to_string())?;
    let reply = reply.get(..n).unwrap_or_default();
    if reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(reply).into_owned())
    }
}

/// Reads the pid the launcher prints first.
fn read_pid(launcher: &mut Child) -> Result<u32, String> {
    let stdout = launcher
        .stdout
        .take()
        .ok_or_else(|| "the launcher has no stdout".to_owned())?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading the redis-server pid: {e}"))?;
    line.trim()
        .parse()
        .map_err(|e| format!("the launcher printed {line:?}, not a pid: {e}"))
}

/// Sends `signal` to the server `pid` that `launcher` started, then reaps the launcher (it
/// exits as soon as the server is gone); nothing when it is already stopped. `what` names the
/// server in errors.
fn stop_launched(
    launcher: &mut Option<Child>,
    pid: u32,
    signal_name: &str,
    what: &str,
) -> Result<(), String> {
    let Some(mut launcher) = launcher.take() else {
        return Ok(());
    };
    let signalled = signal(pid, signal_name);
    let waited = launcher
        .wait()
        .map(|_| ())
        .map_err(|e| format!("waiting for {what} {pid} to exit: {e}"));
    signalled.and(waited)
}

/// Sends `signal` (`-KILL`, `-STOP`, `-CONT`) with the `kill` command.
fn signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running kill {signal} {pid}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill {signal} {pid} failed ({status})"))
    }
}

/// A port that was free a moment ago: bind port 0, read the port, let it go.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "cache-test-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
}

fn redis_server_on_path() -> bool {
    on_path("redis-server")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Makes `ca.crt`, and `server.crt` and `server.key` for 127.0.0.1 and localhost signed by it,
/// in `dir`, with the `openssl` command.
fn make_certificates(dir: &Path) -> Result<(), String> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("writing server.ext: {e}"))?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"],
            &["-subj", "/CN=cache-test-ca"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
            &["-subj", "/CN=localhost"],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running openssl: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "openssl {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// The calls per command in the text of `INFO commandstats`: `cmdstat_get:calls=3,…` gives
/// `("get", 3)`. Tests count round trips with it.
pub fn command_calls(info: &str) -> std::collections::HashMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_dies_on_drop() {
        let server = RedisServer::start().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        ping(addr).unwrap();
        let pid = server.pid();
        drop(server);
        assert!(
            signal(pid, "-0").is_err(),
            "redis-server {pid} survived Drop"
        );
        assert!(ping(addr).is_err());
    }

    #[test]
    fn kill_and_restart_on_the_same_port() {
        let mut server = RedisServer::start_with(&["--requirepass", "secret"]).unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        server.kill().unwrap();
        assert!(ping(addr).is_err());
        server.restart().unwrap();
        ping(addr).unwrap();
    }

    #[test]
    fn tls_server_answers_on_its_plain_port_and_has_a_ca() {
        let server = RedisServer::start_tls().unwrap();
        ping(SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()))).unwrap();
        assert!(server.tls_port().is_some());
        assert!(server
            .tls_ca_pem()
            .unwrap()
            .starts_with(b"-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn shared_server_is_started_once() {
        assert_eq!(shared_redis_url(), shared_redis_url());
    }
}
