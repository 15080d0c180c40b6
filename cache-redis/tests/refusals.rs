//! The server refusing a call keeps the refusal's own error kind, and never harms the shared
//! connection:
//!
//! - `incr` on a server out of memory (`maxmemory` under `noeviction`) or on a read-only
//!   replica is a `Backend` error (temporary on the replica), never `Overflow`, and the value is
//!   unchanged;
//! - a value over the server's `proto-max-bulk-len` is `TooLarge`, refused before it is sent,
//!   at once, while the calls running beside it on the same connection all succeed.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{raw, raw_cmd, start};
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, ErrorKind, Expiry, SetOptions};
use cachette_redis::RedisBackend;

/// How long a test waits for a condition (a write reaching a replica) before it fails.
const WAIT_BOUND: Duration = Duration::from_secs(10);

async fn set_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str, value: &str) {
    raw_cmd::<()>(conn, &["SET", key, value]).await;
}

#[tokio::test]
async fn incr_out_of_memory_is_backend_not_overflow() {
    let server = start(&["--maxmemory-policy", "noeviction"]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let mut conn = raw(&server.url()).await;
    // A canonical integer (the script's fast path) and a padded one (its full checks).
    set_raw(&mut conn, "canonical", "5").await;
    set_raw(&mut conn, "padded", "007").await;
    set_raw(&mut conn, "near-max", &i64::MAX.to_string()).await;

    // Every write is now refused for memory; reads go on.
    raw_cmd::<()>(&mut conn, &["CONFIG", "SET", "maxmemory", "1"]).await;
    for (key, before) in [("canonical", "5"), ("padded", "007")] {
        let err = backend.incr(key, 1).await.unwrap_err();
        println!("incr of {key} under OOM: {err}");
        assert_eq!(err.kind(), ErrorKind::Backend, "{key}: {err:?}");
        assert!(!err.is_temporary(), "{key}: {err:?}");
        let now: String = raw_cmd(&mut conn, &["GET", key]).await;
        assert_eq!(now, before, "{key} changed");
    }
    // The server refuses the write before it looks at the value: out of memory, even an
    // increment that would overflow is the refusal.
    let err = backend.incr("near-max", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");

    raw_cmd::<()>(&mut conn, &["CONFIG", "SET", "maxmemory", "0"]).await;
    assert_eq!(backend.incr("canonical", 1).await.unwrap(), 6);
    assert_eq!(backend.incr("padded", 1).await.unwrap(), 8);
    // With memory back, a real overflow is an overflow, and nothing is written.
    let err = backend.incr("near-max", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow, "{err:?}");
}

#[tokio::test]
async fn incr_on_a_read_only_replica_is_backend_and_temporary() {
    let master = start(&[]);
    let replica = match RedisServer::start_replica_of(&master, None, &[]) {
        Ok(replica) => replica,
        Err(e) => panic!("{e}"),
    };
    let mut on_master = raw(&master.url()).await;
    let mut on_replica = raw(&replica.url()).await;
    set_raw(&mut on_master, "canonical", "5").await;
    set_raw(&mut on_master, "padded", "007").await;
    let deadline = Instant::now() + WAIT_BOUND;
    loop {
        let copied: Option<String> = raw_cmd(&mut on_replica, &["GET", "padded"]).await;
        if copied.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writes never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let backend = RedisBackend::connect(&replica.url()).await.unwrap();
    for (key, before) in [("canonical", "5"), ("padded", "007")] {
        let err = backend.incr(key, 1).await.unwrap_err();
        println!("incr of {key} on a replica: {err}");
        assert_eq!(err.kind(), ErrorKind::Backend, "{key}: {err:?}");
        assert!(err.is_temporary(), "{key}: {err:?}");
        let now: String = raw_cmd(&mut on_replica, &["GET", key]).await;
        assert_eq!(now, before, "{key} changed");
    }
    let err = backend
        .set(
            "k",
            Bytes::from_static(b"v"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");
    assert!(err.is_temporary(), "{err:?}");
    // Reads are served.
    assert_eq!(
        backend.get("canonical").await.unwrap().as_deref(),
        Some(&b"5"[..])
    );
}

/// The smallest `proto-max-bulk-len` Redis accepts: 1 MiB.
const SMALL_BULK_LIMIT: usize = 1024 * 1024;

#[tokio::test]
async fn values_over_the_bulk_limit_are_refused_before_sending() {
    let limit = SMALL_BULK_LIMIT.to_string();
    let server = start(&["--proto-max-bulk-len", &limit]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    assert_eq!(backend.max_argument_len(), SMALL_BULK_LIMIT as u64);
    let big = Bytes::from(vec![b'x'; SMALL_BULK_LIMIT + 1]);
    let fits = Bytes::from(vec![b'y'; SMALL_BULK_LIMIT - 64]);

    // Calls on the same connection all along, before, during and after the refusals.
    let mut load = Vec::new();
    for task in 0..16 {
        let backend = backend.clone();
        load.push(tokio::spawn(async move {
            for i in 0..50 {
                let key = format!("load:{task}:{i}");
                let value = Bytes::from(key.clone());
                backend
                    .set(&key, value.clone(), SetOptions::new(Expiry::Never))
                    .await?;
                let read = backend.get(&key).await?;
                assert_eq!(read, Some(value));
            }
            Ok::<(), cachette_api::Error>(())
        }));
    }
    let started = Instant::now();
    let err = backend
        .set("big", big.clone(), SetOptions::new(Expiry::Never))
        .await
        .unwrap_err();
    let refused_in = started.elapsed();
    println!(
        "a value of {} bytes refused in {refused_in:?}: {err}",
        big.len()
    );
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
    assert!(!err.is_temporary());
    assert!(refused_in < Duration::from_millis(100), "{refused_in:?}");

    let err = backend
        .add_or_get("big", big.clone(), Expiry::Never)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
    let err = backend.delete_if_value("big", &big).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
    // A batch with one value too large writes nothing.
    let entries = vec![
        ("batch:ok".to_owned(), fits.clone()),
        ("batch:big".to_owned(), big.clone()),
    ];
    let err = backend.set_many(&entries, Expiry::Never).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
    assert!(!backend.has_key("batch:ok").await.unwrap());

    for task in load {
        task.await.unwrap().unwrap();
    }
    // A value just under the limit is still written and read back whole.
    backend
        .set("fits", fits.clone(), SetOptions::new(Expiry::Never))
        .await
        .unwrap();
    assert_eq!(backend.get("fits").await.unwrap(), Some(fits));
}

#[tokio::test]
async fn the_bulk_limit_defaults_to_512_mib_without_config() {
    let server = start(&["--rename-command", "CONFIG", ""]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    assert_eq!(backend.max_argument_len(), 512 * 1024 * 1024);
    backend
        .set(
            "k",
            Bytes::from_static(b"v"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();
}
