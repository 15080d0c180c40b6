//! Fail-open (django-redis' IGNORE_EXCEPTIONS), both ways, against a real Redis server that
//! the test starts and then kills.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette::{Cache, ErrorKind, RedisBackend};

async fn cache_over(server: &RedisServer, fail_open: bool) -> Cache {
    RedisBackend::builder()
        .with_url(server.url())
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix("fail_open")
        .with_fail_open(fail_open)
        .build()
        .unwrap()
}

/// Every call must answer within the response timeout plus a margin.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = call.await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    out
}

#[tokio::test]
async fn fail_open_answers_misses_and_not_stored_while_redis_is_down() {
    let mut server = RedisServer::start().unwrap();
    let cache = cache_over(&server, true).await;
    assert!(format!("{cache:?}").contains("fail_open: true"));
    cache.set("k", "v").await.unwrap();
    server.kill().unwrap();

    assert_eq!(bounded(cache.get::<String>("k")).await.unwrap(), None);
    assert!(bounded(cache.set("k", "v")).await.is_ok());
    assert!(!bounded(cache.add("new", "v")).await.unwrap());
    assert!(!bounded(cache.has_key("k")).await.unwrap());
    assert!(!bounded(cache.delete("k")).await.unwrap());
    assert!(!bounded(cache.touch("k")).await.unwrap());
    assert!(bounded(cache.get_many::<String, _>(&["a", "b"]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        bounded(cache.set_many([("a", 1), ("b", 2)])).await.unwrap(),
        vec!["a".to_owned(), "b".to_owned()]
    );
    let loaded =
        bounded(cache.get_or_set_with("computed", || async { Ok::<_, std::io::Error>(7) }))
            .await
            .unwrap();
    assert_eq!(loaded, 7);
    // incr has no meaningful "miss": it still reports the outage.
    let err = bounded(cache.incr("n", 1)).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err}"
    );
    // Invalid keys are never ignored.
    assert_eq!(
        cache.get::<String>("a b").await.unwrap_err().kind(),
        ErrorKind::InvalidKey
    );

    let stats = cache.stats();
    assert!(stats.ignored_errors >= 10, "{stats:?}");

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        cache.set("back", "again").await.unwrap();
        if cache.get::<String>("back").await.unwrap().as_deref() == Some("again") {
            break;
        }
        assert!(Instant::now() < deadline, "the handle did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn without_fail_open_an_outage_is_a_typed_error() {
    let mut server = RedisServer::start().unwrap();
    let cache = cache_over(&server, false).await;
    cache.set("k", "v").await.unwrap();
    server.kill().unwrap();
    for result in [
        bounded(cache.get::<String>("k")).await.map(|_| ()),
        bounded(cache.set("k", "v")).await,
        bounded(cache.add("k", "v")).await.map(|_| ()),
        bounded(cache.delete("k")).await.map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
            "unexpected {err}"
        );
        assert!(err.is_temporary());
    }
    assert_eq!(cache.stats().ignored_errors, 0);
}

/// A fail-open cache builds while Redis is down (lazy connection), answers misses, and
/// connects when Redis is back: a deploy during an outage does not crash-loop.
#[tokio::test]
async fn a_fail_open_cache_builds_while_redis_is_down() {
    let mut server = RedisServer::start().unwrap();
    let url = server.url();
    server.kill().unwrap();
    let cache = bounded(cachette::from_url(&format!(
        "{url}?fail_open=true&connect_timeout=500ms"
    )))
    .await
    .expect("a fail-open cache builds while Redis is down");
    assert_eq!(bounded(cache.get::<String>("k")).await.unwrap(), None);
    let strict = bounded(cachette::from_url(&format!("{url}?connect_timeout=500ms"))).await;
    assert!(strict.is_err(), "without fail-open, building still fails");
    server.restart().unwrap();
    let back = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            cache.set("k", "v").await.unwrap();
            if cache.get::<String>("k").await.unwrap().as_deref() == Some("v") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the cache never reached Redis again");
}
