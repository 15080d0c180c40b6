//! First writer wins: the contract's `add_or_get`, and every loading entry point storing its
//! value only if no other writer stored first (Django's `add` then `get`).

use std::collections::HashMap;
use std::time::Duration;

use cachette_api::{Bytes, Expiry, LoadPolicy, Result};

use crate::Harness;

fn minute() -> Expiry {
    Expiry::After(Duration::from_secs(60))
}

/// `add_or_get` writes an absent key and answers `None`; on a present key it changes
/// nothing and answers the value held; an expired entry counts as absent.
pub async fn add_or_get_is_first_writer_wins(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let backend = h.backend();
    let key = cache.make_key("k")?;
    let first = Bytes::from_static(b"first");
    let second = Bytes::from_static(b"second");
    assert_eq!(
        backend.add_or_get(&key, first.clone(), minute()).await?,
        None
    );
    assert_eq!(
        backend.add_or_get(&key, second.clone(), minute()).await?,
        Some(first.clone())
    );
    assert_eq!(backend.get(&key).await?, Some(first));
    let remaining = backend.ttl(&key).await?.remaining();
    assert!(
        remaining.is_some_and(|d| d > Duration::from_secs(50)),
        "the winner's expiry must be kept: {remaining:?}"
    );
    let short = cache.make_key("short")?;
    backend
        .set(
            &short,
            Bytes::from_static(b"old"),
            cachette_api::SetOptions::new(Expiry::After(super::SHORT)),
        )
        .await?;
    super::sleep_past_short().await;
    assert_eq!(
        backend
            .add_or_get(&short, second.clone(), Expiry::Never)
            .await?,
        None
    );
    assert_eq!(backend.get(&short).await?, Some(second));
    assert_eq!(backend.ttl(&short).await?, cachette_api::KeyTtl::Persistent);
    Ok(())
}

/// `add_or_get_many` is `add_or_get` per entry, in order: an absent or expired key is
/// written (`None`), a present one keeps its value and expiry and answers it, and a key given
/// twice finds its first entry's value.
pub async fn add_or_get_many_is_first_writer_wins_per_entry(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let backend = h.backend();
    let absent = cache.make_key("absent")?;
    let held = cache.make_key("held")?;
    let expired = cache.make_key("expired")?;
    let set = |expiry| cachette_api::SetOptions::new(expiry);
    backend
        .set(&held, Bytes::from_static(b"held"), set(Expiry::Never))
        .await?;
    backend
        .set(
            &expired,
            Bytes::from_static(b"old"),
            set(Expiry::After(super::SHORT)),
        )
        .await?;
    super::sleep_past_short().await;
    let entries = vec![
        (absent.clone(), Bytes::from_static(b"one")),
        (held.clone(), Bytes::from_static(b"two")),
        (expired.clone(), Bytes::from_static(b"three")),
        (absent.clone(), Bytes::from_static(b"four")),
    ];
    let slots: Vec<Option<Bytes>> = backend
        .add_or_get_many(&entries, minute())
        .await?
        .into_iter()
        .collect::<Result<_>>()?;
    assert_eq!(
        slots,
        vec![
            None,
            Some(Bytes::from_static(b"held")),
            None,
            Some(Bytes::from_static(b"one")),
        ]
    );
    assert_eq!(
        backend.get(&absent).await?,
        Some(Bytes::from_static(b"one"))
    );
    assert_eq!(backend.get(&held).await?, Some(Bytes::from_static(b"held")));
    assert_eq!(backend.ttl(&held).await?, cachette_api::KeyTtl::Persistent);
    assert_eq!(
        backend.get(&expired).await?,
        Some(Bytes::from_static(b"three"))
    );
    let remaining = backend.ttl(&expired).await?.remaining();
    assert!(
        remaining.is_some_and(|d| d > Duration::from_secs(50) && d <= Duration::from_secs(60)),
        "a written entry takes the expiry given: {remaining:?}"
    );
    assert!(backend.add_or_get_many(&[], minute()).await?.is_empty());
    Ok(())
}

