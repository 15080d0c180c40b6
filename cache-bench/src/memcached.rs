//! `cache-bench memcached`: our `Cache` on the memcached backend against the same meta-protocol
//! commands sent directly on plain tokio sockets, doing the same work (key composition,
//! MessagePack encode and decode, the item's deadline in its flags), on a private `memcached`.
//!
//! The subjects take turns, round after round, in alternating order; the report gives, per
//! workload, each subject's median throughput and the median ratio ours / direct with its
//! spread (min–max over rounds).
//!
//! Both bound every exchange by the backend's response timeout (the contract wants every
//! network wait bounded, so a direct client meeting it pays for one timer per request too).
//!
//! `--instr` counts instructions per operation instead, under `valgrind --tool=callgrind`:
//! each subject and workload runs in a child process of its own (`memcached --probe …`) with
//! one task on a current-thread runtime, counted only inside its loop. Counts do not depend
//! on the machine's load; the memcached server's own work is not counted.
//!
//! ```sh
//! cargo run --release -p cache-bench -- memcached           # 10 rounds
//! cargo run --release -p cache-bench -- memcached --quick   # 2 short rounds
//! cargo run --release -p cache-bench -- memcached --instr   # instructions per operation
//! ```

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_test_support::MemcachedServer;
use cachette_api::{Cache, Ttl};
use cachette_memcached::MemcachedBackend;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::fixture::{compose, Payload, EXPIRY_MS};
use crate::Result;

/// The first argument that selects this mode.
pub(crate) const SUBCOMMAND: &str = "memcached";

/// Concurrent tasks per subject (and connections: the backend's pool has as many).
const TASKS: usize = 16;
/// Distinct keys.
const KEYS: usize = 1_000;
/// The encoded value size.
const VALUE_SIZE: usize = 100;

/// The bound on each exchange, for both subjects (the backend's default).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Operations counted per probe under callgrind.
const PROBE_OPS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    GetHit,
    Set,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::GetHit => "get (hit)",
            Workload::Set => "set",
        }
    }
}

/// Runs the comparison and prints the Markdown table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("--probe") {
        return run_probe(args.get(1..).unwrap_or_default());
    }
    if args.iter().any(|a| a == "--instr") {
        return instructions();
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, ops_per_task) = if quick { (2, 200) } else { (10, 5_000) };
    let server = MemcachedServer::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(compare(&server, rounds, ops_per_task))?;
    print!("{report}");
    Ok(())
}

async fn compare(server: &MemcachedServer, rounds: usize, ops_per_task: usize) -> Result<String> {
    let backend = MemcachedBackend::builder()
        .with_url(server.url())
        .with_pool_size(TASKS)
        .with_response_timeout(RESPONSE_TIMEOUT)
        .build()?;
    let cache = Cache::builder(Arc::new(backend))
        .with_prefix("bo")
        .with_default_ttl(Ttl::millis(EXPIRY_MS))
        .build()?;
    let (payload, _) = Payload::of_encoded_size(VALUE_SIZE)?;
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("key:{i}")).collect());
    let mut direct = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        direct.push(Direct::connect(server.port(), "br").await?);
    }
    // Both subjects hold every key before the reads.
    for key in keys.iter() {
        cache.set(key, &payload).await?;
    }
    if let Some(first) = direct.first_mut() {
        for key in keys.iter() {
            first.set(key, &payload).await?;
        }
    }
    let mut out = format!(
        "| workload | ours (ops/s, median) | direct meta protocol (ops/s, median) | ours / direct: median (min–max over {rounds} rounds) |\n|---|---|---|---|\n"
    );
    for workload in [Workload::GetHit, Workload::Set] {
        let mut ours_rates = Vec::new();
        let mut direct_rates = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let run_ours = || run_ours(&cache, &keys, &payload, workload, ops_per_task);
            let (o, d) = if round % 2 == 0 {
                let o = run_ours().await?;
                let d = run_direct(&mut direct, &keys, &payload, workload, ops_per_task).await?;
                (o, d)
            } else {
                let d = run_direct(&mut direct, &keys, &payload, workload, ops_per_task).await?;
                let o = run_ours().await?;
                (o, d)
            };
            ours_rates.push(o);
            direct_rates.push(d);
            ratios.push(o / d);
        }
        let (lo, hi) = (min(&ratios), max(&ratios));
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.2}× ({lo:.2}–{hi:.2}) |\n",
            workload.label(),
            median(&mut ours_rates),
            median(&mut direct_rates),
            median(&mut ratios),
        ));
    }
    out.push_str(&format!(
        "\n{TASKS} tasks, {VALUE_SIZE}-byte values, {KEYS} keys, {ops_per_task} operations per task per round, one private memcached on loopback.\n"
    ));
    cache.clear().await?;
    Ok(out)
}

