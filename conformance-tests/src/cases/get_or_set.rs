//! get_or_set and get_or_set_with: once per key per process, errors shared, cancel safety.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cachette_api::{ErrorKind, Result, Ttl};

use crate::{expect_kind, Harness};

/// `get_or_set` stores the default once, and keeps returning the stored value.
pub async fn get_or_set_stores_default_once(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert_eq!(cache.get::<String>("projector").await?, None);
    assert_eq!(
        cache.get_or_set("projector", "value".to_owned()).await?,
        "value"
    );
    assert_eq!(
        cache.get::<String>("projector").await?.as_deref(),
        Some("value")
    );
    assert_eq!(
        cache.get_or_set("projector", "other".to_owned()).await?,
        "value"
    );
    // A stored None is a hit: the default is not used.
    cache.set("null", &None::<i32>).await?;
    assert_eq!(cache.get_or_set("null", Some(5)).await?, None);
    Ok(())
}

/// With a zero timeout, `get_or_set` and `get_or_set_with` return the value and store
/// nothing.
pub async fn get_or_set_with_zero_timeout(h: &Harness) -> Result<()> {
    let cache = h.handle();
    assert_eq!(cache.get_or_set_opts("k", 1, Ttl::secs(0)).await?, 1);
    assert!(!cache.has_key("k").await?);
    let loaded = cache
        .get_or_set_with_opts("k", Ttl::secs(0), || async { Ok::<_, std::io::Error>(2) })
        .await?;
    assert_eq!(loaded, 2);
    assert!(!cache.has_key("k").await?);
    Ok(())
}

/// 100 tasks asking for one missing key run the loader once; all get its value.
pub async fn get_or_set_with_runs_loader_once(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_set_with("slow", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, std::io::Error>("computed".to_owned())
                })
                .await
        }));
    }
    for task in tasks {
        let value = task.await.expect("task panicked")?;
        assert_eq!(value, "computed");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        cache.get::<String>("slow").await?.as_deref(),
        Some("computed")
    );
    Ok(())
}

/// When the loader fails, nothing is cached and every waiter gets the error (kind
/// `Loader`, with the loader's error as source); the next call runs the loader again.
pub async fn get_or_set_with_loader_error_is_shared_and_not_cached(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_set_with("flaky", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err::<String, _>(std::io::Error::other("upstream API is down"))
                })
                .await
        }));
    }
    for task in tasks {
        let err = expect_kind(task.await.expect("task panicked"), ErrorKind::Loader);
        assert_eq!(err.key(), Some("flaky"));
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("upstream API is down"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!cache.has_key("flaky").await?);
    let value = cache
        .get_or_set_with("flaky", || async { Ok::<_, std::io::Error>(7) })
        .await?;
    assert_eq!(value, 7);
    Ok(())
}

/// A caller whose future is dropped while it runs the loader leaves nothing stuck: a waiting
/// caller takes over, and a later caller proceeds.
pub async fn get_or_set_with_cancelled_leader_frees_the_slot(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_with("k", || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, std::io::Error>("never".to_owned())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_with("k", || async {
                    Ok::<_, std::io::Error>("follower".to_owned())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let value = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("the follower must not stay stuck")
        .expect("task panicked")?;
    assert_eq!(value, "follower");
    let value = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get_or_set_with("k", || async {
            Ok::<_, std::io::Error>("later".to_owned())
        }),
    )
    .await
    .expect("a later caller must not stay stuck")?;
    assert_eq!(value, "follower");
    Ok(())
}

/// A cached `None` is a hit for `get_or_set_with`: the loader does not run.
pub async fn get_or_set_with_cached_none(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("none", &None::<String>).await?;
    let value = cache
        .get_or_set_with("none", || async {
            Err::<Option<String>, _>(std::io::Error::other("the loader must not run"))
        })
        .await?;
    assert_eq!(value, None);
    Ok(())
}
