//! One benchmark run: sets the subjects up, runs every workload on every subject in turns,
//! then the external figures (`redis-benchmark`, resident memory).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_api::CacheBackend;
use cache_redis::RedisBackend;
use cache_test_support::RedisServer;

use crate::cli::{Options, Plan};
use crate::external::{self, Machine, RedisBenchmarkRow, ServerAddr};
use crate::fixture::{Fixture, Payload, Workload, OURS_PREFIX, RAW_PREFIX};
use crate::rss::{self, Probe};
use crate::runner::{self, ChunkPlan, Samples, Summary};
use crate::subject::{RawMoka, RawRedis, Subject, SubjectId};
use crate::Result;

/// The figures of one workload, value size and concurrency on one subject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figure {
    /// The workload.
    pub(crate) workload: Workload,
    /// Encoded value size, in bytes.
    pub(crate) size: usize,
    /// Concurrent tasks.
    pub(crate) tasks: usize,
    /// The subject.
    pub(crate) subject: SubjectId,
    /// What was measured.
    pub(crate) summary: Summary,
}

/// What the codec alone costs for one value size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CodecCost {
    /// Encoded size, in bytes.
    pub(crate) size: usize,
    /// `codec::encode` of the payload, nanoseconds per call.
    pub(crate) encode_ns: f64,
    /// `codec::decode` of the payload, nanoseconds per call.
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
    /// Every figure.
    pub(crate) figures: Vec<Figure>,
    /// `redis-benchmark`'s figures, or why there are none.
    pub(crate) redis_benchmark: std::result::Result<Vec<RedisBenchmarkRow>, String>,
    /// Resident memory per subject, or why it could not be measured.
    pub(crate) rss: Vec<(SubjectId, std::result::Result<Probe, String>)>,
    /// What the codec alone costs.
    pub(crate) codec: Vec<CodecCost>,
    /// The two clock reads around each call, in nanoseconds.
    pub(crate) clock_overhead_ns: u32,
    /// `get_or_set_many` against single calls, per backend.
    pub(crate) batch_loading: Vec<crate::batch_loading::BatchLoading>,
    /// How long the run took.
    pub(crate) elapsed: Duration,
}

impl Results {
    /// The figure of one cell, if it was measured.
    pub(crate) fn summary(
        &self,
        workload: Workload,
        size: usize,
        tasks: usize,
        subject: SubjectId,
    ) -> Option<Summary> {
        self.figures
            .iter()
            .find(|f| {
                f.workload == workload && f.size == size && f.tasks == tasks && f.subject == subject
            })
            .map(|f| f.summary)
    }

