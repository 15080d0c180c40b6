//! One benchmark run: for each concurrency, a runtime of its own (current-thread for one
//! task) and the subjects set up on it; then every cell on every subject of a family, in
//! turns: one warm-up round, then timed rounds whose order rotates. Then the figures from
//! outside (instruction counts, resident memory).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::CacheBackend;
use cachette_redis::RedisBackend;

use crate::cli::{Cell, Options, Plan};
use crate::external::{self, Machine, RedisBenchmark};
use crate::fixture::{
    Fixture, Payload, Workload, BARE_PREFIX, MANAGER_PREFIX, OURS_PREFIX, RAW_PREFIX, TIERED_PREFIX,
};
use crate::instr::{self, InstrRow};
use crate::rss::{self, Probe};
use crate::runner::{self, ChunkPlan, Samples, Summary};
use crate::subject::{Family, MokaSameWork, RawMoka, RawRedis, Subject, SubjectId};
use crate::Result;

/// What one subject did in one cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    /// The subject.
    pub(crate) subject: SubjectId,
    /// All timed rounds together.
    pub(crate) summary: Summary,
    /// Calls per second of each timed round, in round order.
    pub(crate) rounds: Vec<f64>,
}

/// A ratio of two subjects' throughput: the median of the per-round ratios, and their
/// spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ratio {
    /// The median of the per-round ratios.
    pub(crate) median: f64,
    /// The lowest per-round ratio.
    pub(crate) min: f64,
    /// The highest per-round ratio.
    pub(crate) max: f64,
}

impl Ratio {
    /// The ratio of `ours` to `base`, round by round (the two ran in the same rounds).
    pub(crate) fn of(ours: &[f64], base: &[f64]) -> Option<Ratio> {
        let mut ratios: Vec<f64> = ours
            .iter()
            .zip(base)
            .filter(|(_, b)| **b > 0.0)
            .map(|(o, b)| o / b)
            .collect();
        if ratios.is_empty() {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        Some(Ratio {
            median: median(&ratios),
            min: ratios[0],
            max: ratios[ratios.len() - 1],
        })
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
pub(crate) fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The figures of one cell on the subjects of one family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellResult {
    /// The cell.
    pub(crate) cell: Cell,
    /// The family.
    pub(crate) family: Family,
    /// Each subject that ran it.
    pub(crate) subjects: Vec<Measured>,
}

impl CellResult {
    /// What `subject` did, if it ran.
    pub(crate) fn measured(&self, subject: SubjectId) -> Option<&Measured> {
        self.subjects.iter().find(|m| m.subject == subject)
    }

    /// The family's own subject against `base`.
    pub(crate) fn ratio(&self, base: SubjectId) -> Option<Ratio> {
        self.ratio_between(self.family.ours(), base)
    }

    /// Subject `a` against subject `b`.
    pub(crate) fn ratio_between(&self, a: SubjectId, b: SubjectId) -> Option<Ratio> {
        Ratio::of(&self.measured(a)?.rounds, &self.measured(b)?.rounds)
    }
}

/// What the codec alone costs for one value size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CodecCost {
    /// Encoded size, in bytes.
    pub(crate) size: usize,
    /// `rmp_serde::to_vec_named` of the payload, nanoseconds per call.
    pub(crate) encode_ns: f64,
    /// `rmp_serde::from_slice` of the payload, nanoseconds per call.
    pub(crate) decode_ns: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub(crate) struct Results {
    /// The plan that was followed.
    pub(crate) plan: Plan,
    /// The machine.
    pub(crate) machine: Machine,
    /// Where the Redis server came from.
    pub(crate) redis_source: String,
    /// Every cell.
    pub(crate) cells: Vec<CellResult>,
    /// The 1-minute load average when each cell started: lowest and highest.
    pub(crate) load_range: (f64, f64),
    /// Resident memory per subject, or why it could not be measured.
    pub(crate) rss: Vec<(SubjectId, std::result::Result<Probe, String>)>,
    /// What the codec alone costs.
    pub(crate) codec: Vec<CodecCost>,
    /// The two clock reads around each call, in nanoseconds.
    pub(crate) clock_overhead_ns: u32,
    /// `get_or_set_many` against single calls, per backend.
    pub(crate) batch_loading: Vec<crate::batch_loading::BatchLoading>,
    /// Instructions per operation under callgrind, or why there are none.
    pub(crate) instructions: std::result::Result<Vec<InstrRow>, String>,
    /// How long the run took.
    pub(crate) elapsed: Duration,
}

impl Results {
    /// The result of one cell on one family.
    pub(crate) fn cell(
        &self,
        family: Family,
        workload: Workload,
        size: usize,
        tasks: usize,
        batch: usize,
    ) -> Option<&CellResult> {
        self.cells.iter().find(|c| {
            c.family == family
                && c.cell
                    == Cell {
                        tasks,
                        size,
                        workload,
                        batch,
                    }
        })
    }

    /// The measured resident bytes per entry of a subject.
    pub(crate) fn bytes_per_entry(&self, subject: SubjectId) -> Option<f64> {
        self.rss
            .iter()
            .find(|(s, _)| *s == subject)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(Probe::bytes_per_entry)
    }
}

/// What every concurrency level shares.
struct Run<'a> {
    options: &'a Options,
    plan: &'a Plan,
    url: String,
    chunk_id: u64,
    cells: Vec<CellResult>,
    loads: Vec<f64>,
}

/// Runs the whole benchmark.
pub(crate) fn run(options: &Options) -> Result<Results> {
    let started = Instant::now();
    let plan = Plan::new(options.quick);
    let load_before = external::load_average();

    // A private server unless one is given; it dies with `server` at the end of the run.
    let (server, url, redis_source) = match &options.redis_url {
        Some(url) => (
            None,
            url.clone(),
            "the server given by `--redis-url`".to_owned(),
        ),
        None => {
            let server = RedisServer::start()?;
            let url = format!("{}/0", server.url());
            (
                Some(server),
                url,
                "a private `redis-server` on a free loopback port, started by the harness \
                 (persistence off)"
                    .to_owned(),
            )
        }
    };
    eprintln!("cache-bench: {} mode, Redis at {url}", plan.mode);

    let cells = plan.cells(options);
    let mut levels: Vec<usize> = cells.iter().map(|c| c.tasks).collect();
    levels.dedup();
    let mut run = Run {
        options,
        plan: &plan,
        url: url.clone(),
        chunk_id: 0,
        cells: Vec::new(),
        loads: Vec::new(),
    };
    let mut redis_version = String::from("unknown");
    let mut batch_loading = Vec::new();
    for tasks in levels {
        // One task on a current-thread runtime: nothing can schedule one subject better than
        // another. More tasks on the multi-thread runtime, one worker per core.
        let runtime = if tasks == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
        };
        let level: Vec<Cell> = cells.iter().copied().filter(|c| c.tasks == tasks).collect();
        let (version, loading) = runtime.block_on(run.level(tasks, &level))?;
        redis_version = version;
        if tasks == 1 {
            batch_loading = loading;
        }
    }
    let mut machine = Machine::describe(redis_version);
    machine.load_before = load_before;

    let codec = plan
        .sizes
        .iter()
        .chain(&plan.growth_sizes)
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|size| codec_cost(&Fixture::new(size)?))
        .collect::<Result<Vec<_>>>()?;

