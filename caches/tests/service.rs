//! Swapping is real: the same application code, built once over a memory URL and once over a
//! Redis URL (a real server the test starts), gives the same results.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use cachette::{Cache, ErrorKind, KeyTtl, Ttl};

/// Application code: knows nothing of the backend.
async fn application(cache: &Cache) -> cachette::Result<Vec<String>> {
    let mut log = Vec::new();
    let alphavantage = cache.namespace("alphavantage");
    let scanner = cache.namespace("scanner");
    let eps: Vec<f64> = alphavantage
        .get_or_set_with_opts(
            "earnings:AAPL",
            Duration::from_secs(7 * 24 * 3600),
            || async { Ok::<_, std::io::Error>(vec![1.52, 1.46]) },
        )
        .await?;
    log.push(format!("eps {eps:?}"));
    let again: Vec<f64> = alphavantage
        .get_or_set_with("earnings:AAPL", || async {
            Err::<Vec<f64>, _>(std::io::Error::other("must come from the cache"))
        })
        .await?;
    log.push(format!("again {again:?}"));
    scanner.set("last_run", "2025-11-10T14:00:00Z").await?;
    scanner
        .set_opts("put_AAPL", &(145.0, 2.5), Ttl::Never)
        .await?;
    log.push(format!("ttl {:?}", scanner.ttl("put_AAPL").await?));
    let ttl = scanner.ttl("last_run").await?;
    log.push(format!(
        "default ttl ok {}",
        matches!(ttl, KeyTtl::Expires(d) if d > Duration::from_secs(2600) && d <= Duration::from_secs(2700))
    ));
    cache.set("counter", &10).await?;
    log.push(format!("incr {}", cache.incr("counter", 5).await?));
    log.push(format!(
        "incr missing {:?}",
        cache.incr("missing", 1).await.map_err(|e| e.kind())
    ));
    let many: HashMap<String, String> = scanner.get_many(&["last_run", "nothing"]).await?;
    log.push(format!("many {many:?}"));
    log.push(format!("add {}", cache.add("counter", &0).await?));
    log.push(format!(
        "bad key {:?}",
        cache.get::<i32>("a b").await.map_err(|e| e.kind())
    ));
    log.push(format!("cleared {}", cache.clear().await?));
    log.push(format!(
        "after clear {:?}",
        cache.get::<i64>("counter").await?
    ));
    Ok(log)
}

#[tokio::test]
async fn the_same_code_gives_the_same_results_on_memory_and_redis() {
    let options = "prefix=swap&default_timeout=45m";
    let memory = cachette::from_url(&format!("memory://?{options}"))
        .await
        .unwrap();
    let redis_url = cache_test_support::shared_redis_url();
    let redis = cachette::from_url(&format!("{redis_url}/0?{options}&connect_timeout=5s"))
        .await
        .unwrap();
    assert_eq!(memory.backend().name(), "memory");
    assert_eq!(redis.backend().name(), "redis");
    let on_memory = application(&memory).await.unwrap();
    let on_redis = application(&redis).await.unwrap();
    assert_eq!(on_memory, on_redis);
    assert!(on_memory.contains(&format!(
        "incr missing {:?}",
        Err::<i64, _>(ErrorKind::NotFound)
    )));
    assert_eq!(memory.stats(), redis.stats());
}

#[tokio::test]
async fn named_caches_from_toml_over_both_backends() {
    let redis_url = cache_test_support::shared_redis_url();
    let toml = format!(
        r#"
        [caches.default]
        url = "{redis_url}/0"
        prefix = "named"
        default_timeout = "45m"
        connect_timeout = 5
        response_timeout = 5

        [caches.local]
        url = "memory://"
        max_entries = 100
        "#
    );
    let caches = cachette::CachesConfig::from_toml_str(&toml)
        .unwrap()
        .build()
        .await
        .unwrap();
    let default = caches.default_cache().unwrap();
    let local = caches.get("local").unwrap();
    assert_eq!(default.backend().name(), "redis");
    assert_eq!(local.backend().name(), "memory");
    default.set("k", "v").await.unwrap();
    assert_eq!(
        default.get::<String>("k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(local.get::<String>("k").await.unwrap(), None);
    default.clear().await.unwrap();
}
