//! Connecting, and running a call within its bound: the one place that knows the `redis`
//! crate's connection types.
//!
//! - [`connect_server`]: one multiplexed, self-reconnecting [`ConnectionManager`], which bounds
//!   each request itself (its response and connection timeouts), so no second timer is needed.
//! - [`ClusterLink`]: a [`ClusterConnection`] to every node of a Redis Cluster, under the
//!   [`Watchdog`] that replaces it when it stops answering; each call gets an outer bound.
//! - [`bounded`]: a call with a deadline, its error mapped.
//! - [`parse_bulk_limit`]: the server's `proto-max-bulk-len`, as `CONFIG GET` answers it.

mod watchdog;

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cachette_api::{ErrorKind, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{RedisResult, Value};

use crate::error::{self, BACKEND};
pub(crate) use watchdog::Watchdog;

/// The bulk limit assumed when the server does not let us read it (`CONFIG` renamed or
/// forbidden by an ACL): 512 MiB, the default of every Redis version that has the setting.
pub(crate) const DEFAULT_BULK_LIMIT: u64 = 512 * 1024 * 1024;

/// The two timeouts of every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) response: Duration,
}

impl Timeouts {
    /// The longest any call may take: one connection attempt and one answer.
    pub(crate) fn bound(&self) -> Duration {
        self.connect + self.response
    }
}

/// Runs `call`, failing with a timeout after `bound` (none: the call bounds itself); maps its
/// error.
pub(crate) async fn bounded<T>(
    command: &str,
    bound: impl Into<Option<Duration>>,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T> {
    let Some(bound) = bound.into() else {
        return call.await.map_err(|e| error::from_redis(command, e));
    };
    let result = match tokio::time::timeout(bound, call).await {
        Ok(result) => result,
        Err(_) => Err(error::timed_out(bound)),
    };
    result.map_err(|e| error::from_redis(command, e))
}

/// Opens the connection to one server.
///
/// No retries inside the manager: a call during an outage fails at once with `Unavailable`
/// rather than waiting through a backoff, and the next call reconnects.
pub(crate) async fn connect_server(
    client: redis::Client,
    timeouts: Timeouts,
) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.response))
        .set_number_of_retries(0);
    bounded(
        "opening the connection",
        timeouts.bound(),
        ConnectionManager::new_with_config(client, config),
    )
    .await
}

/// The value of a `CONFIG GET proto-max-bulk-len` reply (RESP2 array or RESP3 map).
pub(crate) fn parse_bulk_limit(reply: Value) -> Option<u64> {
    let value = match reply {
        Value::Array(mut items) if items.len() == 2 => items.pop()?,
        Value::Map(mut pairs) if pairs.len() == 1 => pairs.pop()?.1,
        _ => return None,
    };
    let text: String = redis::from_redis_value(value).ok()?;
    text.parse().ok()
}

/// What a call does when its cluster connection is replaced before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnReplace {
    /// Run again on the new connection: for reads, which change nothing.
    Retry,
    /// Fail with [`ErrorKind::Unavailable`]: the call may or may not have been applied.
    Fail,
}

/// The connection to a Redis Cluster, and the watchdog that replaces it.
pub(crate) struct ClusterLink {
    /// `None` once closed.
    connection: RwLock<Option<ClusterConnection>>,
    watchdog: Watchdog,
    timeouts: Timeouts,
}

impl ClusterLink {
    /// Connects to the seeds, reads the slot map (`CLUSTER SLOTS`) and connects to every node.
    /// A failure is explained by asking the seeds one by one (see
    /// [`explain_connect_failure`]).
    pub(crate) async fn connect(
        client: ClusterClient,
        seeds: &[redis::Client],
        timeouts: Timeouts,
    ) -> Result<Arc<ClusterLink>> {
        let command = "opening the cluster connections";
        let connection = match bounded(command, timeouts.bound(), client.get_async_connection())
            .await
        {
            Ok(connection) => connection,
            Err(err) => return Err(explain_connect_failure(command, err, seeds, timeouts).await),
        };
        Ok(Arc::new(ClusterLink {
            connection: RwLock::new(Some(connection)),
            watchdog: Watchdog::new(client, timeouts.connect, timeouts.response),
            timeouts,
        }))
    }

    /// The current connection, or an error once closed.
    pub(crate) fn connection(&self) -> Result<ClusterConnection> {
        self.connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(error::closed)
    }

