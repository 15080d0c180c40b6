//! Followers take over from a leader that is cancelled, panics or outlives the lease; a
//! panicking loader releases its lease at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cachette_api::{ErrorKind, Lease, LoadPolicy, Result};
use tokio::sync::oneshot;

use crate::Harness;

/// A bound on every wait of these cases: only reached when the code under test hangs.
const BOUND: Duration = Duration::from_secs(10);

/// Starts a `get_or_set_with` of `key` whose loader never returns, and waits until it runs.
async fn stuck_leader(
    cache: &cachette_api::Cache,
    key: &'static str,
) -> tokio::task::JoinHandle<()> {
    let (started, running) = oneshot::channel();
    let cache = cache.clone();
    let task = tokio::spawn(async move {
        let _ = cache
            .get_or_set_with(key, || async move {
                let _ = started.send(());
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(0)
            })
            .await;
    });
    tokio::time::timeout(BOUND, running)
        .await
        .expect("the leader's loader must start")
        .expect("the leader's loader must start");
    task
}

/// Waits until `count` reaches `n`.
async fn until_count(count: &AtomicUsize, n: usize) {
    tokio::time::timeout(BOUND, async {
        while count.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

/// `get_or_set_many` waiting for a key whose leader is cancelled takes the key over and
/// loads it itself, instead of failing it.
pub async fn get_or_set_many_takes_over_from_a_cancelled_leader(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let leader = stuck_leader(&cache, "k").await;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let batch = {
        let cache = cache.clone();
        let asked = asked.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_many(&["k", "other"], move |keys: Vec<String>| {
                    asked.lock().unwrap().push(keys.clone());
                    async move {
                        Ok::<_, std::io::Error>(
                            keys.into_iter().map(|k| (k, 7)).collect::<HashMap<_, _>>(),
                        )
                    }
                })
                .await
        })
    };
    // Once the batch has loaded "other", it is waiting for "k".
    tokio::time::timeout(BOUND, async {
        while !cache.has_key("other").await.unwrap_or(false) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the batch must load the key it leads");
    leader.abort();
    let results = tokio::time::timeout(BOUND, batch)
        .await
        .expect("the batch must not stay stuck")
        .expect("task panicked")?;
    assert_eq!(results[0].1.as_ref().ok(), Some(&7), "{:?}", results[0].1);
    assert_eq!(results[1].1.as_ref().ok(), Some(&7));
    assert_eq!(
        *asked.lock().unwrap(),
        [vec!["other".to_owned()], vec!["k".to_owned()]]
    );
    assert_eq!(cache.get::<i32>("k").await?, Some(7));
    Ok(())
}

/// `get_or_set_many` waiting for a key whose leader's loader panics takes it over.
pub async fn get_or_set_many_takes_over_from_a_panicking_leader(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let (release, go) = oneshot::channel::<()>();
    let (started, running) = oneshot::channel();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_with("k", || async move {
                    let _ = started.send(());
                    let _ = go.await;
                    if true {
                        panic!("the loader panics");
                    }
                    Ok::<_, std::io::Error>(0)
                })
                .await
        })
    };
    tokio::time::timeout(BOUND, running)
        .await
        .expect("the loader must start")
        .expect("the loader must start");
    let batch = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_many(&["k"], |keys: Vec<String>| async move {
                    Ok::<_, std::io::Error>(
                        keys.into_iter().map(|k| (k, 9)).collect::<HashMap<_, _>>(),
                    )
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    let _ = release.send(());
    assert!(
        tokio::time::timeout(BOUND, leader)
            .await
            .expect("bounded")
            .is_err(),
        "the leader's task must end in its loader's panic"
    );
    let results = tokio::time::timeout(BOUND, batch)
        .await
        .expect("the batch must not stay stuck")
        .expect("task panicked")?;
    assert_eq!(results[0].1.as_ref().ok(), Some(&9), "{:?}", results[0].1);
    Ok(())
}

/// A loader that panics under a lease releases the lease at once (not after its TTL): the
/// caller gets a `Loader` error and the next caller, in any process, loads right away.
pub async fn policy_panicking_loader_releases_its_lease(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_secs(60))
        .with_lease(Lease::new(Duration::from_secs(60), Duration::from_secs(30)));
    let err = cache
        .get_or_set_with_policy("k", &policy, || async {
            if true {
                panic!("the loader panics");
            }
            Ok::<_, std::io::Error>(0)
        })
        .await
        .expect_err("a panicking loader is an error");
    assert_eq!(err.kind(), ErrorKind::Loader, "{err}");
    let lease_key = format!("{}\u{0}lease", cache.make_key("k")?);
    assert_eq!(
        h.backend().get(&lease_key).await?,
        None,
        "the lease was kept"
    );
    let other = h.cache();
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        other.get_or_set_with_policy("k", &policy, || async { Ok::<_, std::io::Error>(1) }),
    )
    .await
    .expect("the next caller must not wait for the lease's TTL")?;
    assert_eq!(next.value, 1);
    Ok(())
}

/// A follower in the same process waits for a leader that never returns no longer than the
/// lease's TTL, then loads itself.
pub async fn policy_follower_takes_over_after_the_lease(h: &Harness) -> Result<()> {
    let cache = h.cache();
    let ttl = Duration::from_millis(300);
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_secs(60))
        .with_lease(Lease::new(ttl, Duration::from_millis(100)));
    let started = Arc::new(AtomicUsize::new(0));
    let leader = {
        let cache = cache.clone();
        let started = started.clone();
        tokio::spawn(async move {
            cache
                .get_or_set_with_policy("k", &policy, move || async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                    Ok::<_, std::io::Error>(0)
                })
                .await
        })
    };
    until_count(&started, 1).await;
    let began = tokio::time::Instant::now();
    let next = tokio::time::timeout(
        BOUND,
        cache.get_or_set_with_policy("k", &policy, || async { Ok::<_, std::io::Error>(2) }),
    )
    .await
    .expect("the follower must take over")?;
    assert_eq!(next.value, 2);
    assert!(
        began.elapsed() >= ttl,
        "took over before the lease's TTL: {:?}",
        began.elapsed()
    );
    leader.abort();
    Ok(())
}
