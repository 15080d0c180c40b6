//! `cache-bench postgres`: our `Cache` on the PostgreSQL backend against `tokio-postgres` (a
//! `deadpool-postgres` pool of the same size) running the same SQL with the same MessagePack
//! encoding, and our Redis backend for reference; get (hits), set and get_many (10 keys) at 1
//! and 64 tasks, the subjects taking turns in rounds, on private servers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachette_api::Cache;
use deadpool_postgres::{Manager, Pool};

use crate::Result;

const LIVE: &str = "(expires_at IS NULL OR expires_at > now())";
const KEYS: usize = 1000;
const POOL: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Work {
    Get,
    Set,
    GetMany,
}

#[derive(Clone, Debug)]
enum Subject {
    Ours(Cache),
    Raw(Pool),
}

fn value() -> String {
    "v".repeat(100)
}

impl Subject {
    async fn call(&self, work: Work, n: usize) -> Result<()> {
        let key = |i: usize| format!("k{}", i % KEYS);
        match (self, work) {
            (Subject::Ours(cache), Work::Get) => {
                let got: Option<String> = cache.get(&key(n)).await?;
                got.ok_or("a miss")?;
            }
            (Subject::Ours(cache), Work::Set) => cache.set(&key(n), &value()).await?,
            (Subject::Ours(cache), Work::GetMany) => {
                let keys: Vec<String> = (n..n + 10).map(key).collect();
                let got = cache.get_many::<String, _>(&keys).await?;
                if got.len() != 10 {
                    return Err("misses".into());
                }
            }
            (Subject::Raw(pool), Work::Get) => {
                let client = pool.get().await?;
                let sql = format!("SELECT value FROM cachette_cache WHERE key = $1 AND {LIVE}");
                let statement = client.prepare_cached(&sql).await?;
                let k = format!("raw:1:{}", key(n));
                let row = client.query_opt(&statement, &[&k.as_bytes()]).await?;
                let bytes: Vec<u8> = row.ok_or("a miss")?.try_get(0)?;
                let _: String = rmp_serde::from_slice(&bytes)?;
            }
            (Subject::Raw(pool), Work::Set) => {
                let client = pool.get().await?;
                let sql = "INSERT INTO cachette_cache (key, value, expires_at) \
                     VALUES ($1, $2, now() + $3::int8 * interval '1 millisecond') \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                     expires_at = EXCLUDED.expires_at";
                let statement = client.prepare_cached(sql).await?;
                let k = format!("raw:1:{}", key(n));
                let bytes = rmp_serde::to_vec_named(&value())?;
                let ms: Option<i64> = Some(300_000);
                client
                    .execute(&statement, &[&k.as_bytes(), &bytes, &ms])
                    .await?;
            }
            (Subject::Raw(pool), Work::GetMany) => {
                let client = pool.get().await?;
                let sql =
                    format!("SELECT key, value FROM cachette_cache WHERE key = ANY($1) AND {LIVE}");
                let statement = client.prepare_cached(&sql).await?;
                let keys: Vec<String> = (n..n + 10).map(|i| format!("raw:1:{}", key(i))).collect();
                let wanted: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
                let rows = client.query(&statement, &[&wanted]).await?;
                let mut found = std::collections::HashMap::new();
                for row in &rows {
                    let k: &[u8] = row.try_get(0)?;
                    let v: &[u8] = row.try_get(1)?;
                    found.insert(k, v);
                }
                let mut decoded = 0;
                for k in &wanted {
                    if let Some(v) = found.get(k) {
                        let _: String = rmp_serde::from_slice(v)?;
                        decoded += 1;
                    }
                }
                if decoded != 10 {
                    return Err("misses".into());
                }
            }
        }
        Ok(())
    }
}

/// Calls per second of `subject` running `work` on `tasks` tasks for `span`.
async fn throughput(subject: &Subject, work: Work, tasks: usize, span: Duration) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (subject, stop, done) = (subject.clone(), stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut n = t * 37;
            while !stop.load(Ordering::Relaxed) {
                subject.call(work, n).await?;
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok::<(), crate::BoxError>(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(span).await;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Runs the comparison and prints a Markdown table.
pub(crate) fn run(quick: bool) -> Result<()> {
    let postgres = cache_test_support::PostgresServer::start()?;
    let redis = cache_test_support::RedisServer::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let backend = cachette_postgres::PostgresBackend::builder()
            .with_url(postgres.url())
            .with_pool_size(POOL)
            .build()
            .await?;
        let ours = backend.cache_builder().with_prefix("ours").build()?;
        let config: tokio_postgres::Config = postgres.url().parse()?;
        let pool = Pool::builder(Manager::new(config, tokio_postgres::NoTls))
            .max_size(POOL)
            .build()?;
        let raw = Subject::Raw(pool);
        let on_redis = cachette_redis::RedisBackend::connect(&redis.url())
            .await?
            .cache_builder()
            .with_prefix("ours")
            .build()?;
        for i in 0..KEYS {
            let k = format!("k{i}");
            ours.set(&k, &value()).await?;
            on_redis.set(&k, &value()).await?;
            raw.call(Work::Set, i).await?;
        }
        // Ours on PostgreSQL, tokio-postgres with the same SQL and codec, ours on Redis.
        let subjects = [Subject::Ours(ours), raw, Subject::Ours(on_redis)];
        let (rounds, span) = if quick {
            (2, Duration::from_millis(200))
        } else {
            (5, Duration::from_secs(1))
        };
        println!("| workload | tasks | ours (postgres) calls/s | tokio-postgres calls/s | ours / tokio-postgres, median (min–max) | ours (redis) calls/s |");
        println!("|---|---|---|---|---|---|");
        for work in [Work::Get, Work::Set, Work::GetMany] {
            for tasks in [1, 64] {
                let mut rates = vec![Vec::new(); subjects.len()];
                for round in 0..rounds {
                    for k in 0..subjects.len() {
                        let at = (k + round) % subjects.len();
                        let rate = throughput(&subjects[at], work, tasks, span).await?;
                        rates[at].push(rate);
                    }
                }
                let mut ratios: Vec<f64> =
                    rates[0].iter().zip(&rates[1]).map(|(a, b)| a / b).collect();
                ratios.sort_by(f64::total_cmp);
                let median = |v: &[f64]| {
                    let mut v = v.to_vec();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                println!(
                    "| {work:?} | {tasks} | {:.0} | {:.0} | {:.2}× ({:.2}–{:.2}) | {:.0} |",
                    median(&rates[0]),
                    median(&rates[1]),
                    median(&ratios),
                    ratios[0],
                    ratios[ratios.len() - 1],
                    median(&rates[2]),
                );
            }
        }
        Ok::<(), crate::BoxError>(())
    })?;
    drop((postgres, redis));
    Ok(())
}
