//! Real PostgreSQL servers for the tests: `initdb` and `postgres` on a free loopback port, in a
//! fresh temporary directory (its Unix socket there too), never the machine's server.
//!
//! When the tests run as root, the server runs as the `postgres` user (or `nobody`), through
//! `setpriv`, since PostgreSQL refuses to run as root. Like the Redis servers, each server is
//! started through a small `sh` watchdog that stops it once the test process is gone.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable naming a PostgreSQL server that tests may use instead of starting
/// one (`postgres://user:password@host:port/db`).
pub const POSTGRES_URL_VAR: &str = "CACHE_TEST_POSTGRES_URL";

/// The error of every start when the server's binaries are not found.
pub const POSTGRES_NOT_FOUND_MESSAGE: &str = "the PostgreSQL server binaries (initdb, postgres) \
were not found on PATH nor in /usr/lib/postgresql/*/bin; install them with \
`apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql`, or set \
CACHE_TEST_POSTGRES_URL to a server (and database) the tests may write to.";

/// How long a server may take to accept connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the server in the background, prints its pid, and waits for it; a watchdog stops it
/// (immediate shutdown, then `SIGKILL`) and removes its directory once the test process
/// (`$CACHE_TEST_PARENT_PID`) is gone. The command is `"$@"`, never re-parsed by the shell.
const LAUNCHER: &str = r#"
"$@" >"$CACHE_TEST_DIR/postgres.log" 2>&1 &
server=$!
echo "$server"
(
    while kill -0 "$CACHE_TEST_PARENT_PID" 2>/dev/null; do sleep 0.5; done
    kill -QUIT "$server" 2>/dev/null
    sleep 2
    kill -9 "$server" 2>/dev/null
) >/dev/null 2>&1 &
watchdog=$!
wait "$server"
kill "$watchdog" 2>/dev/null
kill -0 "$CACHE_TEST_PARENT_PID" 2>/dev/null || rm -rf "$CACHE_TEST_DIR"
"#;

/// A `postgres` server on a free loopback port, with a `postgres` superuser that needs no
/// password (`trust`), stopped on `Drop`.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The unprivileged user the server runs as, when the tests run as root.
    user: Option<String>,
    settings: Vec<String>,
    /// Whether the server was started by [`start_tls`](PostgresServer::start_tls).
    tls: bool,
    pid: u32,
    launcher: Option<Child>,
}

impl PostgresServer {
    /// Starts a server tuned for tests (`fsync`, `synchronous_commit` and
    /// `full_page_writes` off, 200 connections).
    ///
    /// # Errors
    /// [`POSTGRES_NOT_FOUND_MESSAGE`] when the binaries are missing; otherwise a message with
    /// the output of `initdb` or the server's log.
    pub fn start() -> Result<PostgresServer, String> {
        PostgresServer::start_with(&[])
    }

    /// Starts a server with extra settings, as `name=value` (`-c` options of `postgres`), for
    /// example `&["max_connections=5"]`.
    ///
    /// # Errors
    /// As [`start`](PostgresServer::start).
    pub fn start_with(settings: &[&str]) -> Result<PostgresServer, String> {
        PostgresServer::start_inner(settings, false)
    }

    /// Starts a server (as [`start`](PostgresServer::start)) that accepts TCP connections
    /// with TLS only (`ssl=on`, `hostssl` lines in `pg_hba.conf`), with a certificate for
    /// `127.0.0.1` and `localhost` signed by a CA made for it
    /// ([`tls_ca_file`](Self::tls_ca_file)); [`tls_untrusted_ca_file`](Self::tls_untrusted_ca_file)
    /// is a CA that signed nothing of the server's. The certificates are made as
    /// [`RedisServer::start_tls`](crate::RedisServer::start_tls) makes its own.
    ///
    /// # Errors
    /// As [`start`](PostgresServer::start); [`OPENSSL_NOT_FOUND_MESSAGE`](crate::OPENSSL_NOT_FOUND_MESSAGE)
    /// when `openssl` is not on `PATH`.
    pub fn start_tls() -> Result<PostgresServer, String> {
        if !crate::on_path("openssl") {
            return Err(crate::OPENSSL_NOT_FOUND_MESSAGE.to_owned());
        }
        PostgresServer::start_inner(&[], true)
    }

