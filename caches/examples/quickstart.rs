//! The shortest useful program: cache a slow computation, read it back, count hits.
//!
//! ```sh
//! cargo run --example quickstart                                   # in-process memory backend
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --example quickstart # the same, on Redis
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
}

async fn fetch_quote(ticker: &str) -> Result<Quote, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await; // a slow upstream API
    Ok(Quote {
        ticker: ticker.to_owned(),
        price: 189.5,
    })
}

#[tokio::main]
async fn main() -> cachette::Result<()> {
    let url = std::env::var("CACHE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let mut config = cachette::CacheConfig::from_url(&url)?;
    config.prefix = "quickstart".to_owned();
    let cache = config.build().await?;
    println!(
        "backend: {} ({})",
        cache.backend().name(),
        cachette::redact_url(&url)
    );

    for round in 1..=2 {
        let started = std::time::Instant::now();
        let quote: Quote = cache
            .get_or_set_with_opts("quote:AAPL", Duration::from_secs(60), || {
                fetch_quote("AAPL")
            })
            .await?;
        println!(
            "round {round}: {} = {} in {:?}",
            quote.ticker,
            quote.price,
            started.elapsed()
        );
    }

    cache.set("visits", &0).await?;
    let visits = cache.incr("visits", 1).await?;
    println!("visits: {visits}");
    println!("stored key: {}", cache.make_key("quote:AAPL")?);

    let missing: Option<String> = cache.get("nothing:here").await?;
    println!("nothing:here -> {missing:?}");

    let stats = cache.stats();
    println!(
        "hits: {}, misses: {}, sets: {}, hit rate: {:.0}%",
        stats.hits,
        stats.misses,
        stats.sets,
        stats.hit_rate().unwrap_or(0.0) * 100.0
    );
    cache.clear().await?;
    Ok(())
}
