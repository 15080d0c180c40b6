//! Versions: Django's `VERSION` setting, `version=` argument and `incr_version`.

use std::time::Duration;

use cachette_api::{ErrorKind, KeyTtl, Result};

use crate::{expect_kind, Harness};

/// Caches of different versions over one store never see each other's entries (Django's
/// `test_cache_versioning_get_set`, `_add`, `_has_key`, `_delete`, `_get_set_many`).
pub async fn versions_isolate_entries(h: &Harness) -> Result<()> {
    let v1 = h.handle_of(h.builder().with_version(1).build()?);
    let v2 = h.handle_of(h.builder().with_version(2).build()?);
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

/// A version view (Django's per-call `version=`) overrides the cache's own, for every
/// operation, and leaves the cache's own version alone.
pub async fn version_override_per_call(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let v2 = cache.with_version(2);
    v2.set("answer", &42).await?;
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(v2.get::<i32>("answer").await?, Some(42));
    assert!(v2.has_key("answer").await?);
    assert!(!v2.add("answer", &1).await?);
    assert_eq!(v2.incr("answer", 1).await?, 43);
    assert_eq!(v2.decr("answer", 2).await?, 41);
    assert!(v2.touch("answer").await?);
    assert_eq!(v2.get_many::<i32, _>(&["answer"]).await?.len(), 1);
    assert_eq!(v2.get_or_set("answer", 0).await?, 41);
    assert!(v2.delete("answer").await?);
    let v3 = cache.with_version(3);
    v3.set_many([("a", 1), ("b", 2)]).await?;
    assert_eq!(cache.delete_many(&["a", "b"]).await?, 0);
    assert_eq!(v3.delete_many(&["a", "b"]).await?, 2);
    assert_eq!(cache.version(), 1);
    Ok(())
}

/// `with_version` gives a view at another version over the same store.
pub async fn version_view(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let v2 = cache.with_version(2);
    assert_eq!(v2.version(), 2);
    v2.set("k", "two").await?;
    assert_eq!(
        cache.with_version(2).get::<String>("k").await?.as_deref(),
        Some("two")
    );
    assert_eq!(cache.get::<String>("k").await?, None);
    Ok(())
}

/// `incr_version` moves the value to the next version, with its remaining life, and
/// returns the new version (Django's `test_incr_version`).
pub async fn incr_version_moves_value_and_ttl(h: &Harness) -> Result<()> {
    let cache = h.handle_of(h.builder().with_version(2).build()?);
    cache
        .set_opts("answer", &42, Duration::from_secs(100))
        .await?;
    assert_eq!(cache.incr_version("answer").await?, 3);
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(cache.with_version(3).get::<i32>("answer").await?, Some(42));
    let remaining = cache.with_version(3).ttl("answer").await?.remaining();
    assert!(
        remaining.is_some_and(|d| d > Duration::from_secs(90)),
        "remaining {remaining:?}"
    );
    assert_eq!(cache.with_version(3).incr_version("answer").await?, 4);
    assert_eq!(cache.with_version(4).get::<i32>("answer").await?, Some(42));
    cache
        .set_opts("forever", &1, cachette_api::Ttl::Never)
        .await?;
    cache.incr_version("forever").await?;
    assert_eq!(
        cache.with_version(3).ttl("forever").await?,
        KeyTtl::Persistent
    );
    Ok(())
}

/// A stored `None` moves like any value.
pub async fn incr_version_keeps_stored_none(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("none", &None::<i32>).await?;
    assert_eq!(cache.incr_version("none").await?, 2);
    assert_eq!(
        cache.with_version(2).get::<Option<i32>>("none").await?,
        Some(None)
    );
    Ok(())
}

/// `incr_version` of a missing key is `NotFound`.
pub async fn incr_version_missing_is_not_found(h: &Harness) -> Result<()> {
    let cache = h.handle();
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
    let cache = h.handle_of(h.builder().with_version(2).build()?);
    cache.set("answer", &42).await?;
    assert_eq!(cache.decr_version("answer").await?, 1);
    assert_eq!(cache.get::<i32>("answer").await?, None);
    assert_eq!(cache.with_version(1).get::<i32>("answer").await?, Some(42));
    Ok(())
}
