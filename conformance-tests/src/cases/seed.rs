//! The 13 tests of the seed application (`scanner/tests/test_django_cache.py`), carried over.

use std::time::Duration;

use cachette_api::{KeyTtl, Result, Ttl};
use serde::{Deserialize, Serialize};

use crate::Harness;

/// The seed's `CACHE_TTL_ALPHAVANTAGE`: 7 days.
pub const CACHE_TTL_ALPHAVANTAGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The seed's `CACHE_TTL_OPTIONS`: 45 minutes.
pub const CACHE_TTL_OPTIONS: Duration = Duration::from_secs(45 * 60);

fn assert_ttl_near(ttl: KeyTtl, expected: Duration) {
    let remaining = ttl
        .remaining()
        .unwrap_or_else(|| panic!("expected an expiring key, got {ttl:?}"));
    assert!(
        remaining <= expected && remaining + Duration::from_secs(5) >= expected,
        "remaining {remaining:?}, expected about {expected:?}"
    );
}

/// The handle reports the backend it was built on (the seed's `cache_backend_is_redis`).
pub async fn cache_backend_is_configured(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert_eq!(cache.backend().name(), h.expected_name());
    assert_eq!(cache.backend().name(), h.expected_name());
    Ok(())
}

/// Basic set and get of a map-like value.
pub async fn cache_set_and_get(h: &Harness) -> Result<()> {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Quote {
        ticker: String,
        price: f64,
    }
    let cache = h.handle();
    let value = Quote {
        ticker: "AAPL".into(),
        price: 150.50,
    };
    cache
        .set_opts("test:cache:basic", &value, Duration::from_secs(60))
        .await?;
    assert_eq!(cache.get::<Quote>("test:cache:basic").await?, Some(value));
    assert!(cache.delete("test:cache:basic").await?);
    Ok(())
}

/// A cache built with the seed's 45-minute default applies it to a `set` without a timeout,
/// and a 7-day timeout when given one.
pub async fn cache_ttl_constants_defined(h: &Harness) -> Result<()> {
    assert_eq!(CACHE_TTL_ALPHAVANTAGE.as_secs(), 604_800);
    assert_eq!(CACHE_TTL_OPTIONS.as_secs(), 2_700);
    let cache = h.handle_of(h.builder().with_default_ttl(CACHE_TTL_OPTIONS).build()?);
    assert_eq!(cache.default_ttl(), Ttl::After(CACHE_TTL_OPTIONS));
    cache.set("scanner:last_run", "now").await?;
    assert_ttl_near(cache.ttl("scanner:last_run").await?, CACHE_TTL_OPTIONS);
    cache
        .set_opts(
            "alphavantage:earnings:AAPL",
            &[1.5, 1.4],
            CACHE_TTL_ALPHAVANTAGE,
        )
        .await?;
    assert_ttl_near(
        cache.ttl("alphavantage:earnings:AAPL").await?,
        CACHE_TTL_ALPHAVANTAGE,
    );
    Ok(())
}

/// Keys are composed as `prefix:version:key` with the seed's names, as read at the raw
/// backend level.
pub async fn cache_key_prefix_constants_defined(h: &Harness) -> Result<()> {
    let cache = h.handle_of(
        cachette_api::Cache::builder(h.backend().clone())
            .with_prefix("wheel_analyzer")
            .with_version(1)
            .build()?,
    );
    let alphavantage = cache.namespace("alphavantage");
    let scanner = cache.namespace("scanner");
    let ticker = format!("AAPL{}", &h.prefix()[2..8]);
    alphavantage
        .set(&format!("earnings:{ticker}"), "eps")
        .await?;
    scanner.set("last_scan_results", &[1, 2, 3]).await?;
    let raw = format!("wheel_analyzer:1:alphavantage:earnings:{ticker}");
    assert_eq!(alphavantage.make_key(&format!("earnings:{ticker}"))?, raw);
    let bytes = h.backend().get(&raw).await?;
    // Stored as MessagePack, as django-redis' MSGPackSerializer writes it.
    assert_eq!(
        bytes.as_deref(),
        Some(&rmp_serde::to_vec("eps").unwrap()[..])
    );
    assert_eq!(
        scanner.make_key("last_scan_results")?,
        "wheel_analyzer:1:scanner:last_scan_results"
    );
    assert_eq!(
        cache
            .namespace("scanner")
            .namespace("sma")
            .make_key("AAPL")?,
        "wheel_analyzer:1:scanner:sma:AAPL"
    );
    alphavantage.delete(&format!("earnings:{ticker}")).await?;
    scanner.delete("last_scan_results").await?;
    Ok(())
}