/// `get_with_expiry` and `get_many_with_expiry` answer each value with its remaining life:
/// `Never` for a persistent key, at most the TTL for an expiring one, nothing for a missing
/// or expired one.
pub async fn get_with_expiry_answers_the_remaining_life(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let backend = h.backend();
    cache
        .set_opts("forever", "a", cachette_api::Ttl::Never)
        .await?;
    cache
        .set_opts("minute", "b", Duration::from_secs(60))
        .await?;
    cache.set_opts("short", "c", super::SHORT).await?;
    super::sleep_past_short().await;
    let keys: Vec<String> = ["forever", "minute", "short", "missing"]
        .iter()
        .map(|k| cache.make_key(k))
        .collect::<Result<_>>()?;
    let one = backend.get_with_expiry(&keys[0]).await?;
    assert_eq!(one.map(|(_, e)| e), Some(Expiry::Never));
    let many = backend.get_many_with_expiry(&keys).await?;
    assert_eq!(many.len(), 4);
    assert_eq!(many[0].as_ref().map(|(_, e)| *e), Some(Expiry::Never));
    match &many[1] {
        Some((_, Expiry::After(d))) => assert!(
            *d > Duration::from_secs(50) && *d <= Duration::from_secs(60),
            "remaining {d:?}"
        ),
        other => panic!("expected an expiring value, got {other:?}"),
    }
    assert_eq!(
        many[1].as_ref().map(|(v, _)| v.clone()),
        backend.get(&keys[1]).await?
    );
    assert!(
        many[2].is_none(),
        "an expired key has no value: {:?}",
        many[2]
    );
    assert!(many[3].is_none());
    assert!(backend.get_with_expiry(&keys[2]).await?.is_none());
    assert!(backend.get_many_with_expiry(&[]).await?.is_empty());
    Ok(())
}

/// A value written by someone else while `get_or_set_with` loads wins: the loader's value is
/// not stored, and the caller gets the winner (Django's `add` then `get`).
pub async fn get_or_set_with_racing_writer_wins(h: &Harness) -> Result<()> {
    let a = h.cache();
    let b = h.cache();
    let value = a
        .get_or_set_with("k", || async {
            b.set("k", "winner").await?;
            Ok::<_, cachette_api::Error>("mine".to_owned())
        })
        .await?;
    assert_eq!(value, "winner");
    assert_eq!(a.get::<String>("k").await?.as_deref(), Some("winner"));
    let value = a.get_or_set("d", "mine".to_owned()).await?;
    assert_eq!(value, "mine");
    Ok(())
}

/// The policy and batch entry points store the same way: a racing writer wins.
pub async fn every_loader_lets_a_racing_writer_win(h: &Harness) -> Result<()> {
    let a = h.cache();
    let b = h.cache();
    let racer = b.clone();
    let loaded = a
        .get_or_set_with_policy("p", &LoadPolicy::new(), move || async move {
            racer.set("p", "winner").await?;
            Ok::<_, cachette_api::Error>("mine".to_owned())
        })
        .await?;
    assert_eq!(loaded.value, "winner");
    assert_eq!(a.get::<String>("p").await?.as_deref(), Some("winner"));

    let results = a
        .get_or_set_many(&["m1", "m2"], |keys| {
            let b = b.clone();
            async move {
                b.set("m1", "winner").await?;
                let values: HashMap<String, String> =
                    keys.into_iter().map(|k| (k, "mine".to_owned())).collect();
                Ok::<_, cachette_api::Error>(values)
            }
        })
        .await?;
    assert_eq!(results[0].1.as_deref().ok(), Some("winner"));
    assert_eq!(results[1].1.as_deref().ok(), Some("mine"));
    assert_eq!(a.get::<String>("m1").await?.as_deref(), Some("winner"));
    assert_eq!(a.get::<String>("m2").await?.as_deref(), Some("mine"));
    Ok(())
}
