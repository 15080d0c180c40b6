//! Faults of a real `redis-server` under load: each test starts its own server and abuses it
//! (SIGKILL and restart, SIGSTOP and SIGCONT, its connections killed, its memory full), and
//! checks what the callers of one `Cache` handle see: no panic, no call hanging, every error of
//! a network kind within the response timeout plus a margin, recovery on the same handle, and
//! an `Ok` that means what it says.
//!
//! The figures each test measures (worst latency, recovery time, outcomes per phase) are
//! printed; run with `--nocapture` to see them. `docs/failure-modes.md` quotes them.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{raw, start};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{Cache, Error, ErrorKind};
use cachette_redis::RedisBackend;

/// The response timeout (and connect timeout) of every backend here.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest any single call may take: the backend's own bound is connect + response
/// timeout (1 s); the rest is margin for a loaded 2-core machine.
const CALL_BOUND: Duration = Duration::from_secs(3);
/// A call still running after this long is reported as hung (and the test fails).
const HANG: Duration = Duration::from_secs(10);
/// How many tasks share the handle.
const TASKS: usize = 64;
/// How long the server stays dead (or frozen) under load.
const OUTAGE: Duration = Duration::from_millis(1500);
/// How soon after the server is back the handle must serve again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

async fn cache_over(server: &RedisServer, prefix: &str) -> Cache {
    RedisBackend::builder()
        .with_url(server.url())
        .with_connect_timeout(RESPONSE_TIMEOUT)
        .with_response_timeout(RESPONSE_TIMEOUT)
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix(prefix)
        .build()
        .unwrap()
}

// ----- the mixed load ---------------------------------------------------------------------------

/// Where the test is when a call starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    /// The server is up.
    Up = 0,
    /// A call that started in one phase and ended in another (in flight when the server
    /// was killed, frozen or brought back): held to the contract only.
    Transition = 5,
    /// The server was killed or frozen.
    Down = 1,
    /// The server is back, the handle has not answered yet.
    Recovering = 2,
    /// The handle answered again.
    Recovered = 3,
    /// The tasks stop.
    Done = 4,
}

impl Phase {
    fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Up,
            1 => Phase::Down,
            2 => Phase::Recovering,
            3 => Phase::Recovered,
            5 => Phase::Transition,
            _ => Phase::Done,
        }
    }
}

/// What the calls of one phase gave.
#[derive(Debug, Default)]
struct PhaseTally {
    calls: u64,
    /// Outcome (`ok` or the error kind) → count.
    outcomes: BTreeMap<&'static str, u64>,
    worst: Duration,
    /// Calls whose outcome breaks the contract, with what they got.
    unexpected: Vec<String>,
}

#[derive(Debug, Default)]
struct Tally {
    phases: BTreeMap<Phase, PhaseTally>,
    /// When the first error was seen, for the time from the fault to the first error.
    first_error: Option<Instant>,
}

impl Tally {
    fn record(&mut self, phase: Phase, op: &str, elapsed: Duration, outcome: Result<(), Error>) {
        let entry = self.phases.entry(phase).or_default();
        entry.calls += 1;
        entry.worst = entry.worst.max(elapsed);
        let name = match &outcome {
            Ok(()) => "ok",
            Err(e) => e.kind().as_str(),
        };
        *entry.outcomes.entry(name).or_default() += 1;
        if let Err(e) = &outcome {
            self.first_error.get_or_insert_with(Instant::now);
            let expected = match e.kind() {
                ErrorKind::Unavailable | ErrorKind::Timeout => e.is_temporary(),
                // The restarted server is empty (persistence is off): a counter is gone.
                ErrorKind::NotFound => op == "incr",
                _ => false,
            };
            if !expected && entry.unexpected.len() < 20 {
                entry.unexpected.push(format!("{op}: {e:?}"));
            }
        }
        if elapsed > CALL_BOUND && entry.unexpected.len() < 20 {
            entry
                .unexpected
                .push(format!("{op} took {elapsed:?} (bound {CALL_BOUND:?})"));
        }
    }

    fn worst(&self) -> Duration {
        self.phases
            .values()
            .map(|p| p.worst)
            .max()
            .unwrap_or_default()
    }

    fn print(&self, title: &str) {
        println!("{title}:");
        for (phase, t) in &self.phases {
            println!(
                "  {phase:?}: {} calls, worst {:?}, outcomes {:?}",
                t.calls, t.worst, t.outcomes
            );
        }
    }

    fn assert_contract(&self) {
        for (phase, t) in &self.phases {
            assert!(
                t.unexpected.is_empty(),
                "{phase:?}: calls broke the contract: {:#?}",
                t.unexpected
            );
        }
    }
}