/// A deleted key reads back as a miss.
pub async fn cache_delete(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache
        .set_opts("test:cache:delete", "value", Duration::from_secs(60))
        .await?;
    assert_eq!(
        cache.get::<String>("test:cache:delete").await?.as_deref(),
        Some("value")
    );
    cache.delete("test:cache:delete").await?;
    assert_eq!(cache.get::<String>("test:cache:delete").await?, None);
    Ok(())
}

/// A key expires after its timeout.
pub async fn cache_expiration(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache
        .set_opts("test:cache:expiration", "expires_soon", super::SHORT)
        .await?;
    assert_eq!(
        cache
            .get::<String>("test:cache:expiration")
            .await?
            .as_deref(),
        Some("expires_soon")
    );
    super::sleep_past_short().await;
    assert_eq!(cache.get::<String>("test:cache:expiration").await?, None);
    Ok(())
}

/// A miss falls back to the caller's default.
pub async fn cache_get_with_default(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let result = cache
        .get::<String>("test:cache:nonexistent")
        .await?
        .unwrap_or_else(|| "default_value".to_owned());
    assert_eq!(result, "default_value");
    Ok(())
}

/// `get_or_set` stores on the first call and returns the cached value afterwards.
pub async fn cache_get_or_set(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let first = cache
        .get_or_set_opts(
            "test:cache:get_or_set",
            "initial_value".to_owned(),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(first, "initial_value");
    let second = cache
        .get_or_set_opts(
            "test:cache:get_or_set",
            "new_value".to_owned(),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(second, "initial_value");
    cache.delete("test:cache:get_or_set").await?;
    Ok(())
}

/// Nested structs, lists, floats, booleans and `None` round-trip.
pub async fn cache_handles_complex_types(h: &Harness) -> Result<()> {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OptionQuote {
        strike: f64,
        premium: f64,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Analysis {
        ticker: String,
        intrinsic_value: f64,
        options: Vec<OptionQuote>,
        active: bool,
        count: Option<u32>,
    }
    let cache = h.handle();
    let data = Analysis {
        ticker: "AAPL".into(),
        intrinsic_value: 150.50,
        options: vec![
            OptionQuote {
                strike: 145.0,
                premium: 2.50,
            },
            OptionQuote {
                strike: 150.0,
                premium: 1.75,
            },
        ],
        active: true,
        count: None,
    };
    cache
        .set_opts("test:cache:complex", &data, Duration::from_secs(60))
        .await?;
    let cached = cache.get::<Analysis>("test:cache:complex").await?;
    assert_eq!(cached, Some(data));
    Ok(())
}

/// `clear` removes every key of the cache, and only those.
pub async fn cache_clear(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let other = h.handle_of(
        cachette_api::Cache::builder(h.backend().clone())
            .with_prefix(h.other_prefix("other"))
            .build()?,
    );
    other.set("test:cache:clear1", "survives").await?;
    let keys = [
        "test:cache:clear1",
        "test:cache:clear2",
        "test:cache:clear3",
    ];
    for key in keys {
        cache
            .set_opts(key, &format!("value_{key}"), Duration::from_secs(60))
            .await?;
    }
    cache.with_version(2).set("v2", &2).await?;
    for key in keys {
        assert!(cache.get::<String>(key).await?.is_some());
    }
    assert_eq!(cache.clear().await?, 4);
    for key in keys {
        assert_eq!(cache.get::<String>(key).await?, None);
    }
    assert!(!cache.with_version(2).has_key("v2").await?);
    assert_eq!(
        other.get::<String>("test:cache:clear1").await?.as_deref(),
        Some("survives")
    );
    other.clear().await?;
    Ok(())
}

/// A missing key is `Ok(None)`, not an error.
pub async fn cache_get_handles_none_gracefully(h: &Harness) -> Result<()> {
    assert_eq!(h.handle().get::<String>("nonexistent:key:123").await?, None);
    Ok(())
}

/// A zero timeout stores nothing.
pub async fn cache_set_with_zero_timeout(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache
        .set_opts("test:cache:zero_timeout", "value", Ttl::secs(0))
        .await?;
    assert_eq!(cache.get::<String>("test:cache:zero_timeout").await?, None);
    Ok(())
}

/// Deleting a missing key is not an error (and answers `false`).
pub async fn cache_delete_nonexistent_key(h: &Harness) -> Result<()> {
    assert!(!h.handle().delete("nonexistent:key:456").await?);
    Ok(())
}
