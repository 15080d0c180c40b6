//! get, set, add, delete, has_key and their batch forms.

use std::collections::HashMap;
use std::time::Duration;

use cachette_api::{Bytes, ErrorKind, Expiry, Result, SetMode, SetOptions, Ttl};

use crate::{expect_kind, Harness};

/// A stored `None` is a hit, different from a missing key (Django's
/// `test_default_used_when_none_is_set`).
pub async fn none_stored_is_a_hit(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("key", &None::<String>).await?;
    assert_eq!(cache.get::<Option<String>>("key").await?, Some(None));
    assert_eq!(cache.get::<Option<String>>("missing").await?, None);
    assert!(cache.has_key("key").await?);
    Ok(())
}

/// Two caches with different prefixes over one store never see each other's entries.
pub async fn prefixes_do_not_collide(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let other = h.handle_of(h.builder().with_prefix(h.other_prefix("p")).build()?);
    cache.set("somekey", "value").await?;
    assert_eq!(other.get::<String>("somekey").await?, None);
    assert!(!other.has_key("somekey").await?);
    other.set("somekey", "other").await?;
    assert_eq!(
        cache.get::<String>("somekey").await?.as_deref(),
        Some("value")
    );
    Ok(())
}

/// `add` writes only when the key is absent, and says whether it wrote.
pub async fn add_does_not_overwrite(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert!(cache.add("addkey1", "value").await?);
    assert!(!cache.add("addkey1", "newvalue").await?);
    assert_eq!(
        cache.get::<String>("addkey1").await?.as_deref(),
        Some("value")
    );
    Ok(())
}

/// `add` succeeds over an entry that has expired but may not be evicted yet.
pub async fn add_over_expired_entry(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("k", "old", super::SHORT).await?;
    super::sleep_past_short().await;
    assert!(cache.add("k", "new").await?);
    assert_eq!(cache.get::<String>("k").await?.as_deref(), Some("new"));
    Ok(())
}

/// `add` with a zero timeout on an absent key answers `true` and stores nothing; on a
/// present key it answers `false` and leaves it.
pub async fn add_with_zero_timeout_stores_nothing(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert!(cache.add_opts("absent", "v", Ttl::secs(0)).await?);
    assert!(!cache.has_key("absent").await?);
    cache.set("present", "v").await?;
    assert!(!cache.add_opts("present", "w", Ttl::secs(0)).await?);
    assert_eq!(cache.get::<String>("present").await?.as_deref(), Some("v"));
    Ok(())
}

/// `get_many` returns the keys found, under the caller's keys, and leaves out the rest.
pub async fn get_many_returns_found_keys_only(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("a", "a").await?;
    cache.set("c", "c").await?;
    cache.set("d", "d").await?;
    let found: HashMap<String, String> = cache.get_many(&["a", "c", "d"]).await?;
    assert_eq!(found.len(), 3);
    assert_eq!(found["a"], "a");
    let found: HashMap<String, String> = cache.get_many(&["a", "b", "e"]).await?;
    assert_eq!(found, HashMap::from([("a".to_owned(), "a".to_owned())]));
    Ok(())
}

/// `get_many` includes keys whose stored value is `None`.
pub async fn get_many_includes_stored_none(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("a", &None::<i32>).await?;
    cache.set("b", &Some(2)).await?;
    let found: HashMap<String, Option<i32>> = cache.get_many(&["a", "b", "c"]).await?;
    assert_eq!(
        found,
        HashMap::from([("a".to_owned(), None), ("b".to_owned(), Some(2))])
    );
    Ok(())
}

/// Every batch call accepts empty input.
pub async fn batch_calls_accept_empty_input(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let none: [&str; 0] = [];
    assert!(cache.get_many::<String, _>(&none).await?.is_empty());
    assert!(cache.set_many(Vec::<(&str, i32)>::new()).await?.is_empty());
    assert_eq!(cache.delete_many(&none).await?, 0);
    Ok(())
}

/// `delete` answers whether the key existed.
pub async fn delete_answers_whether_key_existed(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("key1", "spam").await?;
    cache.set("key2", "eggs").await?;
    assert!(cache.delete("key1").await?);
    assert_eq!(cache.get::<String>("key1").await?, None);
    assert!(!cache.delete("key1").await?);
    assert_eq!(cache.get::<String>("key2").await?.as_deref(), Some("eggs"));
    Ok(())
}

/// `delete_many` deletes the keys given and counts those that existed.
pub async fn delete_many_counts_deleted_keys(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache
        .set_many([("key1", "spam"), ("key2", "eggs"), ("key3", "ham")])
        .await?;
    assert_eq!(cache.delete_many(&["key1", "key2", "missing"]).await?, 2);
    assert!(!cache.has_key("key1").await?);
    assert!(!cache.has_key("key2").await?);
    assert_eq!(cache.get::<String>("key3").await?.as_deref(), Some("ham"));
    Ok(())
}

/// `has_key` sees stored `None`, and not expired keys.
pub async fn has_key_respects_expiry_and_none(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("hello1", "goodbye1").await?;
    assert!(cache.has_key("hello1").await?);
    assert!(!cache.has_key("goodbye1").await?);
    cache.set("no_expiry_none", &None::<()>).await?;
    assert!(cache.has_key("no_expiry_none").await?);
    cache.set_opts("short", &1, super::SHORT).await?;
    super::sleep_past_short().await;
    assert!(!cache.has_key("short").await?);
    Ok(())
}

