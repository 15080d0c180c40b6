//! Faults of a real PostgreSQL server under load: each test starts its own server and abuses
//! it (a crash and a restart under 64 tasks, a statement held past the statement timeout, the
//! connection limit reached), and checks what the callers of one `Cache` see: no panic, no
//! call past its bound, every error of a temporary network kind, recovery on the same handle.
//!
//! The figures each test measures are printed; run with `--nocapture` to see them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_test_support::PostgresServer;
use cachette_api::{Cache, ErrorKind};
use cachette_postgres::PostgresBackend;

/// The connect and response timeouts of every backend here.
const TIMEOUT: Duration = Duration::from_millis(500);
/// The longest any call may take: the backend's bound is connect + response timeout (1 s);
/// the rest is margin for a loaded 2-core machine.
const CALL_BOUND: Duration = Duration::from_secs(3);
/// How many tasks share the handle.
const TASKS: usize = 64;
/// How soon after the server is back the handle must serve again.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

async fn cache_over(url: &str, pool_size: usize) -> Cache {
    PostgresBackend::builder()
        .with_url(url)
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .with_pool_size(pool_size)
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix("faults")
        .build()
        .unwrap()
}

/// Outcomes per phase: `ok` or the error kind, with counts, the worst latency, and the calls
/// that broke the contract.
#[derive(Debug, Default)]
struct Tally {
    outcomes: BTreeMap<(u8, &'static str), u64>,
    worst: Duration,
    broken: Vec<String>,
}

/// `TASKS` tasks running set / get / incr on `cache` until `stop`, recording into `tally`
/// under the phase `phase` holds when each call starts.
fn load(
    cache: &Cache,
    phase: &Arc<AtomicU8>,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..TASKS)
        .map(|task| {
            let (cache, phase, stop, tally) =
                (cache.clone(), phase.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let key = format!("k{}", (task as u64 * 7 + n) % 50);
                    let at = phase.load(Ordering::Acquire);
                    let started = Instant::now();
                    let (op, outcome) = match n % 3 {
                        0 => ("set", cache.set(&key, &n).await),
                        1 => ("get", cache.get::<u64>(&key).await.map(drop)),
                        _ => ("incr", cache.incr("counter", 1).await.map(drop)),
                    };
                    let elapsed = started.elapsed();
                    {
                        let mut tally = tally.lock().unwrap();
                        tally.worst = tally.worst.max(elapsed);
                        let name = match &outcome {
                            Ok(()) => "ok",
                            Err(e) => e.kind().as_str(),
                        };
                        *tally.outcomes.entry((at, name)).or_default() += 1;
                        if let Err(e) = &outcome {
                            let expected = match e.kind() {
                                ErrorKind::Unavailable | ErrorKind::Timeout => e.is_temporary(),
                                // The crash empties the UNLOGGED table: the counter is gone.
                                ErrorKind::NotFound => op == "incr",
                                _ => false,
                            };
                            if !expected {
                                tally.broken.push(format!("{op}: {e:#}"));
                            }
                        }
                        if elapsed > CALL_BOUND {
                            tally.broken.push(format!("{op} took {elapsed:?}"));
                        }
                    }
                    if outcome.is_err() {
                        // Errors come fast while the server is down: do not spin.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect()
}

/// Waits until `cache` answers a call, and returns how long that took.
async fn until_served(cache: &Cache) -> Duration {
    let started = Instant::now();
    loop {
        if cache.set("probe", &1).await.is_ok() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "the handle did not serve again within {RECOVERY_BOUND:?} of the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_and_restart_under_load() {
    let mut server = PostgresServer::start().unwrap();
    let cache = cache_over(&server.url(), 16).await;
    cache.set("counter", &0).await.unwrap();
    let (phase, stop) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicBool::new(false)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = load(&cache, &phase, &stop, &tally);
    tokio::time::sleep(Duration::from_millis(700)).await;

    phase.store(1, Ordering::Release);
    let s = tokio::task::spawn_blocking(move || {
        server.kill().unwrap();
        server
    });
    let mut server = s.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = tokio::task::spawn_blocking(move || {
        server.restart().unwrap();
        server
    });
    let server = s.await.unwrap();
    phase.store(2, Ordering::Release);
    let recovery = until_served(&cache).await;
    phase.store(3, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Release);
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    let tally = tally.lock().unwrap();
    println!(
        "crash and restart under {TASKS} tasks: recovered {recovery:?} after the restart; \
         worst call {:?}; outcomes (phase 0 up, 1 down, 2 back, 3 recovered): {:?}",
        tally.worst, tally.outcomes
    );
    assert!(tally.broken.is_empty(), "{:#?}", tally.broken);
    let ok_in = |p: u8| tally.outcomes.get(&(p, "ok")).copied().unwrap_or(0);
    assert!(ok_in(0) > 0 && ok_in(3) > 0, "{:?}", tally.outcomes);
    let failed_down: u64 = tally
        .outcomes
        .iter()
        .filter(|((p, name), _)| *p == 1 && *name != "ok")
        .map(|(_, n)| n)
        .sum();
    assert!(failed_down > 0, "no call failed while the server was down");
    // Once recovered, every call of a task that started then succeeds (the counter is
    // re-created by a set, so `incr` may still find it gone).
    let errors_recovered: Vec<_> = tally
        .outcomes
        .iter()
        .filter(|((p, name), _)| *p == 3 && !matches!(*name, "ok" | "not_found"))
        .collect();
    assert!(errors_recovered.is_empty(), "{:?}", tally.outcomes);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_response_timeout_is_a_timeout() {
    let server = PostgresServer::start().unwrap();
    let cache = cache_over(&server.url(), 4).await;
    cache.set("locked", &1).await.unwrap();
    // Another session holds the row's lock, so that `incr` waits for it.
    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "BEGIN; SELECT 1 FROM cachette_cache WHERE key = convert_to('faults:1:locked', 'UTF8') FOR UPDATE",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let err = cache.incr("locked", 1).await.unwrap_err();
    let elapsed = started.elapsed();
    println!("statement timeout: incr on a locked row failed after {elapsed:?}: {err:#}");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:#}");
    assert!(err.is_temporary());
    // The server cancelled the statement itself, at its statement_timeout (4/5 of the
    // response timeout), before the client's own bound.
    assert!(
        elapsed >= TIMEOUT * 4 / 5 && elapsed < CALL_BOUND,
        "{elapsed:?}"
    );
    assert!(err.message().contains("statement_timeout"), "{err:#}");
    // The connection stays usable, and the call succeeds once the lock is released.
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(cache.incr("locked", 1).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_reached_is_unavailable_and_calls_go_on() {
    let server =
        PostgresServer::start_with(&["max_connections=4", "superuser_reserved_connections=0"])
            .unwrap();
    // Three sessions held elsewhere leave one connection to a pool of 16.
    let mut held = Vec::new();
    for _ in 0..3 {
        let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        held.push(client);
    }
    let cache = cache_over(&server.url(), 16).await;
    let (phase, stop) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicBool::new(false)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    cache.set("counter", &0).await.unwrap();
    let tasks = load(&cache, &phase, &stop, &tally);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Release);
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    println!(
        "connection limit (4, 3 held elsewhere, pool of 16) under {TASKS} tasks: worst call \
         {:?}; outcomes: {:?}",
        tally.worst, tally.outcomes
    );
    assert!(tally.broken.is_empty(), "{:#?}", tally.broken);
    let count = |name| tally.outcomes.get(&(0, name)).copied().unwrap_or(0);
    assert!(count("ok") > 0, "{:?}", tally.outcomes);
    assert!(count("unavailable") > 0, "the limit was never reached");
    // With the other sessions gone, the same handle opens the connections it needs.
    drop(held);
    let started = Instant::now();
    loop {
        let all = futures::future::join_all((0..4).map(|i| {
            let cache = cache.clone();
            async move { cache.set(&format!("after{i}"), &i).await }
        }))
        .await;
        if all.iter().all(Result::is_ok) {
            break;
        }
        assert!(started.elapsed() < RECOVERY_BOUND, "{all:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "4 concurrent calls served {:?} after the other sessions left",
        started.elapsed()
    );
}
