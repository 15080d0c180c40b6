//! `cache-bench blocking-cost`: the per-call cost of the blocking handle against the async
//! handle doing the same `get` hits, on each backend, interleaved round by round.
//!
//! The async subject is an async program's own: a current-thread runtime awaiting the call,
//! its backend connected on that runtime. The blocking subject is a program without a
//! runtime: `blocking::Cache` on the shared blocking runtime, its backend connected there.

use std::sync::Arc;
use std::time::Instant;

use cachette_api::blocking::{self, Runtime};
use cachette_api::{Cache, DynCacheBackend};
use cachette_memory::MemoryBackend;
use cachette_redis::RedisBackend;

use crate::Result;

/// The name of the subcommand.
pub(crate) const SUBCOMMAND: &str = "blocking-cost";

/// The figures of one backend: per-call nanoseconds of each subject per round.
struct Figures {
    backend: &'static str,
    async_ns: Vec<f64>,
    blocking_ns: Vec<f64>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the comparison and returns the Markdown table. `--quick`: few rounds (CI).
pub(crate) fn run(args: &[String]) -> Result<String> {
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, calls) = if quick { (3, 200) } else { (15, 20_000) };
    let runtime = Runtime::shared()?;
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = cache_test_support::shared_redis_url();
    let backends: [(&'static str, DynCacheBackend, DynCacheBackend); 2] = [
        (
            "memory",
            Arc::new(MemoryBackend::new()),
            Arc::new(MemoryBackend::new()),
        ),
        (
            "redis",
            Arc::new(local.block_on(RedisBackend::connect(&url))?),
            Arc::new(runtime.block_on(RedisBackend::connect(&url))?),
        ),
    ];
    let mut table = String::from(
        "| backend | async handle, ns/call (p50) | blocking handle, ns/call (p50) | blocking / async: p50 [min, max] over rounds |\n|---|---|---|---|\n",
    );
    for (backend, for_async, for_blocking) in backends {
        let prefix = format!("bc{:08x}", rand_suffix());
        let async_cache = Cache::builder(for_async)
            .with_prefix(prefix.clone())
            .build()?;
        let blocking_cache = blocking::Cache::with_runtime(
            Cache::builder(for_blocking).with_prefix(prefix).build()?,
            runtime.clone(),
        );
        local.block_on(async_cache.set("hit", &42_u64))?;
        let mut figures = Figures {
            backend,
            async_ns: Vec::new(),
            blocking_ns: Vec::new(),
        };
        for _ in 0..rounds {
            let start = Instant::now();
            local.block_on(async {
                for _ in 0..calls {
                    async_cache.get::<u64>("hit").await?;
                }
                Ok::<_, cachette_api::Error>(())
            })?;
            figures
                .async_ns
                .push(start.elapsed().as_nanos() as f64 / calls as f64);
            let start = Instant::now();
            for _ in 0..calls {
                blocking_cache.get::<u64>("hit")?;
            }
            figures
                .blocking_ns
                .push(start.elapsed().as_nanos() as f64 / calls as f64);
        }
        blocking_cache.clear()?;
        let mut ratios: Vec<f64> = figures
            .blocking_ns
            .iter()
            .zip(&figures.async_ns)
            .map(|(b, a)| b / a)
            .collect();
        let ratio = median(&mut ratios);
        let (min, max) = (
            ratios.first().copied().unwrap_or(f64::NAN),
            ratios.last().copied().unwrap_or(f64::NAN),
        );
        table.push_str(&format!(
            "| {} | {:.0} | {:.0} | {ratio:.2}× [{min:.2}, {max:.2}] |\n",
            figures.backend,
            median(&mut figures.async_ns),
            median(&mut figures.blocking_ns),
        ));
    }
    table.push_str(&format!(
        "\n{rounds} interleaved rounds of {calls} sequential `get` hits per subject.\n"
    ));
    Ok(table)
}

/// A prefix suffix unlikely to be in use: the process id and the clock's nanoseconds.
fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    std::process::id() ^ nanos
}
