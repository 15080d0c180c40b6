//! The Markdown report.

use std::fmt::Write;

use crate::bench::Results;
use crate::fixture::{Workload, BATCH, COUNTERS, KEYSPACE};
use crate::subject::SubjectId;

/// The ratio ours/raw (throughput) at or above which the Redis backend meets its target.
pub(crate) const REDIS_THROUGHPUT_TARGET: f64 = 0.9;
/// How much slower than raw the Redis backend's median may be at one task, in nanoseconds.
pub(crate) const REDIS_P50_MARGIN_NS: u32 = 10_000;
/// The memory backend's get-hit median target for 100-byte values, in nanoseconds.
pub(crate) const MEMORY_GET_P50_NS: u32 = 1_000;
/// How many times raw moka's resident bytes per entry ours may take.
pub(crate) const MEMORY_PER_ENTRY_TARGET: f64 = 1.5;

/// `1.23 M`, `45.6 k`, `789`.
pub(crate) fn rate(ops_per_sec: f64) -> String {
    if ops_per_sec >= 1e6 {
        format!("{:.2} M", ops_per_sec / 1e6)
    } else if ops_per_sec >= 1e4 {
        format!("{:.1} k", ops_per_sec / 1e3)
    } else if ops_per_sec >= 1e3 {
        format!("{:.2} k", ops_per_sec / 1e3)
    } else {
        format!("{ops_per_sec:.0}")
    }
}

/// `640 ns`, `12.3 µs`, `1.23 ms`.
pub(crate) fn duration_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e5 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// `5 min 42 s`, `38 s`.
pub(crate) fn minutes(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64().round() as u64;
    if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{secs} s")
    }
}

