//! Real `memcached` processes for the memcached backend's tests.
//!
//! [`MemcachedServer::start`] runs a private `memcached -l 127.0.0.1 -p <free port> -U 0` (no
//! UDP), killed on `Drop` and by a watchdog when the test process is gone, like the Redis
//! servers of this crate. [`shared_memcached_url`] shares one per test process, or names the
//! server in `CACHE_TEST_MEMCACHED_URL`. When `memcached` is not installed, starting fails with
//! [`MEMCACHED_NOT_FOUND_MESSAGE`]: the test fails and says what to install.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, fresh_dir, on_path, read_pid};

/// The environment variable naming a memcached server that tests may use instead of starting
/// one (`memcached://host:port`).
pub const MEMCACHED_URL_VAR: &str = "CACHE_TEST_MEMCACHED_URL";

/// The error of every start when `memcached` is not on `PATH`.
pub const MEMCACHED_NOT_FOUND_MESSAGE: &str = "memcached was not found; install it with \
`apt-get install memcached` (Debian/Ubuntu) or `brew install memcached`, or set \
CACHE_TEST_MEMCACHED_URL to a server the tests may use.";

/// The arguments of the shared server: items up to 4 MiB (`-I 4m`, memcached's default is
/// 1 MiB; the conformance suite round-trips a 2 MiB value) in 128 MiB of memory.
pub const SHARED_SERVER_ARGS: &[&str] = &["-I", "4m", "-m", "128"];

/// How long a server may take to answer its first `mn`.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// How many free ports are tried when another process takes the one picked first.
const START_ATTEMPTS: usize = 3;

/// Starts `memcached` in the background, prints its pid, and waits for it; a watchdog kills
/// it once the test process (`$CACHE_TEST_PARENT_PID`) is gone.
const LAUNCHER: &str = r#"
memcached "$@" >"$CACHE_TEST_DIR/memcached.log" 2>&1 &
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

/// A `memcached` process on a free loopback port, killed on `Drop`.
#[derive(Debug)]
pub struct MemcachedServer {
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
    pid: u32,
    launcher: Option<Child>,
}

impl MemcachedServer {
    /// Starts a server with memcached's defaults (64 MiB, 1 MiB items).
    ///
    /// # Errors
    /// [`MEMCACHED_NOT_FOUND_MESSAGE`] when `memcached` is not on `PATH`; otherwise a message
    /// with the server's log when it exits or does not answer within 5 seconds.
    pub fn start() -> Result<MemcachedServer, String> {
        MemcachedServer::start_with(&[])
    }

    /// Starts a server with extra arguments, for example `&["-I", "2m"]`.
    ///
    /// # Errors
    /// As [`start`](MemcachedServer::start).
    pub fn start_with(extra_args: &[&str]) -> Result<MemcachedServer, String> {
        if !on_path("memcached") {
            return Err(MEMCACHED_NOT_FOUND_MESSAGE.to_owned());
        }
        let args = extra_args
            .iter()
            .map(|a| (*a).to_owned())
            .collect::<Vec<_>>();
        let dir = fresh_dir()?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = MemcachedServer {
                port: free_port()?,
                args: args.clone(),
                dir: dir.clone(),
                pid: 0,
                launcher: None,
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `memcached://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }

    /// The process id of the server (of the last one started).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the server with `SIGKILL` and waits until it is gone.
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn kill(&mut self) -> Result<(), String> {
        crate::stop_launched(&mut self.launcher, self.pid, "-KILL", "memcached")
    }

    /// Starts the server again on the same port (killing the running one first, if any), and
    /// waits until it answers. It starts empty.
    ///
    /// # Errors
    /// As [`start`](MemcachedServer::start); the port may have been taken in the meantime.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill()?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        self.launch()
    }

    fn launch(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(LAUNCHER)
            .arg("cache-test-memcached")
            .args(["-l", "127.0.0.1", "-p", &port, "-U", "0"]);
        if running_as_root() {
            // memcached refuses to run as root without a user to switch to.
            command.args(["-u", "nobody"]);
        }
        command
            .args(&self.args)
            .env("CACHE_TEST_DIR", &dir)
            .env("CACHE_TEST_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut launcher = command
            .spawn()
            .map_err(|e| format!("starting memcached through sh: {e}"))?;
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
        if let Err(e) = self.wait_until_ready() {
            let _ = self.kill();
            return Err(e);
        }
        Ok(())
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(launcher) = self.launcher.as_mut() {
                if let Ok(Some(status)) = launcher.try_wait() {
                    self.launcher = None;
                    return Err(format!(
                        "memcached on port {} exited ({status}) before answering; its log:\n{}",
                        self.port,
                        self.log()
                    ));
                }
            }
            if noop(addr).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "memcached on port {} did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("memcached.log")).unwrap_or_default()
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The URL of a server that tests may share: `CACHE_TEST_MEMCACHED_URL` when it is set,
/// otherwise one server started for the whole test process (and killed by its watchdog when
/// the process exits), with [`SHARED_SERVER_ARGS`].
///
/// # Panics
/// When no server can be started, with [`MEMCACHED_NOT_FOUND_MESSAGE`] if `memcached` is
/// missing.
pub fn shared_memcached_url() -> String {
    if let Ok(url) = std::env::var(MEMCACHED_URL_VAR) {
        if !url.is_empty() {
            return url;
        }
    }
    static SHARED: OnceLock<Result<MemcachedServer, String>> = OnceLock::new();
    match SHARED.get_or_init(|| MemcachedServer::start_with(SHARED_SERVER_ARGS)) {
        Ok(server) => server.url(),
        Err(e) => panic!("cannot start the shared test memcached server: {e}"),
    }
}

/// Sends one meta no-op (`mn`) and checks the answer (`MN`).
fn noop(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"mn\r\n").map_err(|e| e.to_string())?;
    let mut reply = [0u8; 16];
    let n = stream.read(&mut reply).map_err(|e| e.to_string())?;
    if reply.get(..n).is_some_and(|r| r.starts_with(b"MN")) {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(reply.get(..n).unwrap_or_default()).into_owned())
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}
