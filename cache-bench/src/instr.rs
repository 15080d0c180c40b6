//! Instructions per operation under `valgrind --tool=callgrind`: each operation runs in a
//! child process of its own (`cache-bench instr-probe OP N`) on a current-thread runtime,
//! and callgrind counts only inside the measured loop (`--toggle-collect`). Instruction
//! counts do not depend on what else the machine runs, so a regression shows whatever the
//! noise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use cachette_api::{async_trait, Bytes, Cache, CacheBackend, Expiry, KeyTtl, SetOptions};

use crate::fixture::{
    compose, Fixture, OpInput, Payload, Workload, BARE_PREFIX, BATCH, OURS_PREFIX, RAW_PREFIX,
    TIERED_PREFIX,
};
use crate::subject::{MokaSameWork, RawMoka, RawRedis, Subject, SubjectId};
use crate::Result;

/// The hidden subcommand the parent re-executes itself with.
pub(crate) const SUBCOMMAND: &str = "instr-probe";

/// Operations per probe.
const OPS: u64 = 5_000;

/// Operations per probe of a batch (each call is [`BATCH`] keys).
const BATCH_OPS: u64 = 200;

/// How many operations `probe` counts.
fn ops_of(probe: &str) -> u64 {
    if probe.ends_with("-many") {
        BATCH_OPS
    } else {
        OPS
    }
}

/// Keys the probes walk through (all written before the loop).
const KEYS: usize = 1_000;

/// The encoded value size of the probes.
const SIZE: usize = 100;

/// One operation measured, and what it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The name on the command line.
    pub(crate) name: &'static str,
    /// What it does.
    pub(crate) what: &'static str,
}

/// The rows of the table: (ours, the same work on the raw crate, the bare crate).
pub(crate) const ROWS: [(Probe, Option<Probe>, Option<Probe>); 11] = [
    (
        Probe {
            name: "ours-memory-get",
            what: "memory get hit 100 B",
        },
        Some(Probe {
            name: "moka-same-get",
            what: "moka get + rmp decode",
        }),
        Some(Probe {
            name: "bare-moka-get",
            what: "moka get",
        }),
    ),
    (
        Probe {
            name: "ours-memory-set",
            what: "memory set 100 B",
        },
        Some(Probe {
            name: "moka-same-set",
            what: "moka insert, per-entry expiry + rmp encode",
        }),
        Some(Probe {
            name: "bare-moka-set",
            what: "moka insert",
        }),
    ),
    (
        Probe {
            name: "ours-memory-incr",
            what: "memory incr",
        },
        Some(Probe {
            name: "moka-same-incr",
            what: "moka and_compute_with on the ASCII integer",
        }),
        None,
    ),
    (
        Probe {
            name: "ours-tiered-get",
            what: "tiered L1 hit 100 B (`Cache::get`; L1 the memory backend, L2 Redis)",
        },
        Some(Probe {
            name: "ours-memory-get-again",
            what: "our memory backend's get hit (the tiered target's baseline)",
        }),
        None,
    ),
    (
        Probe {
            name: "ours-redis-get",
            what: "Redis get hit 100 B, client side (everything but the server)",
        },
        Some(Probe {
            name: "redis-same-get",
            what: "redis crate GET + rmp decode",
        }),
        Some(Probe {
            name: "bare-redis-get",
            what: "redis crate GET",
        }),
    ),
    (
        Probe {
            name: "ours-redis-set",
            what: "Redis set 100 B, client side (everything but the server)",
        },
        Some(Probe {
            name: "redis-same-set",
            what: "redis crate SET … PX + rmp encode",
        }),
        Some(Probe {
            name: "bare-redis-set",
            what: "redis crate SET … PX",
        }),
    ),
    (
        Probe {
            name: "ours-redis-get-many",
            what: "Redis get_many ×100 of 100 B, client side",
        },
        Some(Probe {
            name: "redis-same-get-many",
            what: "redis crate MGET + rmp decode + HashMap",
        }),
        Some(Probe {
            name: "bare-redis-get-many",
            what: "redis crate MGET",
        }),
    ),
    (
        Probe {
            name: "ours-redis-set-many",
            what: "Redis set_many ×100 of 100 B, client side",
        },
        Some(Probe {
            name: "redis-same-set-many",
            what: "redis crate pipeline of SET … PX + rmp encode",
        }),
        Some(Probe {
            name: "bare-redis-set-many",
            what: "redis crate pipeline of SET … PX",
        }),
    ),
    (
        Probe {
            name: "ours-handle-get",
            what: "handle get 100 B over a backend that does nothing (key, call path, decode)",
        },
        Some(Probe {
            name: "raw-compose-decode",
            what: "compose the key + rmp decode",
        }),
        None,
    ),
    (
        Probe {
            name: "ours-handle-set",
            what: "handle set 100 B over a backend that does nothing (key, call path, encode)",
        },
        Some(Probe {
            name: "raw-compose-encode",
            what: "compose the key + rmp encode",
        }),
        None,
    ),
    (
        Probe {
            name: "ours-make-key",
            what: "key build + validation (`Cache::make_key`)",
        },
        Some(Probe {
            name: "raw-compose",
            what: "compose the key (one allocation, two copies)",
        }),
        None,
    ),
];