/// One call of the mixed load: get, set, add, incr, get_many, set_many or delete, in turn.
async fn mixed_call(cache: &Cache, task: usize, i: u64) -> (&'static str, Result<(), Error>) {
    let key = format!("t{task}:k{}", i % 4);
    let counter = format!("t{task}:n");
    match i % 7 {
        0 => ("get", cache.get::<String>(&key).await.map(|_| ())),
        1 => ("set", cache.set(&key, "value").await),
        2 => (
            "add",
            cache.add(&format!("t{task}:a{i}"), &i).await.map(|_| ()),
        ),
        3 => match cache.incr(&counter, 1).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Create it for the next round; this call's outcome is the incr's.
                let _ = cache.add(&counter, &0).await;
                ("incr", Err(e))
            }
            other => ("incr", other.map(|_| ())),
        },
        4 => {
            let keys = [
                format!("t{task}:k0"),
                format!("t{task}:k1"),
                format!("t{task}:k2"),
            ];
            (
                "get_many",
                cache.get_many::<String, _>(&keys).await.map(|_| ()),
            )
        }
        5 => {
            let entries = (0..3).map(|j| (format!("t{task}:m{j}"), j));
            ("set_many", cache.set_many(entries).await.map(|_| ()))
        }
        _ => ("delete", cache.delete(&key).await.map(|_| ())),
    }
}