    let instructions = if options.quick || options.no_instructions || options.is_filtered() {
        Err("not run (`--quick`, `--no-instructions` or a filtered run)".to_owned())
    } else {
        eprintln!("instruction counts under callgrind");
        instr::measure_all(Some(&url)).map_err(|e| e.to_string())
    };

    let rss_subjects = if options.is_filtered() {
        Vec::new()
    } else {
        vec![SubjectId::OursMemory, SubjectId::BareMoka]
    };
    let mut rss = Vec::new();
    for subject in rss_subjects {
        eprintln!(
            "resident memory of {} entries: {}",
            plan.rss_entries,
            subject.label()
        );
        rss.push((
            subject,
            rss::measure(subject, plan.rss_entries).map_err(|e| e.to_string()),
        ));
    }
    drop(server);
    machine.load_after = external::load_average();
    let lowest = run.loads.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = run.loads.iter().copied().fold(0.0, f64::max);
    Ok(Results {
        plan: plan.clone(),
        machine,
        redis_source,
        cells: run.cells,
        load_range: (lowest.min(highest), highest),
        rss,
        codec,
        clock_overhead_ns: runner::clock_overhead_ns(),
        batch_loading,
        instructions,
        elapsed: started.elapsed(),
    })
}

impl Run<'_> {
    /// Sets the subjects up on the current runtime and measures the cells of one
    /// concurrency; answers the Redis server's version and, at one task, the batch loading
    /// figures.
    async fn level(
        &mut self,
        tasks: usize,
        cells: &[Cell],
    ) -> Result<(String, Vec<crate::batch_loading::BatchLoading>)> {
        let memory = cachette_memory::MemoryBackend::new();
        let redis = RedisBackend::builder()
            .with_url(self.url.clone())
            .build()
            .await?;
        let same_work = RawRedis::connect(&self.url, &format!("{RAW_PREFIX}:1:")).await?;
        let bare = RawRedis::connect(&self.url, &format!("{BARE_PREFIX}:1:")).await?;
        let manager = RawRedis::connect_manager(&self.url, &format!("{MANAGER_PREFIX}:1:")).await?;
        let version = same_work.server_version().await?;
        // Keys a former run left behind (a crash mid-chunk) under our prefixes only.
        clear_prefixes(&redis).await?;

        let mut subjects = vec![
            Subject::Ours {
                id: SubjectId::OursMemory,
                cache: memory.cache_builder().with_prefix(OURS_PREFIX).build()?,
            },
            Subject::MokaSameWork(MokaSameWork::new(
                cachette_memory::DEFAULT_MAX_ENTRIES,
                &format!("{RAW_PREFIX}:1:"),
            )),
            Subject::BareMoka(RawMoka::new(
                cachette_memory::DEFAULT_MAX_ENTRIES,
                &format!("{BARE_PREFIX}:1:"),
            )),
            Subject::Ours {
                id: SubjectId::OursRedis,
                cache: redis.cache_builder().with_prefix(OURS_PREFIX).build()?,
            },
            Subject::Redis {
                raw: same_work,
                same_work: true,
            },
            Subject::Redis {
                raw: bare,
                same_work: false,
            },
            Subject::Redis {
                raw: manager,
                same_work: true,
            },
        ];
        subjects.push(Subject::Ours {
            id: SubjectId::OursMemoryShared,
            cache: memory.cache_builder().with_prefix(OURS_PREFIX).build()?,
        });
        let mut tiered_layer = None;
        let tiered_ids = [SubjectId::OursTiered, SubjectId::OursTieredShared];
        if tiered_ids.iter().any(|&id| self.options.runs_subject(id)) {
            // Both read the same keys through one layer: one L1, one channel.
            let layer = tiered(&self.url, redis.clone()).await?;
            for id in tiered_ids {
                subjects.push(Subject::Ours {
                    id,
                    cache: layer.cache_builder().with_prefix(TIERED_PREFIX).build()?,
                });
            }
            tiered_layer = Some(layer);
        }
        if self.options.runs_subject(SubjectId::RedisBenchmark) {
            match RedisBenchmark::new(&self.url) {
                Ok(rb) => subjects.push(Subject::RedisBenchmark(rb)),
                Err(e) => eprintln!("cache-bench: no redis-benchmark column: {e}"),
            }
        }
        subjects.retain(|s| self.options.runs_subject(s.id()));

        let mut sizes: Vec<usize> = cells.iter().map(|c| c.size).collect();
        sizes.dedup();
        for size in sizes {
            let fixture = Arc::new(Fixture::new(size)?);
            for subject in &subjects {
                subject.populate(&fixture).await?;
            }
            for cell in cells.iter().filter(|c| c.size == size) {
                for family in Family::ALL {
                    let turn: Vec<&Subject> = subjects
                        .iter()
                        .filter(|s| s.id().family() == family && s.id().runs(cell.workload))
                        .collect();
                    if turn.is_empty() {
                        continue;
                    }
                    let result = self.measure(*cell, family, &turn, &fixture).await?;
                    self.cells.push(result);
                }
            }
        }

        if let Some(layer) = &tiered_layer {
            // What the tiered cells measured: L1 hits, not trips to Redis.
            eprintln!("tiered layer at {tasks} task(s): {:?}", layer.stats());
        }
        let mut loading = Vec::new();
        if tasks == 1 {
            for subject in &subjects {
                if let Subject::Ours { id, cache } = subject {
                    // Once per backend: the other subjects share these backends.
                    if id.is_tiered() || id.reads_shared() {
                        continue;
                    }
                    eprintln!("batch loading on {}", cache.backend().name());
                    loading.push(
                        crate::batch_loading::measure(
                            cache,
                            crate::batch_loading::batches(self.options.quick),
                        )
                        .await?,
                    );
                }
            }
        }
        clear_prefixes(&redis).await?;
        redis.close().await?;
        Ok((version, loading))
    }

    /// One cell on the subjects of one family: a warm-up round (half a chunk each, not
    /// counted), then the timed rounds, the order of the subjects rotating each round.
    async fn measure(
        &mut self,
        cell: Cell,
        family: Family,
        subjects: &[&Subject],
        fixture: &Arc<Fixture>,
    ) -> Result<CellResult> {
        self.loads.push(external::load_one());
        let n = subjects.len();
        let mut samples: Vec<Samples> = subjects.iter().map(|_| Samples::default()).collect();
        let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); n];
        for round in 0..=self.plan.rounds {
            let warm_up = round == 0;
            for k in 0..n {
                let at = (k + round) % n;
                self.chunk_id += 1;
                let chunk = ChunkPlan {
                    workload: cell.workload,
                    tasks: cell.tasks,
                    budget: if warm_up {
                        self.plan.chunk / 2
                    } else {
                        self.plan.chunk
                    },
                    max_ops: if cell.workload == Workload::Add {
                        self.plan.add_max_ops
                    } else {
                        u64::MAX
                    },
                    chunk: self.chunk_id,
                    batch: cell.batch,
                };
                let measured = runner::run_chunk(subjects[at], fixture, chunk)
                    .await
                    .map_err(|e| {
                        format!(
                            "{} on {} ({} B, {} tasks): {e}",
                            cell.workload.label(),
                            subjects[at].id().label(),
                            cell.size,
                            cell.tasks
                        )
                    })?;
                if !warm_up {
                    rounds[at].push(measured.rate());
                    samples[at].merge(measured);
                }
            }
        }
        let result = CellResult {
            cell,
            family,
            subjects: subjects
                .iter()
                .zip(samples)
                .zip(rounds)
                .map(|((s, samples), rounds)| Measured {
                    subject: s.id(),
                    summary: samples.summary(),
                    rounds,
                })
                .collect(),
        };
        let mut line = format!(
            "{:>7} B {:>3} tasks {:<20}",
            cell.size,
            cell.tasks,
            crate::report::workload_label(cell.workload, cell.batch)
        );
        for m in &result.subjects {
            line.push_str(&format!(
                " | {} {}/s",
                m.subject.label(),
                crate::report::rate(m.summary.ops_per_sec)
            ));
        }
        if let Some(r) = result.ratio(family.same_work()) {
            line.push_str(&format!(
                " | ours/same {:.2} ({:.2}–{:.2})",
                r.median, r.min, r.max
            ));
        }
        eprintln!("{line}");
        Ok(result)
    }
}

