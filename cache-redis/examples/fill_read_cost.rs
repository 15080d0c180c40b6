//! What a tier's fill costs on Redis: a read with its remaining life, the old way (`get` and
//! `ttl` sent together: two commands) against `get_with_expiry` (one script call), and the same
//! for 100 keys (`get_many` plus one `ttl` per key, against `get_many_with_expiry`).
//!
//! ```text
//! cargo run --release -p cache-redis --example fill_read_cost
//! ```
//!
//! It starts its own `redis-server` on a free loopback port (persistence off). The rounds of
//! the two ways alternate, so that a machine busy with something else slows both alike.

use std::error::Error;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, Expiry, SetOptions};
use cachette_redis::RedisBackend;

type Res<T> = Result<T, Box<dyn Error>>;

const ROUNDS: usize = 10;
const CALLS_PER_ROUND: usize = 2_000;
const BATCH: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "| {name} | {} | {:.1} µs | {:.1} µs |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let server = RedisServer::start()?;
    let backend = RedisBackend::connect(&server.url()).await?;
    let keys: Vec<String> = (0..BATCH).map(|i| format!("fill:{i}")).collect();
    let value = Bytes::from(vec![b'x'; 100]);
    for key in &keys {
        let expiry = Expiry::After(Duration::from_secs(600));
        backend
            .set(key, value.clone(), SetOptions::new(expiry))
            .await?;
    }
    // Load the script.
    backend.get_with_expiry(&keys[0]).await?;

    let (mut old_one, mut new_one, mut old_many, mut new_many) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for i in 0..CALLS_PER_ROUND {
            let key = &keys[i % BATCH];
            let started = Instant::now();
            let (value, ttl) = tokio::join!(backend.get(key), backend.ttl(key));
            value?;
            ttl?;
            old_one.push(started.elapsed());
        }
        for i in 0..CALLS_PER_ROUND {
            let key = &keys[i % BATCH];
            let started = Instant::now();
            backend.get_with_expiry(key).await?;
            new_one.push(started.elapsed());
        }
        for _ in 0..CALLS_PER_ROUND / 20 {
            let started = Instant::now();
            let ttls = futures::future::join_all(keys.iter().map(|key| backend.ttl(key)));
            let (values, ttls) = tokio::join!(backend.get_many(&keys), ttls);
            values?;
            for ttl in ttls {
                ttl?;
            }
            old_many.push(started.elapsed());
        }
        for _ in 0..CALLS_PER_ROUND / 20 {
            let started = Instant::now();
            backend.get_many_with_expiry(&keys).await?;
            new_many.push(started.elapsed());
        }
    }
    println!("| read with its remaining life | calls | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    report("`get` + `ttl` together (2 commands)", old_one);
    report("`get_with_expiry` (1 script call)", new_one);
    report(
        &format!(
            "`get_many` + {BATCH} `ttl`s together ({} commands)",
            BATCH + 1
        ),
        old_many,
    );
    report(
        &format!("`get_many_with_expiry` of {BATCH} keys (1 script call)"),
        new_many,
    );
    Ok(())
}
