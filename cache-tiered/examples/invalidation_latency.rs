//! Measures the two invalidation mechanisms Redis offers, on their own: pub/sub (the writer
//! sends `SET` then `PUBLISH`; a subscriber receives the message) and RESP3 client tracking in
//! broadcast mode (the writer sends `SET` only; the server pushes `invalidate` to a tracking
//! connection).
//!
//! ```text
//! cargo run --release -p cache-tiered --example invalidation_latency
//! ```
//!
//! For each write it records how long the writer waited and how long after the write began the
//! listener learned of it. The figures in `docs/tiered.md` come from this program.

use std::error::Error;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use futures::StreamExt;
use redis::AsyncConnectionConfig;

type Res<T> = Result<T, Box<dyn Error>>;

const WRITES: usize = 5_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    println!("# invalidation_latency: {WRITES} writes, one listener, loopback\n");
    println!("| mechanism | writer waits p50 | p99 | listener knows p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    pubsub(&url).await?;
    tracking(&url).await?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn show(d: Duration) -> String {
    format!("{:.1} µs", d.as_nanos() as f64 / 1000.0)
}

fn report(name: &str, mut waits: Vec<Duration>, mut known: Vec<Duration>) {
    waits.sort();
    known.sort();
    println!(
        "| {name} | {} | {} | {} | {} | {} |",
        show(percentile(&waits, 0.5)),
        show(percentile(&waits, 0.99)),
        show(percentile(&known, 0.5)),
        show(percentile(&known, 0.99)),
        show(known.last().copied().unwrap_or_default()),
    )
}

async fn pubsub(url: &str) -> Res<()> {
    let client = redis::Client::open(url)?;
    let mut writer = client.get_multiplexed_async_connection().await?;
    let mut subscriber = client.get_async_pubsub().await?;
    subscriber.subscribe("lat:channel").await?;
    let mut messages = subscriber.into_on_message();
    let (mut waits, mut known) = (Vec::new(), Vec::new());
    for i in 0..WRITES {
        let key = format!("lat:ps:{i}");
        let started = Instant::now();
        redis::cmd("SET")
            .arg(&key)
            .arg("v")
            .query_async::<()>(&mut writer)
            .await?;
        redis::cmd("PUBLISH")
            .arg("lat:channel")
            .arg(&key)
            .query_async::<i64>(&mut writer)
            .await?;
        waits.push(started.elapsed());
        let msg = messages.next().await.ok_or("subscription closed")?;
        known.push(started.elapsed());
        if msg.get_payload_bytes() != key.as_bytes() {
            return Err("unexpected message".into());
        }
    }
    report("pub/sub (`SET` + `PUBLISH`)", waits, known);
    Ok(())
}

async fn tracking(url: &str) -> Res<()> {
    let resp3 = redis::Client::open(format!("{url}/?protocol=resp3"))?;
    let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new().set_push_sender(tx);
    let mut tracker = resp3
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg("lat:tr:")
        .query_async::<()>(&mut tracker)
        .await?;
    let mut writer = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let (mut waits, mut known) = (Vec::new(), Vec::new());
    for i in 0..WRITES {
        let key = format!("lat:tr:{i}");
        let started = Instant::now();
        redis::cmd("SET")
            .arg(&key)
            .arg("v")
            .query_async::<()>(&mut writer)
            .await?;
        waits.push(started.elapsed());
        loop {
            let push = pushes.recv().await.ok_or("tracking connection closed")?;
            if push.kind == redis::PushKind::Invalidate {
                break;
            }
        }
        known.push(started.elapsed());
    }
    report("RESP3 tracking, BCAST (`SET` only)", waits, known);
    Ok(())
}
