//! Runs workloads on subjects: short chunks, round-robin over the subjects, every call timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::external::RedisBenchmark;
use crate::fixture::{fresh_key, Fixture, OpInput, Workload};
use crate::subject::Subject;
use crate::{BoxError, Result};

/// What the calls of one or more chunks measured.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    /// Calls completed.
    pub(crate) ops: u64,
    /// Wall time of the chunks, from the first spawn to the last task's end.
    pub(crate) elapsed: Duration,
    /// The latency of every call, in nanoseconds.
    pub(crate) latencies: Vec<u32>,
    /// The p50 and p99 an external tool reported for each of its chunks (it times its calls
    /// itself).
    pub(crate) external: Vec<(u32, u32)>,
}

impl Samples {
    /// Adds another chunk.
    pub(crate) fn merge(&mut self, other: Samples) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.external.extend(other.external);
    }

    /// Calls per second.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// Throughput and latency percentiles.
    pub(crate) fn summary(mut self) -> Summary {
        let (p50_ns, p99_ns) = if self.latencies.is_empty() {
            // An external tool's: the median of its chunks' figures.
            let mut p50: Vec<u32> = self.external.iter().map(|p| p.0).collect();
            let mut p99: Vec<u32> = self.external.iter().map(|p| p.1).collect();
            p50.sort_unstable();
            p99.sort_unstable();
            (percentile(&p50, 50.0), percentile(&p99, 50.0))
        } else {
            self.latencies.sort_unstable();
            (
                percentile(&self.latencies, 50.0),
                percentile(&self.latencies, 99.0),
            )
        };
        Summary {
            ops: self.ops,
            ops_per_sec: self.rate(),
            p50_ns,
            p99_ns,
        }
    }
}

/// The figures of one workload on one subject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Calls completed.
    pub(crate) ops: u64,
    /// Calls per second, all tasks together.
    pub(crate) ops_per_sec: f64,
    /// Median latency of a call, in nanoseconds.
    pub(crate) p50_ns: u32,
    /// 99th percentile latency of a call, in nanoseconds.
    pub(crate) p99_ns: u32,
}

/// The `p`th percentile (nearest rank) of sorted values; 0 when there are none.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0)
}

/// The nanoseconds of `d`, saturating at `u32::MAX` (4.3 s).
fn nanos(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}

/// How one chunk runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPlan {
    /// The workload.
    pub(crate) workload: Workload,
    /// Concurrent tasks.
    pub(crate) tasks: usize,
    /// How long the tasks keep calling.
    pub(crate) budget: Duration,
    /// The most calls of all tasks together (bounds the keys an `add` chunk writes).
    pub(crate) max_ops: u64,
    /// A number unique to the chunk, for fresh keys.
    pub(crate) chunk: u64,
    /// Keys per batch call.
    pub(crate) batch: usize,
}

/// Runs one chunk: `plan.tasks` tasks call `subject` until the budget is spent; then deletes
/// the keys an `add` chunk wrote (untimed). One task runs inline, in the calling task (the
/// 1-task cells run on a current-thread runtime, where nothing else competes with it).
pub(crate) async fn run_chunk(
    subject: &Subject,
    fixture: &Arc<Fixture>,
    plan: ChunkPlan,
) -> Result<Samples> {
    if let Subject::RedisBenchmark(rb) = subject {
        return external_chunk(rb, fixture, plan).await;
    }
    let tasks = plan.tasks.max(1);
    let per_task = plan.max_ops.div_ceil(tasks as u64).max(1);
    let start = Instant::now();
    let deadline = start + plan.budget;
    let mut samples = Samples::default();
    let mut written = Vec::new();
    if tasks == 1 {
        let (task, n, latencies) = task_loop(
            subject.clone(),
            Arc::clone(fixture),
            plan,
            0,
            per_task,
            deadline,
        )
        .await?;
        samples.ops += n;
        samples.latencies = latencies;
        written.push((task, n));
    } else {
        let mut set = JoinSet::new();
        for task in 0..tasks {
            set.spawn(task_loop(
                subject.clone(),
                Arc::clone(fixture),
                plan,
                task,
                per_task,
                deadline,
            ));
        }
        while let Some(joined) = set.join_next().await {
            let (task, n, latencies) = joined??;
            samples.ops += n;
            samples.latencies.extend(latencies);
            written.push((task, n));
        }
    }
    samples.elapsed = start.elapsed();
    if plan.workload == Workload::Add {
        let keys: Vec<String> = written
            .iter()
            .flat_map(|&(task, n)| (0..n).map(move |i| fresh_key(plan.chunk, task, i)))
            .collect();
        subject.remove(&keys).await?;
    }
    Ok(samples)
}

/// One task's calls: until `deadline` or `per_task` calls, each timed.
async fn task_loop(
    subject: Subject,
    fixture: Arc<Fixture>,
    plan: ChunkPlan,
    task: usize,
    per_task: u64,
    deadline: Instant,
) -> Result<(usize, u64, Vec<u32>)> {
    let mut latencies = Vec::with_capacity(4_096);
    let mut n: u64 = 0;
    while n < per_task {
        let input = OpInput::new(plan.workload, plan.chunk, task, n, plan.batch);
        let t0 = Instant::now();
        subject.run(plan.workload, &fixture, &input).await?;
        let t1 = Instant::now();
        latencies.push(nanos(t1 - t0));
        n += 1;
        if t1 >= deadline {
            break;
        }
    }
    Ok::<_, BoxError>((task, n, latencies))
}

/// A chunk of `redis-benchmark`, run as a child process (on a blocking thread).
async fn external_chunk(
    rb: &RedisBenchmark,
    fixture: &Arc<Fixture>,
    plan: ChunkPlan,
) -> Result<Samples> {
    let test = match plan.workload {
        Workload::GetHit => "get",
        Workload::Set => "set",
        other => return Err(format!("redis-benchmark does not run {}", other.label()).into()),
    };
    let rb = rb.clone();
    let (size, keys) = (fixture.size, fixture.keys.len());
    let measured =
        tokio::task::spawn_blocking(move || rb.chunk(test, size, plan.tasks, keys, plan.budget))
            .await??;
    Ok(Samples {
        ops: measured.requests,
        elapsed: Duration::from_secs_f64(measured.requests as f64 / measured.rps.max(1.0)),
        latencies: Vec::new(),
        external: vec![(measured.p50_ns, measured.p99_ns)],
    })
}

/// The cost of the two clock reads around every call: the median of many back-to-back pairs.
pub(crate) fn clock_overhead_ns() -> u32 {
    let mut pairs: Vec<u32> = (0..100_000)
        .map(|_| {
            let t0 = Instant::now();
            nanos(t0.elapsed())
        })
        .collect();
    pairs.sort_unstable();
    percentile(&pairs, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&values, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn summaries_add_up_chunks() {
        let mut all = Samples::default();
        all.merge(Samples {
            ops: 2,
            elapsed: Duration::from_millis(500),
            latencies: vec![30, 10],
            external: Vec::new(),
        });
        all.merge(Samples {
            ops: 2,
            elapsed: Duration::from_millis(500),
            latencies: vec![20, 40],
            external: Vec::new(),
        });
        let summary = all.summary();
        assert_eq!(summary.ops, 4);
        assert!((summary.ops_per_sec - 4.0).abs() < 1e-9);
        assert_eq!(summary.p50_ns, 20);
        assert_eq!(summary.p99_ns, 40);
    }
}
