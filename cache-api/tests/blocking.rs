//! The blocking handle from every kind of caller: a plain thread, many threads at once, the
//! inside of a Tokio runtime (both flavours), and another executor (`futures`' `block_on`).
//! Its conformance over memory and Redis is in conformance-tests (`blocking_memory::`,
//! `blocking_redis::`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use cachette_api::blocking::{self, Runtime};
use cachette_api::{ErrorKind, FailSafe, KeyTtl, LoadPolicy, Result, Source, Ttl};
use cachette_memory::MemoryBackend;

fn cache() -> blocking::Cache {
    MemoryBackend::new().cache().blocking().unwrap()
}

/// Django's calls, answered as the async handle answers them, from a plain thread.
fn django_round_trip(cache: &blocking::Cache) -> Result<()> {
    cache.set("greeting", "hello")?;
    assert_eq!(cache.get::<String>("greeting")?.as_deref(), Some("hello"));
    assert!(!cache.add("greeting", "again")?);
    assert!(cache.add("fresh", &1)?);
    assert_eq!(cache.incr("fresh", 41)?, 42);
    assert_eq!(cache.decr("fresh", 2)?, 40);
    assert_eq!(
        cache.incr("missing", 1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        cache.get::<i32>("bad key").unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
    assert_eq!(cache.set_many([("a", 1), ("b", 2)])?, Vec::<String>::new());
    let found = cache.get_many::<i32, _>(&["a", "b", "c"])?;
    assert_eq!(found.len(), 2);
    assert_eq!(cache.delete_many(&["a", "b", "c"])?, 2);
    cache.set_opts("forever", &1, Ttl::Never)?;
    assert_eq!(cache.ttl("forever")?, KeyTtl::Persistent);
    assert!(cache.touch_opts("forever", Duration::from_secs(60))?);
    assert_eq!(cache.incr_version("forever")?, 2);
    assert_eq!(cache.with_version(2).get::<i32>("forever")?, Some(1));
    assert_eq!(cache.get_or_set("mode", "fast".to_owned())?, "fast");
    assert_eq!(cache.get_or_set("mode", "slow".to_owned())?, "fast");
    let loaded: i32 = cache.get_or_set_with("loaded", || Ok::<_, std::io::Error>(7))?;
    assert_eq!(loaded, 7);
    let policy = LoadPolicy::new().with_ttl(Duration::from_secs(60));
    let quote = cache.get_or_set_with_policy("quote", &policy, || Ok::<_, std::io::Error>(1.5))?;
    assert_eq!((quote.value, quote.source), (1.5, Source::Loaded));
    assert!(cache.delete("greeting")?);
    assert!(cache.namespace("n").make_key("k")?.ends_with(":n:k"));
    assert!(cache.clear()? >= 3);
    Ok(())
}

#[test]
fn from_a_plain_thread() -> Result<()> {
    django_round_trip(&cache())
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime_it_neither_panics_nor_deadlocks() -> Result<()> {
    // The caller's runtime has one thread, blocked by the call: the handle's own runtime
    // drives the work.
    django_round_trip(&cache())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() -> Result<()> {
    let cache = cache();
    django_round_trip(&cache)?;
    // And from spawn_blocking, the recommended place for it in async code.
    tokio::task::spawn_blocking(move || django_round_trip(&cache.namespace("spawned")))
        .await
        .unwrap()
}

#[test]
fn under_another_executor() -> Result<()> {
    futures::executor::block_on(async { django_round_trip(&cache()) })
}

#[test]
fn on_a_borrowed_runtime() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = MemoryBackend::new().cache();
    let cache =
        blocking::Cache::with_runtime(backend, Runtime::from_handle(runtime.handle().clone()));
    django_round_trip(&cache)
}

#[test]
fn shares_everything_with_the_async_handle() -> Result<()> {
    let cache = cache();
    cache.set("k", &1)?;
    let from_async = Runtime::shared()?.block_on(cache.as_async().get::<i32>("k"))?;
    assert_eq!(from_async, Some(1));
    assert_eq!(cache.stats().hits, 1);
    Ok(())
}

#[test]
fn a_failed_loader_runs_once_for_twenty_threads_and_is_not_cached() -> Result<()> {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let (cache, calls, ready) = (cache.clone(), calls.clone(), ready.clone());
            thread::spawn(move || {
                ready.wait();
                cache.get_or_set_with("flaky", || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_secs(1));
                    Err::<String, _>(std::io::Error::other("upstream API is down"))
                })
            })
        })
        .collect();
    for thread in threads {
        let err = thread.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Loader, "{err:?}");
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("upstream API is down"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!cache.has_key("flaky")?);
    assert_eq!(
        cache.get_or_set_with("flaky", || Ok::<_, std::io::Error>(7))?,
        7
    );
    Ok(())
}

#[test]
fn policy_loader_errors_and_panics_are_loader_errors_and_fail_safe_serves_stale() -> Result<()> {
    let cache = cache();
    let policy = LoadPolicy::new()
        .with_ttl(Duration::from_millis(50))
        .with_fail_safe(FailSafe::new(
            Duration::from_secs(60),
            Duration::from_secs(1),
        ));
    let fail = || Err::<i32, _>(std::io::Error::other("down"));
    let err = cache
        .get_or_set_with_policy("k", &policy, fail)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Loader);
    let err = cache
        .get_or_set_with_policy("k", &policy, || -> std::io::Result<i32> {
            panic!("loader bug")
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Loader);
    let loaded = cache.get_or_set_with_policy("k", &policy, || Ok::<_, std::io::Error>(1))?;
    assert_eq!((loaded.value, loaded.source), (1, Source::Loaded));
    // Past the fresh window, a failing loader is answered with the stale value.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let served = cache.get_or_set_with_policy("k", &policy, fail)?;
        if served.source == Source::FailSafe {
            assert_eq!(served.value, 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never served fail-safe"
        );
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
