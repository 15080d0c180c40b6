//! Benchmark: an L1 hit of the tiered layer against a plain Redis `GET`, and the L1 hit rate
//! on a skewed (Zipf) workload.
//!
//! ```text
//! cargo run --release -p cache-tiered --example tiered_bench
//! ```
//!
//! It starts its own `redis-server` on a free loopback port (persistence off), or uses the one
//! named by `CACHE_TEST_REDIS_URL`. The figures in `docs/tiered.md` come from this program.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, DynCacheBackend, Expiry, SetOptions};
use cachette_memory::MemoryBackend;
use cachette_redis::{RedisBackend, RedisInvalidation};
use cachette_tiered::TieredLayer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Res<T> = Result<T, Box<dyn Error>>;

/// Keys of the Zipf workload, values of 100 bytes.
const KEYSPACE: usize = 100_000;
/// L1 capacity in the Zipf workload: 10% of the keys.
const L1_ENTRIES: u64 = 10_000;
/// The Zipf exponent (YCSB's default).
const ZIPF_S: f64 = 0.99;
/// Operations of the Zipf workload, 5% of them writes.
const ZIPF_OPS: usize = 200_000;
const WRITE_SHARE: f64 = 0.05;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let server;
    let url = match std::env::var("CACHE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            server = RedisServer::start()?;
            server.url()
        }
    };
    println!("# tiered_bench against {url}\n");

    let redis: DynCacheBackend = Arc::new(RedisBackend::connect(&url).await?);
    let tiered = tiered(&url, MemoryBackend::new(), "bench:hot").await?;
    let hot = "bench:hot:key".to_owned();
    let value = Bytes::from(vec![b'x'; 100]);
    tiered
        .set(&hot, value.clone(), SetOptions::new(Expiry::Never))
        .await?;
    tiered.get(&hot).await?;

    println!("## One key, one task (latency per call)\n");
    println!("| read | calls | ops/s | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    let t: DynCacheBackend = Arc::new(tiered.clone());
    row("tiered, L1 hit (`CacheBackend::get`)", &t, &hot, 200_000).await?;
    row(
        "plain Redis `GET` (`RedisBackend::get`)",
        &redis,
        &hot,
        20_000,
    )
    .await?;
    let tc = tiered.cache();
    let rc = RedisBackend::connect(&url).await?.cache();
    tc.set("typed", "a short string").await?;
    rc.set("typed", "a short string").await?;
    typed_row("tiered, L1 hit (`Cache::get::<String>`)", &tc, 200_000).await?;
    typed_row("plain Redis (`Cache::get::<String>`)", &rc, 20_000).await?;

    println!("\n## One key, 16 tasks on 2 worker threads (throughput)\n");
    println!("| read | ops/s |");
    println!("|---|---:|");
    for (name, backend, per_task) in [
        ("tiered, L1 hit", t.clone(), 50_000),
        ("plain Redis `GET`", redis.clone(), 5_000),
    ] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let backend = backend.clone();
            let key = hot.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    backend.get(&key).await?;
                }
                Ok::<_, cachette_api::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let ops = 16.0 * per_task as f64 / started.elapsed().as_secs_f64();
        println!("| {name} | {ops:.0} |");
    }

    convergence(&url).await?;
    zipf(&url, &redis).await?;
    tiered.close().await?;
    Ok(())
}

