//! A command-line program with no async runtime of its own (and no Tokio dependency) that
//! caches with the blocking handle, as a Django management command would.
//!
//! ```text
//! cargo run -p blocking-cli                        # an in-process cache
//! cargo run -p blocking-cli -- redis://127.0.0.1:6379/0
//! ```

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
}

/// Pretends to call a slow quote API.
fn fetch_quote(ticker: &str) -> std::io::Result<Quote> {
    std::thread::sleep(Duration::from_millis(50));
    Ok(Quote {
        ticker: ticker.to_owned(),
        price: 189.5,
    })
}

fn run(url: &str) -> cachette::Result<()> {
    let cache = cachette::blocking::from_url(url)?.namespace("blocking_cli");
    println!("cache: {} backend", cache.backend().name());

    cache.set_opts("scanner:last_run", "now", Duration::from_secs(60))?;
    let last_run: Option<String> = cache.get("scanner:last_run")?;
    println!("scanner:last_run = {last_run:?}");

    // Loaded once, then served from the cache.
    for _ in 0..2 {
        let quote = cache.get_or_set_with("quote:AAPL", || fetch_quote("AAPL"))?;
        println!("quote:AAPL = {quote:?}");
    }

    cache.set("runs", &0)?;
    let runs = cache.incr("runs", 1)?;
    println!("runs = {runs}");

    // Threads share one handle (it is cheap to clone).
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || cache.incr("runs", 1))
        })
        .collect();
    for worker in workers {
        match worker.join() {
            Ok(result) => {
                result?;
            }
            Err(_) => {
                return Err(cachette::Error::new(
                    cachette::ErrorKind::Backend,
                    "a worker thread panicked",
                ))
            }
        }
    }
    println!("runs after 4 threads = {:?}", cache.get::<i64>("runs")?);

    let removed = cache.clear()?;
    println!("cleared {removed} keys");
    Ok(())
}

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memory://".to_owned());
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("blocking-cli: {err}");
            ExitCode::FAILURE
        }
    }
}
