//! Reads from replicas: which node answers what (counted with `INFO commandstats`),
//! read-your-writes, a replica down under a 64-task read load, and Sentinel's replicas.
//! Each test starts its own servers on free ports.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::load::Load;

use std::time::{Duration, Instant};

use cache_test_support::{command_calls, RedisSentinel, RedisServer};
use cachette_api::Cache;
use cachette_redis::RedisBackend;

const TIMEOUT: Duration = Duration::from_millis(500);
const CALL_BOUND: Duration = Duration::from_secs(3);
const HANG: Duration = Duration::from_secs(10);
/// How long a write may take to reach the replica, at most, in these tests.
const REPLICATION_BOUND: Duration = Duration::from_secs(10);

fn start_pair() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let replica =
        RedisServer::start_replica_of(&primary, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    (primary, replica)
}

async fn cache_over(primary: &RedisServer, replica: &RedisServer, ryw: Duration) -> Cache {
    RedisBackend::builder()
        .with_url(format!("{}/0", primary.url()))
        .with_replica_urls([format!("{}/0", replica.url())])
        .with_read_your_writes(ryw)
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix("replicas")
        .build()
        .unwrap()
}

/// Sends one raw command to a node.
trait Node {
    fn run(&self, args: &[&str]) -> String;
}

impl Node for RedisServer {
    fn run(&self, args: &[&str]) -> String {
        self.command(None, args).unwrap()
    }
}

/// A data node of a Sentinel deployment, by port.
struct SentinelNode<'a>(&'a RedisSentinel, u16);

impl Node for SentinelNode<'_> {
    fn run(&self, args: &[&str]) -> String {
        self.0.node_command(self.1, args).unwrap()
    }
}

/// The calls of `command` on `node` since its last `CONFIG RESETSTAT`.
fn calls(node: &dyn Node, command: &str) -> u64 {
    let info = node.run(&["INFO", "commandstats"]);
    command_calls(&info).get(command).copied().unwrap_or(0)
}

fn reset_stats(node: &dyn Node) {
    node.run(&["CONFIG", "RESETSTAT"]);
}

