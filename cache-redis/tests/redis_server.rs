//! The Redis backend against real `redis-server` processes: what only Redis can show (the raw
//! keys and TTLs, databases, passwords, failures of the server, round trips). The behaviour
//! shared with every backend is checked by the conformance suite.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{command_calls, raw, raw_cmd, reset_stats, start};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Bytes, CacheBackend, ErrorKind, Expiry, KeyTtl, SetOptions};
use cachette_memory::MemoryBackend;
use cachette_redis::RedisBackend;

async fn backend(server: &RedisServer) -> RedisBackend {
    RedisBackend::connect(&server.url()).await.unwrap()
}

/// A prefix no other test uses.
fn unique(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn assert_network_kind(kind: ErrorKind, context: &str) {
    assert!(
        matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout),
        "{context}: expected Unavailable or Timeout, got {kind:?}"
    );
}

// ----- connecting ----------------------------------------------------------------------------

#[tokio::test]
async fn password_protected_server() {
    let password = "s3cr3t-Pa55";
    let server = start(&["--requirepass", password]);
    let port = server.port();

    let good = format!("redis://:{password}@127.0.0.1:{port}/0");
    let backend = RedisBackend::connect(&good).await.unwrap();
    let cache = backend.cache();
    cache.set("k", "v").await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("v")
    );
    let shown = format!("{backend:?}");
    assert!(!shown.contains(password), "{shown}");

    let builder = RedisBackend::builder().with_url(&good);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(password), "{shown}");
    assert!(shown.contains("redis://:***@127.0.0.1"), "{shown}");

    let wrong = "not-the-Pa55word";
    let url = format!("redis://:{wrong}@127.0.0.1:{port}/0");
    let err = RedisBackend::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    assert!(!err.is_temporary(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(wrong) && !shown.contains(password),
        "{shown}"
    );

    // No password at all: the server answers NOAUTH to the PING of `build`.
    let err = RedisBackend::connect(&format!("redis://127.0.0.1:{port}/0"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
}

#[tokio::test]
async fn acl_user_and_password() {
    let server = start(&[]);
    let mut admin = raw(&server.url()).await;
    raw_cmd::<()>(
        &mut admin,
        &["ACL", "SETUSER", "app", "on", ">app-Pa55", "~*", "+@all"],
    )
    .await;
    let url = format!("redis://app:app-Pa55@127.0.0.1:{}/0", server.port());
    let cache = RedisBackend::connect(&url).await.unwrap().cache();
    cache.set("k", &1).await.unwrap();
    assert_eq!(cache.incr("k", 1).await.unwrap(), 2);

    let url = format!("redis://app:wrong-Pa55@127.0.0.1:{}/0", server.port());
    let err = RedisBackend::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wrong-Pa55"));
}

#[tokio::test]
async fn database_number_in_the_url() {
    let server = start(&[]);
    let url = format!("{}/3", server.url());
    let backend = RedisBackend::connect(&url).await.unwrap();
    backend
        .set(
            "in-db-3",
            Bytes::from_static(b"x"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();

    let mut db3 = raw(&url).await;
    let got: Option<Vec<u8>> = raw_cmd(&mut db3, &["GET", "in-db-3"]).await;
    assert_eq!(got.as_deref(), Some(&b"x"[..]));
    let mut db0 = raw(&format!("{}/0", server.url())).await;
    let exists: i64 = raw_cmd(&mut db0, &["EXISTS", "in-db-3"]).await;
    assert_eq!(exists, 0);

    // flush_db empties database 3 only.
    raw_cmd::<()>(&mut db0, &["SET", "in-db-0", "y"]).await;
    backend.flush_db().await.unwrap();
    let size3: i64 = raw_cmd(&mut db3, &["DBSIZE"]).await;
    let size0: i64 = raw_cmd(&mut db0, &["DBSIZE"]).await;
    assert_eq!((size3, size0), (0, 1));
}

#[tokio::test]
async fn unreachable_port_fails_quickly() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = RedisBackend::builder()
        .with_url(format!("redis://127.0.0.1:{port}/0"))
        .with_connect_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_network_kind(err.kind(), &format!("{err:?}"));
    assert!(err.is_temporary(), "{err:?}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

// ----- what is stored --------------------------------------------------------------------------

#[tokio::test]
async fn keys_and_ttls_as_stored() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let cache = backend
        .cache_builder()
        .with_prefix("wheel_analyzer")
        .build()
        .unwrap();
    let value = vec![("eps".to_owned(), 1.52_f64)];
    cache
        .namespace("alphavantage")
        .set_opts("earnings:AAPL", &value, Duration::from_secs(604_800))
        .await
        .unwrap();
    cache.set("count", &42).await.unwrap();

    let mut conn = raw(&server.url()).await;
    let key = "wheel_analyzer:1:alphavantage:earnings:AAPL";
    let stored: Option<Vec<u8>> = raw_cmd(&mut conn, &["GET", key]).await;
    assert_eq!(
        stored.as_deref(),
        Some(&rmp_serde::to_vec_named(&value).unwrap()[..])
    );
    let pttl: i64 = raw_cmd(&mut conn, &["PTTL", key]).await;
    assert!(
        (604_800_000 - 10_000..=604_800_000).contains(&pttl),
        "PTTL {pttl}"
    );
    let count: String = raw_cmd(&mut conn, &["GET", "wheel_analyzer:1:count"]).await;
    assert_eq!(count, "42");
    let pttl: i64 = raw_cmd(&mut conn, &["PTTL", "wheel_analyzer:1:count"]).await;
    assert!(
        (290_000..=300_000).contains(&pttl),
        "default timeout: PTTL {pttl}"
    );
}

#[tokio::test]
async fn clear_matches_the_prefix_literally() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let keys = [
        "a*:1", "ab:1", "a?:1", "aX:1", "a[b]:1", "ab]:1", "a\\:1", "a:1", "b:1",
    ];
    for key in keys {
        backend
            .set(
                key,
                Bytes::from_static(b"v"),
                SetOptions::new(Expiry::Never),
            )
            .await
            .unwrap();
    }
    for (prefix, gone) in [
        ("a*:", "a*:1"),
        ("a?:", "a?:1"),
        ("a[b]:", "a[b]:1"),
        ("a\\:", "a\\:1"),
        ("ab:", "ab:1"),
    ] {
        assert_eq!(backend.clear(prefix).await.unwrap(), 1, "{prefix}");
        assert!(!backend.has_key(gone).await.unwrap(), "{prefix}");
    }
    for left in ["aX:1", "ab]:1", "a:1", "b:1"] {
        assert!(backend.has_key(left).await.unwrap(), "{left} was cleared");
    }

    // Through caches: `a*` and `ab` are different prefixes.
    let star = backend.cache_builder().with_prefix("a*").build().unwrap();
    let ab = backend.cache_builder().with_prefix("ab").build().unwrap();
    star.set("k", "star").await.unwrap();
    ab.set("k", "ab").await.unwrap();
    assert_eq!(star.clear().await.unwrap(), 1);
    assert_eq!(ab.get::<String>("k").await.unwrap().as_deref(), Some("ab"));
}

#[tokio::test]
async fn clear_walks_many_batches() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let prefix = unique("many");
    let entries: Vec<(String, Bytes)> = (0..2500)
        .map(|i| (format!("{prefix}:{i}"), Bytes::from_static(b"1")))
        .collect();
    assert!(backend
        .set_many(&entries, Expiry::Never)
        .await
        .unwrap()
        .is_empty());
    backend
        .set(
            "other:1",
            Bytes::from_static(b"1"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();
    assert_eq!(backend.clear(&format!("{prefix}:")).await.unwrap(), 2500);
    assert!(backend.has_key("other:1").await.unwrap());
}

#[tokio::test]
async fn foreign_values_give_typed_errors() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let cache = backend.cache_builder().with_prefix("p").build().unwrap();
    let mut conn = raw(&server.url()).await;

    raw_cmd::<()>(&mut conn, &["RPUSH", "p:1:list", "a", "b"]).await;
    let err = cache.incr("list", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType, "{err:?}");
    let err = cache.get::<String>("list").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType, "{err:?}");
    assert_eq!(err.key(), Some("list"));

    let mut garbage = redis::cmd("SET");
    garbage.arg("p:1:garbage").arg(&b"\xc1\xff\x00junk"[..]);
    garbage.query_async::<()>(&mut conn).await.unwrap();
    let err = cache.get::<String>("garbage").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err:?}");
    assert_eq!(err.key(), Some("garbage"));
    assert!(err.to_string().contains("garbage"), "{err}");
}

/// Values another client wrote: `incr` answers exactly as the memory backend does.
#[tokio::test]
async fn incr_agrees_with_the_memory_backend_on_odd_values() {
    let server = start(&[]);
    let redis = backend(&server).await;
    let memory = MemoryBackend::new();
    let values: [&[u8]; 15] = [
        b"41",
        b"007",
        b"-0",
        b"-007",
        b"00000000000000000001",
        b"000000000000000000001",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"9223372036854775808",
        b"18446744073709551615",
        b"18446744073709551616",
        b"+5",
        b"5 ",
        b"",
        b"-",
    ];
    for value in values {
        for delta in [1, -1, i64::MAX, i64::MIN] {
            let mut outcomes = Vec::new();
            for backend in [&redis as &dyn CacheBackend, &memory] {
                let opts = SetOptions::new(Expiry::After(Duration::from_secs(100)));
                backend
                    .set("n", Bytes::copy_from_slice(value), opts)
                    .await
                    .unwrap();
                let result = backend.incr("n", delta).await.map_err(|e| e.kind());
                let stored = backend.get("n").await.unwrap();
                let ttl = backend.ttl("n").await.unwrap();
                assert!(
                    matches!(ttl, KeyTtl::Expires(d) if d > Duration::from_secs(90)),
                    "{}: {ttl:?}",
                    backend.name()
                );
                outcomes.push((result, stored));
            }
            assert_eq!(
                outcomes[0],
                outcomes[1],
                "value {:?} delta {delta}: redis vs memory",
                String::from_utf8_lossy(value)
            );
        }
    }
    assert_eq!(
        redis.incr("missing", 1).await.map_err(|e| e.kind()),
        Err(ErrorKind::NotFound)
    );
    assert!(!redis.has_key("missing").await.unwrap());
}

// ----- round trips ----------------------------------------------------------------------------

/// A `get_or_set_with` miss costs two round trips (the read, then one write that answers
/// the winner), a hit one; the same for `get_or_set`.
#[tokio::test]
async fn get_or_set_with_miss_is_two_round_trips_and_hit_one() {
    let server = start(&[]);
    let cache = backend(&server).await.cache();
    let mut conn = raw(&server.url()).await;
    let load = || async { Ok::<_, std::io::Error>("loaded".to_owned()) };

    reset_stats(&mut conn).await;
    assert_eq!(cache.get_or_set_with("k", load).await.unwrap(), "loaded");
    let miss = command_calls(&mut conn).await;
    assert_eq!(miss.values().sum::<u64>(), 2, "a miss: {miss:?}");
    assert_eq!(miss.get("get"), Some(&1), "a miss: {miss:?}");

    reset_stats(&mut conn).await;
    assert_eq!(cache.get_or_set_with("k", load).await.unwrap(), "loaded");
    let hit = command_calls(&mut conn).await;
    assert_eq!(hit, HashMap::from([("get".to_owned(), 1)]), "a hit");

    reset_stats(&mut conn).await;
    assert_eq!(cache.get_or_set("d", 5).await.unwrap(), 5);
    let miss = command_calls(&mut conn).await;
    assert_eq!(miss.values().sum::<u64>(), 2, "a get_or_set miss: {miss:?}");
}

#[tokio::test]
async fn batches_are_one_command_each() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let mut conn = raw(&server.url()).await;
    let keys: Vec<String> = (0..100).map(|i| format!("batch:{i}")).collect();
    let entries: Vec<(String, Bytes)> = keys
        .iter()
        .map(|k| (k.clone(), Bytes::from(k.clone())))
        .collect();

    reset_stats(&mut conn).await;
    let failed = backend
        .set_many(&entries, Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(failed.is_empty());
    // One pipeline: 100 SETs with PX sent together, and nothing else (no MULTI, no EXPIRE).
    assert_eq!(
        command_calls(&mut conn).await,
        HashMap::from([("set".to_owned(), 100)])
    );

    reset_stats(&mut conn).await;
    let found = backend.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), 100);
    assert!(found
        .iter()
        .zip(&keys)
        .all(|(v, k)| v.as_deref() == Some(k.as_bytes())));
    assert_eq!(
        command_calls(&mut conn).await,
        HashMap::from([("mget".to_owned(), 1)])
    );

    reset_stats(&mut conn).await;
    assert_eq!(backend.delete_many(&keys).await.unwrap(), 100);
    assert_eq!(
        command_calls(&mut conn).await,
        HashMap::from([("unlink".to_owned(), 1)])
    );

    reset_stats(&mut conn).await;
    assert!(backend.get_many(&[]).await.unwrap().is_empty());
    assert_eq!(backend.delete_many(&[]).await.unwrap(), 0);
    assert!(backend
        .set_many(&[], Expiry::Never)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(command_calls(&mut conn).await, HashMap::new());

    // incr is one script call once the script is cached (EVALSHA).
    backend
        .set(
            "n",
            Bytes::from_static(b"1"),
            SetOptions::new(Expiry::Never),
        )
        .await
        .unwrap();
    backend.incr("n", 1).await.unwrap();
    reset_stats(&mut conn).await;
    assert_eq!(backend.incr("n", 1).await.unwrap(), 3);
    let calls = command_calls(&mut conn).await;
    assert_eq!(calls.get("evalsha"), Some(&1), "{calls:?}");
}

