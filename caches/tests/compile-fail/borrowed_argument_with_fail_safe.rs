use std::sync::LazyLock;

static CACHE: LazyLock<cachette::Cache> = LazyLock::new(|| cachette::MemoryBackend::new().cache());

#[cachette::cached(cache = CACHE, fail_safe = cachette::FailSafe::new(std::time::Duration::from_secs(60), std::time::Duration::from_secs(5)))]
async fn quote(ticker: &str) -> Result<f64, cachette::Error> {
    Ok(ticker.len() as f64)
}

fn main() {}
