//! The command line, and the plan each mode follows.

use std::path::PathBuf;
use std::time::Duration;

use crate::fixture::{Workload, BATCH};
use crate::subject::SubjectId;
use crate::Result;

/// What `cache-bench --help` prints.
pub(crate) const USAGE: &str = "\
cache-bench: our Cache (memory and Redis backends) against moka and the redis crate doing the
same work, the bare crates and redis-benchmark, interleaved in one run.

USAGE:
    cargo run --release -p cache-bench -- [--quick] [--out FILE.md] [--redis-url URL]
    cargo run --release -p cache-bench -- instructions     # the callgrind table alone
    cargo run --release -p cache-bench -- memcached [--quick]  # memcached: ours vs direct
    cargo run --release -p cache-bench -- blocking-cost [--quick]
                        # the blocking handle's per-call cost against the async handle
    cargo run --release -p cache-bench -- postgres [--quick]  # PostgreSQL against tokio-postgres

OPTIONS:
    --out FILE.md       write the Markdown report there and the SVG chart beside it
                        (FILE.svg); without it the report is printed to stdout only
    --quick             a short run for CI (100-byte values, short rounds)
    --no-instructions   skip the instruction counts (valgrind); a full run takes them when
                        valgrind is on PATH, a quick run never does
    --redis-url URL     use this server instead of starting a private redis-server; the
                        benchmark writes and then deletes keys under `bo:`, `br:`, `bb:` and
                        `bm:`,
                        and redis-benchmark writes `key:*` keys; nothing is flushed
    --subjects LIST     only these subjects, for profiling (comma-separated: ours-memory,
                        ours-memory-shared, moka-same-work, bare-moka, ours-tiered,
                        ours-tiered-shared, ours-redis, redis-same-work, bare-redis,
                        redis-manager, redis-benchmark; `-shared`: hits read with
                        get_shared); also skips the resident-memory probes
    --workloads LIST    only these workloads, for profiling (comma-separated: get-hit,
                        get-miss, set, add, incr, get-many, set-many, get-or-set-with-hit)
    -h, --help          this text
";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the benchmark.
    Bench(Options),
    /// Count instructions per operation under callgrind, and print the table.
    Instructions,
    /// Measure resident memory in this (child) process: the probe's arguments.
    RssProbe(Vec<String>),
    /// The blocking handle against the async handle (`blocking-cost [--quick]`).
    BlockingCost(Vec<String>),
    /// Run operations under callgrind in this (child) process: the probe's arguments.
    InstrProbe(Vec<String>),
    /// Our memcached backend against the same commands sent directly: its arguments.
    Memcached(Vec<String>),
    /// Our PostgreSQL backend against tokio-postgres: `--quick` or not.
    Postgres(bool),
    /// Print the usage.
    Help,
}

/// The options of a benchmark run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// The short mode for CI.
    pub(crate) quick: bool,
    /// Skip the instruction counts.
    pub(crate) no_instructions: bool,
    /// Where to write the Markdown report (the SVG goes beside it).
    pub(crate) out: Option<PathBuf>,
    /// A server to use instead of a private one.
    pub(crate) redis_url: Option<String>,
    /// Only these subjects (profiling); `None` for all.
    pub(crate) subjects: Option<Vec<SubjectId>>,
    /// Only these workloads (profiling); `None` for all.
    pub(crate) workloads: Option<Vec<Workload>>,
}

impl Options {
    /// Whether a subject runs.
    pub(crate) fn runs_subject(&self, subject: SubjectId) -> bool {
        self.subjects.as_ref().is_none_or(|s| s.contains(&subject))
    }

    /// Whether a workload runs.
    pub(crate) fn runs_workload(&self, workload: Workload) -> bool {
        self.workloads
            .as_ref()
            .is_none_or(|w| w.contains(&workload))
    }

    /// Whether the run is cut down for profiling (no resident-memory probes then).
    pub(crate) fn is_filtered(&self) -> bool {
        self.subjects.is_some() || self.workloads.is_some()
    }
}