#[tokio::test]
async fn set_many_reports_refused_entries() {
    // A server out of memory refuses every SET; the indices say which entries were not written.
    let server = start(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let backend = backend(&server).await;
    let big = Bytes::from(vec![b'x'; 300_000]);
    let entries: Vec<(String, Bytes)> = (0..8).map(|i| (format!("big:{i}"), big.clone())).collect();
    let failed = backend.set_many(&entries, Expiry::Never).await.unwrap();
    assert!(!failed.is_empty(), "nothing refused");
    for (i, (key, _)) in entries.iter().enumerate() {
        let stored = backend.has_key(key).await.unwrap();
        assert_eq!(stored, !failed.contains(&i), "entry {i}");
    }
}

// ----- failures of the server -------------------------------------------------------------------

#[tokio::test]
async fn killed_server_gives_errors_then_recovers_after_restart() {
    let mut server = start(&[]);
    let backend = RedisBackend::builder()
        .with_url(server.url())
        .with_connect_timeout(Duration::from_secs(1))
        .with_response_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    cache.set("k", "before").await.unwrap();

    server.kill().unwrap();
    for _ in 0..5 {
        let started = Instant::now();
        let err = cache.get::<String>("k").await.unwrap_err();
        assert_network_kind(err.kind(), &format!("{err:?}"));
        assert!(err.is_temporary(), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{:?}",
            started.elapsed()
        );
    }

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cache.set("k", "after").await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert_network_kind(e.kind(), &format!("{e:?}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no recovery within 5 s after restart: {e:?}"),
        }
    }
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("after")
    );
    // The script cache was lost with the server: incr loads the script again.
    cache.set("n", &1).await.unwrap();
    assert_eq!(cache.incr("n", 1).await.unwrap(), 2);
}

