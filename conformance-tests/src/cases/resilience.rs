//! `get_or_set_with_policy` and `get_or_set_many`: stampede protection in one process and
//! across processes (a lease), stale-while-revalidate, fail-safe, soft and hard timeouts,
//! cancellation, deploy-safe decoding, batch loading with partial failure.
//!
//! Two `Cache` handles built separately over one backend stand for two processes: they share
//! the store but not their in-process load slots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachette_api::{ErrorKind, FailSafe, Lease, LoadPolicy, OnUndecodable, Result, Source};

use crate::{expect_kind, Harness};

const FRESH: Duration = Duration::from_millis(200);

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// What the test loaders return.
type LoaderFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<String, std::io::Error>> + Send>,
>;

/// A loader that counts its calls, sleeps `delay`, and returns `outcome` (an error's text on
/// `Err`).
fn loader(
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    outcome: std::result::Result<&'static str, &'static str>,
) -> impl FnOnce() -> LoaderFuture + Send + 'static {
    let calls = calls.clone();
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            outcome.map(str::to_owned).map_err(std::io::Error::other)
        })
    }
}

/// A loader that counts its calls, sleeps `delay`, and returns `value`.
fn slow_loader(
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    value: &'static str,
) -> impl FnOnce() -> LoaderFuture + Send + 'static {
    loader(calls, delay, Ok(value))
}

/// A loader that counts its calls and fails at once.
fn failing_loader(calls: &Arc<AtomicUsize>) -> impl FnOnce() -> LoaderFuture + Send + 'static {
    loader(calls, Duration::ZERO, Err("upstream is down"))
}