/// One measured row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InstrRow {
    /// What ours does.
    pub(crate) what: &'static str,
    /// Ours, instructions per operation.
    pub(crate) ours: f64,
    /// The same work on the raw crate, and what that is.
    pub(crate) same_work: Option<(&'static str, f64)>,
    /// The bare crate, and what that is.
    pub(crate) bare: Option<(&'static str, f64)>,
    /// The top of `callgrind_annotate` (self cost) for ours, per operation.
    pub(crate) listing: Vec<String>,
    /// The same for the same work on the raw crate.
    pub(crate) same_listing: Vec<String>,
}

/// The environment variable that hands the probes the Redis server's URL.
const REDIS_URL_VAR: &str = "CACHE_BENCH_INSTR_REDIS_URL";

/// Runs every probe under callgrind; the Redis rows only with a server at `redis_url`.
pub(crate) fn measure_all(redis_url: Option<&str>) -> Result<Vec<InstrRow>> {
    let dir = std::env::temp_dir().join(format!("cache-bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = ROWS
        .iter()
        .filter(|(ours, _, _)| redis_url.is_some() || !needs_redis(ours.name))
        .map(|(ours, same, bare)| {
            eprintln!("callgrind: {}", ours.name);
            let (ours_ir, listing) = count(&dir, ours.name, true, redis_url)?;
            let mut same_listing = Vec::new();
            let same_work = match same {
                Some(p) => {
                    let (ir, lines) = count(&dir, p.name, true, redis_url)?;
                    same_listing = lines;
                    Some((p.what, ir))
                }
                None => None,
            };
            let bare = match bare {
                Some(p) => Some((p.what, count(&dir, p.name, false, redis_url)?.0)),
                None => None,
            };
            Ok(InstrRow {
                what: ours.what,
                ours: ours_ir,
                same_work,
                bare,
                listing,
                same_listing,
            })
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Instructions per operation of one probe, and its annotated listing when asked.
fn count(
    dir: &Path,
    probe: &str,
    listing: bool,
    redis_url: Option<&str>,
) -> Result<(f64, Vec<String>)> {
    let out: PathBuf = dir.join(format!("{probe}.out"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*instr::measured*")
        .arg(std::env::current_exe()?)
        .args([SUBCOMMAND, probe, &ops_of(probe).to_string()])
        .envs(redis_url.map(|url| (REDIS_URL_VAR, url)))
        .output()?;
    if !status.status.success() {
        return Err(format!(
            "valgrind on {probe} failed ({}): {}",
            status.status,
            String::from_utf8_lossy(&status.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ")
        )
        .into());
    }
    let text = std::fs::read_to_string(&out)?;
    let total: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no totals in {}", out.display()))?;
    let per_op = total as f64 / ops_of(probe) as f64;
    let lines = if listing {
        annotate(&out, ops_of(probe))
            .unwrap_or_else(|e| vec![format!("(callgrind_annotate failed: {e})")])
    } else {
        Vec::new()
    };
    Ok((per_op, lines))
}

/// The functions that cost most by themselves (self cost), per operation:
/// `callgrind_annotate` output with its counts divided by the operations counted, `ops`.
fn annotate(out: &Path, ops: u64) -> Result<Vec<String>> {
    let output = Command::new("callgrind_annotate")
        .args(["--threshold=100"])
        .arg(out)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut rows = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some((count, rest)) = trimmed.split_once(' ') else {
            continue;
        };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // "(12.34%)  file:function [binary]"
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map_or(rest, |(_, r)| r.trim_start());
        let function = rest.split_once(':').map_or(rest, |(_, f)| f);
        let function = function.split(" [").next().unwrap_or(function).trim();
        let per_op = ir as f64 / ops as f64;
        if per_op < 25.0 || function.contains("measured") || function == "PROGRAM TOTALS" {
            continue;
        }
        rows.push(format!("{per_op:>6.0}  {}", shorten(function)));
        if rows.len() == 22 {
            break;
        }
    }
    Ok(rows)
}

/// A function name without generic arguments (a qualified path `<T as Trait>::f` keeps
/// its `T as Trait`), kept short enough to read.
fn shorten(function: &str) -> String {
    let keep = usize::from(function.starts_with('<'));
    let mut out = String::new();
    let mut depth = 0;
    for c in function.chars() {
        match c {
            '<' => {
                if depth < keep {
                    out.push('<');
                } else if depth == keep {
                    out.push_str("<…>");
                }
                depth += 1;
            }
            '>' if depth > 0 => {
                depth -= 1;
                if depth < keep {
                    out.push('>');
                }
            }
            _ if depth <= keep => out.push(c),
            _ => {}
        }
    }
    out.chars().take(110).collect()
}

/// A backend that stores nothing and answers reads with one fixed value: what is left is
/// the handle's own work.
#[derive(Debug)]
struct NullBackend {
    value: Bytes,
}

#[async_trait]
impl CacheBackend for NullBackend {
    fn name(&self) -> &'static str {
        "null"
    }
    async fn get(&self, _key: &str) -> cachette_api::Result<Option<Bytes>> {
        Ok(Some(self.value.clone()))
    }
    async fn get_many(&self, keys: &[String]) -> cachette_api::Result<Vec<Option<Bytes>>> {
        Ok(vec![Some(self.value.clone()); keys.len()])
    }
    async fn set(&self, _key: &str, _value: Bytes, _o: SetOptions) -> cachette_api::Result<bool> {
        Ok(true)
    }
    async fn set_many(
        &self,
        _entries: &[(String, Bytes)],
        _expiry: Expiry,
    ) -> cachette_api::Result<Vec<usize>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _key: &str) -> cachette_api::Result<bool> {
        Ok(false)
    }
    async fn delete_many(&self, _keys: &[String]) -> cachette_api::Result<u64> {
        Ok(0)
    }
    async fn delete_if_value(&self, _key: &str, _expected: &[u8]) -> cachette_api::Result<bool> {
        Ok(false)
    }
    async fn touch(&self, _key: &str, _expiry: Expiry) -> cachette_api::Result<bool> {
        Ok(false)
    }
    async fn has_key(&self, _key: &str) -> cachette_api::Result<bool> {
        Ok(true)
    }
    async fn incr(&self, _key: &str, _delta: i64) -> cachette_api::Result<i64> {
        Ok(0)
    }
    async fn ttl(&self, _key: &str) -> cachette_api::Result<KeyTtl> {
        Ok(KeyTtl::Persistent)
    }
    async fn clear(&self, _prefix: &str) -> cachette_api::Result<u64> {
        Ok(0)
    }
    async fn close(&self) -> cachette_api::Result<()> {
        Ok(())
    }
}

/// Whether a probe talks to Redis.
fn needs_redis(probe: &str) -> bool {
    probe.contains("redis") || probe.contains("tiered")
}

/// The Redis subjects of the probes: exactly the subjects (and calls) of the timed cells.
struct RedisProbes {
    fixture: Fixture,
    ours: Subject,
    same: Subject,
    bare: Subject,
    /// Our `Cache` on the tiered layer, its L1 holding every key of the fixture.
    tiered: Subject,
    /// Kept alive for `tiered`'s invalidation channel.
    _layer: cachette_tiered::TieredLayer,
}

impl RedisProbes {
    /// Connects the three subjects to `url` and writes the fixture's keys.
    async fn connect(url: &str) -> Result<RedisProbes> {
        let redis = cachette_redis::RedisBackend::builder()
            .with_url(url)
            .build()
            .await?;
        let layer = crate::bench::tiered(url, redis.clone()).await?;
        let probes = RedisProbes {
            fixture: Fixture::new(SIZE)?,
            tiered: Subject::Ours {
                id: SubjectId::OursTiered,
                cache: layer.cache_builder().with_prefix(TIERED_PREFIX).build()?,
            },
            _layer: layer,
            ours: Subject::Ours {
                id: SubjectId::OursRedis,
                cache: redis.cache_builder().with_prefix(OURS_PREFIX).build()?,
            },
            same: Subject::Redis {
                raw: RawRedis::connect(url, &format!("{RAW_PREFIX}:1:")).await?,
                same_work: true,
            },
            bare: Subject::Redis {
                raw: RawRedis::connect(url, &format!("{BARE_PREFIX}:1:")).await?,
                same_work: false,
            },
        };
        for subject in [&probes.ours, &probes.same, &probes.bare, &probes.tiered] {
            subject.populate(&probes.fixture).await?;
        }
        // Every key read once through the tiered layer, so that its L1 holds them all.
        for i in 0..probes.fixture.keys.len() as u64 {
            probes.run(&probes.tiered, Workload::GetHit, i).await?;
        }
        Ok(probes)
    }

    /// Call `i` of `workload` on `subject` (batches of [`BATCH`] keys).
    async fn run(&self, subject: &Subject, workload: Workload, i: u64) -> Result<()> {
        let input = OpInput::new(workload, 0, 0, i, BATCH);
        subject.run(workload, &self.fixture, &input).await
    }
}

/// What a probe works on.
struct Bench {
    payload: Payload,
    encoded: Bytes,
    keys: Vec<String>,
    counters: Vec<String>,
    head: String,
    ours: Cache,
    handle: Cache,
    same: MokaSameWork,
    bare: RawMoka,
    /// Only for the probes that need it.
    redis: Option<RedisProbes>,
}

/// The child's side: sets up, writes the keys, warms up, then runs `N` operations inside
/// [`measured`], where callgrind counts.
pub(crate) fn run_probe(args: &[String]) -> Result<()> {
    let probe = args.first().cloned().unwrap_or_default();
    let op = Op::parse(&probe)?;
    let n: u64 = args.get(1).ok_or("instr-probe OP N")?.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (payload, encoded) = Payload::of_encoded_size(SIZE)?;
    let memory = cachette_memory::MemoryBackend::new();
    let bench = Bench {
        keys: (0..KEYS).map(|i| format!("k{i}")).collect(),
        counters: (0..KEYS).map(|i| format!("ctr{i}")).collect(),
        head: format!("{RAW_PREFIX}:1:"),
        ours: memory.cache_builder().with_prefix(OURS_PREFIX).build()?,
        handle: Cache::builder(Arc::new(NullBackend {
            value: encoded.clone(),
        }))
        .with_prefix(OURS_PREFIX)
        .build()?,
        same: MokaSameWork::new(
            cachette_memory::DEFAULT_MAX_ENTRIES,
            &format!("{RAW_PREFIX}:1:"),
        ),
        bare: RawMoka::new(cachette_memory::DEFAULT_MAX_ENTRIES, "bb:1:"),
        payload,
        encoded,
        redis: if needs_redis(&probe) {
            let url = std::env::var(REDIS_URL_VAR)
                .map_err(|_| format!("instr-probe {probe}: {REDIS_URL_VAR} is not set"))?;
            Some(runtime.block_on(RedisProbes::connect(&url))?)
        } else {
            None
        },
    };
    runtime.block_on(async {
        for (key, counter) in bench.keys.iter().zip(&bench.counters) {
            bench.ours.set(key, &bench.payload).await?;
            bench.ours.set(counter, &0_i64).await?;
            bench.same.set(key, &bench.payload).await?;
            bench.same.set_counter(counter).await;
            bench.bare.insert(key, bench.encoded.clone()).await;
        }
        Ok::<_, crate::BoxError>(())
    })?;
    // Warm-up, uncounted; then the counted loop.
    runtime.block_on(ops(&bench, op, 0, KEYS as u64))?;
    measured(&runtime, &bench, op, n)?;
    Ok(())
}

/// The counted loop (callgrind's `--toggle-collect` names this function).
#[inline(never)]
fn measured(runtime: &tokio::runtime::Runtime, bench: &Bench, op: Op, n: u64) -> Result<()> {
    runtime.block_on(ops(bench, op, KEYS as u64, n))
}

/// What one probe runs, resolved from its name once, before any counted call (a string
/// match per call would be counted too, and would cost the probes unevenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    OursMemoryGet,
    MokaSameGet,
    BareMokaGet,
    OursMemorySet,
    MokaSameSet,
    BareMokaSet,
    OursMemoryIncr,
    MokaSameIncr,
    OursHandleGet,
    RawComposeDecode,
    OursHandleSet,
    RawComposeEncode,
    OursMakeKey,
    RawCompose,
    /// A workload on one of the Redis-side subjects.
    Remote(Remote, Workload),
}

/// The subjects of [`RedisProbes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remote {
    Ours,
    Same,
    Bare,
    Tiered,
}

impl Op {
    fn parse(probe: &str) -> Result<Op> {
        use {Remote::*, Workload::*};
        Ok(match probe {
            "ours-memory-get" | "ours-memory-get-again" => Op::OursMemoryGet,
            "moka-same-get" => Op::MokaSameGet,
            "bare-moka-get" => Op::BareMokaGet,
            "ours-memory-set" => Op::OursMemorySet,
            "moka-same-set" => Op::MokaSameSet,
            "bare-moka-set" => Op::BareMokaSet,
            "ours-memory-incr" => Op::OursMemoryIncr,
            "moka-same-incr" => Op::MokaSameIncr,
            "ours-handle-get" => Op::OursHandleGet,
            "raw-compose-decode" => Op::RawComposeDecode,
            "ours-handle-set" => Op::OursHandleSet,
            "raw-compose-encode" => Op::RawComposeEncode,
            "ours-make-key" => Op::OursMakeKey,
            "raw-compose" => Op::RawCompose,
            "ours-redis-get" => Op::Remote(Ours, GetHit),
            "redis-same-get" => Op::Remote(Same, GetHit),
            "bare-redis-get" => Op::Remote(Bare, GetHit),
            "ours-redis-set" => Op::Remote(Ours, Set),
            "redis-same-set" => Op::Remote(Same, Set),
            "bare-redis-set" => Op::Remote(Bare, Set),
            "ours-tiered-get" => Op::Remote(Tiered, GetHit),
            "ours-redis-get-many" => Op::Remote(Ours, GetMany),
            "redis-same-get-many" => Op::Remote(Same, GetMany),
            "bare-redis-get-many" => Op::Remote(Bare, GetMany),
            "ours-redis-set-many" => Op::Remote(Ours, SetMany),
            "redis-same-set-many" => Op::Remote(Same, SetMany),
            "bare-redis-set-many" => Op::Remote(Bare, SetMany),
            other => return Err(format!("instr-probe: unknown operation {other:?}").into()),
        })
    }
}

/// Operations `from..from + n` of `op`.
async fn ops(bench: &Bench, op: Op, from: u64, n: u64) -> Result<()> {
    let b = bench;
    for i in from..from + n {
        let key = &b.keys[i as usize % b.keys.len()];
        let counter = &b.counters[i as usize % b.counters.len()];
        match op {
            Op::OursMemoryGet => {
                std::hint::black_box(b.ours.get::<Payload>(key).await?.ok_or("a miss")?);
            }
            Op::MokaSameGet => {
                std::hint::black_box(b.same.get(key).await?.ok_or("a miss")?);
            }
            Op::BareMokaGet => {
                std::hint::black_box(b.bare.get(key).await.ok_or("a miss")?);
            }
            Op::OursMemorySet => b.ours.set(key, &b.payload).await?,
            Op::MokaSameSet => b.same.set(key, &b.payload).await?,
            Op::BareMokaSet => b.bare.insert(key, b.encoded.clone()).await,
            Op::OursMemoryIncr => {
                std::hint::black_box(b.ours.incr(counter, 1).await?);
            }
            Op::MokaSameIncr => {
                std::hint::black_box(b.same.incr(counter).await.ok_or("no integer")?);
            }
            Op::OursHandleGet => {
                std::hint::black_box(b.handle.get::<Payload>(key).await?);
            }
            Op::RawComposeDecode => {
                std::hint::black_box(compose(&b.head, key));
                std::hint::black_box(rmp_serde::from_slice::<Payload>(std::hint::black_box(
                    &b.encoded,
                ))?);
            }
            Op::OursHandleSet => b.handle.set(key, &b.payload).await?,
            Op::RawComposeEncode => {
                std::hint::black_box(compose(&b.head, key));
                std::hint::black_box(Bytes::from(rmp_serde::to_vec_named(std::hint::black_box(
                    &b.payload,
                ))?));
            }
            Op::OursMakeKey => {
                std::hint::black_box(b.handle.make_key(key)?);
            }
            Op::RawCompose => {
                std::hint::black_box(compose(&b.head, key));
            }
            Op::Remote(which, workload) => {
                let r = b.redis.as_ref().ok_or("no Redis subjects")?;
                let subject = match which {
                    Remote::Ours => &r.ours,
                    Remote::Same => &r.same,
                    Remote::Bare => &r.bare,
                    Remote::Tiered => &r.tiered,
                };
                r.run(subject, workload, i).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_runs() {
        let server = cache_test_support::RedisServer::start().unwrap();
        std::env::set_var(REDIS_URL_VAR, server.url());
        for (ours, same, bare) in ROWS {
            for probe in [Some(ours), same, bare].into_iter().flatten() {
                run_probe(&[probe.name.to_owned(), "3".to_owned()]).unwrap();
            }
        }
        assert!(run_probe(&["nope".to_owned(), "1".to_owned()]).is_err());
    }

    #[test]
    fn names_lose_their_generics() {
        assert_eq!(
            shorten("moka::future::Cache<K, V>::insert::{{closure}}"),
            "moka::future::Cache<…>::insert::{{closure}}"
        );
        assert_eq!(
            shorten("<core::hash::sip::Hasher<S> as core::hash::Hasher>::write"),
            "<core::hash::sip::Hasher<…> as core::hash::Hasher>::write"
        );
    }
}