/// Deletes every key under our prefixes (`SCAN` and `UNLINK`, never `FLUSHDB`).
/// The tiered layer as an application sets it up: the memory backend (same bound as the
/// memory subject's) over `l2`, coherent through Redis pub/sub on the same server.
pub(crate) async fn tiered(url: &str, l2: RedisBackend) -> Result<cachette_tiered::TieredLayer> {
    let channel =
        cachette_redis::RedisInvalidation::connect(url, "cache-bench:invalidation").await?;
    let l1 = cachette_memory::MemoryBackend::new();
    let layer = cachette_tiered::TieredLayer::builder(l1, l2)
        .with_invalidation(Arc::new(channel))
        // As long as the entries live in Redis: the cells measure hits, not L1's expiry.
        .with_l1_max_ttl(Duration::from_millis(crate::fixture::EXPIRY_MS))
        .build()
        .await?;
    // L1 serves once the channel is subscribed; until then every read would go to Redis.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !layer.channel_connected() {
        if Instant::now() > deadline {
            return Err("the tiered layer's invalidation channel did not connect in 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(layer)
}

async fn clear_prefixes(redis: &RedisBackend) -> Result<()> {
    for prefix in [
        OURS_PREFIX,
        RAW_PREFIX,
        BARE_PREFIX,
        MANAGER_PREFIX,
        TIERED_PREFIX,
    ] {
        redis
            .cache_builder()
            .with_prefix(prefix)
            .build()?
            .clear()
            .await?;
    }
    Ok(())
}

/// Times the codec alone on the fixture's payload: the best of six loops.
fn codec_cost(fixture: &Fixture) -> Result<CodecCost> {
    let rounds: u32 = match fixture.size {
        0..1_000 => 50_000,
        1_000..100_000 => 5_000,
        _ => 100,
    };
    let mut encode_ns = f64::INFINITY;
    let mut decode_ns = f64::INFINITY;
    for _ in 0..6 {
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(rmp_serde::to_vec_named(black_box(&fixture.payload))?);
        }
        encode_ns = encode_ns.min(start.elapsed().as_nanos() as f64 / f64::from(rounds));
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(rmp_serde::from_slice::<Payload>(black_box(
                &fixture.encoded,
            ))?);
        }
        decode_ns = decode_ns.min(start.elapsed().as_nanos() as f64 / f64::from(rounds));
    }
    Ok(CodecCost {
        size: fixture.size,
        encode_ns,
        decode_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_per_round_medians_with_their_spread() {
        let r = Ratio::of(&[10.0, 20.0, 30.0], &[10.0, 10.0, 10.0]).unwrap();
        assert_eq!((r.median, r.min, r.max), (2.0, 1.0, 3.0));
        let even = Ratio::of(&[1.0, 2.0, 3.0, 4.0], &[1.0; 4]).unwrap();
        assert!((even.median - 2.5).abs() < 1e-12);
        assert!(Ratio::of(&[1.0], &[0.0]).is_none());
        assert_eq!(median(&[]), 0.0);
    }
}
