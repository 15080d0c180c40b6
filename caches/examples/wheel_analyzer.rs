//! The seed application, in Rust: a wheel-strategy analyzer that caches a slow market-data API.
//!
//! - fundamentals (earnings, cash flow) from Alpha Vantage, cached 7 days under `alphavantage`;
//! - options scan results, cached 45 minutes (the cache's default) under `scanner`;
//! - simple moving averages under `scanner:sma`.
//!
//! ```sh
//! cargo run --example wheel_analyzer                                    # memory backend
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --example wheel_analyzer # Redis
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachette::{Cache, CacheConfig};
use serde::{Deserialize, Serialize};

/// The seed's `CACHE_TTL_ALPHAVANTAGE`.
const CACHE_TTL_ALPHAVANTAGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The seed's `CACHE_TTL_OPTIONS`, the cache's default timeout.
const CACHE_TTL_OPTIONS: Duration = Duration::from_secs(45 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Earnings {
    ticker: String,
    eps: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PutOption {
    strike: f64,
    premium: f64,
    annualized_return: f64,
}

/// Counts how often the "slow API" really ran.
static API_CALLS: AtomicUsize = AtomicUsize::new(0);

async fn alphavantage_earnings(ticker: &str) -> Result<Earnings, std::io::Error> {
    API_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(120)).await; // rate-limited, slow
    let base = ticker.bytes().map(f64::from).sum::<f64>() / 100.0;
    Ok(Earnings {
        ticker: ticker.to_owned(),
        eps: vec![base, base * 0.97, base * 1.04, base * 0.99],
    })
}

async fn scan_puts(ticker: &str) -> Result<Vec<PutOption>, std::io::Error> {
    API_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let spot = ticker.len() as f64 * 40.0;
    Ok((1..=3)
        .map(|i| PutOption {
            strike: spot - 5.0 * f64::from(i),
            premium: 1.0 + f64::from(i) / 4.0,
            annualized_return: 0.3 - f64::from(i) / 20.0,
        })
        .collect())
}

async fn sma(ticker: &str, days: u32) -> Result<f64, std::io::Error> {
    API_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(40)).await;
    Ok(ticker.len() as f64 * 40.0 - f64::from(days) / 10.0)
}

async fn analyze(cache: &Cache, ticker: &str) -> cachette::Result<()> {
    let alphavantage = cache.namespace("alphavantage");
    let scanner = cache.namespace("scanner");
    let sma_cache = scanner.namespace("sma");

    let calls_before = API_CALLS.load(Ordering::Relaxed);
    let earnings: Earnings = alphavantage
        .get_or_set_with_opts(
            &format!("earnings:{ticker}"),
            CACHE_TTL_ALPHAVANTAGE,
            || alphavantage_earnings(ticker),
        )
        .await?;
    let puts: Vec<PutOption> = scanner
        .get_or_set_with(&format!("put_{ticker}"), || scan_puts(ticker))
        .await?;
    let sma200: f64 = sma_cache
        .get_or_set_with(&format!("{ticker}:200"), || sma(ticker, 200))
        .await?;
    let computed = API_CALLS.load(Ordering::Relaxed) - calls_before;
    let best = puts
        .iter()
        .map(|p| p.annualized_return)
        .fold(f64::MIN, f64::max);
    println!(
        "{ticker:5} eps[0]={:6.2} best put return={:4.0}% sma200={:7.1}  ({})",
        earnings.eps[0],
        best * 100.0,
        sma200,
        if computed == 0 {
            "all from the cache".to_owned()
        } else {
            format!("{computed} of 3 computed")
        }
    );
    Ok(())
}

#[tokio::main]
async fn main() -> cachette::Result<()> {
    let url = std::env::var("CACHE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let mut config = CacheConfig::from_url(&url)?;
    config.prefix = "wheel_analyzer".to_owned();
    config.version = Some(1);
    config.default_timeout = Some(cachette::DurationValue::Seconds(
        CACHE_TTL_OPTIONS.as_secs_f64(),
    ));
    let cache = config.build().await?;
    println!(
        "backend {} at {}; keys look like {}",
        cache.backend().name(),
        cachette::redact_url(&url),
        cache.namespace("alphavantage").make_key("earnings:AAPL")?
    );

    let tickers = ["AAPL", "MSFT", "NVDA", "KO"];
    for round in 1..=2 {
        println!("-- scan {round}");
        for ticker in tickers {
            analyze(&cache, ticker).await?;
        }
    }
    cache
        .namespace("scanner")
        .set("last_run", "2025-11-10T14:00:00Z")
        .await?;

    let stats = cache.stats();
    println!(
        "api calls: {}, cache hits: {}, misses: {}, hit rate: {:.0}%",
        API_CALLS.load(Ordering::Relaxed),
        stats.hits,
        stats.misses,
        stats.hit_rate().unwrap_or(0.0) * 100.0
    );
    cache.clear().await?;
    Ok(())
}