    /// The PEM file of the CA that signed the certificate of a server started by
    /// [`start_tls`](Self::start_tls).
    pub fn tls_ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("tls").join("ca.crt"))
    }

    /// The PEM file of a CA made beside the server's, that signed nothing the server shows.
    pub fn tls_untrusted_ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("untrusted").join("ca.crt"))
    }

    fn start_inner(settings: &[&str], tls: bool) -> Result<PostgresServer, String> {
        let bin = find_binaries().ok_or_else(|| POSTGRES_NOT_FOUND_MESSAGE.to_owned())?;
        let dir = fresh_dir()?;
        let user = unprivileged_user()?;
        let mut server = PostgresServer {
            port: 0,
            dir,
            bin,
            user,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            tls,
            pid: 0,
            launcher: None,
        };
        if tls {
            server.make_certificates()?;
        }
        server.init()?;
        if tls {
            server.require_tls()?;
        }
        let mut last_error = String::new();
        for _ in 0..3 {
            server.port = crate::free_port()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                // Another process may have taken the port between our probe and the bind.
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// `postgres://postgres@127.0.0.1:{port}/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the server (of the last one started, after a restart).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server as a crash would (`SIGQUIT`: immediate shutdown, no checkpoint; the
    /// `UNLOGGED` tables are emptied at the next start) and waits until it is gone.
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn kill(&mut self) -> Result<(), String> {
        crate::stop_launched(&mut self.launcher, self.pid, "-QUIT", "postgres")
    }

    /// Starts the server again on the same port (killing the running one first, if any), and
    /// waits until it accepts connections.
    ///
    /// # Errors
    /// As [`start`](PostgresServer::start); the port may have been taken in the meantime.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill()?;
        self.launch()
    }

    /// Runs `program` (a binary of the server's) as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid", user, "--regid", user, "--init-groups", "--"])
                    .arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    /// `{dir}/tls` (the server's certificate, key and CA) and `{dir}/untrusted` (another CA),
    /// and the settings that turn TLS on.
    fn make_certificates(&mut self) -> Result<(), String> {
        for sub in ["tls", "untrusted"] {
            let dir = self.dir.join(sub);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            crate::make_certificates(&dir)?;
        }
        let file = |name: &str| {
            self.dir
                .join("tls")
                .join(name)
                .to_string_lossy()
                .into_owned()
        };
        let (cert, key) = (file("server.crt"), file("server.key"));
        self.settings.extend([
            "ssl=on".to_owned(),
            format!("ssl_cert_file={cert}"),
            format!("ssl_key_file={key}"),
        ]);
        Ok(())
    }

    /// After `initdb` (and its `chown`): the key readable by its owner only, as PostgreSQL
    /// demands, and `pg_hba.conf`'s TCP lines turned into `hostssl` lines.
    fn require_tls(&self) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let key = self.dir.join("tls").join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod 600 {}: {e}", key.display()))?;
        let hba = self.dir.join("data").join("pg_hba.conf");
        let text =
            std::fs::read_to_string(&hba).map_err(|e| format!("reading {}: {e}", hba.display()))?;
        let rewritten: String = text
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&hba, rewritten).map_err(|e| format!("writing {}: {e}", hba.display()))
    }

    /// `initdb` into `{dir}/data`, the socket directory `{dir}/sock` beside it.
    fn init(&self) -> Result<(), String> {
        std::fs::create_dir_all(self.dir.join("sock"))
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        if let Some(user) = &self.user {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(&self.dir)
                .status()
                .map_err(|e| format!("running chown: {e}"))?;
            if !status.success() {
                return Err(format!("chown {user} {} failed", self.dir.display()));
            }
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "initdb failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Spawns the launcher on `self.port` and waits for the server to accept connections.
    fn launch(&mut self) -> Result<(), String> {
        let server = self.command("postgres");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(LAUNCHER)
            .arg("cache-test-postgres")
            .arg(server.get_program())
            .args(server.get_args())
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.join("sock"));
        for setting in [
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=200",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(self.settings.iter().cloned())
        {
            command.arg("-c").arg(setting);
        }
        command
            .env("CACHE_TEST_DIR", &self.dir)
            .env("CACHE_TEST_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut launcher = command
            .spawn()
            .map_err(|e| format!("starting postgres through sh: {e}"))?;
        let pid = match crate::read_pid(&mut launcher) {
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

    /// Polls until the log says the server accepts connections and its port answers, the
    /// server exits, or [`START_TIMEOUT`] passes.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(launcher) = self.launcher.as_mut() {
                if let Ok(Some(status)) = launcher.try_wait() {
                    self.launcher = None;
                    return Err(format!(
                        "postgres on port {} exited ({status}) before accepting connections; \
                         its log:\n{}",
                        self.port,
                        self.log()
                    ));
                }
            }
            if self.log().contains("ready to accept connections")
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "postgres on port {} did not accept connections within {START_TIMEOUT:?}; \
                     its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The URL of a server that tests may share: `CACHE_TEST_POSTGRES_URL` when it is set,
/// otherwise one server started for the whole test process (and stopped by its watchdog when
/// the process exits).
///
/// Tests that share a server must keep to their own keys (a random prefix) or tables.
///
/// # Panics
/// When no server can be started, with [`POSTGRES_NOT_FOUND_MESSAGE`] if the binaries are
/// missing.
pub fn shared_postgres_url() -> String {
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR) {
        if !url.is_empty() {
            return url;
        }
    }
    static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
    match SHARED.get_or_init(PostgresServer::start) {
        Ok(server) => server.url(),
        Err(e) => panic!("cannot start the shared test PostgreSQL server: {e}"),
    }
}

/// The directory holding `initdb` and `postgres`: the one of `initdb` on `PATH`, else the
/// newest `/usr/lib/postgresql/*/bin` (where Debian puts them, off `PATH`).
fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| has_both(dir)));
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `Some(user)` to run the server as when the tests run as root (`postgres`, else `nobody`),
/// `None` otherwise.
fn unprivileged_user() -> Result<Option<String>, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("running id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        let known = Command::new("id")
            .arg("-u")
            .arg(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if known {
            return Ok(Some(user.to_owned()));
        }
    }
    Err(
        "the tests run as root, and PostgreSQL refuses to: no `postgres` nor `nobody` user \
         to run it as"
            .to_owned(),
    )
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "cache-test-pg-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_accepts_and_stops_on_drop() {
        let mut server = PostgresServer::start().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        assert!(TcpStream::connect(addr).is_ok());
        server.restart().unwrap();
        assert!(TcpStream::connect(addr).is_ok());
        let pid = server.pid();
        drop(server);
        assert!(
            crate::signal(pid, "-0").is_err(),
            "postgres {pid} survived Drop"
        );
    }
}