/// `set_many` stores every entry and reports no failed key.
pub async fn set_many_stores_all_and_reports_no_failures(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let failed = cache.set_many([("key1", "spam"), ("key2", "eggs")]).await?;
    assert!(failed.is_empty(), "failed keys: {failed:?}");
    assert_eq!(cache.get::<String>("key1").await?.as_deref(), Some("spam"));
    assert_eq!(cache.get::<String>("key2").await?.as_deref(), Some("eggs"));
    let map = HashMap::from([("k3".to_owned(), 3), ("k4".to_owned(), 4)]);
    assert!(cache.set_many(&map).await?.is_empty());
    assert_eq!(cache.get::<i32>("k4").await?, Some(4));
    Ok(())
}

/// `set_many` with a zero timeout stores nothing and removes what was there.
pub async fn set_many_with_zero_timeout_deletes(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("key1", "old").await?;
    cache
        .set_many_opts([("key1", "spam"), ("key2", "eggs")], Ttl::secs(0))
        .await?;
    assert!(!cache.has_key("key1").await?);
    assert!(!cache.has_key("key2").await?);
    Ok(())
}

/// One invalid key fails `set_many` before anything is written.
pub async fn set_many_with_invalid_key_writes_nothing(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let err = expect_kind(
        cache.set_many([("good", 1), ("bad key", 2)]).await,
        ErrorKind::InvalidKey,
    );
    assert_eq!(err.key(), Some("bad key"));
    assert!(!cache.has_key("good").await?);
    Ok(())
}

/// Batches of 100 keys: set_many, get_many and delete_many agree with single calls.
pub async fn batches_of_100_keys(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let keys: Vec<String> = (0..100).map(|i| format!("batch:{i}")).collect();
    let failed = cache
        .set_many_opts(
            keys.iter().map(|k| (k.as_str(), k.len())),
            Duration::from_secs(60),
        )
        .await?;
    assert!(failed.is_empty());
    let found: HashMap<String, usize> = cache.get_many(&keys).await?;
    assert_eq!(found.len(), 100);
    for key in &keys {
        assert_eq!(found[key], key.len());
        assert_eq!(cache.get::<usize>(key).await?, Some(key.len()));
    }
    assert_eq!(cache.delete_many(&keys).await?, 100);
    assert!(cache.get_many::<usize, _>(&keys).await?.is_empty());
    Ok(())
}

/// `delete_if_value` deletes only a key holding exactly the expected bytes (a lease released
/// only by its owner).
pub async fn delete_if_value_is_compare_and_delete(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let backend = h.backend();
    cache.set("lease", "token-a").await?;
    let raw = cache.make_key("lease")?;
    let mine = rmp_serde::to_vec("token-a").unwrap();
    let theirs = rmp_serde::to_vec("token-b").unwrap();
    assert!(!backend.delete_if_value(&raw, &theirs).await?);
    assert!(cache.has_key("lease").await?);
    assert!(backend.delete_if_value(&raw, &mine).await?);
    assert!(!cache.has_key("lease").await?);
    assert!(!backend.delete_if_value(&raw, &mine).await?);
    cache.set_opts("expired", "token-a", super::SHORT).await?;
    super::sleep_past_short().await;
    assert!(
        !backend
            .delete_if_value(&cache.make_key("expired")?, &mine)
            .await?
    );
    Ok(())
}

/// `SetMode::IfPresent` writes only over a live entry: an absent or expired key stays
/// missing, and the answer says whether it wrote (Redis `SET XX`).
pub async fn set_if_present_writes_only_over_a_live_entry(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let backend = h.backend();
    let minute = Expiry::After(std::time::Duration::from_secs(60));
    let if_present = SetOptions::new(minute).with_mode(SetMode::IfPresent);
    let key = cache.make_key("k")?;
    assert!(
        !backend
            .set(&key, Bytes::from_static(b"1"), if_present)
            .await?
    );
    assert_eq!(backend.get(&key).await?, None);
    backend
        .set(&key, Bytes::from_static(b"1"), SetOptions::new(minute))
        .await?;
    assert!(
        backend
            .set(&key, Bytes::from_static(b"2"), if_present)
            .await?
    );
    assert_eq!(backend.get(&key).await?, Some(Bytes::from_static(b"2")));
    let short = cache.make_key("short")?;
    let short_opts = SetOptions::new(Expiry::After(super::SHORT));
    backend
        .set(&short, Bytes::from_static(b"1"), short_opts)
        .await?;
    super::sleep_past_short().await;
    assert!(
        !backend
            .set(&short, Bytes::from_static(b"2"), if_present)
            .await?
    );
    assert_eq!(backend.get(&short).await?, None);
    Ok(())
}

/// `clear` answers how many live keys it deleted: expired entries not yet evicted are not
/// counted.
pub async fn clear_counts_live_keys_only(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set_opts("expired", &1, super::SHORT).await?;
    super::sleep_past_short().await;
    cache.set("a", &1).await?;
    cache.set("b", &2).await?;
    assert_eq!(cache.clear().await?, 2);
    assert_eq!(cache.clear().await?, 0);
    Ok(())
}