/// Waits until `node` holds `key` (composed: `replicas:1:{key}`).
async fn wait_replicated(node: &dyn Node, key: &str) {
    let deadline = Instant::now() + REPLICATION_BOUND;
    let key = format!("replicas:1:{key}");
    while node.run(&["EXISTS", &key]) != "1" {
        assert!(Instant::now() < deadline, "{key} never reached the replica");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_replica_and_writes_to_the_primary() {
    let (primary, replica) = start_pair();
    let cache = cache_over(&primary, &replica, Duration::ZERO).await;
    cache.set("k", &1u64).await.unwrap();
    wait_replicated(&replica, "k").await;
    reset_stats(&primary);
    reset_stats(&replica);
    for _ in 0..10 {
        assert_eq!(cache.get::<u64>("k").await.unwrap(), Some(1));
    }
    assert_eq!(
        cache
            .get_many::<u64, _>(&["k", "absent"])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(cache.has_key("k").await.unwrap());
    cache.ttl("k").await.unwrap();
    for (command, n) in [("get", 10), ("mget", 1), ("exists", 1), ("pttl", 1)] {
        assert_eq!(calls(&replica, command), n, "{command} on the replica");
        assert_eq!(calls(&primary, command), 0, "{command} on the primary");
    }
    // Writes, incr, add and delete_if_value go to the primary.
    cache.set("n", &5i64).await.unwrap();
    cache.incr("n", 1).await.unwrap();
    cache.add("a", &1u64).await.unwrap();
    cache.delete("a").await.unwrap();
    assert_eq!(calls(&primary, "set"), 2);
    assert_eq!(calls(&primary, "unlink"), 1);
    assert!(calls(&primary, "evalsha") + calls(&primary, "eval") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_sends_the_reads_of_written_keys_to_the_primary() {
    let (primary, replica) = start_pair();
    // A window longer than the test: no timing in the assertions.
    let cache = cache_over(&primary, &replica, Duration::from_secs(3600)).await;
    cache.set("mine", &1u64).await.unwrap();
    let other = cache_over(&primary, &replica, Duration::ZERO).await;
    other.set("theirs", &2u64).await.unwrap();
    wait_replicated(&replica, "theirs").await;
    wait_replicated(&replica, "mine").await;
    reset_stats(&primary);
    reset_stats(&replica);
    assert_eq!(cache.get::<u64>("mine").await.unwrap(), Some(1));
    assert_eq!(calls(&primary, "get"), 1);
    assert_eq!(calls(&replica, "get"), 0);
    // A key this handle did not write is read from the replica.
    assert_eq!(cache.get::<u64>("theirs").await.unwrap(), Some(2));
    assert_eq!(calls(&replica, "get"), 1);
    // After a clear, every read goes to the primary.
    cache.clear().await.unwrap();
    assert_eq!(cache.get::<u64>("theirs").await.unwrap(), None);
    assert_eq!(calls(&replica, "get"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_down_while_reads_go_to_it_falls_back_to_the_primary() {
    let (primary, mut replica) = start_pair();
    let cache = cache_over(&primary, &replica, Duration::ZERO).await;
    for i in 0..100u64 {
        cache.set(&format!("r{i}"), &i).await.unwrap();
    }
    wait_replicated(&replica, "r99").await;
    let load = Load::start(cache.clone(), true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fault = Instant::now();
    replica.kill().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let figures = load.stop(HANG).await;
    println!(
        "replica down under reads: {} tasks, {} calls, {} failed {:?}, slowest {:?}, \
         recovered {:?} after the kill",
        common::load::TASKS,
        figures.calls,
        figures.failed(),
        figures.outcomes,
        figures.slowest,
        figures.recovery_after(fault)
    );
    assert!(figures.unexpected.is_empty(), "{:?}", figures.unexpected);
    assert!(figures.slowest <= CALL_BOUND, "{:?}", figures.slowest);
    // The reads in flight at the kill, and every later one, were answered by the primary.
    assert_eq!(figures.failed(), 0, "{:?}", figures.outcomes);

    // Back, the replica serves reads again (it is left out one second after a failure).
    // Restarted with its arguments, it is a replica of the primary again.
    replica.restart().unwrap();
    wait_replicated(&replica, "r99").await;
    let deadline = Instant::now() + REPLICATION_BOUND;
    while calls(&replica, "get") == 0 {
        assert!(
            Instant::now() < deadline,
            "no read reached the restarted replica"
        );
        assert_eq!(cache.get::<u64>("r1").await.unwrap(), Some(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_replica_reads_go_to_the_replicas_the_sentinels_list() {
    let deployment = tokio::task::spawn_blocking(|| RedisSentinel::start_with(Some("pw"), None))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}?replica_reads=true", deployment.url());
    let cache = RedisBackend::builder()
        .with_url(url)
        .with_read_your_writes(Duration::from_secs(3600))
        .build()
        .await
        .unwrap()
        .cache_builder()
        .with_prefix("replicas")
        .build()
        .unwrap();
    let primary = SentinelNode(&deployment, deployment.primary_port().unwrap());
    let replica = SentinelNode(&deployment, deployment.replica_port().unwrap());
    cache.set("mine", &1u64).await.unwrap();
    wait_replicated(&replica, "mine").await;
    reset_stats(&primary);
    reset_stats(&replica);
    assert_eq!(cache.get::<u64>("mine").await.unwrap(), Some(1));
    assert_eq!(cache.get::<u64>("absent").await.unwrap(), None);
    assert_eq!(calls(&primary, "get"), 1, "read-your-writes");
    assert_eq!(calls(&replica, "get"), 1, "the replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_fails_reads_within_their_bound_then_is_left_out() {
    let (primary, replica) = start_pair();
    let cache = cache_over(&primary, &replica, Duration::ZERO).await;
    for i in 0..100u64 {
        cache.set(&format!("r{i}"), &i).await.unwrap();
    }
    wait_replicated(&replica, "r99").await;
    let load = Load::start(cache.clone(), true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fault = Instant::now();
    replica.stop_signal().unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    replica.cont_signal().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let figures = load.stop(HANG).await;
    println!(
        "replica frozen 3 s under reads: {} tasks, {} calls, {} failed {:?}, slowest {:?}, \
         no failure after {:?}",
        common::load::TASKS,
        figures.calls,
        figures.failed(),
        figures.outcomes,
        figures.slowest,
        figures.recovery_after(fault)
    );
    // Every failure is a timeout within the bound; the primary answered the rest.
    assert!(figures.unexpected.is_empty(), "{:?}", figures.unexpected);
    assert!(figures.slowest <= CALL_BOUND, "{:?}", figures.slowest);
    assert!(figures
        .outcomes
        .keys()
        .all(|k| k == "ok" || k == "timeout temporary"));
}
