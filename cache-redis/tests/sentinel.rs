//! Redis Sentinel under a 64-task load: the primary killed (Sentinel promotes the replica), and
//! a sentinel down. Each test starts its own primary, replica and three sentinels
//! (`down-after-milliseconds` 1000) on free ports, and checks what the callers of one `Cache`
//! handle see: no panic, no call past its bound, only temporary network errors (or
//! `READONLY`), and recovery on the same handle without a restart.
//!
//! The figures (calls failed, slowest call, time to recover, acknowledged writes lost with
//! and without `WAIT`) are printed; run with `--nocapture` to see them. `docs/sentinel.md`
//! quotes them.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::load::{Figures, Load, TASKS};

use std::time::{Duration, Instant};

use cache_test_support::RedisSentinel;
use cachette_api::{Cache, ErrorKind};
use cachette_redis::RedisBackend;

/// The connect and response timeouts of every backend here: a call's bound is their sum.
const TIMEOUT: Duration = Duration::from_millis(500);
/// The longest any call may take: the bound (1 s) and a margin for a loaded 2-core machine.
const CALL_BOUND: Duration = Duration::from_secs(3);
/// A call still running after this long is reported as hung.
const HANG: Duration = Duration::from_secs(10);
/// How long the sentinels may take to promote the replica.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);
/// How soon after the promotion the handle must serve again.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

async fn deployment() -> RedisSentinel {
    tokio::task::spawn_blocking(|| RedisSentinel::start_with(Some("data-pw"), Some("sentinel-pw")))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn cache_over(url: &str, prefix: &str) -> Cache {
    RedisBackend::builder()
        .with_url(url)
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix(prefix)
        .build()
        .unwrap()
}

/// How many of the acknowledged writes the primary does not hold (read back in batches).
async fn lost(cache: &Cache, acknowledged: &[(String, u64)]) -> usize {
    let mut lost = 0;
    for chunk in acknowledged.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let found = cache.get_many::<u64, _>(&keys).await.unwrap();
        lost += chunk
            .iter()
            .filter(|(k, v)| found.get(k) != Some(v))
            .count();
    }
    lost
}

