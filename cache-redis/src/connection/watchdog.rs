//! [`Watchdog`]: replaces a Redis Cluster connection that stops answering.
//!
//! The `redis` crate's [`ClusterConnection`] runs every request in one background task, and
//! while it refreshes its slot map (after a `MOVED`, so many times during a resharding or a
//! failover) it polls nothing but the refresh, which waits for a write lock on its connection
//! table. A request that took a read lock on that table in the same turn, and was then told to
//! yield by tokio's cooperative budget (tokio checks the budget after granting the lock), keeps
//! the lock until it is polled again, which the refresh prevents: the connection then never
//! answers again. We met this under load in the resharding test (redis 1.8.1, tokio 1.54).
//!
//! So a call on a cluster that has not answered after [`Watchdog::probe_after`] has the
//! connection checked, in the background, with a `PING`; if the `PING` is not answered within
//! the response timeout either, a new connection is made from the seeds and replaces the old
//! one. The calls waiting on the old connection then stop waiting: reads run again on the new
//! one, writes fail at once with [`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable)
//! (they may or may not have been applied). A server that is merely slow answers the `PING`,
//! and nothing is replaced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use tokio::sync::watch;

/// The longest a call waits before the connection is checked.
const MAX_PROBE_AFTER: Duration = Duration::from_millis(250);

/// The shortest time between two replacements (or attempts), so that an unreachable cluster
/// is not reconnected to in a tight loop.
const MIN_REBUILD_INTERVAL: Duration = Duration::from_secs(1);

/// What checks a cluster connection and makes its replacement.
pub(crate) struct Watchdog {
    client: ClusterClient,
    /// The generation of the connection, bumped at each replacement; calls in flight watch it.
    generation: watch::Sender<u64>,
    /// Whether a check is under way (one at a time).
    checking: AtomicBool,
    /// When a replacement was last attempted.
    last_rebuild: Mutex<Option<Instant>>,
    response_timeout: Duration,
    connect_timeout: Duration,
}

impl Watchdog {
    pub(crate) fn new(
        client: ClusterClient,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        Watchdog {
            client,
            generation: watch::Sender::new(0),
            checking: AtomicBool::new(false),
            last_rebuild: Mutex::new(None),
            response_timeout,
            connect_timeout,
        }
    }

    /// A receiver that sees each replacement of the connection.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The generation of the current connection.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Records a replacement, waking the calls in flight on the old connection.
    pub(crate) fn replaced(&self) {
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// How long a call waits for its answer before the connection is checked: a quarter of
    /// the response timeout, at most 250 ms.
    pub(crate) fn probe_after(&self) -> Duration {
        (self.response_timeout / 4).min(MAX_PROBE_AFTER)
    }

    /// Starts a check unless one is running; the caller must call [`finish`](Self::finish).
    pub(crate) fn start(&self) -> bool {
        !self.checking.swap(true, Ordering::AcqRel)
    }

    /// Ends the check begun by [`start`](Self::start).
    pub(crate) fn finish(&self) {
        self.checking.store(false, Ordering::Release);
    }

    /// Whether `conn` answers a `PING` (from any node) within the response timeout.
    pub(crate) async fn answers(&self, conn: &ClusterConnection) -> bool {
        let mut conn = conn.clone();
        let ping = conn.route_command(
            redis::cmd("PING"),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        );
        matches!(
            tokio::time::timeout(self.response_timeout, ping).await,
            Ok(Ok(_))
        )
    }

    /// A new connection from the seeds, unless one was attempted less than a second ago or
    /// the cluster cannot be reached within the timeouts.
    pub(crate) async fn rebuild(&self) -> Option<ClusterConnection> {
        {
            let mut last = self
                .last_rebuild
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < MIN_REBUILD_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let bound = self.connect_timeout + self.response_timeout;
        match tokio::time::timeout(bound, self.client.get_async_connection()).await {
            Ok(Ok(conn)) => Some(conn),
            _ => None,
        }
    }
}
