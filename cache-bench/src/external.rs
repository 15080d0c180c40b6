//! What comes from outside the process: the machine's description and `redis-benchmark`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::Result;

/// The machine the figures were taken on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    /// Cores available to this process.
    pub(crate) cores: usize,
    /// The CPU model of `/proc/cpuinfo`.
    pub(crate) cpu: String,
    /// Total memory, from `/proc/meminfo`.
    pub(crate) memory: String,
    /// The kernel release.
    pub(crate) kernel: String,
    /// `rustc -V`.
    pub(crate) rustc: String,
    /// The Redis server's version (`INFO server`).
    pub(crate) redis: String,
    /// The date of the run (UTC).
    pub(crate) date: String,
    /// The load averages (1, 5, 15 min) when the run started.
    pub(crate) load_before: String,
    /// The load averages when the run ended.
    pub(crate) load_after: String,
}

/// The three load averages of `/proc/loadavg`, `"0.12 0.30 0.41"`.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The 1-minute load average, 0 when it cannot be read.
pub(crate) fn load_one() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

impl Machine {
    /// Describes this machine; `redis` is the server's version.
    pub(crate) fn describe(redis: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(&cpuinfo),
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            rustc: Command::new("rustc")
                .arg("-V")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
            redis,
            date: today_utc(),
            load_before: load_average(),
            load_after: String::new(),
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "model name")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Today's date, `YYYY-MM-DD` in UTC.
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The calendar date of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Where `redis-benchmark` is, if it is on `PATH`.
pub(crate) fn redis_benchmark_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-benchmark"))
        .find(|p| p.is_file())
}

/// One line of `redis-benchmark --csv`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RedisBenchmarkRow {
    /// `GET` or `SET`.
    pub(crate) test: String,
    /// Value size (`-d`).
    pub(crate) size: usize,
    /// Connections (`-c`).
    pub(crate) clients: usize,
    /// Requests in flight per connection (`-P`).
    pub(crate) pipeline: usize,
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency, in nanoseconds.
    pub(crate) p50_ns: u32,
    /// 99th percentile latency, in nanoseconds.
    pub(crate) p99_ns: u32,
}

