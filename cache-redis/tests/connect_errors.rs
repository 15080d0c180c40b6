//! Connection errors say where (the redacted URL, host and port) and hint at the usual
//! causes; mistakes found before any I/O are `Config`; nothing panics on extreme timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::Duration;

use cachette_api::ErrorKind;
use cachette_redis::RedisBackend;
use common::start;

async fn connect(url: &str) -> cachette_api::Error {
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        RedisBackend::builder()
            .with_url(url)
            .with_connect_timeout(Duration::from_millis(500))
            .build(),
    )
    .await
    .expect("connecting must be bounded");
    match result {
        Ok(_) => panic!("{url} connected"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_hides_the_password() {
    let err = connect("redis://:S3cret@127.0.0.1:1/0").await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:#}");
    let shown = format!("{err:#} {err:?}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(shown.contains("listening"), "{shown}");
    assert!(!shown.contains("S3cret"), "{shown}");
}

#[tokio::test]
async fn no_such_database_is_config() {
    let server = start(&[]);
    let url = server.url();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let err = connect(&format!("{base}/99")).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    assert!(err.message().contains("database"), "{err}");
}

#[tokio::test]
async fn a_server_that_is_not_redis_is_config_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let err = connect(&format!("redis://127.0.0.1:{port}/0")).await;
    let shown = format!("{err:#}");
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Config | ErrorKind::Unavailable | ErrorKind::Timeout
        ),
        "{shown}"
    );
}

#[tokio::test]
async fn mistakes_in_the_url_are_config_before_any_io() {
    for (url, expected) in [
        ("redis://:p@ss#word@127.0.0.1:1/0", "percent-encode"),
        ("redis://:pa/ss@127.0.0.1:1/0", "percent-encode"),
        (
            "redis://127.0.0.1:1/0?connect_timeout=300ms",
            "connect_timeout",
        ),
        ("redis://127.0.0.1:1/0?prefix=a", "prefix"),
    ] {
        let err = connect(url).await;
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err:#}");
        assert!(err.message().contains(expected), "{url}: {err}");
        assert!(!format!("{err:#} {err:?}").contains("ss#word"), "{err:?}");
    }
}

#[tokio::test]
async fn extreme_timeouts_are_config_not_panics() {
    for timeout in [
        Duration::MAX,
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(u64::MAX),
    ] {
        for builder in [
            RedisBackend::builder().with_connect_timeout(timeout),
            RedisBackend::builder().with_response_timeout(timeout),
        ] {
            let err = builder
                .with_url("redis://127.0.0.1:1/0")
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{timeout:?}: {err:#}");
        }
    }
}

/// Lazy mode: the backend builds while the server is down, answers `Unavailable` at once
/// (misses, through a fail-open cache), and serves as soon as the server is back.
#[tokio::test]
async fn a_lazy_backend_builds_while_redis_is_down_and_connects_when_it_is_back() {
    let mut server = start(&[]);
    let url = server.url();
    server.kill().unwrap();
    let backend = tokio::time::timeout(
        Duration::from_secs(10),
        RedisBackend::builder()
            .with_url(&url)
            .with_connect_timeout(Duration::from_millis(500))
            .with_lazy_connect(true)
            .build(),
    )
    .await
    .expect("bounded")
    .expect("a lazy backend builds while Redis is down");
    assert!(
        format!("{backend:?}").contains("connected: false"),
        "{backend:?}"
    );
    let cache = backend
        .cache_builder()
        .with_fail_open(true)
        .build()
        .unwrap();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
    let strict = backend.cache();
    let err = strict.get::<i32>("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:#}");

    server.restart().unwrap();
    // Connects at the first call past the retry delay: wait for it, bounded.
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if strict.set("k", &1).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "the backend never connected");
    assert_eq!(strict.get::<i32>("k").await.unwrap(), Some(1));
    assert!(format!("{backend:?}").contains("connected: true"));
    // Without lazy mode the same build fails.
    server.kill().unwrap();
    let err = connect(&url).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}