#[tokio::test]
async fn frozen_server_times_out_then_answers_again() {
    let server = start(&[]);
    let response_timeout = Duration::from_millis(500);
    let backend = RedisBackend::builder()
        .with_url(server.url())
        .with_response_timeout(response_timeout)
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    cache.set("k", "v").await.unwrap();

    server.stop_signal().unwrap();
    let started = Instant::now();
    let result = cache.get::<String>("k").await;
    let elapsed = started.elapsed();
    server.cont_signal().unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_temporary());
    assert!(
        elapsed >= response_timeout && elapsed < response_timeout + Duration::from_millis(700),
        "timed out after {elapsed:?}"
    );

    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("v")
    );
}

#[tokio::test]
async fn closed_backend_errors_without_panicking() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let clone = backend.clone();
    backend.close().await.unwrap();
    let err = clone.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(format!("{backend:?}").contains("closed: true"));
    backend.close().await.unwrap();
}

#[tokio::test]
async fn many_tasks_share_one_connection() {
    let server = start(&[]);
    let backend = backend(&server).await;
    let cache = backend.cache();
    cache.set("n", &0).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    cache.incr("n", 1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(3200));
    let mut conn = raw(&server.url()).await;
    let clients: String = raw_cmd(&mut conn, &["CLIENT", "LIST"]).await;
    // The backend's connection and this one.
    assert_eq!(clients.lines().count(), 2, "{clients}");
}

