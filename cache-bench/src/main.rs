//! `cache-bench`: our `Cache` on the memory and Redis backends against raw moka, the raw
//! `redis` crate and `redis-benchmark`, every workload on every subject in one interleaved run.
//!
//! ```sh
//! cargo run --release -p cache-bench -- --out docs/benchmarks.md   # full run, writes the report
//! cargo run --release -p cache-bench -- --quick                    # CI smoke run, prints it
//! ```
//!
//! See `cache-bench --help` and `docs/benchmarks.md`.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod batch_loading;
mod bench;
mod blocking_cost;
mod cli;
mod external;
mod fixture;
mod instr;
mod memcached;
mod postgres;
mod report;
mod rss;
mod runner;
mod subject;
mod svg;

use std::path::Path;

use cli::Command;

/// Any error, with its message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The result of everything here.
pub(crate) type Result<T, E = BoxError> = std::result::Result<T, E>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args)? {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        Command::RssProbe(args) => rss::run_probe(&args),
        Command::InstrProbe(args) => instr::run_probe(&args),
        Command::Memcached(args) => memcached::run(&args),
        Command::BlockingCost(args) => {
            print!("{}", blocking_cost::run(&args)?);
            Ok(())
        }
        Command::Postgres(quick) => postgres::run(quick),
        Command::Instructions => {
            // The Redis rows count the client's instructions against a private server.
            let server = cache_test_support::RedisServer::start()?;
            print!(
                "{}",
                report::instructions(&instr::measure_all(Some(&server.url()))?)
            );
            Ok(())
        }
        Command::Bench(options) => {
            let results = bench::run(&options)?;
            let command = format!(
                "cargo run --release -p cache-bench --{}",
                args.iter().fold(String::new(), |mut s, a| {
                    s.push(' ');
                    s.push_str(a);
                    s
                })
            );
            match &options.out {
                Some(out) => write_report(&results, out, &command)?,
                None => print!("{}", report::markdown(&results, "benchmarks.svg", &command)),
            }
            eprintln!("cache-bench: done in {}", report::minutes(results.elapsed));
            Ok(())
        }
    }
}

/// Writes the Markdown report to `out` and the chart beside it, with the same stem.
fn write_report(results: &bench::Results, out: &Path, command: &str) -> Result<()> {
    let svg_path = out.with_extension("svg");
    let svg_name = svg_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("--out needs a file name")?
        .to_owned();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&svg_path, svg::chart(results))?;
    std::fs::write(out, report::markdown(results, &svg_name, command))?;
    eprintln!(
        "cache-bench: wrote {} and {}",
        out.display(),
        svg_path.display()
    );
    Ok(())
}