/// Writes `wait:{n}` to the primary on `port` directly, each `SET` followed by `WAIT 1 100`
/// in one round trip, until the primary is gone; answers the keys a replica acknowledged.
async fn write_with_wait(port: u16) -> Vec<String> {
    let client = redis::Client::open(format!("redis://:data-pw@127.0.0.1:{port}/0")).unwrap();
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let Ok(mut conn) = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    else {
        return Vec::new();
    };
    let mut acked = Vec::new();
    for n in 0u64.. {
        let key = format!("wait:{n}");
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(n).ignore();
        pipe.cmd("WAIT").arg(1).arg(100);
        match pipe.query_async::<(i64,)>(&mut conn).await {
            Ok((replicas,)) if replicas >= 1 => acked.push(key),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

fn report(name: &str, figures: &Figures, recovery: Option<Duration>) {
    println!(
        "{name}: {TASKS} tasks, {} calls, {} failed {:?}, slowest {:?}, recovered {:?} after the fault",
        figures.calls,
        figures.failed(),
        figures.outcomes,
        figures.slowest,
        recovery
    );
}

fn check_contract(figures: &Figures) {
    assert!(figures.unexpected.is_empty(), "{:?}", figures.unexpected);
    assert!(
        figures.slowest <= CALL_BOUND,
        "a call took {:?}",
        figures.slowest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_the_replica_is_promoted_and_followed_under_load() {
    let mut deployment = deployment().await;
    let url = deployment.url();
    let cache = cache_over(&url, "failover").await;
    let old = deployment.primary_port().unwrap();
    let wait_writer = tokio::spawn(write_with_wait(old));
    let load = Load::start(cache.clone(), false);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let fault = Instant::now();
    let (deployment, new) = tokio::task::spawn_blocking(move || {
        let old = deployment.kill_primary().unwrap();
        let new = deployment.wait_for_failover(old, FAILOVER_BOUND).unwrap();
        (deployment, new)
    })
    .await
    .unwrap();
    let promoted = fault.elapsed();
    assert_ne!(old, new);
    assert!(
        load.wait_for_success_after(Instant::now(), RECOVERY_BOUND)
            .await,
        "the handle did not serve again within {RECOVERY_BOUND:?} of the promotion"
    );
    // Some more load on the new primary.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let figures = load.stop(HANG).await;
    let recovery = figures.recovery_after(fault);
    report("primary killed", &figures, recovery);
    check_contract(&figures);
    assert!(
        recovery.is_some_and(|r| r <= promoted + RECOVERY_BOUND),
        "{recovery:?}"
    );

    let lost_without_wait = lost(&cache, &figures.acknowledged).await;
    let waited = wait_writer.await.unwrap();
    let mut conn = redis::Client::open(format!("redis://:data-pw@127.0.0.1:{new}/0"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut lost_with_wait = 0;
    for chunk in waited.chunks(500) {
        let found: Vec<Option<u64>> = redis::cmd("MGET")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
        lost_with_wait += found.iter().filter(|v| v.is_none()).count();
    }
    println!(
        "primary killed: sentinels promoted {new} {promoted:?} after the kill; acknowledged \
         writes lost: {lost_without_wait} of {} without WAIT, {lost_with_wait} of {} with \
         WAIT 1",
        figures.acknowledged.len(),
        waited.len()
    );
    assert!(!waited.is_empty(), "the WAIT writer wrote nothing");
    // A write a replica acknowledged survives the promotion of that (only) replica.
    assert_eq!(lost_with_wait, 0);
    // Writes after recovery land and are read back.
    cache.set("after", &7u64).await.unwrap();
    assert_eq!(cache.get::<u64>("after").await.unwrap(), Some(7));
    drop(deployment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_down_costs_nothing_and_a_failover_is_still_followed() {
    let mut deployment = deployment().await;
    let url = deployment.url();
    let cache = cache_over(&url, "sentinel-down").await;
    let load = Load::start(cache.clone(), false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The first sentinel in the URL, the one asked first.
    let fault = Instant::now();
    deployment.kill_sentinel(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A new handle builds with the first sentinel down.
    let other = cache_over(&url, "sentinel-down-2").await;
    other.set("k", &1u64).await.unwrap();
    let quiet = load.stop(HANG).await;
    report("a sentinel down", &quiet, quiet.recovery_after(fault));
    check_contract(&quiet);
    assert_eq!(quiet.failed(), 0, "{:?}", quiet.outcomes);

    // The two others still have a quorum: a failover is followed.
    let load = Load::start(cache.clone(), false);
    let fault = Instant::now();
    let deployment = tokio::task::spawn_blocking(move || {
        let old = deployment.kill_primary().unwrap();
        deployment.wait_for_failover(old, FAILOVER_BOUND).unwrap();
        deployment
    })
    .await
    .unwrap();
    assert!(
        load.wait_for_success_after(Instant::now(), RECOVERY_BOUND)
            .await
    );
    let figures = load.stop(HANG).await;
    report(
        "primary killed, a sentinel down",
        &figures,
        figures.recovery_after(fault),
    );
    check_contract(&figures);
    assert_eq!(other.get::<u64>("k").await.unwrap(), Some(1));
    drop(deployment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_errors_are_typed_and_hide_the_passwords() {
    let deployment = deployment().await;
    let url = deployment.url();
    // A name the sentinels do not monitor.
    let wrong_name = url.replace("/mymaster/", "/othermaster/");
    let err = RedisBackend::connect(&wrong_name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    // A wrong sentinel password.
    let wrong_sentinel_pw = url.replace("sentinel_password=sentinel-pw", "sentinel_password=nope");
    let err = RedisBackend::connect(&wrong_sentinel_pw).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    // A wrong data password.
    let wrong_data_pw = url.replace(":data-pw@", ":nope@");
    let err = RedisBackend::connect(&wrong_data_pw).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    // No sentinel answers.
    let ports = deployment.sentinel_ports();
    drop(deployment);
    let started = Instant::now();
    let err = RedisBackend::builder()
        .with_url(url.clone())
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(started.elapsed() < HANG);
    for shown in [format!("{err}"), format!("{err:?}")] {
        assert!(
            !shown.contains("data-pw") && !shown.contains("sentinel-pw"),
            "{shown}"
        );
        assert!(shown.contains(&ports[0].to_string()), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_is_followed_under_load() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("cachette_redis=info")
        .with_test_writer()
        .try_init();
    let deployment = deployment().await;
    let url = deployment.url();
    let cache = cache_over(&url, "manual").await;
    let load = Load::start(cache.clone(), false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let old = deployment.primary_port().unwrap();
    let sentinel = deployment.sentinel_ports()[0];
    let fault = Instant::now();
    let mut conn = redis::Client::open(format!("redis://:sentinel-pw@127.0.0.1:{sentinel}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(cache_test_support::MASTER_NAME)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (deployment, new) = tokio::task::spawn_blocking(move || {
        let new = deployment.wait_for_failover(old, FAILOVER_BOUND).unwrap();
        // The old primary is made a replica of the new one a moment later.
        let deadline = Instant::now() + FAILOVER_BOUND;
        while deployment
            .node_command(old, &["INFO", "replication"])
            .map_or(true, |info| !info.contains("role:slave"))
        {
            assert!(Instant::now() < deadline, "{old} never became a replica");
            std::thread::sleep(Duration::from_millis(50));
        }
        (deployment, new)
    })
    .await
    .unwrap();
    let demoted = Instant::now();
    assert!(load.wait_for_success_after(demoted, RECOVERY_BOUND).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let figures = load.stop(HANG).await;
    report(
        "manual failover (SENTINEL FAILOVER)",
        &figures,
        figures.recovery_after(fault),
    );
    check_contract(&figures);
    println!(
        "manual failover: the old primary was a replica {:?} after SENTINEL FAILOVER; \
         acknowledged writes lost: {} of {}",
        demoted.duration_since(fault),
        lost(&cache, &figures.acknowledged).await,
        figures.acknowledged.len()
    );
    // Writes now land on the new primary.
    cache.set("after", &1u64).await.unwrap();
    let held = deployment
        .node_command(new, &["EXISTS", "manual:1:after"])
        .unwrap();
    assert_eq!(held, "1");
}