    /// `redis-benchmark`'s row for `test` (`"GET"` or `"SET"`) with `clients` connections and
    /// no pipelining.
    pub(crate) fn redis_benchmark_row(
        &self,
        test: &str,
        size: usize,
        clients: usize,
    ) -> Option<&RedisBenchmarkRow> {
        self.redis_benchmark.as_ref().ok().and_then(|rows| {
            rows.iter().find(|r| {
                r.test == test && r.size == size && r.clients == clients && r.pipeline == 1
            })
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

/// Runs the whole benchmark.
pub(crate) async fn run(options: &Options) -> Result<Results> {
    let started = Instant::now();
    let plan = Plan::new(options.quick);

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

    let memory = cache_memory::MemoryBackend::new();
    let redis = RedisBackend::builder()
        .with_url(url.clone())
        .build()
        .await?;
    let raw_head = format!("{RAW_PREFIX}:1:");
    let raw_redis = RawRedis::connect(&url, &raw_head).await?;
    // Keys a former run left behind (a crash mid-chunk) under our two prefixes only.
    clear_prefixes(&redis).await?;

    let mut subjects = vec![
        Subject::Ours {
            id: SubjectId::OursMemory,
            cache: memory.cache_builder().with_prefix(OURS_PREFIX).build()?,
        },
        Subject::Moka(RawMoka::new(cache_memory::DEFAULT_MAX_ENTRIES, &raw_head)),
        Subject::Ours {
            id: SubjectId::OursRedis,
            cache: redis.cache_builder().with_prefix(OURS_PREFIX).build()?,
        },
        Subject::Redis(raw_redis.clone()),
    ];
    subjects.retain(|s| options.runs_subject(s.id()));

    let machine = Machine::describe(raw_redis.server_version().await?);
    let clock_overhead_ns = runner::clock_overhead_ns();
    let mut codec = Vec::new();
    let mut figures = Vec::new();
    let mut chunk_id: u64 = 0;
    for &size in &plan.sizes {
        let fixture = Arc::new(Fixture::new(size)?);
        codec.push(codec_cost(&fixture)?);
        for subject in &subjects {
            subject.populate(&fixture).await?;
        }
        for &tasks in &plan.concurrency {
            for workload in Workload::ALL
                .into_iter()
                .filter(|w| options.runs_workload(*w))
            {
                let mut samples: Vec<Samples> =
                    subjects.iter().map(|_| Samples::default()).collect();
                for round in 0..plan.rounds as usize {
                    // Each round starts with the next subject, so that no subject always
                    // follows the same one.
                    for k in 0..subjects.len() {
                        let at = (k + round) % subjects.len();
                        chunk_id += 1;
                        let chunk = ChunkPlan {
                            workload,
                            tasks,
                            budget: plan.chunk,
                            max_ops: if workload == Workload::Add {
                                plan.add_max_ops
                            } else {
                                u64::MAX
                            },
                            chunk: chunk_id,
                        };
                        let measured = runner::run_chunk(&subjects[at], &fixture, chunk)
                            .await
                            .map_err(|e| {
                                format!(
                                    "{} on {} ({size} B, {tasks} tasks): {e}",
                                    workload.label(),
                                    subjects[at].id().label()
                                )
                            })?;
                        samples[at].merge(measured);
                    }
                }
                let mut line = format!("{size:>6} B {tasks:>2} tasks {:<20}", workload.label());
                for (subject, samples) in subjects.iter().zip(samples) {
                    let summary = samples.summary();
                    line.push_str(&format!(
                        " | {} {:>9.0}/s p50 {:>6} ns ({} calls)",
                        subject.id().label(),
                        summary.ops_per_sec,
                        summary.p50_ns,
                        summary.ops
                    ));
                    figures.push(Figure {
                        workload,
                        size,
                        tasks,
                        subject: subject.id(),
                        summary,
                    });
                }
                eprintln!("{line}");
            }
        }
    }
    let mut batch_loading = Vec::new();
    for subject in &subjects {
        if let Subject::Ours { cache, .. } = subject {
            eprintln!("batch loading on {}", cache.backend().name());
            batch_loading.push(
                crate::batch_loading::measure(cache, crate::batch_loading::batches(options.quick))
                    .await?,
            );
        }
    }
    clear_prefixes(&redis).await?;
    redis.close().await?;

    let (redis_benchmark, rss_subjects) = if options.is_filtered() {
        (Err("not run (a filtered run)".to_owned()), Vec::new())
    } else {
        (
            redis_benchmark(&plan, &url),
            vec![SubjectId::OursMemory, SubjectId::RawMoka],
        )
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
    let mut machine = machine;
    machine.load_after = external::load_average();
    Ok(Results {
        plan,
        machine,
        redis_source,
        figures,
        redis_benchmark,
        rss,
        codec,
        clock_overhead_ns,
        batch_loading,
        elapsed: started.elapsed(),
    })
}

/// Deletes every key under our two prefixes (`SCAN` and `UNLINK`, never `FLUSHDB`).
async fn clear_prefixes(redis: &RedisBackend) -> Result<()> {
    for prefix in [OURS_PREFIX, RAW_PREFIX] {
        redis
            .cache_builder()
            .with_prefix(prefix)
            .build()?
            .clear()
            .await?;
    }
    Ok(())
}

/// Runs `redis-benchmark` for GET and SET at every size and concurrency of the plan.
fn redis_benchmark(plan: &Plan, url: &str) -> std::result::Result<Vec<RedisBenchmarkRow>, String> {
    let binary = external::redis_benchmark_path()
        .ok_or_else(|| "not available (`redis-benchmark` is not on PATH; it is in Debian's redis-tools package)".to_owned())?;
    let addr = ServerAddr::from_url(url).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &size in &plan.sizes {
        for &in_flight in &plan.concurrency {
            // As many connections as tasks; and, for many tasks, one connection with as many
            // requests in flight, the shape of a multiplexed connection.
            let mut shapes = vec![(in_flight, 1)];
            if in_flight > 1 {
                shapes.push((1, in_flight));
            }
            for (clients, pipeline) in shapes {
                eprintln!("redis-benchmark -d {size} -c {clients} -P {pipeline}");
                let requests = plan.redis_benchmark_requests(in_flight);
                rows.extend(
                    external::run_redis_benchmark(
                        &binary,
                        &addr,
                        size,
                        (clients, pipeline),
                        requests,
                    )
                    .map_err(|e| e.to_string())?,
                );
            }
        }
    }
    Ok(rows)
}

/// Times the codec alone on the fixture's payload: the best of six loops.
fn codec_cost(fixture: &Fixture) -> Result<CodecCost> {
    let rounds: u32 = if fixture.size > 1_000 { 5_000 } else { 50_000 };
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