async fn run_ours(
    cache: &Cache,
    keys: &Arc<Vec<String>>,
    payload: &Payload,
    workload: Workload,
    ops: usize,
) -> Result<f64> {
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let (cache, keys, payload) = (cache.clone(), keys.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..ops {
                let key = &keys[(t * 7919 + i) % keys.len()];
                match workload {
                    Workload::GetHit => {
                        let got: Option<Payload> = cache.get(key).await?;
                        if got.is_none() {
                            return Err(cachette_api::Error::new(
                                cachette_api::ErrorKind::Backend,
                                "a read that should hit missed",
                            ));
                        }
                    }
                    Workload::Set => cache.set(key, &payload).await?,
                }
            }
            Ok::<_, cachette_api::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((TASKS * ops) as f64 / began.elapsed().as_secs_f64())
}

async fn run_direct(
    conns: &mut Vec<Direct>,
    keys: &Arc<Vec<String>>,
    payload: &Payload,
    workload: Workload,
    ops: usize,
) -> Result<f64> {
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for (t, mut conn) in std::mem::take(conns).into_iter().enumerate() {
        let (keys, payload) = (keys.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..ops {
                let key = &keys[(t * 7919 + i) % keys.len()];
                match workload {
                    Workload::GetHit => {
                        if conn.get(key).await?.is_none() {
                            return Err::<Direct, crate::BoxError>(
                                "a read that should hit missed".into(),
                            );
                        }
                    }
                    Workload::Set => conn.set(key, &payload).await?,
                }
            }
            Ok(conn)
        }));
    }
    for task in tasks {
        conns.push(task.await??);
    }
    Ok((TASKS * ops) as f64 / began.elapsed().as_secs_f64())
}

/// One connection sending what the backend sends: `mg <prefix>:1:<key> v f t` and
/// `ms <prefix>:1:<key> <len> T<secs> F<deadline>`, with the codec and the deadline check.
#[derive(Debug)]
struct Direct {
    conn: BufReader<TcpStream>,
    head: String,
    line: Vec<u8>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Direct {
    async fn connect(port: u16, prefix: &str) -> Result<Direct> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Direct {
            conn: BufReader::new(stream),
            head: format!("{prefix}:1:"),
            line: Vec::new(),
        })
    }

    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        if self.conn.read_until(b'\n', &mut self.line).await? == 0 {
            return Err("memcached closed the connection".into());
        }
        Ok(())
    }

    async fn set(&mut self, key: &str, payload: &Payload) -> Result<()> {
        tokio::time::timeout(RESPONSE_TIMEOUT, self.set_unbounded(key, payload))
            .await
            .map_err(|_| "ms timed out")?
    }

    async fn get(&mut self, key: &str) -> Result<Option<Payload>> {
        tokio::time::timeout(RESPONSE_TIMEOUT, self.get_unbounded(key))
            .await
            .map_err(|_| "mg timed out")?
    }

    /// The key as memcached gets it, refused when memcached would refuse it (as pymemcache's
    /// key check does; our backend's key policy does the same).
    fn key(&self, key: &str) -> Result<String> {
        let composed = compose(&self.head, key);
        if composed.len() > 250 || composed.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("memcached cannot carry the key {composed:?}").into());
        }
        Ok(composed)
    }

    async fn set_unbounded(&mut self, key: &str, payload: &Payload) -> Result<()> {
        let key = self.key(key)?;
        let value = rmp_serde::to_vec_named(payload)?;
        let deadline = now_ms() + EXPIRY_MS;
        let secs = EXPIRY_MS.div_ceil(1000) + 1;
        let mut buf = Vec::with_capacity(value.len() + 64);
        buf.extend_from_slice(
            format!(
                "ms {key} {} T{secs} F{}\r\n",
                value.len(),
                deadline & u64::from(u32::MAX)
            )
            .as_bytes(),
        );
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
        self.conn.get_mut().write_all(&buf).await?;
        self.read_line().await?;
        if !self.line.starts_with(b"HD") {
            return Err(format!("ms answered {:?}", String::from_utf8_lossy(&self.line)).into());
        }
        Ok(())
    }

    async fn get_unbounded(&mut self, key: &str) -> Result<Option<Payload>> {
        let command = format!("mg {} v f t\r\n", self.key(key)?);
        self.conn.get_mut().write_all(command.as_bytes()).await?;
        self.read_line().await?;
        if self.line.starts_with(b"EN") {
            return Ok(None);
        }
        let head = String::from_utf8_lossy(&self.line).into_owned();
        let mut words = head.split_whitespace();
        let (Some("VA"), Some(len)) = (words.next(), words.next()) else {
            return Err(format!("mg answered {head:?}").into());
        };
        let len: usize = len.parse()?;
        let mut flags = 0_u64;
        let mut left = -1_i64;
        for word in words {
            if let Some(f) = word.strip_prefix('f') {
                flags = f.parse()?;
            } else if let Some(t) = word.strip_prefix('t') {
                left = t.parse()?;
            }
        }
        let mut value = vec![0; len + 2];
        self.conn.read_exact(&mut value).await?;
        value.truncate(len);
        // The same deadline check as the backend's: alive unless past the flags' deadline.
        if left >= 0 {
            let now = now_ms();
            let approx = now + left.unsigned_abs() * 1000;
            let offset = (flags as u32).wrapping_sub(approx as u32) as i32;
            if approx.saturating_add_signed(i64::from(offset)) <= now {
                return Ok(None);
            }
        }
        Ok(Some(rmp_serde::from_slice(&value)?))
    }
}