/// Parses a comma-separated list of names.
fn list<T: Copy>(text: &str, all: &[T], slug: fn(T) -> &'static str) -> Result<Vec<T>> {
    text.split(',')
        .map(|name| {
            all.iter()
                .copied()
                .find(|item| slug(*item) == name.trim())
                .ok_or_else(|| format!("unknown name {name:?}\n\n{USAGE}").into())
        })
        .collect()
}

/// Parses the arguments (without the program name).
pub(crate) fn parse(args: &[String]) -> Result<Command> {
    match args.first().map(String::as_str) {
        Some(crate::rss::SUBCOMMAND) => {
            return Ok(Command::RssProbe(args.iter().skip(1).cloned().collect()));
        }
        Some(crate::instr::SUBCOMMAND) => {
            return Ok(Command::InstrProbe(args.iter().skip(1).cloned().collect()));
        }
        Some("instructions") => return Ok(Command::Instructions),
        Some(crate::memcached::SUBCOMMAND) => {
            return Ok(Command::Memcached(args.iter().skip(1).cloned().collect()));
        }
        Some(crate::blocking_cost::SUBCOMMAND) => {
            return Ok(Command::BlockingCost(
                args.iter().skip(1).cloned().collect(),
            ));
        }
        Some("postgres") => return Ok(Command::Postgres(args.iter().any(|a| a == "--quick"))),
        _ => {}
    }
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-instructions" => options.no_instructions = true,
            "--out" => options.out = Some(PathBuf::from(value("--out")?)),
            "--redis-url" => options.redis_url = Some(value("--redis-url")?),
            "--subjects" => {
                options.subjects = Some(list(
                    &value("--subjects")?,
                    &SubjectId::ALL,
                    SubjectId::slug,
                )?);
            }
            "--workloads" => {
                options.workloads = Some(list(
                    &value("--workloads")?,
                    &Workload::ALL,
                    Workload::slug,
                )?);
            }
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    Ok(Command::Bench(options))
}

/// One measured cell: a workload, a value size, a concurrency and a batch size, run on
/// every subject of a family in turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Cell {
    /// Concurrent tasks (first, so that cells sort by runtime).
    pub(crate) tasks: usize,
    /// Encoded value size, in bytes.
    pub(crate) size: usize,
    /// The workload.
    pub(crate) workload: Workload,
    /// Keys per `get_many` / `set_many` call ([`BATCH`] for the other workloads).
    pub(crate) batch: usize,
}

/// How much of everything a mode runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// `"quick"` or `"full"`.
    pub(crate) mode: &'static str,
    /// Value sizes of the main tables, in bytes.
    pub(crate) sizes: Vec<usize>,
    /// Concurrency of the main tables.
    pub(crate) concurrency: Vec<usize>,
    /// Value sizes of the cost-growth table (get hit and set, 1 task).
    pub(crate) growth_sizes: Vec<usize>,
    /// Concurrency of the cost-growth table (get hit and set, 100 B).
    pub(crate) growth_concurrency: Vec<usize>,
    /// Batch sizes of the cost-growth table (get_many and set_many, 100 B, 1 task).
    pub(crate) growth_batches: Vec<usize>,
    /// Timed rounds per cell (after one warm-up round); each subject runs one chunk a round.
    pub(crate) rounds: usize,
    /// The length of one chunk.
    pub(crate) chunk: Duration,
    /// The most `add` calls in one chunk (each writes a key, deleted after the chunk).
    pub(crate) add_max_ops: u64,
    /// Entries stored by each resident-memory probe.
    pub(crate) rss_entries: u64,
}