/// Where the server is, for `redis-benchmark`.
#[derive(Clone)]
pub(crate) struct ServerAddr {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

impl std::fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out.
        f.debug_struct("ServerAddr")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl ServerAddr {
    /// The address of a `redis://` URL.
    pub(crate) fn from_url(url: &str) -> Result<ServerAddr> {
        let client = redis::Client::open(url)?;
        let info = client.get_connection_info();
        let (host, port) = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            other => {
                return Err(
                    format!("redis-benchmark needs a plain TCP server, not {other:?}").into(),
                )
            }
        };
        let settings = info.redis_settings();
        Ok(ServerAddr {
            host,
            port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

/// `redis-benchmark` as a subject: one run of its own per chunk, in its turn among the
/// others, sized from its previous run to last about as long as a chunk.
#[derive(Debug, Clone)]
pub(crate) struct RedisBenchmark {
    binary: PathBuf,
    addr: ServerAddr,
    /// The rate of the last run of each (test, size, connections), to size the next.
    last_rps: Arc<Mutex<HashMap<RunShape, f64>>>,
}

/// A `redis-benchmark` run's test, value size and requests in flight.
type RunShape = (&'static str, usize, usize);

/// What one `redis-benchmark` run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ExternalChunk {
    /// Requests sent.
    pub(crate) requests: u64,
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency, nanoseconds.
    pub(crate) p50_ns: u32,
    /// 99th percentile latency, nanoseconds.
    pub(crate) p99_ns: u32,
}

impl RedisBenchmark {
    /// The `redis-benchmark` on `PATH`, against the server of `url`.
    pub(crate) fn new(url: &str) -> Result<RedisBenchmark> {
        let binary = redis_benchmark_path()
            .ok_or("`redis-benchmark` is not on PATH (it is in Debian's redis-tools package)")?;
        Ok(RedisBenchmark {
            binary,
            addr: ServerAddr::from_url(url)?,
            last_rps: Arc::default(),
        })
    }

    /// Writes the `keys` keys that its GET runs read (`-t set`, untimed).
    pub(crate) fn populate(&self, size: usize, keys: usize) -> Result<()> {
        let requests = (keys as u64) * 4;
        run_redis_benchmark(
            &self.binary,
            &self.addr,
            "set",
            size,
            (8, 1),
            requests,
            keys,
        )?;
        Ok(())
    }

    /// One run of `test` (`"get"` or `"set"`) with `tasks` requests in flight on one
    /// connection (`-c 1 -P tasks`, the shape of a multiplexed connection), sized to last
    /// about `budget`.
    pub(crate) fn chunk(
        &self,
        test: &'static str,
        size: usize,
        tasks: usize,
        keys: usize,
        budget: std::time::Duration,
    ) -> Result<ExternalChunk> {
        let slot = (test, size, tasks);
        let last = self
            .last_rps
            .lock()
            .map_err(|_| "a poisoned lock")?
            .get(&slot)
            .copied();
        // The first run is short; later ones last about a chunk.
        let requests = last.map_or(2_000, |rps| (rps * budget.as_secs_f64()) as u64);
        let requests = requests.clamp(200, 5_000_000);
        let rows = run_redis_benchmark(
            &self.binary,
            &self.addr,
            test,
            size,
            (1, tasks.max(1)),
            requests,
            keys,
        )?;
        let row = rows.first().ok_or("redis-benchmark printed no row")?;
        self.last_rps
            .lock()
            .map_err(|_| "a poisoned lock")?
            .insert(slot, row.rps);
        Ok(ExternalChunk {
            requests,
            rps: row.rps,
            p50_ns: row.p50_ns,
            p99_ns: row.p99_ns,
        })
    }
}

/// Runs `redis-benchmark -t tests -d size -c clients -P pipeline -n requests -r keys --csv`.
///
/// It writes keys `key:000000000000` … in the database.
pub(crate) fn run_redis_benchmark(
    binary: &PathBuf,
    addr: &ServerAddr,
    tests: &str,
    size: usize,
    (clients, pipeline): (usize, usize),
    requests: u64,
    keys: usize,
) -> Result<Vec<RedisBenchmarkRow>> {
    let mut command = Command::new(binary);
    command
        .args(["-h", &addr.host, "-p", &addr.port.to_string()])
        .args(["-t", tests, "-r", &keys.to_string(), "--csv"])
        .args(["-d", &size.to_string(), "-c", &clients.to_string()])
        .args(["-P", &pipeline.to_string(), "-n", &requests.to_string()]);
    if addr.db != 0 {
        command.args(["--dbnum", &addr.db.to_string()]);
    }
    if let Some(user) = &addr.username {
        command.args(["--user", user]);
    }
    if let Some(password) = &addr.password {
        command.args(["-a", password]);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    parse_csv(
        &String::from_utf8_lossy(&output.stdout),
        size,
        (clients, pipeline),
    )
}

/// Parses the CSV that `redis-benchmark --csv` prints (Redis 6.2 and later).
fn parse_csv(
    text: &str,
    size: usize,
    (clients, pipeline): (usize, usize),
) -> Result<Vec<RedisBenchmarkRow>> {
    let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header: Vec<String> = lines
        .next()
        .ok_or("redis-benchmark printed no CSV")?
        .split(',')
        .map(unquote)
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("redis-benchmark printed no {name} column"))
    };
    let (test, rps, p50, p99) = (
        column("test")?,
        column("rps")?,
        column("p50_latency_ms")?,
        column("p99_latency_ms")?,
    );
    let ms_to_ns = |ms: f64| (ms * 1_000_000.0).round() as u32;
    let mut rows = Vec::new();
    for line in lines {
        let fields: Vec<String> = line.split(',').map(unquote).collect();
        let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
        let number = |i: usize| {
            field(i)
                .parse::<f64>()
                .map_err(|e| format!("redis-benchmark printed {:?}: {e}", field(i)))
        };
        rows.push(RedisBenchmarkRow {
            test: field(test),
            size,
            clients,
            pipeline,
            rps: number(rps)?,
            p50_ns: ms_to_ns(number(p50)?),
            p99_ns: ms_to_ns(number(p99)?),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_benchmark_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                    \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                    \"SET\",\"71684.59\",\"0.591\",\"0.056\",\"0.591\",\"0.847\",\"0.911\",\"1.471\"\n\
                    \"GET\",\"41928.72\",\"1.134\",\"0.024\",\"0.615\",\"4.423\",\"8.479\",\"20.175\"\n";
        let rows = parse_csv(text, 100, (64, 1)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].test, "SET");
        assert!((rows[0].rps - 71_684.59).abs() < 1e-6);
        assert_eq!(rows[0].p50_ns, 591_000);
        assert_eq!(rows[1].p99_ns, 8_479_000);
        assert_eq!(rows[1].pipeline, 1);
        assert!(parse_csv("", 100, (1, 1)).is_err());
    }

    #[test]
    fn dates_and_cpu_models() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC\n"),
            "AMD EPYC"
        );
        assert_eq!(cpu_model(""), "unknown");
    }

    #[test]
    fn server_addresses_come_from_urls() {
        let addr = ServerAddr::from_url("redis://:pw@127.0.0.1:6390/2").unwrap();
        assert_eq!(
            (addr.host.as_str(), addr.port, addr.db),
            ("127.0.0.1", 6390, 2)
        );
        assert_eq!(addr.password.as_deref(), Some("pw"));
    }
}
