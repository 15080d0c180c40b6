//! The command line, and the plan each mode follows.

use std::path::PathBuf;
use std::time::Duration;

use crate::fixture::Workload;
use crate::subject::SubjectId;
use crate::Result;

/// What `cache-bench --help` prints.
pub(crate) const USAGE: &str = "\
cache-bench: our Cache (memory and Redis backends) against raw moka, the raw redis crate and
redis-benchmark, interleaved in one run.

USAGE:
    cargo run --release -p cache-bench -- [--quick] [--out FILE.md] [--redis-url URL]

OPTIONS:
    --out FILE.md     write the Markdown report there and the SVG chart beside it
                      (FILE.svg); without it the report is printed to stdout only
    --quick           a short run for CI (100-byte values, short rounds): under a minute
    --redis-url URL   use this server instead of starting a private redis-server; the
                      benchmark writes and then deletes keys under `bo:` and `br:`, and
                      redis-benchmark writes `key:*` keys; nothing is flushed
    --subjects LIST   only these subjects, for profiling (comma-separated: ours-memory,
                      raw-moka, ours-redis, raw-redis); also skips redis-benchmark and the
                      resident-memory probes
    --workloads LIST  only these workloads, for profiling (comma-separated: get-hit,
                      get-miss, set, add, incr, get-many, set-many, get-or-set-with-hit)
    -h, --help        this text
";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the benchmark.
    Bench(Options),
    /// Measure resident memory in this (child) process: the probe's arguments.
    RssProbe(Vec<String>),
    /// Print the usage.
    Help,
}

/// The options of a benchmark run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// The short mode for CI.
    pub(crate) quick: bool,
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

    /// Whether the run is cut down for profiling (no external figures then).
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
    if args.first().map(String::as_str) == Some(crate::rss::SUBCOMMAND) {
        return Ok(Command::RssProbe(args.iter().skip(1).cloned().collect()));
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

/// How much of everything a mode runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// `"quick"` or `"full"`.
    pub(crate) mode: &'static str,
    /// Encoded value sizes, in bytes.
    pub(crate) sizes: Vec<usize>,
    /// Concurrent tasks.
    pub(crate) concurrency: Vec<usize>,
    /// Chunks per subject and workload, taken in turns.
    pub(crate) rounds: u64,
    /// The length of one chunk.
    pub(crate) chunk: Duration,
    /// The most `add` calls in one chunk (each writes a key, deleted after the chunk).
    pub(crate) add_max_ops: u64,
    /// Entries stored by each resident-memory probe.
    pub(crate) rss_entries: u64,
    /// `redis-benchmark -n` with one connection and with many.
    pub(crate) redis_benchmark_requests: (u64, u64),
}

impl Plan {
    /// The plan of a mode.
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                mode: "quick",
                sizes: vec![100],
                concurrency: vec![1, 64],
                rounds: 3,
                chunk: Duration::from_millis(100),
                add_max_ops: 20_000,
                rss_entries: 200_000,
                redis_benchmark_requests: (5_000, 20_000),
            }
        } else {
            Plan {
                mode: "full",
                sizes: vec![100, 10 * 1024],
                concurrency: vec![1, 64],
                rounds: 10,
                chunk: Duration::from_millis(250),
                add_max_ops: 50_000,
                rss_entries: 1_000_000,
                redis_benchmark_requests: (40_000, 200_000),
            }
        }
    }

    /// `redis-benchmark -n` for `clients` connections.
    pub(crate) fn redis_benchmark_requests(&self, clients: usize) -> u64 {
        if clients <= 1 {
            self.redis_benchmark_requests.0
        } else {
            self.redis_benchmark_requests.1
        }
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
            "raw-redis,ours-redis",
            "--workloads",
            "incr",
        ]))
        .unwrap() else {
            panic!("not a benchmark run");
        };
        assert_eq!(
            filtered.subjects,
            Some(vec![SubjectId::RawRedis, SubjectId::OursRedis])
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
        assert!(quick.sizes.len() < full.sizes.len());
        assert!(quick.chunk < full.chunk);
        assert_eq!(quick.redis_benchmark_requests(64), 20_000);
    }
}