impl Plan {
    /// The plan of a mode.
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                mode: "quick",
                sizes: vec![100],
                concurrency: vec![1, 8],
                growth_sizes: vec![100],
                growth_concurrency: vec![1, 8],
                growth_batches: vec![10, BATCH],
                rounds: 3,
                chunk: Duration::from_millis(20),
                add_max_ops: 5_000,
                rss_entries: 50_000,
            }
        } else {
            Plan {
                mode: "full",
                sizes: vec![100, 10 * 1024],
                concurrency: vec![1, 64],
                growth_sizes: vec![100, 10 * 1024, 1024 * 1024],
                growth_concurrency: vec![1, 8, 64, 256],
                growth_batches: vec![10, BATCH, 1_000],
                rounds: 9,
                chunk: Duration::from_millis(120),
                add_max_ops: 50_000,
                rss_entries: 1_000_000,
            }
        }
    }

    /// Every cell to measure, sorted by concurrency then value size, without duplicates.
    pub(crate) fn cells(&self, options: &Options) -> Vec<Cell> {
        let mut cells = Vec::new();
        for &size in &self.sizes {
            for &tasks in &self.concurrency {
                for workload in Workload::ALL {
                    cells.push(Cell {
                        tasks,
                        size,
                        workload,
                        batch: BATCH,
                    });
                }
            }
        }
        for workload in [Workload::GetHit, Workload::Set] {
            for &size in &self.growth_sizes {
                cells.push(Cell {
                    tasks: 1,
                    size,
                    workload,
                    batch: BATCH,
                });
            }
            for &tasks in &self.growth_concurrency {
                cells.push(Cell {
                    tasks,
                    size: 100,
                    workload,
                    batch: BATCH,
                });
            }
        }
        for workload in [Workload::GetMany, Workload::SetMany] {
            for &batch in &self.growth_batches {
                cells.push(Cell {
                    tasks: 1,
                    size: 100,
                    workload,
                    batch,
                });
            }
        }
        cells.retain(|c| options.runs_workload(c.workload));
        cells.sort();
        cells.dedup();
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_the_documented_command_lines() {
        assert_eq!(
            parse(&args(&["--out", "docs/benchmarks.md"])).unwrap(),
            Command::Bench(Options {
                out: Some(PathBuf::from("docs/benchmarks.md")),
                ..Options::default()
            })
        );
        assert_eq!(
            parse(&args(&["--quick", "--redis-url", "redis://127.0.0.1:1/0"])).unwrap(),
            Command::Bench(Options {
                quick: true,
                redis_url: Some("redis://127.0.0.1:1/0".to_owned()),
                ..Options::default()
            })
        );
        let Command::Bench(filtered) = parse(&args(&[
            "--subjects",
            "bare-redis,ours-redis",
            "--workloads",
            "incr",
        ]))
        .unwrap() else {
            panic!("not a benchmark run");
        };
        assert_eq!(
            filtered.subjects,
            Some(vec![SubjectId::BareRedis, SubjectId::OursRedis])
        );
        assert!(filtered.runs_workload(Workload::Incr) && !filtered.runs_workload(Workload::Set));
        assert!(filtered.is_filtered());
        assert!(parse(&args(&["--subjects", "nope"])).is_err());
        assert_eq!(parse(&args(&["--help"])).unwrap(), Command::Help);
        assert_eq!(
            parse(&args(&["rss-probe", "ours", "10"])).unwrap(),
            Command::RssProbe(args(&["ours", "10"]))
        );
        assert!(parse(&args(&["--out"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn quick_mode_is_small() {
        let quick = Plan::new(true);
        let full = Plan::new(false);
        let all = Options::default();
        assert!(quick.cells(&all).len() < full.cells(&all).len());
        assert!(quick.chunk < full.chunk);
        assert_eq!(
            parse(&args(&["instructions"])).unwrap(),
            Command::Instructions
        );
    }

    #[test]
    fn cells_cover_the_growth_tables_once() {
        let full = Plan::new(false);
        let cells = full.cells(&Options::default());
        let one = |workload, size, tasks, batch| {
            cells
                .iter()
                .filter(|c| {
                    c.workload == workload && c.size == size && c.tasks == tasks && c.batch == batch
                })
                .count()
        };
        assert_eq!(one(Workload::GetHit, 100, 1, BATCH), 1);
        assert_eq!(one(Workload::Set, 1024 * 1024, 1, BATCH), 1);
        assert_eq!(one(Workload::GetHit, 100, 256, BATCH), 1);
        assert_eq!(one(Workload::GetMany, 100, 1, 1_000), 1);
        assert!(cells.windows(2).all(|w| w[0] < w[1]));
    }
}
