//! Versions: Django's `VERSION` setting, `version=` argument and `incr_version`.

use std::time::Duration;

use cache_api::{CallOptions, ErrorKind, KeyTtl, Result};

use crate::{expect_kind, Harness};

fn v(n: i64) -> CallOptions {
    CallOptions::new().with_version(n)
}

/// Caches of different versions over one store never see each other's entries (Django's
/// `test_cache_versioning_get_set`, `_add`, `_has_key`, `_delete`, `_get_set_many`).
pub async fn versions_isolate_entries(h: &Harness) -> Result<()> {
    let v1 = h.builder().with_version(1).build()?;
    let v2 = h.builder().with_version(2).build()?;
    v1.set("answer1", &42).await?;
    assert_eq!(v1.get::<i32>("answer1").await?, Some(42));
    assert_eq!(v2.get::<i32>("answer1").await?, None);
    assert!(!v2.has_key("answer1").await?);
    assert!(v2.add("answer1", &37).await?);
    assert_eq!(v1.get::<i32>("answer1").await?, Some(42));
    assert_eq!(v2.get::<i32>("answer1").await?, Some(37));
    assert!(v2.delete("answer1").await?);
    assert_eq!(v1.get::<i32>("answer1").await?, Some(42));
    v2.set_many([("ford", 1), ("arthur", 2)]).await?;
    assert!(v1.get_many::<i32, _>(&["ford", "arthur"]).await?.is_empty());
    assert_eq!(v2.get_many::<i32, _>(&["ford", "arthur"]).await?.len(), 2);
    Ok(())
}

/// The per-call version overrides the cache's own, for every operation.
pub async fn version_override_per_call(h: &Harness) -> Result<()> {
    let cache = h.cache();
    cache.set_opts("answer", &42, v(2)).await?;
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(cache.get_opts::<i32>("answer", v(2)).await?, Some(42));
    assert!(cache.has_key_opts("answer", v(2)).await?);
    assert!(!cache.add_opts("answer", &1, v(2)).await?);
    assert_eq!(cache.incr_opts("answer", 1, v(2)).await?, 43);
    assert_eq!(cache.decr_opts("answer", 2, v(2)).await?, 41);
    assert!(cache.touch_opts("answer", v(2)).await?);
    assert_eq!(
        cache
            .get_many_opts::<i32, _>(&["answer"], v(2))
            .await?
            .len(),
        1
    );
    assert_eq!(cache.get_or_set_opts("answer", 0, v(2)).await?, 41);
    assert!(cache.delete_opts("answer", v(2)).await?);
    cache.set_many_opts([("a", 1), ("b", 2)], v(3)).await?;
    assert_eq!(cache.delete_many_opts(&["a", "b"], v(3)).await?, 2);
    Ok(())
}

/// `with_version` gives a view at another version over the same store.
pub async fn version_view(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let v2 = cache.with_version(2);
    assert_eq!(v2.version(), 2);
    v2.set("k", "two").await?;
    assert_eq!(
        cache.get_opts::<String>("k", v(2)).await?.as_deref(),
        Some("two")
    );
    assert_eq!(cache.get::<String>("k").await?, None);
    Ok(())
}

/// `incr_version` moves the value to the next version, with its remaining life, and
/// returns the new version (Django's `test_incr_version`).
pub async fn incr_version_moves_value_and_ttl(h: &Harness) -> Result<()> {
    let cache = h.builder().with_version(2).build()?;
    cache
        .set_opts("answer", &42, Duration::from_secs(100))
        .await?;
    assert_eq!(cache.incr_version("answer").await?, 3);
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(cache.get_opts::<i32>("answer", v(3)).await?, Some(42));
    let remaining = cache.ttl_opts("answer", v(3)).await?.remaining();
    assert!(
        remaining.is_some_and(|d| d > Duration::from_secs(90)),
        "remaining {remaining:?}"
    );
    assert_eq!(cache.move_version("answer", 3, 2).await?, 5);
    assert_eq!(cache.get_opts::<i32>("answer", v(5)).await?, Some(42));
    cache
        .set_opts("forever", &1, cache_api::Timeout::Never)
        .await?;
    cache.incr_version("forever").await?;
    assert_eq!(cache.ttl_opts("forever", v(3)).await?, KeyTtl::Persistent);
    Ok(())
}

/// A stored `None` moves like any value.
pub async fn incr_version_keeps_stored_none(h: &Harness) -> Result<()> {
    let cache = h.cache();
    cache.set("none", &None::<i32>).await?;
    assert_eq!(cache.incr_version("none").await?, 2);
    assert_eq!(
        cache.get_opts::<Option<i32>>("none", v(2)).await?,
        Some(None)
    );
    Ok(())
}

/// `incr_version` of a missing key is `NotFound`.
pub async fn incr_version_missing_is_not_found(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let err = expect_kind(
        cache.incr_version("does_not_exist").await,
        ErrorKind::NotFound,
    );
    assert_eq!(err.key(), Some("does_not_exist"));
    expect_kind(
        cache.decr_version("does_not_exist").await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// `decr_version` moves the value to the previous version.
pub async fn decr_version(h: &Harness) -> Result<()> {
    let cache = h.builder().with_version(2).build()?;
    cache.set("answer", &42).await?;
    assert_eq!(cache.decr_version("answer").await?, 1);
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(cache.get_opts::<i32>("answer", v(1)).await?, Some(42));
    Ok(())
}