/// `100 B`, `10 KiB`.
pub(crate) fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// `0.93×`, or `–` without both figures.
pub(crate) fn ratio(ours: Option<f64>, raw: Option<f64>) -> String {
    match (ours, raw) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

fn yes_no(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// The two subjects of a comparison.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    /// The title of its section.
    pub(crate) title: &'static str,
    /// Our subject.
    pub(crate) ours: SubjectId,
    /// What it is compared with.
    pub(crate) raw: SubjectId,
}

/// The comparisons, in the order of the report.
pub(crate) const PAIRS: [Pair; 2] = [
    Pair {
        title: "Memory backend against raw moka",
        ours: SubjectId::OursMemory,
        raw: SubjectId::RawMoka,
    },
    Pair {
        title: "Redis backend against the raw redis crate",
        ours: SubjectId::OursRedis,
        raw: SubjectId::RawRedis,
    },
];

/// The report, linking the chart `svg_name` (beside it).
pub(crate) fn markdown(results: &Results, svg_name: &str, command: &str) -> String {
    let mut md = String::new();
    let plan = &results.plan;
    let m = &results.machine;
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "<!-- Written by `{command}`; rerun it rather than editing by hand. -->\n"
    );
    let _ = writeln!(
        md,
        "One run of `cache-bench` in {} mode on {}, {} in all. Every workload ran against every \
         subject in the same run, **interleaved**: {} rounds of {} ms per subject, the subjects \
         taking turns in an order that rotates each round, so that the machine's noise falls on \
         all of them alike.\n",
        plan.mode,
        m.date,
        minutes(results.elapsed),
        plan.rounds,
        plan.chunk.as_millis(),
    );
    let _ = writeln!(
        md,
        "**Machine:** {} cores ({}), {} memory, Linux {}; {}. **Redis {}**: {}, on the same \
         cores as the benchmark (and as `redis-benchmark`). Load average (1, 5, 15 min) {} \
         before the run, {} after it: the machine is shared, so other work may have run \
         meanwhile; interleaving spreads it over every subject.\n",
        m.cores,
        m.cpu,
        m.memory,
        m.kernel,
        m.rustc,
        m.redis,
        results.redis_source,
        m.load_before,
        m.load_after
    );
    let _ = writeln!(md, "## Rerun\n");
    let _ = writeln!(md, "```sh");
    let _ = writeln!(
        md,
        "# full run ({} for this {} run): writes docs/benchmarks.md and docs/benchmarks.svg",
        minutes(results.elapsed),
        plan.mode
    );
    let _ = writeln!(
        md,
        "cargo run --release -p cache-bench -- --out docs/benchmarks.md"
    );
    let _ = writeln!(
        md,
        "# quick run for CI (under a minute once built): prints the report, writes nothing"
    );
    let _ = writeln!(md, "cargo run --release -p cache-bench -- --quick");
    let _ = writeln!(
        md,
        "# against another server (keys under `bo:` and `br:` are written, then deleted)"
    );
    let _ = writeln!(
        md,
        "cargo run --release -p cache-bench -- --redis-url redis://127.0.0.1:6379/0"
    );
    let _ = writeln!(md, "```\n");

    targets(&mut md, results);

    let _ = writeln!(md, "![chart]({svg_name})\n");

    let _ = writeln!(md, "## What is compared\n");
    let _ = writeln!(
        md,
        "- **ours (memory)**: `cache_api::Cache` on `cache_memory::MemoryBackend` (moka, \
         100 000 entries), prefix `bo`, as an application calls it: typed values, MessagePack \
         encoding on each write and decoding on each read, keys composed `bo:1:{{key}}`.\n\
         - **raw moka**: `moka::future::Cache<String, Bytes>` with the same bound and a 300 s \
         time to live, storing the bytes our codec produced once up front (no codec per call), \
         keys composed `br:1:{{key}}` per call as ours does. `add` is `entry().or_insert()`, \
         `incr` is `and_compute_with` on the ASCII integer, `get_or_set_with` is `get_with`, \
         `get_many`/`set_many` are loops.\n\
         - **ours (redis)**: `cache_api::Cache` on `cache_redis::RedisBackend` (one \
         auto-reconnecting multiplexed connection), prefix `bo`.\n\
         - **raw redis crate**: the `redis` crate on one `MultiplexedConnection`, same key \
         composition and bytes, sending what our backend sends: `GET`, `SET … PX 300000`, \
         `SET … PX 300000 NX`, `MGET`, a pipeline of 100 `SET … PX`; `incr` is a plain \
         `INCRBY` (ours runs a Lua script that keeps Django's semantics).\n\
         - **redis-benchmark**: the server's ceiling for `GET` and `SET` with the same value \
         size (`-d`) and connections (`-c 1`, `-c 64`), and with one connection carrying 64 \
         requests at a time (`-c 1 -P 64`).\n\
         - **`cached` crate's Redis store**: not measured. `cached` 4.1 is built on `redis` \
         1.x (so it would not pull a second redis), but it needs Rust 1.92 where this \
         workspace declares 1.88, and through feature unification its `redis_tokio` feature \
         would switch on `redis`'s `r2d2` feature and add about a dozen crates (r2d2, \
         scheduled-thread-pool, parking_lot, serde_json, num-bigint, web-time, …) to every \
         workspace build; its store also offers only get, set and remove.\n"
    );
    let _ = writeln!(
        md,
        "Workloads: `get` hit and miss, `set` over an existing key, `add` of a fresh key, \
         `incr` by 1 (over {COUNTERS} counters), `get_many` and `set_many` of {BATCH} keys (one \
         call each: ops/s counts calls, not keys), `get_or_set_with` on a hit. Keys walk a \
         space of {KEYSPACE}. Values are a serde struct with one string, sized so that the codec \
         encodes it to exactly {}. Tasks run on a multi-thread tokio runtime (one worker per \
         core). Every call is timed alone (two clock reads, {} ns, are included in each \
         latency); p50 and p99 are over every call of every round.\n",
        plan.sizes
            .iter()
            .map(|s| size(*s))
            .collect::<Vec<_>>()
            .join(" and "),
        results.clock_overhead_ns
    );

    let _ = writeln!(
        md,
        "Reading the figures: with {} cores, the Redis server, the benchmark's runtime and, \
         at 64 tasks, the client work of 64 tasks all share the same cores, so at 64 tasks the \
         client's CPU time per call decides throughput. On a small virtual machine a \
         one-task round trip is bimodal: about 16 µs while client and server run on one core, \
         about 45 µs when every wake-up crosses cores (`redis-benchmark -c 1` shows the same), \
         and the scheduler switches between the two every few seconds. Interleaving gives \
         every subject its share of both, but compare ours with raw within this run, not \
         across runs.\n",
        m.cores
    );

    for pair in PAIRS {
        let _ = writeln!(md, "## {}\n", pair.title);
        for &tasks in &plan.concurrency {
            let _ = writeln!(
                md,
                "### {tasks} task{}\n",
                if tasks == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                md,
                "| workload | value | {o} ops/s | {r} ops/s | ours/raw | {o} p50 | {r} p50 | \
                 {o} p99 | {r} p99 |",
                o = pair.ours.label(),
                r = pair.raw.label()
            );
            let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
            for &value in &plan.sizes {
                for workload in Workload::ALL {
                    let ours = results.summary(workload, value, tasks, pair.ours);
                    let raw = results.summary(workload, value, tasks, pair.raw);
                    let cell =
                        |s: Option<crate::runner::Summary>,
                         f: fn(crate::runner::Summary) -> String| {
                            s.map_or_else(|| "–".to_owned(), f)
                        };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        workload.label(),
                        size(value),
                        cell(ours, |s| rate(s.ops_per_sec)),
                        cell(raw, |s| rate(s.ops_per_sec)),
                        ratio(ours.map(|s| s.ops_per_sec), raw.map(|s| s.ops_per_sec)),
                        cell(ours, |s| duration_ns(f64::from(s.p50_ns))),
                        cell(raw, |s| duration_ns(f64::from(s.p50_ns))),
                        cell(ours, |s| duration_ns(f64::from(s.p99_ns))),
                        cell(raw, |s| duration_ns(f64::from(s.p99_ns))),
                    );
                }
            }
            let _ = writeln!(md);
        }
    }

    let _ = writeln!(md, "## redis-benchmark: the server's ceiling\n");
    match &results.redis_benchmark {
        Ok(rows) => {
            let _ = writeln!(
                md,
                "`redis-benchmark -t set,get -r 10000 -d SIZE -c CONNECTIONS -P PIPELINE -n N` \
                 against the same server, after the runs above (not interleaved: it is another \
                 process, sharing the cores with the server). `-c 64` opens 64 connections with \
                 one request in flight each, as asked; our subjects instead share one \
                 multiplexed connection that the redis crate fills with whatever the 64 tasks \
                 have in flight, which is closer to the `-c 1 -P 64` line. The last two columns \
                 repeat our figures for `get` hit and `set` with as many tasks as requests in \
                 flight.\n"
            );
            let _ = writeln!(
                md,
                "| command | value | connections | pipeline | ops/s | p50 | p99 | ours (redis) ops/s | raw redis crate ops/s |"
            );
            let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
            for row in rows {
                let workload = if row.test == "GET" {
                    Workload::GetHit
                } else {
                    Workload::Set
                };
                let tasks = row.clients * row.pipeline;
                let ours = results.summary(workload, row.size, tasks, SubjectId::OursRedis);
                let raw = results.summary(workload, row.size, tasks, SubjectId::RawRedis);
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    row.test,
                    size(row.size),
                    row.clients,
                    row.pipeline,
                    rate(row.rps),
                    duration_ns(f64::from(row.p50_ns)),
                    duration_ns(f64::from(row.p99_ns)),
                    ours.map_or_else(|| "–".to_owned(), |s| rate(s.ops_per_sec)),
                    raw.map_or_else(|| "–".to_owned(), |s| rate(s.ops_per_sec)),
                );
            }
            let _ = writeln!(md);
        }
        Err(why) => {
            let _ = writeln!(md, "redis-benchmark: {why}\n");
        }
    }

    let _ = writeln!(
        md,
        "## Resident memory: {} entries of {}\n",
        plan.rss_entries,
        size(crate::rss::VALUE_SIZE)
    );
    let _ = writeln!(
        md,
        "Each subject stores the entries in a child process of its own (`cache-bench rss-probe \
         ours|moka N`): keys `k0` … composed with the prefix, a distinct 100-byte value per \
         entry (ours encodes it on `set`; raw moka stores a fresh copy of the encoded bytes), \
         then moka's pending tasks are run and `VmRSS` is read; the figure is the growth over \
         the `VmRSS` read just before the first insert, divided by the entries.\n"
    );
    let _ = writeln!(md, "| subject | bytes per entry | resident growth |");
    let _ = writeln!(md, "|---|--:|--:|");
    for (subject, probe) in &results.rss {
        match probe {
            Ok(p) => {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.1} MiB |",
                    subject.label(),
                    p.bytes_per_entry(),
                    p.rss_delta as f64 / (1024.0 * 1024.0)
                );
            }
            Err(why) => {
                let _ = writeln!(md, "| {} | failed: {why} | – |", subject.label());
            }
        }
    }
    let _ = writeln!(
        md,
        "\nours/raw: {}\n",
        ratio(
            results.bytes_per_entry(SubjectId::OursMemory),
            results.bytes_per_entry(SubjectId::RawMoka)
        )
    );

    if !results.batch_loading.is_empty() {
        md.push_str(&crate::batch_loading::markdown(&results.batch_loading));
    }

    let _ = writeln!(md, "## The codec alone\n");
    let _ = writeln!(
        md,
        "What `cache_api::codec` costs per call on the payloads above (one thread, in a loop, \
         the best of six loops): ours pays it on every call, the raw subjects never do.\n"
    );
    let _ = writeln!(md, "| value | encode | decode |");
    let _ = writeln!(md, "|---|--:|--:|");
    for c in &results.codec {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            size(c.size),
            duration_ns(c.encode_ns),
            duration_ns(c.decode_ns)
        );
    }
    md
}

