//! Timeouts, expiry, touch and ttl.

use std::time::Duration;

use cachette_api::{KeyTtl, Result, Ttl};

use super::{sleep_past_short, SHORT};
use crate::Harness;

fn assert_remaining_between(ttl: KeyTtl, low: Duration, high: Duration) {
    let remaining = ttl.remaining();
    assert!(
        remaining.is_some_and(|d| d > low && d <= high),
        "remaining {remaining:?}, expected within ({low:?}, {high:?}]"
    );
}

/// `set`, `add`, `set_many`, `get_or_set` and `get_or_set_with` all honour their timeout
/// (Django's `test_expiration`).
pub async fn expiration_applies_to_every_write(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("set", "v", SHORT).await?;
    cache.add_opts("add", "v", SHORT).await?;
    cache
        .set_many_opts([("many1", 1), ("many2", 2)], SHORT)
        .await?;
    cache.get_or_set_opts("gos", 1, SHORT).await?;
    cache
        .get_or_set_with_opts("gosw", SHORT, || async { Ok::<_, std::io::Error>(1) })
        .await?;
    cache.set("touched", "v").await?;
    assert!(cache.touch_opts("touched", SHORT).await?);
    let keys = ["set", "add", "many1", "many2", "gos", "gosw", "touched"];
    for key in keys {
        assert!(
            cache.has_key(key).await?,
            "{key} should exist before expiry"
        );
    }
    sleep_past_short().await;
    for key in keys {
        assert!(!cache.has_key(key).await?, "{key} should have expired");
        assert!(cache.get::<serde::de::IgnoredAny>(key).await?.is_none());
    }
    assert!(cache.add("add", "again").await?);
    Ok(())
}

/// A timeout of a year is kept as a year (Django's `test_long_timeout`: no memcached-style
/// reinterpretation of timeouts over 30 days).
pub async fn long_timeout(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let year = Duration::from_secs(365 * 24 * 3600);
    cache.set_opts("key1", "eggs", year).await?;
    assert_eq!(cache.get::<String>("key1").await?.as_deref(), Some("eggs"));
    assert_remaining_between(
        cache.ttl("key1").await?,
        year - Duration::from_secs(10),
        year,
    );
    cache.add_opts("key2", "ham", year).await?;
    cache.set_many_opts([("key3", "sausage")], year).await?;
    assert_remaining_between(
        cache.ttl("key3").await?,
        year - Duration::from_secs(10),
        year,
    );
    Ok(())
}

/// `Ttl::Never` keeps keys forever, for every write (Django's `test_forever_timeout`).
pub async fn never_timeout(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("key1", "eggs", Ttl::Never).await?;
    assert_eq!(cache.ttl("key1").await?, KeyTtl::Persistent);
    assert!(cache.add_opts("key2", "ham", Ttl::Never).await?);
    assert_eq!(cache.ttl("key2").await?, KeyTtl::Persistent);
    cache
        .set_many_opts(
            [("key3", "sausage"), ("key4", "lobster bisque")],
            Ttl::Never,
        )
        .await?;
    assert_eq!(cache.ttl("key4").await?, KeyTtl::Persistent);
    let forever = h.handle_of(h.builder().with_default_ttl(Ttl::Never).build()?);
    forever.set("default_forever", &1).await?;
    assert_eq!(forever.ttl("default_forever").await?, KeyTtl::Persistent);
    Ok(())
}

/// A non-zero duration under a millisecond stores the value (rounded up), never "expire now".
pub async fn sub_millisecond_timeout_is_not_zero(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("tiny", "v", Duration::from_nanos(1)).await?;
    let remaining = cache.ttl("tiny").await?;
    assert!(
        matches!(remaining, KeyTtl::Expires(d) if d <= Duration::from_millis(1))
            || remaining == KeyTtl::Missing,
        "got {remaining:?}"
    );
    cache
        .set_opts("ms", "v", Duration::from_micros(200_500))
        .await?;
    assert_remaining_between(
        cache.ttl("ms").await?,
        Duration::from_millis(100),
        Duration::from_millis(201),
    );
    Ok(())
}

