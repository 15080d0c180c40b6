//! incr and decr.

use std::time::Duration;

use cachette_api::{ErrorKind, Result};

use crate::{expect_kind, Harness};

/// `incr` and `decr` by positive and negative deltas, on a value stored with `set(key, 1)`.
pub async fn incr_and_decr(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("answer", &41).await?;
    assert_eq!(cache.incr("answer", 1).await?, 42);
    assert_eq!(cache.get::<i64>("answer").await?, Some(42));
    assert_eq!(cache.incr("answer", 10).await?, 52);
    assert_eq!(cache.incr("answer", -10).await?, 42);
    assert_eq!(cache.decr("answer", 1).await?, 41);
    assert_eq!(cache.decr("answer", -1).await?, 42);
    assert_eq!(cache.decr("answer", 50).await?, -8);
    assert_eq!(cache.get::<i32>("answer").await?, Some(-8));
    // Exact past 2^53, where a double would round.
    let big = (1_i64 << 60) + 1;
    cache.set("big", &big).await?;
    assert_eq!(cache.incr("big", 2).await?, big + 2);
    assert_eq!(cache.decr("big", 1 << 61).await?, big + 2 - (1 << 61));
    assert_eq!(cache.get::<i64>("big").await?, Some(big + 2 - (1 << 61)));
    Ok(())
}

/// `incr` of a missing key is `NotFound` (Django's `ValueError`) and creates nothing.
pub async fn incr_missing_key_is_not_found(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let err = expect_kind(cache.incr("does_not_exist", 1).await, ErrorKind::NotFound);
    assert_eq!(err.key(), Some("does_not_exist"));
    expect_kind(cache.decr("does_not_exist", 1).await, ErrorKind::NotFound);
    assert!(!cache.has_key("does_not_exist").await?);
    Ok(())
}

/// `incr` of an expired key is `NotFound`.
pub async fn incr_expired_key_is_not_found(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("n", &1, super::SHORT).await?;
    super::sleep_past_short().await;
    expect_kind(cache.incr("n", 1).await, ErrorKind::NotFound);
    assert!(!cache.has_key("n").await?);
    Ok(())
}

/// `incr` of a value that is not an integer is `NotInteger`, and the value is unchanged.
pub async fn incr_non_integer_is_not_integer(h: &Harness) -> Result<()> {
    let cache = h.handle();
    for (key, value) in [("text", "abc"), ("numeric_text", "2")] {
        cache.set(key, value).await?;
        expect_kind(cache.incr(key, 1).await, ErrorKind::NotInteger);
        assert_eq!(cache.get::<String>(key).await?.as_deref(), Some(value));
    }
    cache.set("float", &1.5).await?;
    expect_kind(cache.incr("float", 1).await, ErrorKind::NotInteger);
    cache.set("none", &None::<i64>).await?;
    expect_kind(cache.incr("none", 1).await, ErrorKind::NotInteger);
    Ok(())
}

/// `incr` keeps the key's expiry, both a finite one and none.
pub async fn incr_keeps_expiry(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache
        .set_opts("expiring", &1, Duration::from_secs(100))
        .await?;
    cache.incr("expiring", 1).await?;
    let remaining = cache.ttl("expiring").await?.remaining();
    assert!(
        remaining.is_some_and(|d| d > Duration::from_secs(90) && d <= Duration::from_secs(100)),
        "remaining {remaining:?}"
    );
    cache
        .set_opts("forever", &1, cachette_api::Ttl::Never)
        .await?;
    cache.incr("forever", 1).await?;
    assert_eq!(
        cache.ttl("forever").await?,
        cachette_api::KeyTtl::Persistent
    );
    cache.set_opts("short", &1, super::SHORT).await?;
    cache.incr("short", 1).await?;
    super::sleep_past_short().await;
    assert!(!cache.has_key("short").await?);
    Ok(())
}

/// `incr` past `i64::MAX` is `Overflow`, and the value is unchanged.
pub async fn incr_overflow_keeps_value(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("max", &i64::MAX).await?;
    expect_kind(cache.incr("max", 1).await, ErrorKind::Overflow);
    assert_eq!(cache.get::<i64>("max").await?, Some(i64::MAX));
    cache.set("min", &i64::MIN).await?;
    expect_kind(cache.decr("min", 1).await, ErrorKind::Overflow);
    assert_eq!(cache.get::<i64>("min").await?, Some(i64::MIN));
    Ok(())
}

/// `decr` by `i64::MIN` cannot be negated: `Overflow`, value unchanged.
pub async fn decr_by_min_is_overflow(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("n", &0).await?;
    expect_kind(cache.decr("n", i64::MIN).await, ErrorKind::Overflow);
    assert_eq!(cache.get::<i64>("n").await?, Some(0));
    Ok(())
}