async fn tiered(url: &str, l1: MemoryBackend, channel: &str) -> Res<TieredLayer> {
    let l2 = RedisBackend::connect(url).await?;
    let channel = RedisInvalidation::connect(url, channel).await?;
    Ok(TieredLayer::builder(l1, l2)
        .with_invalidation(Arc::new(channel))
        .build()
        .await?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn show(d: Duration) -> String {
    if d < Duration::from_micros(10) {
        format!("{:.2} µs", d.as_nanos() as f64 / 1000.0)
    } else {
        format!("{:.1} µs", d.as_nanos() as f64 / 1000.0)
    }
}

async fn row(name: &str, backend: &DynCacheBackend, key: &str, calls: usize) -> Res<()> {
    for _ in 0..calls / 10 {
        backend.get(key).await?;
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        backend.get(key).await?;
        samples.push(t.elapsed());
    }
    let ops = calls as f64 / started.elapsed().as_secs_f64();
    samples.sort();
    println!(
        "| {name} | {calls} | {ops:.0} | {} | {} |",
        show(percentile(&samples, 0.5)),
        show(percentile(&samples, 0.99))
    );
    Ok(())
}

async fn typed_row(name: &str, cache: &cachette_api::Cache, calls: usize) -> Res<()> {
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let got: Option<String> = cache.get("typed").await?;
        samples.push(t.elapsed());
        std::hint::black_box(got);
    }
    let ops = calls as f64 / started.elapsed().as_secs_f64();
    samples.sort();
    println!(
        "| {name} | {calls} | {ops:.0} | {} | {} |",
        show(percentile(&samples, 0.5)),
        show(percentile(&samples, 0.99))
    );
    Ok(())
}

/// Three instances: each round one writes, the two others poll the key (from L1 until the
/// invalidation arrives, then from L2) until they read the new value.
async fn convergence(url: &str) -> Res<()> {
    const ROUNDS: u64 = 1_000;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(tiered(url, MemoryBackend::new(), "bench:convergence").await?);
    }
    let key = "bench:convergence:key".to_owned();
    let options = SetOptions::new(Expiry::After(Duration::from_secs(600)));
    instances[0].set(&key, Bytes::from("0"), options).await?;
    let (mut after_return, mut after_start) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let writer = (round % 3) as usize;
        let expected = Bytes::from(round.to_string());
        let mut readers = Vec::new();
        for (n, reader) in instances.iter().enumerate() {
            if n == writer {
                continue;
            }
            let (reader, key, expected) = (reader.clone(), key.clone(), expected.clone());
            readers.push(tokio::spawn(async move {
                let limit = Instant::now() + Duration::from_secs(5);
                while Instant::now() < limit {
                    if reader.get(&key).await?.as_ref() == Some(&expected) {
                        return Ok(Some(Instant::now()));
                    }
                    tokio::task::yield_now().await;
                }
                Ok::<_, cachette_api::Error>(None)
            }));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let started = Instant::now();
        instances[writer].set(&key, expected, options).await?;
        let returned = Instant::now();
        for reader in readers {
            let seen = reader.await??.ok_or("a reader never saw the write")?;
            after_return.push(seen.saturating_duration_since(returned));
            after_start.push(seen.saturating_duration_since(started));
        }
    }
    after_return.sort();
    after_start.sort();
    println!("\n## Convergence: 3 instances, {ROUNDS} writes, each polled by the 2 others\n");
    println!("| measured from | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (name, samples) in [
        ("the write's return", &after_return),
        ("the write's start", &after_start),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            show(percentile(samples, 0.5)),
            show(percentile(samples, 0.99)),
            show(samples.last().copied().unwrap_or_default())
        );
    }
    for t in instances {
        t.close().await?;
    }
    Ok(())
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`, by inverting the
/// cumulative distribution (a binary search in a precomputed table).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn key(i: usize) -> String {
    format!("bench:zipf:{i}")
}

/// The Zipf workload through `backends` (one per instance, ops spread over them at random):
/// answers ops/s, the p50 latency of the reads and of the writes.
async fn run_workload(backends: &[DynCacheBackend], seed: u64) -> Res<(f64, Duration, Duration)> {
    let zipf = Zipf::new(KEYSPACE, ZIPF_S);
    let mut rng = StdRng::seed_from_u64(seed);
    let value = Bytes::from(vec![b'z'; 100]);
    let mut reads = Vec::with_capacity(ZIPF_OPS);
    let mut writes = Vec::new();
    let started = Instant::now();
    for _ in 0..ZIPF_OPS {
        let k = key(zipf.sample(&mut rng));
        let backend = &backends[rng.random_range(0..backends.len())];
        let write = rng.random::<f64>() < WRITE_SHARE;
        let t = Instant::now();
        if write {
            backend
                .set(
                    &k,
                    value.clone(),
                    SetOptions::new(Expiry::After(Duration::from_secs(600))),
                )
                .await?;
            writes.push(t.elapsed());
        } else {
            backend.get(&k).await?;
            reads.push(t.elapsed());
        }
    }
    let ops = ZIPF_OPS as f64 / started.elapsed().as_secs_f64();
    reads.sort();
    writes.sort();
    Ok((ops, percentile(&reads, 0.5), percentile(&writes, 0.5)))
}

async fn zipf(url: &str, redis: &DynCacheBackend) -> Res<()> {
    println!(
        "\n## Zipf workload: {KEYSPACE} keys of 100 bytes, s = {ZIPF_S}, {ZIPF_OPS} operations \
         ({:.0}% writes), L1 of {L1_ENTRIES} entries per instance, one task\n",
        WRITE_SHARE * 100.0
    );
    let value = Bytes::from(vec![b'z'; 100]);
    let all: Vec<String> = (0..KEYSPACE).map(key).collect();
    for chunk in all.chunks(1000) {
        let entries: Vec<(String, Bytes)> =
            chunk.iter().map(|k| (k.clone(), value.clone())).collect();
        redis
            .set_many(&entries, Expiry::After(Duration::from_secs(600)))
            .await?;
    }
    println!("| setup | L1 hit rate | ops/s | read p50 | write p50 | invalidations received |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (ops, read, write) = run_workload(std::slice::from_ref(redis), 7).await?;
    println!(
        "| plain Redis | – | {ops:.0} | {} | {} | – |",
        show(read),
        show(write)
    );
    for instances in [1, 2, 4] {
        let mut tiered_instances = Vec::new();
        for _ in 0..instances {
            let l1 = MemoryBackend::builder()
                .with_max_entries(L1_ENTRIES)
                .build();
            tiered_instances.push(tiered(url, l1, "bench:zipf:invalidation").await?);
        }
        let backends: Vec<DynCacheBackend> = tiered_instances
            .iter()
            .map(|t| Arc::new(t.clone()) as DynCacheBackend)
            .collect();
        // Warm up with one pass, then measure a second one (other random draws).
        run_workload(&backends, 1).await?;
        let before: Vec<_> = tiered_instances.iter().map(TieredLayer::stats).collect();
        let (ops, read, write) = run_workload(&backends, 7).await?;
        let (mut hits, mut misses, mut received) = (0, 0, 0);
        for (t, b) in tiered_instances.iter().zip(before) {
            let s = t.stats();
            hits += s.l1_hits - b.l1_hits;
            misses += s.l1_misses - b.l1_misses;
            received += s.invalidations_received - b.invalidations_received;
        }
        let rate = hits as f64 / (hits + misses).max(1) as f64 * 100.0;
        println!(
            "| tiered, {instances} instance{} | {rate:.1}% | {ops:.0} | {} | {} | {received} |",
            if instances == 1 { "" } else { "s" },
            show(read),
            show(write)
        );
        for t in tiered_instances {
            t.close().await?;
        }
    }
    Ok(())
}