    /// Drops the connection: later calls fail.
    pub(crate) fn close(&self) {
        self.connection
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Runs `op` with the connection and the time it may take, under the [`Watchdog`]: when no
    /// answer has come after a short while, the connection is checked; if it was replaced
    /// meanwhile, a read (`on_replace` is [`OnReplace::Retry`]) runs again on the new one
    /// within what is left of the bound, and anything else fails with
    /// [`ErrorKind::Unavailable`].
    pub(crate) async fn run<'a, T, F, Fut>(
        self: &'a Arc<Self>,
        command: &str,
        on_replace: OnReplace,
        op: F,
    ) -> Result<T>
    where
        F: Fn(ClusterConnection, Duration) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let bound = self.timeouts.bound();
        let deadline = Instant::now() + bound;
        let mut replacements = self.watchdog.subscribe();
        loop {
            let generation = *replacements.borrow_and_update();
            let conn = self.connection()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(error::from_redis(command, error::timed_out(bound)));
            }
            let call = op(conn, remaining);
            tokio::pin!(call);
            let probe = tokio::time::sleep(self.watchdog.probe_after());
            tokio::pin!(probe);
            let mut probed = false;
            loop {
                tokio::select! {
                    result = &mut call => {
                        if matches!(&result, Err(e) if e.kind() == ErrorKind::Timeout) {
                            self.check(generation);
                        }
                        return result;
                    }
                    () = &mut probe, if !probed => {
                        probed = true;
                        self.check(generation);
                    }
                    changed = replacements.changed() => {
                        if changed.is_ok() {
                            break;
                        }
                        // The watchdog lives as long as the link: not reached. Wait for the
                        // call alone.
                        return call.await;
                    }
                }
            }
            if on_replace == OnReplace::Fail {
                return Err(error::replaced(command));
            }
        }
    }

    /// Checks the connection of the current generation in the background (a call that
    /// timed out outside [`run`](Self::run)).
    pub(crate) fn check_current(self: &Arc<Self>) {
        self.check(self.watchdog.generation());
    }

    /// Checks, in the background, the connection of `generation`, and replaces it if it does
    /// not answer; see [`Watchdog`].
    fn check(self: &Arc<Self>, generation: u64) {
        if !self.watchdog.start() {
            return;
        }
        let link = self.clone();
        tokio::spawn(async move {
            let watchdog = &link.watchdog;
            let current = link
                .connection
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let (Some(conn), true) = (current, watchdog.generation() == generation) {
                if !watchdog.answers(&conn).await {
                    if let Some(fresh) = watchdog.rebuild().await {
                        let mut slot = link
                            .connection
                            .write()
                            .unwrap_or_else(PoisonError::into_inner);
                        // Not after `close`, and not over a connection replaced meanwhile.
                        if slot.is_some() && watchdog.generation() == generation {
                            *slot = Some(fresh);
                            watchdog.replaced();
                            tracing::warn!(
                                backend = BACKEND,
                                "the cluster connection stopped answering: replaced it"
                            );
                        }
                    }
                }
            }
            watchdog.finish();
        });
    }
}

/// The error to report when the cluster client could not connect: `err`, unless a seed,
/// connected to as a single server, gives a configuration error (a refused password, a TLS
/// mismatch…), which is then reported instead.
///
/// The cluster client reports every failed connection to its seeds as an I/O error whose
/// message holds the real cause; its kind is read again here from the seeds themselves, never
/// from that message.
async fn explain_connect_failure(
    command: &str,
    err: cachette_api::Error,
    seeds: &[redis::Client],
    timeouts: Timeouts,
) -> cachette_api::Error {
    if err.kind() != ErrorKind::Unavailable {
        return err;
    }
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.response));
    let bound = timeouts.bound();
    let explain = async {
        for seed in seeds {
            let attempt = seed.get_multiplexed_async_connection_with_config(&config);
            if let Err(seed_err) = bounded(command, bound, attempt).await {
                if seed_err.kind() == ErrorKind::Config {
                    return Some(seed_err);
                }
            }
        }
        None
    };
    // All the seeds together get one bound more, not one each.
    match tokio::time::timeout(bound, explain).await {
        Ok(Some(config_err)) => config_err,
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_limits_parse_from_both_protocols() {
        let resp2 = Value::Array(vec![
            Value::BulkString(b"proto-max-bulk-len".to_vec()),
            Value::BulkString(b"1048576".to_vec()),
        ]);
        assert_eq!(parse_bulk_limit(resp2), Some(1_048_576));
        let resp3 = Value::Map(vec![(
            Value::BulkString(b"proto-max-bulk-len".to_vec()),
            Value::BulkString(b"2048".to_vec()),
        )]);
        assert_eq!(parse_bulk_limit(resp3), Some(2048));
        assert_eq!(parse_bulk_limit(Value::Array(vec![])), None);
    }
}
