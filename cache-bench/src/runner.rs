//! Runs workloads on subjects: short chunks, round-robin over the subjects, every call timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

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
}

impl Samples {
    /// Adds another chunk.
    pub(crate) fn merge(&mut self, other: Samples) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    /// Throughput and latency percentiles.
    pub(crate) fn summary(mut self) -> Summary {
        self.latencies.sort_unstable();
        let secs = self.elapsed.as_secs_f64();
        Summary {
            ops: self.ops,
            ops_per_sec: if secs > 0.0 {
                self.ops as f64 / secs
            } else {
                0.0
            },
            p50_ns: percentile(&self.latencies, 50.0),
            p99_ns: percentile(&self.latencies, 99.0),
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
}

/// Runs one chunk: `plan.tasks` tasks call `subject` until the budget is spent; then deletes
/// the keys an `add` chunk wrote (untimed).
pub(crate) async fn run_chunk(
    subject: &Subject,
    fixture: &Arc<Fixture>,
    plan: ChunkPlan,
) -> Result<Samples> {
    let tasks = plan.tasks.max(1);
    let per_task = plan.max_ops.div_ceil(tasks as u64).max(1);
    let start = Instant::now();
    let deadline = start + plan.budget;
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let subject = subject.clone();
        let fixture = Arc::clone(fixture);
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(4_096);
            let mut n: u64 = 0;
            while n < per_task {
                let input = OpInput::new(plan.workload, plan.chunk, task, n);
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
        });
    }
    let mut samples = Samples::default();
    let mut written = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (task, n, latencies) = joined??;
        samples.ops += n;
        samples.latencies.extend(latencies);
        written.push((task, n));
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
        });
        all.merge(Samples {
            ops: 2,
            elapsed: Duration::from_millis(500),
            latencies: vec![20, 40],
        });
        let summary = all.summary();
        assert_eq!(summary.ops, 4);
        assert!((summary.ops_per_sec - 4.0).abs() < 1e-9);
        assert_eq!(summary.p50_ns, 20);
        assert_eq!(summary.p99_ns, 40);
    }
}