/// The subjects and workloads counted by `--instr`.
const PROBES: [(&str, &str); 4] = [
    ("ours", "get"),
    ("direct", "get"),
    ("ours", "set"),
    ("direct", "set"),
];

/// Counts instructions per operation of each probe under callgrind and prints the table.
fn instructions() -> Result<()> {
    let server = MemcachedServer::start()?;
    let dir = std::env::temp_dir().join(format!("cache-bench-mc-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut counts = Vec::new();
    for (subject, op) in PROBES {
        eprintln!("callgrind: {subject} {op}");
        let out = dir.join(format!("{subject}-{op}.out"));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--collect-atstart=no")
            .arg("--toggle-collect=*memcached::probe_loop*")
            .arg(std::env::current_exe()?)
            .args([
                SUBCOMMAND,
                "--probe",
                subject,
                op,
                &server.port().to_string(),
            ])
            .output()?;
        if !status.status.success() {
            return Err(format!(
                "valgrind on {subject} {op} failed ({}): {}",
                status.status,
                String::from_utf8_lossy(&status.stderr)
            )
            .into());
        }
        let text = std::fs::read_to_string(&out)?;
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no totals in {}", out.display()))?;
        counts.push(total as f64 / PROBE_OPS as f64);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("| workload | ours (instructions/op) | direct (instructions/op) | ours − direct |\n|---|---|---|---|");
    for (i, op) in ["get (hit)", "set"].iter().enumerate() {
        let (ours, direct) = (counts[2 * i], counts[2 * i + 1]);
        println!("| {op} | {ours:.0} | {direct:.0} | {:+.0} |", ours - direct);
    }
    println!("\n{PROBE_OPS} operations, one task on a current-thread runtime, {VALUE_SIZE}-byte values; the client's instructions only.");
    Ok(())
}

/// The child's side of `--instr`: `--probe ours|direct get|set PORT`.
fn run_probe(args: &[String]) -> Result<()> {
    let [subject, op, port] = args else {
        return Err("memcached --probe ours|direct get|set PORT".into());
    };
    let port: u16 = port.parse()?;
    let workload = match op.as_str() {
        "get" => Workload::GetHit,
        _ => Workload::Set,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (payload, _) = Payload::of_encoded_size(VALUE_SIZE)?;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    let probe = runtime.block_on(async {
        let probe = if subject == "ours" {
            let backend = MemcachedBackend::builder()
                .with_url(format!("memcached://127.0.0.1:{port}"))
                .with_pool_size(1)
                .with_response_timeout(RESPONSE_TIMEOUT)
                .build()?;
            let cache = Cache::builder(Arc::new(backend))
                .with_prefix("bo")
                .with_default_ttl(Ttl::millis(EXPIRY_MS))
                .build()?;
            Probe::Ours(cache)
        } else {
            Probe::Direct(Direct::connect(port, "br").await?)
        };
        let mut probe = probe;
        // Every key written, then a warm-up: neither counted.
        for key in &keys {
            probe.op(Workload::Set, key, &payload).await?;
        }
        for key in &keys {
            probe.op(workload, key, &payload).await?;
        }
        Ok::<_, crate::BoxError>(probe)
    })?;
    probe_loop(&runtime, probe, &keys, &payload, workload)
}

/// The counted loop (callgrind's `--toggle-collect` names this function).
#[inline(never)]
fn probe_loop(
    runtime: &tokio::runtime::Runtime,
    mut probe: Probe,
    keys: &[String],
    payload: &Payload,
    workload: Workload,
) -> Result<()> {
    runtime.block_on(async {
        for i in 0..PROBE_OPS {
            let key = &keys[i % keys.len()];
            probe.op(workload, key, payload).await?;
        }
        Ok(())
    })
}

/// One subject of a probe.
#[derive(Debug)]
enum Probe {
    Ours(Cache),
    Direct(Direct),
}

impl Probe {
    async fn op(&mut self, workload: Workload, key: &str, payload: &Payload) -> Result<()> {
        match (self, workload) {
            (Probe::Ours(cache), Workload::GetHit) => {
                let got: Option<Payload> = cache.get(key).await?;
                got.ok_or("a read that should hit missed")?;
            }
            (Probe::Ours(cache), Workload::Set) => cache.set(key, payload).await?,
            (Probe::Direct(conn), Workload::GetHit) => {
                conn.get(key)
                    .await?
                    .ok_or("a read that should hit missed")?;
            }
            (Probe::Direct(conn), Workload::Set) => conn.set(key, payload).await?,
        }
        Ok(())
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