/// "No timeout given" (the default) and "never expire" are different things.
pub async fn default_timeout_and_never_are_different(h: &Harness) -> Result<()> {
    let cache = h.handle_of(
        h.builder()
            .with_default_ttl(Duration::from_secs(60))
            .build()?,
    );
    cache.set("default", &1).await?;
    cache.set_opts("never", &1, Ttl::Never).await?;
    cache.set_opts("explicit_default", &1, Ttl::Default).await?;
    assert_remaining_between(
        cache.ttl("default").await?,
        Duration::from_secs(50),
        Duration::from_secs(60),
    );
    assert_remaining_between(
        cache.ttl("explicit_default").await?,
        Duration::from_secs(50),
        Duration::from_secs(60),
    );
    assert_eq!(cache.ttl("never").await?, KeyTtl::Persistent);
    let plain = h.handle();
    plain.set("django_default", &1).await?;
    assert_remaining_between(
        plain.ttl("django_default").await?,
        Duration::from_secs(290),
        Duration::from_secs(300),
    );
    Ok(())
}

/// `touch` with a timeout gives an existing key a new expiry (Django's `test_touch`).
pub async fn touch_extends_expiry(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("expire1", "very quickly", SHORT).await?;
    assert!(cache.touch_opts("expire1", Duration::from_secs(60)).await?);
    sleep_past_short().await;
    assert!(cache.has_key("expire1").await?);
    assert!(cache.touch_opts("expire1", SHORT).await?);
    sleep_past_short().await;
    assert!(!cache.has_key("expire1").await?);
    Ok(())
}

/// `touch` of a missing (or expired) key answers `false` and creates nothing.
pub async fn touch_missing_key(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert!(!cache.touch("nonexistent").await?);
    assert!(!cache.touch_opts("nonexistent", Ttl::Never).await?);
    assert!(!cache.has_key("nonexistent").await?);
    cache.set_opts("expired", &1, SHORT).await?;
    sleep_past_short().await;
    assert!(!cache.touch_opts("expired", Duration::from_secs(60)).await?);
    assert!(!cache.has_key("expired").await?);
    Ok(())
}

/// `touch` without a timeout resets the expiry to the cache's default.
pub async fn touch_default_resets_expiry(h: &Harness) -> Result<()> {
    let cache = h.handle_of(
        h.builder()
            .with_default_ttl(Duration::from_secs(60))
            .build()?,
    );
    cache.set_opts("k", "v", Ttl::Never).await?;
    assert!(cache.touch("k").await?);
    assert_remaining_between(
        cache.ttl("k").await?,
        Duration::from_secs(50),
        Duration::from_secs(60),
    );
    Ok(())
}

/// `touch` with `Ttl::Never` makes the key permanent.
pub async fn touch_never_makes_key_permanent(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("k", "v", SHORT).await?;
    assert!(cache.touch_opts("k", Ttl::Never).await?);
    sleep_past_short().await;
    assert!(cache.has_key("k").await?);
    assert_eq!(cache.ttl("k").await?, KeyTtl::Persistent);
    // Already permanent: touch still answers that the key exists.
    assert!(cache.touch_opts("k", Ttl::Never).await?);
    Ok(())
}

/// `touch` with a zero timeout answers `true` for a present key and removes it.
pub async fn touch_zero_deletes(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("k", "v").await?;
    assert!(cache.touch_opts("k", Ttl::secs(0)).await?);
    assert!(!cache.has_key("k").await?);
    assert!(!cache.touch_opts("k", Ttl::secs(0)).await?);
    Ok(())
}

/// `ttl` tells missing, permanent and expiring keys apart.
pub async fn ttl_reports_missing_persistent_and_expiring(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert_eq!(cache.ttl("missing").await?, KeyTtl::Missing);
    cache.set_opts("forever", &1, Ttl::Never).await?;
    assert_eq!(cache.ttl("forever").await?, KeyTtl::Persistent);
    cache
        .set_opts("minute", &1, Duration::from_secs(60))
        .await?;
    assert_remaining_between(
        cache.ttl("minute").await?,
        Duration::from_secs(55),
        Duration::from_secs(60),
    );
    cache.set_opts("short", &1, SHORT).await?;
    sleep_past_short().await;
    assert_eq!(cache.ttl("short").await?, KeyTtl::Missing);
    assert_eq!(cache.with_version(2).ttl("minute").await?, KeyTtl::Missing);
    Ok(())
}