/// Runs the mixed load on `TASKS` tasks until the phase is `Done`.
/// Creates each task's counter first, so that every call succeeds while the server is up.
async fn spawn_load(
    cache: &Cache,
    phase: &Arc<AtomicU8>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    for task in 0..TASKS {
        cache.set(&format!("t{task}:n"), &0).await.unwrap();
    }
    (0..TASKS)
        .map(|task| {
            let (cache, phase, tally) = (cache.clone(), phase.clone(), tally.clone());
            tokio::spawn(async move {
                let mut i = task as u64;
                loop {
                    let at = Phase::from_u8(phase.load(Ordering::SeqCst));
                    if at == Phase::Done {
                        return;
                    }
                    let started = Instant::now();
                    let (op, outcome) =
                        match tokio::time::timeout(HANG, mixed_call(&cache, task, i)).await {
                            Ok(done) => done,
                            Err(_) => panic!("task {task}: call {i} hung for {HANG:?}"),
                        };
                    let elapsed = started.elapsed();
                    let end = Phase::from_u8(phase.load(Ordering::SeqCst));
                    let at = if end == at || end == Phase::Done {
                        at
                    } else {
                        Phase::Transition
                    };
                    tally.lock().unwrap().record(at, op, elapsed, outcome);
                    i += 1;
                    // Keep the load high without a busy loop when calls fail at once.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect()
}

/// Polls the handle (a set then a get of the same key) until both answer, and returns how
/// long that took.
async fn wait_for_recovery(cache: &Cache) -> Duration {
    let started = Instant::now();
    loop {
        let set = cache.set("probe", "back").await;
        let got = cache.get::<String>("probe").await;
        if set.is_ok() && matches!(got.as_ref().map(|v| v.as_deref()), Ok(Some("back"))) {
            return started.elapsed();
        }
        for err in [set.err(), got.err()].into_iter().flatten() {
            assert!(
                matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                "while recovering: {err:?}"
            );
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "the handle did not serve again within {RECOVERY_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn set_phase(phase: &AtomicU8, to: Phase) {
    phase.store(to as u8, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_mixed_load_then_restart() {
    let mut server = start(&[]);
    let cache = cache_over(&server, "kill").await;
    let phase = Arc::new(AtomicU8::new(Phase::Up as u8));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = spawn_load(&cache, &phase, &tally).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    set_phase(&phase, Phase::Transition);
    let killed_at = Instant::now();
    // `kill` returns once the server is gone: every call that starts afterwards must fail.
    server.kill().unwrap();
    set_phase(&phase, Phase::Down);
    tokio::time::sleep(OUTAGE).await;

    set_phase(&phase, Phase::Transition);
    let restarting_at = Instant::now();
    server.restart().unwrap();
    let restart = restarting_at.elapsed();
    set_phase(&phase, Phase::Recovering);
    let recovery = wait_for_recovery(&cache).await;
    set_phase(&phase, Phase::Recovered);
    tokio::time::sleep(Duration::from_millis(700)).await;
    set_phase(&phase, Phase::Done);
    for task in tasks {
        task.await.unwrap();
    }

    let tally = tally.lock().unwrap();
    tally.print("SIGKILL under load");
    let first_error = tally
        .first_error
        .map(|t| t.saturating_duration_since(killed_at));
    println!(
        "  worst latency {:?}; first error {first_error:?} after the kill; restart took \
         {restart:?}; the handle served {recovery:?} after the restarted server answered PING",
        tally.worst()
    );
    tally.assert_contract();
    let up = &tally.phases[&Phase::Up];
    assert_eq!(
        up.outcomes.get("ok"),
        Some(&up.calls),
        "before the kill: {up:?}"
    );
    let down = &tally.phases[&Phase::Down];
    assert_eq!(
        down.outcomes.get("ok"),
        None,
        "a call succeeded while the server was dead: {down:?}"
    );
    assert!(down.calls > 0);
    // Once the handle answered again, every call succeeds (a counter lost with the old
    // server is the one expected error, and is recreated).
    let after = &tally.phases[&Phase::Recovered];
    let failed: u64 = after
        .outcomes
        .iter()
        .filter(|(k, _)| !matches!(**k, "ok" | "not_found"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed, 0, "after recovery: {after:?}");
    assert!(after.calls > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_under_mixed_load_times_out_then_recovers() {
    let server = start(&[]);
    let cache = cache_over(&server, "stop").await;
    let phase = Arc::new(AtomicU8::new(Phase::Up as u8));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = spawn_load(&cache, &phase, &tally).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    set_phase(&phase, Phase::Transition);
    let stopped_at = Instant::now();
    server.stop_signal().unwrap();
    set_phase(&phase, Phase::Down);

    // A write that times out while the server is frozen may still be applied after SIGCONT:
    // the command sits in the server's socket buffer. Look at what happens to one.
    let frozen_set = cache.set("written-while-frozen", "maybe").await;
    // A fail-open view of the same backend answers a miss and "stored", after the same wait.
    let fail_open = Cache::builder(cache.backend().clone())
        .with_prefix("stop")
        .with_fail_open(true)
        .build()
        .unwrap();
    let started = Instant::now();
    let open_get = fail_open.get::<String>("probe").await;
    let open_get_took = started.elapsed();
    let open_set = fail_open.set("fail-open", "x").await;
    tokio::time::sleep(OUTAGE.saturating_sub(stopped_at.elapsed())).await;

    set_phase(&phase, Phase::Transition);
    server.cont_signal().unwrap();
    set_phase(&phase, Phase::Recovering);
    let recovery = wait_for_recovery(&cache).await;
    set_phase(&phase, Phase::Recovered);
    tokio::time::sleep(Duration::from_millis(700)).await;
    set_phase(&phase, Phase::Done);
    for task in tasks {
        task.await.unwrap();
    }
    let applied = cache.get::<String>("written-while-frozen").await.unwrap();

    let tally = tally.lock().unwrap();
    tally.print("SIGSTOP under load");
    println!(
        "  worst latency {:?}; recovery {recovery:?} after SIGCONT; a set sent while frozen \
         answered {:?} and was {} after SIGCONT",
        tally.worst(),
        frozen_set.as_ref().map_err(|e| e.kind()),
        if applied.is_some() {
            "applied"
        } else {
            "not applied"
        },
    );
    println!(
        "  fail-open while frozen: get answered {open_get:?} after {open_get_took:?}, \
         set answered {open_set:?}"
    );
    tally.assert_contract();
    assert!(matches!(open_get, Ok(None)), "{open_get:?}");
    assert!(open_set.is_ok(), "{open_set:?}");
    assert!(
        open_get_took >= RESPONSE_TIMEOUT && open_get_took < CALL_BOUND,
        "fail-open get took {open_get_took:?}"
    );
    assert!(fail_open.stats().ignored_errors >= 2);
    let err = frozen_set.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    let down = &tally.phases[&Phase::Down];
    assert_eq!(
        down.outcomes.get("ok"),
        None,
        "a call succeeded against a frozen server: {down:?}"
    );
    assert!(
        down.outcomes.get("timeout").copied().unwrap_or(0) > 0,
        "no Timeout while frozen: {down:?}"
    );
    assert!(
        down.worst >= RESPONSE_TIMEOUT,
        "calls did not wait for the response timeout: {down:?}"
    );
    let after = &tally.phases[&Phase::Recovered];
    let failed: u64 = after
        .outcomes
        .iter()
        .filter(|(k, _)| **k != "ok")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed, 0, "after recovery: {after:?}");
}

// ----- what Ok means -----------------------------------------------------------------------------

/// Every `set` that answered `Ok` is readable afterwards, although the client's connections
/// were killed (`CLIENT KILL TYPE normal`) several times while 64 tasks were writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sets_survive_killed_connections() {
    let server = start(&[]);
    let cache = cache_over(&server, "ack").await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (cache, stop) = (cache.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut failed = BTreeMap::<&'static str, u64>::new();
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("t{task}:{i}");
                    let value = format!("value of {key}");
                    let started = Instant::now();
                    match cache.set(&key, &value).await {
                        Ok(()) => acked.push((key, value)),
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                                "{e:?}"
                            );
                            *failed.entry(e.kind().as_str()).or_default() += 1;
                        }
                    }
                    assert!(started.elapsed() < CALL_BOUND, "{:?}", started.elapsed());
                    i += 1;
                }
                (acked, failed)
            })
        })
        .collect();

    let mut admin = raw(&server.url()).await;
    let mut killed = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // SKIPME is on by default: the admin connection survives.
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut admin)
            .await
            .unwrap();
        killed += n;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acked = Vec::new();
    let mut failed = BTreeMap::<&'static str, u64>::new();
    for task in tasks {
        let (a, f) = task.await.unwrap();
        acked.extend(a);
        for (kind, n) in f {
            *failed.entry(kind).or_default() += n;
        }
    }
    println!(
        "CLIENT KILL x5: {killed} connections killed; {} sets acknowledged, failed {failed:?}",
        acked.len()
    );
    assert!(killed >= 5, "the backend's connection was never killed");
    assert!(acked.len() > 100, "too few writes to mean anything");

    // Read every acknowledged key back on a connection of our own.
    let mut missing = Vec::new();
    for chunk in acked.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|(k, _)| format!("ack:1:{k}")).collect();
        let stored: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut admin)
            .await
            .unwrap();
        for ((key, value), stored) in chunk.iter().zip(stored) {
            let read = stored.map(|b| rmp_serde::from_slice::<String>(&b).unwrap());
            if read.as_deref() != Some(value.as_str()) {
                missing.push((key.clone(), read));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "acknowledged sets not readable: {missing:?}"
    );
    // And the same handle still serves.
    let (key, value) = acked.last().unwrap();
    assert_eq!(
        cache.get::<String>(key).await.unwrap().as_deref(),
        Some(value.as_str())
    );
}

/// `set_many` reports exactly the keys that were not stored: on a server with
/// `maxmemory 1mb` and `noeviction`, each big value is refused with OOM while the small
/// values around it in the same pipeline are stored.
#[tokio::test]
async fn set_many_reports_exactly_the_refused_keys() {
    let server = start(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let cache = cache_over(&server, "oom").await;
    let big = "x".repeat(300_000);
    // Four small values, four big ones, then a small one again.
    let entries: Vec<(String, &str)> = (0..9)
        .map(|i| {
            let value = if (4..8).contains(&i) {
                big.as_str()
            } else {
                "small"
            };
            (format!("k{i}"), value)
        })
        .collect();
    let failed = cache.set_many(entries.clone()).await.unwrap();

    let mut conn = raw(&server.url()).await;
    let mut not_stored = Vec::new();
    for (key, value) in &entries {
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("oom:1:{key}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        match stored {
            Some(bytes) => assert_eq!(rmp_serde::from_slice::<String>(&bytes).unwrap(), *value),
            None => not_stored.push(key.clone()),
        }
    }
    println!("set_many under OOM: reported failed {failed:?}; not stored {not_stored:?}");
    let reported: HashSet<&String> = failed.iter().collect();
    let actual: HashSet<&String> = not_stored.iter().collect();
    assert_eq!(
        reported, actual,
        "reported {failed:?}, not stored {not_stored:?}"
    );
    assert_eq!(failed.len(), failed.iter().collect::<HashSet<_>>().len());
    assert!(!failed.is_empty(), "nothing was refused");
    assert!(failed.len() < entries.len(), "everything was refused");
    // The first small values fit; every big value is refused. (The last small value may be
    // refused too: the server counts the pipeline's big values still in its input buffer.)
    for i in 0..4 {
        assert!(!reported.contains(&format!("k{i}")), "small k{i} refused");
    }
    for i in 4..8 {
        assert!(reported.contains(&format!("k{i}")), "big k{i} stored");
    }

    // A single write refused for memory is a permanent `Backend` error naming the key; reads
    // go on.
    let err = cache.set("alone", &big).await.unwrap_err();
    println!("set of a big value under OOM: {err}");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");
    assert!(!err.is_temporary(), "{err:?}");
    assert_eq!(err.key(), Some("alone"));
    assert_eq!(
        cache.get::<String>("k0").await.unwrap().as_deref(),
        Some("small")
    );
}