// ----- protocols ----------------------------------------------------------------------------------

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_with_a_private_ca() {
    let server = match RedisServer::start_tls() {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    };
    let url = format!("{}/2", server.tls_url().unwrap());
    let backend = RedisBackend::builder()
        .with_url(&url)
        .with_tls_root_certificate(server.tls_ca_pem().unwrap())
        .build()
        .await
        .unwrap();
    let cache = backend.cache_builder().with_prefix("tls").build().unwrap();
    cache.set("k", "over TLS").await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("over TLS")
    );
    // It went to database 2 of that server.
    let mut db2 = raw(&format!("{}/2", server.url())).await;
    let exists: i64 = raw_cmd(&mut db2, &["EXISTS", "tls:1:k"]).await;
    assert_eq!(exists, 1);

    // Without the CA, the server's certificate is not trusted.
    let err = RedisBackend::builder()
        .with_url(&url)
        .with_connect_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert_network_kind(err.kind(), &format!("{err:?}"));
}

#[tokio::test]
async fn resp3_connections_behave_the_same() {
    let server = start(&[]);
    let url = format!("{}/0?protocol=resp3", server.url());
    let backend = RedisBackend::connect(&url).await.unwrap();
    let cache = backend.cache();
    cache.set("s", "text").await.unwrap();
    assert!(!cache.add("s", "other").await.unwrap());
    assert!(cache.add("n", &1).await.unwrap());
    assert_eq!(cache.incr("n", 2).await.unwrap(), 3);
    let many = cache
        .get_many::<String, _>(&["s", "missing"])
        .await
        .unwrap();
    assert_eq!(many.len(), 1);
    assert!(cache
        .touch_opts("s", cachette_api::Ttl::Never)
        .await
        .unwrap());
    assert_eq!(cache.ttl("s").await.unwrap(), KeyTtl::Persistent);
    assert_eq!(cache.ttl("missing").await.unwrap(), KeyTtl::Missing);
    assert!(cache.delete("s").await.unwrap());
    assert_eq!(cache.clear().await.unwrap(), 1);
}
