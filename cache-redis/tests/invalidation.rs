//! [`RedisInvalidation`], the invalidation channel on Redis pub/sub, against real servers:
//! messages and confirmations in order, a killed subscription failing the stream (never a
//! silent loss), every call bounded on a frozen server, configurations refused, no password
//! shown.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{raw, raw_cmd, start};
use std::time::{Duration, Instant};

use cachette_api::{ErrorKind, InvalidationChannel, InvalidationEvent};
use cachette_redis::RedisInvalidation;

const HEARTBEAT: Duration = Duration::from_millis(50);
const TIMEOUT: Duration = Duration::from_millis(300);

/// What scheduling may add on a loaded machine.
const SLACK: Duration = Duration::from_millis(250);

async fn channel(url: &str, name: &str) -> RedisInvalidation {
    RedisInvalidation::builder(url, name)
        .with_timeout(TIMEOUT)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn messages_arrive_in_order_between_confirmations() {
    let server = start(&[]);
    let publisher = channel(&server.url(), "ch").await;
    let subscriber = channel(&server.url(), "ch").await;
    let mut subscription = subscriber.subscribe(HEARTBEAT).await.unwrap();
    let published_at = Instant::now();
    assert!(subscription.since <= published_at);
    for i in 0..20 {
        publisher.publish(format!("m{i}").into()).await.unwrap();
    }
    let mut messages = Vec::new();
    let mut confirmed_after_all = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !confirmed_after_all {
        assert!(Instant::now() < deadline, "got {messages:?} only");
        match subscription.stream.next().await.unwrap() {
            InvalidationEvent::Message(m) => messages.push(m),
            InvalidationEvent::Confirmed(at) => {
                // A confirmation from after the publications comes after all of them.
                if at > published_at {
                    assert_eq!(messages.len(), 20, "{messages:?}");
                    confirmed_after_all = true;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let expected: Vec<_> = (0..20)
        .map(|i| cachette_api::Bytes::from(format!("m{i}")))
        .collect();
    assert_eq!(messages, expected);
}

#[tokio::test]
async fn a_killed_subscription_fails_the_stream() {
    let server = start(&[]);
    let subscriber = channel(&server.url(), "ch").await;
    let mut subscription = subscriber.subscribe(HEARTBEAT).await.unwrap();
    let mut conn = raw(&server.url()).await;
    let killed: i64 = raw_cmd(&mut conn, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert_eq!(killed, 1);
    let started = Instant::now();
    let err = loop {
        match subscription.stream.next().await {
            Ok(_) => assert!(
                started.elapsed() < HEARTBEAT + TIMEOUT + SLACK,
                "never failed"
            ),
            Err(err) => break err,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    // And stays failed.
    assert!(subscription.stream.next().await.is_err());
}

#[tokio::test]
async fn calls_on_a_frozen_server_are_bounded() {
    let server = start(&[]);
    let publisher = channel(&server.url(), "ch").await;
    let subscriber = channel(&server.url(), "ch").await;
    let mut subscription = subscriber.subscribe(HEARTBEAT).await.unwrap();
    server.stop_signal().unwrap();

    let started = Instant::now();
    let err = publisher.publish("x".into()).await.unwrap_err();
    let publish_took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");

    let started = Instant::now();
    let failed = loop {
        match subscription.stream.next().await {
            Ok(_) => {}
            Err(err) => break err,
        }
    };
    let stream_took = started.elapsed();

    let started = Instant::now();
    let err = subscriber.subscribe(HEARTBEAT).await.unwrap_err();
    let subscribe_took = started.elapsed();
    server.cont_signal().unwrap();
    println!(
        "frozen server: publish {publish_took:?}, stream failed after {stream_took:?} \
         ({failed}), subscribe {subscribe_took:?} ({err})"
    );
    assert!(publish_took <= TIMEOUT + SLACK, "{publish_took:?}");
    assert!(
        stream_took <= HEARTBEAT + TIMEOUT + SLACK,
        "{stream_took:?}"
    );
    assert!(subscribe_took <= TIMEOUT * 2 + SLACK, "{subscribe_took:?}");
    assert!(matches!(
        err.kind(),
        ErrorKind::Timeout | ErrorKind::Unavailable
    ));

    // The same publisher works again once the server is back.
    publisher.publish("y".into()).await.unwrap();
}

#[tokio::test]
async fn configurations_are_checked_and_passwords_hidden() {
    let server = start(&["--requirepass", "hunter2"]);
    let good = format!("redis://:hunter2@127.0.0.1:{}", server.port());
    let channel = RedisInvalidation::connect(&good, "ch").await.unwrap();
    let shown = format!("{channel:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let builder = RedisInvalidation::builder(&good, "ch");
    assert!(!format!("{builder:?}").contains("hunter2"));

    let wrong = format!("redis://:wrong@127.0.0.1:{}", server.port());
    for (url, name, timeout) in [
        (good.as_str(), "", TIMEOUT),
        (good.as_str(), "ch", Duration::ZERO),
        ("not a url", "ch", TIMEOUT),
        ("http://127.0.0.1:1", "ch", TIMEOUT),
        ("redis+cluster://127.0.0.1:1,127.0.0.1:2", "ch", TIMEOUT),
        (wrong.as_str(), "ch", TIMEOUT),
    ] {
        let err = RedisInvalidation::builder(url, name)
            .with_timeout(timeout)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url} {name:?}: {err:?}");
        assert!(!err.to_string().contains("hunter2"));
    }
    let started = Instant::now();
    let err = RedisInvalidation::builder("redis://127.0.0.1:1", "ch")
        .with_timeout(TIMEOUT)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err:?}"
    );
    assert!(started.elapsed() < TIMEOUT * 2 + SLACK);
}