/// The targets section: reported, never asserted.
fn targets(md: &mut String, results: &Results) {
    let plan = &results.plan;
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | |");
    let _ = writeln!(md, "|---|---|---|");

    // Redis ≥ 0.9× raw throughput at 64 tasks, every workload.
    if let Some(&many) = plan.concurrency.iter().max() {
        let mut worst: Option<(f64, Workload, usize)> = None;
        let mut misses = Vec::new();
        for &value in &plan.sizes {
            for workload in Workload::ALL {
                let ours = results.summary(workload, value, many, SubjectId::OursRedis);
                let raw = results.summary(workload, value, many, SubjectId::RawRedis);
                if let (Some(o), Some(r)) = (ours, raw) {
                    let q = o.ops_per_sec / r.ops_per_sec.max(f64::MIN_POSITIVE);
                    if worst.is_none_or(|(w, _, _)| q < w) {
                        worst = Some((q, workload, value));
                    }
                    if q < REDIS_THROUGHPUT_TARGET {
                        misses.push(format!("{} {} {q:.2}×", workload.label(), size(value)));
                    }
                }
            }
        }
        if let Some((q, workload, value)) = worst {
            let _ = writeln!(
                md,
                "| Redis backend ≥ {REDIS_THROUGHPUT_TARGET}× raw redis throughput at {many} tasks, every workload | lowest {q:.2}× ({} {}){} | {} |",
                workload.label(),
                size(value),
                if misses.is_empty() {
                    String::new()
                } else {
                    format!("; below: {}", misses.join(", "))
                },
                yes_no(misses.is_empty())
            );
        }
    }

    // Redis p50 within 10 µs of raw at 1 task.
    if let Some(&one) = plan.concurrency.iter().min() {
        let mut worst: Option<(i64, Workload, usize)> = None;
        let mut misses = Vec::new();
        for &value in &plan.sizes {
            for workload in Workload::ALL {
                let ours = results.summary(workload, value, one, SubjectId::OursRedis);
                let raw = results.summary(workload, value, one, SubjectId::RawRedis);
                if let (Some(o), Some(r)) = (ours, raw) {
                    let d = i64::from(o.p50_ns) - i64::from(r.p50_ns);
                    if worst.is_none_or(|(w, _, _)| d > w) {
                        worst = Some((d, workload, value));
                    }
                    if d > i64::from(REDIS_P50_MARGIN_NS) {
                        misses.push(format!(
                            "{} {} +{}",
                            workload.label(),
                            size(value),
                            duration_ns(d as f64)
                        ));
                    }
                }
            }
        }
        if let Some((d, workload, value)) = worst {
            let _ = writeln!(
                md,
                "| Redis backend p50 within {} of raw at {one} task | largest gap {}{} ({} {}){} | {} |",
                duration_ns(f64::from(REDIS_P50_MARGIN_NS)),
                if d < 0 { "−" } else { "+" },
                duration_ns(d.unsigned_abs() as f64),
                workload.label(),
                size(value),
                if misses.is_empty() {
                    String::new()
                } else {
                    format!("; over: {}", misses.join(", "))
                },
                yes_no(misses.is_empty())
            );
        }
    }

    // Memory get-hit p50 < 1 µs for 100 B.
    for &tasks in &plan.concurrency {
        if let Some(s) = results.summary(Workload::GetHit, 100, tasks, SubjectId::OursMemory) {
            let raw = results.summary(Workload::GetHit, 100, tasks, SubjectId::RawMoka);
            let _ = writeln!(
                md,
                "| Memory backend get-hit p50 < {} (100 B, {tasks} task{}) | {} (raw moka {}) | {} |",
                duration_ns(f64::from(MEMORY_GET_P50_NS)),
                if tasks == 1 { "" } else { "s" },
                duration_ns(f64::from(s.p50_ns)),
                raw.map_or_else(|| "–".to_owned(), |r| duration_ns(f64::from(r.p50_ns))),
                yes_no(s.p50_ns < MEMORY_GET_P50_NS)
            );
        }
    }

    // Memory per entry within 1.5× raw moka.
    let ours = results.bytes_per_entry(SubjectId::OursMemory);
    let raw = results.bytes_per_entry(SubjectId::RawMoka);
    if let (Some(o), Some(r)) = (ours, raw) {
        let _ = writeln!(
            md,
            "| Memory backend resident bytes per entry ≤ {MEMORY_PER_ENTRY_TARGET}× raw moka ({} entries of 100 B) | {o:.0} against {r:.0}: {} | {} |",
            plan.rss_entries,
            ratio(ours, raw),
            yes_no(o <= MEMORY_PER_ENTRY_TARGET * r)
        );
    }
    let _ = writeln!(md);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(rate(1_234_567.0), "1.23 M");
        assert_eq!(rate(45_678.0), "45.7 k");
        assert_eq!(rate(4_567.0), "4.57 k");
        assert_eq!(rate(789.4), "789");
        assert_eq!(duration_ns(640.0), "640 ns");
        assert_eq!(duration_ns(12_345.0), "12.3 µs");
        assert_eq!(duration_ns(123_456.0), "123 µs");
        assert_eq!(duration_ns(1_234_567.0), "1.23 ms");
        assert_eq!(minutes(std::time::Duration::from_secs(342)), "5 min 42 s");
        assert_eq!(minutes(std::time::Duration::from_millis(38_400)), "38 s");
        assert_eq!(size(100), "100 B");
        assert_eq!(size(10 * 1024), "10 KiB");
        assert_eq!(ratio(Some(9.0), Some(10.0)), "0.90×");
        assert_eq!(ratio(Some(9.0), None), "–");
    }
}