/// 100 concurrent callers over two handles (two "processes") with a lease: the loader runs
/// exactly once.
pub async fn policy_lease_runs_loader_once_across_handles(h: &Harness) -> Result<()> {
    let first = h.cache();
    let second = h.cache();
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_secs(60))
        .with_lease(Lease::new(Duration::from_secs(10), Duration::from_secs(5)));
    let calls = counter();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let cache = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let load = slow_loader(&calls, Duration::from_millis(300), "once");
        tasks.push(tokio::spawn(async move {
            cache.get_or_set_with_policy("k", &policy, load).await
        }));
    }
    for task in tasks {
        let loaded = task.await.expect("task panicked")?;
        assert_eq!(loaded.value, "once");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

/// In the stale-while-revalidate window the stale value is served at once, and one
/// background load refreshes it.
pub async fn policy_serves_stale_while_revalidating(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let fresh = Duration::from_secs(1);
    let policy = LoadPolicy::new()
        .with_ttl(fresh)
        .with_stale_while_revalidate(Duration::from_secs(10));
    let calls = counter();
    let first = cache
        .get_or_set_with_policy("k", &policy, slow_loader(&calls, Duration::ZERO, "v1"))
        .await?;
    assert_eq!((first.value.as_str(), first.source), ("v1", Source::Loaded));
    tokio::time::sleep(fresh + Duration::from_millis(100)).await;
    let refreshes = counter();
    for _ in 0..5 {
        let started = Instant::now();
        let stale = cache
            .get_or_set_with_policy(
                "k",
                &policy,
                slow_loader(&refreshes, Duration::from_millis(200), "v2"),
            )
            .await?;
        assert_eq!((stale.value.as_str(), stale.source), ("v1", Source::Stale));
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = cache
        .get_or_set_with_policy("k", &policy, failing_loader(&calls))
        .await?;
    assert_eq!((fresh.value.as_str(), fresh.source), ("v2", Source::Fresh));
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert!(cache.stats().stale_served >= 5);
    Ok(())
}

/// When the loader fails and a stale value exists, fail-safe serves it, then keeps serving it
/// for `retry_after` without calling the loader again.
pub async fn policy_fail_safe_serves_stale_on_loader_error(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let retry_after = Duration::from_millis(500);
    let policy = LoadPolicy::new()
        .with_ttl(FRESH)
        .with_fail_safe(FailSafe::new(Duration::from_secs(10), retry_after));
    let calls = counter();
    cache
        .get_or_set_with_policy("k", &policy, slow_loader(&calls, Duration::ZERO, "v1"))
        .await?;
    tokio::time::sleep(FRESH + Duration::from_millis(100)).await;
    let failures = counter();
    let served = cache
        .get_or_set_with_policy("k", &policy, failing_loader(&failures))
        .await?;
    assert_eq!(
        (served.value.as_str(), served.source),
        ("v1", Source::FailSafe)
    );
    assert_eq!(failures.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().fail_safe_served, 1);
    // Within retry_after the loader is not retried.
    let again = cache
        .get_or_set_with_policy("k", &policy, failing_loader(&failures))
        .await?;
    assert_eq!(again.value, "v1");
    assert_eq!(failures.load(Ordering::SeqCst), 1);
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    let reloaded = cache
        .get_or_set_with_policy("k", &policy, slow_loader(&calls, Duration::ZERO, "v2"))
        .await?;
    assert_eq!(
        (reloaded.value.as_str(), reloaded.source),
        ("v2", Source::Loaded)
    );
    // Without a stale value, a failing loader is an error.
    let err = expect_kind(
        cache
            .get_or_set_with_policy::<String, _, _, _>("other", &policy, failing_loader(&failures))
            .await,
        ErrorKind::Loader,
    );
    assert_eq!(err.key(), Some("other"));
    Ok(())
}

/// Past the soft timeout the stale value is served; the loader finishes in the background
/// and fills the cache.
pub async fn policy_soft_timeout_serves_stale_and_fills_later(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let policy = LoadPolicy::new()
        .with_ttl(FRESH)
        .with_fail_safe(FailSafe::new(
            Duration::from_secs(10),
            Duration::from_secs(1),
        ))
        .with_soft_timeout(Duration::from_millis(50));
    let calls = counter();
    cache
        .get_or_set_with_policy("k", &policy, slow_loader(&calls, Duration::ZERO, "v1"))
        .await?;
    tokio::time::sleep(FRESH + Duration::from_millis(100)).await;
    let started = Instant::now();
    let served = cache
        .get_or_set_with_policy(
            "k",
            &policy,
            slow_loader(&calls, Duration::from_millis(300), "v2"),
        )
        .await?;
    assert_eq!(
        (served.value.as_str(), served.source),
        ("v1", Source::Stale)
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cache.get::<String>("k").await?.as_deref(), Some("v2"));
    Ok(())
}

/// Past the hard timeout, without a stale value, the caller gets a `Timeout` error; the
/// loader still fills the cache in the background.
pub async fn policy_hard_timeout_is_an_error_and_fills_later(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_secs(60))
        .with_hard_timeout(Duration::from_millis(100));
    let calls = counter();
    let started = Instant::now();
    expect_kind(
        cache
            .get_or_set_with_policy(
                "k",
                &policy,
                slow_loader(&calls, Duration::from_millis(300), "late"),
            )
            .await,
        ErrorKind::Timeout,
    );
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cache.get::<String>("k").await?.as_deref(), Some("late"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

/// A caller dropped while its load runs leaves neither the in-process slot nor the lease
/// stuck: the load completes, the next caller gets its value, and the lease is released.
pub async fn policy_cancelled_caller_leaves_nothing_stuck(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_secs(60))
        .with_lease(Lease::new(Duration::from_secs(30), Duration::from_secs(5)));
    let calls = counter();
    let caller = {
        let cache = cache.clone();
        let load = slow_loader(&calls, Duration::from_millis(300), "v");
        tokio::spawn(async move { cache.get_or_set_with_policy("k", &policy, load).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    caller.abort();
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get_or_set_with_policy("k", &policy, failing_loader(&calls)),
    )
    .await
    .expect("the next caller must not stay stuck")?;
    assert_eq!(next.value, "v");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let lease_key = format!("{}\u{0}lease", cache.make_key("k")?);
    assert_eq!(
        h.backend().get(&lease_key).await?,
        None,
        "the lease was not released"
    );
    Ok(())
}

/// A stored value that no longer decodes is an error by default, and a miss that is
/// reloaded and overwritten with `OnUndecodable::Reload`.
pub async fn policy_reloads_undecodable_values_when_asked(h: &Harness) -> Result<()> {
    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Quote {
        ticker: String,
        price: f64,
    }
    let cache = h.cache();
    cache.set("quote", "an old format").await?;
    let load = || async {
        Ok::<_, std::io::Error>(Quote {
            ticker: "AAPL".into(),
            price: 1.0,
        })
    };
    expect_kind(
        cache
            .get_or_set_with_policy("quote", &LoadPolicy::new(), load)
            .await,
        ErrorKind::Decode,
    );
    let policy = LoadPolicy::new().with_on_undecodable(OnUndecodable::Reload);
    let loaded = cache.get_or_set_with_policy("quote", &policy, load).await?;
    assert_eq!(loaded.source, Source::Loaded);
    assert_eq!(
        cache.get::<Quote>("quote").await?.map(|q| q.price),
        Some(1.0)
    );
    assert_eq!(cache.stats().undecodable_reloaded, 1);
    Ok(())
}

/// `get_or_set_many`: one loader call for the missing keys, a result per key, a key the
/// loader leaves out fails alone, and the next call asks only for what is still missing.
pub async fn get_or_set_many_loads_missing_keys_once(h: &Harness) -> Result<()> {
    let cache = h.cache();
    cache.set("a", &1).await?;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = |asked: Arc<std::sync::Mutex<Vec<Vec<String>>>>| {
        move |keys: Vec<String>| {
            let asked = asked.clone();
            async move {
                asked.lock().unwrap().push(keys.clone());
                let values: HashMap<String, i32> = keys
                    .into_iter()
                    .filter(|k| k != "missing")
                    .map(|k| (k.clone(), k.len() as i32 * 10))
                    .collect();
                Ok::<_, std::io::Error>(values)
            }
        }
    };
    let results = cache
        .get_or_set_many(&["a", "bb", "missing", "bb"], load(asked.clone()))
        .await?;
    let keys: Vec<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "bb", "missing", "bb"]);
    // One hit; a key given twice is one miss.
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    assert_eq!(results[0].1.as_ref().ok(), Some(&1));
    assert_eq!(results[1].1.as_ref().ok(), Some(&20));
    assert_eq!(
        results[2].1.as_ref().map_err(|e| e.kind()).err(),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(results[3].1.as_ref().ok(), Some(&20));
    assert_eq!(
        *asked.lock().unwrap(),
        [vec!["bb".to_owned(), "missing".to_owned()]]
    );
    assert_eq!(cache.get::<i32>("bb").await?, Some(20));
    assert!(!cache.has_key("missing").await?);
    cache
        .get_or_set_many(&["a", "bb", "missing"], load(asked.clone()))
        .await?;
    assert_eq!(asked.lock().unwrap()[1], ["missing"]);
    Ok(())
}

/// `get_or_set_many` does not load a key whose load already runs in this process, and a
/// failing batch loader fails each key it was asked for, explicitly.
pub async fn get_or_set_many_joins_running_loads_and_reports_failures(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let slow = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_with("a", || async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, std::io::Error>(1)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let results = {
        let asked = asked.clone();
        cache
            .get_or_set_many(&["a", "b"], move |keys: Vec<String>| {
                asked.lock().unwrap().push(keys);
                async { Ok::<_, std::io::Error>(HashMap::from([("b".to_owned(), 2)])) }
            })
            .await?
    };
    assert_eq!(*asked.lock().unwrap(), [vec!["b".to_owned()]]);
    assert_eq!(results[0].1.as_ref().ok(), Some(&1));
    assert_eq!(results[1].1.as_ref().ok(), Some(&2));
    assert_eq!(slow.await.expect("task panicked")?, 1);

    let results = cache
        .get_or_set_many::<i32, _, _, _, _>(&["x", "y", "b", "x"], |_keys| async {
            Err(std::io::Error::other("batch API down"))
        })
        .await?;
    for failed in [0, 1, 3] {
        assert_eq!(
            results[failed].1.as_ref().map_err(|e| e.kind()).err(),
            Some(ErrorKind::Loader),
            "key {failed}"
        );
    }
    assert_eq!(results[2].1.as_ref().ok(), Some(&2));
    // The repeated key fails with the loader's error, as its first.
    let message = |i: usize| results[i].1.as_ref().err().map(ToString::to_string);
    assert_eq!(message(3), message(0));
    assert!(!cache.has_key("x").await?);
    // The failed batch freed its keys: the next caller loads them, without waiting.
    let loaded = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get_or_set_with("x", || async { Ok::<_, std::io::Error>(5) }),
    )
    .await
    .expect("a failed batch must not leave its keys' loads running")?;
    assert_eq!(loaded, 5);
    Ok(())
}
