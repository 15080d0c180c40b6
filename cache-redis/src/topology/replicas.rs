//! Reads from replicas (opt-in): [`Replicas`], the replica connections reads are spread over,
//! and [`ReadYourWrites`], which sends the reads of a key this handle wrote a moment ago to
//! the primary instead.
//!
//! A replica answers what it has received from the primary so far: a read may miss a write
//! the primary acknowledged a moment ago (replication lag, usually under a millisecond on a
//! local network, seconds when the replica is resyncing). Writes, `incr`, `add`,
//! `delete_if_value` and the reads that come with the remaining life (scripts) always go to
//! the primary.
//!
//! A replica that cannot be reached, or refuses the read (`LOADING`, `MASTERDOWN`), is left
//! out for [`DOWN_FOR`] and the read goes to the primary at once; a replica that does not
//! answer in time fails the read with a timeout (the call's bound is spent) and is left out
//! the same way.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cachette_api::{ErrorKind, Result};
use redis::aio::ConnectionManager;
use redis::{Cmd, Value};

use crate::connection::{self, bounded, Timeouts};
use crate::error::BACKEND;

/// How long a replica that failed a read is left out.
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(1);

/// How many keys [`ReadYourWrites`] remembers before it forgets the expired ones.
const PRUNE_AT: usize = 4096;

/// One replica: its address (for logs) and its connection, made at the first read when the
/// replica could not be reached before.
pub(crate) struct Replica {
    addr: String,
    client: redis::Client,
    connection: tokio::sync::RwLock<Option<ConnectionManager>>,
    down_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica").field("addr", &self.addr).finish()
    }
}

impl Replica {
    /// A replica not connected yet.
    pub(crate) fn new(addr: String, client: redis::Client) -> Replica {
        Replica {
            addr,
            client,
            connection: tokio::sync::RwLock::new(None),
            down_until: Mutex::new(None),
        }
    }

    /// A replica already connected.
    pub(crate) fn connected(
        addr: String,
        client: redis::Client,
        conn: ConnectionManager,
    ) -> Replica {
        Replica {
            addr,
            client,
            connection: tokio::sync::RwLock::new(Some(conn)),
            down_until: Mutex::new(None),
        }
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    fn is_down(&self) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    fn mark_down(&self) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + DOWN_FOR);
    }

    /// The connection, made now if there is none yet.
    async fn connection(&self, timeouts: Timeouts) -> Result<ConnectionManager> {
        if let Some(conn) = self.connection.read().await.clone() {
            return Ok(conn);
        }
        let mut slot = self.connection.write().await;
        if let Some(conn) = slot.clone() {
            return Ok(conn);
        }
        let conn = connection::connect_server(self.client.clone(), timeouts).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Sends one read.
    async fn query(&self, command: &str, cmd: &Cmd, timeouts: Timeouts) -> Result<Value> {
        // Reads waiting for another's connection attempt wait within one bound in all.
        let mut conn = tokio::time::timeout(timeouts.bound(), self.connection(timeouts))
            .await
            .map_err(|_| {
                crate::error::from_redis(command, crate::error::timed_out(timeouts.bound()))
            })??;
        bounded(command, None, cmd.query_async(&mut conn)).await
    }
}

/// The replicas reads go to, in turn.
#[derive(Default)]
pub(crate) struct Replicas {
    nodes: RwLock<Vec<Arc<Replica>>>,
    next: AtomicUsize,
}

impl fmt::Debug for Replicas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_list()
            .entries(nodes.iter().map(|n| n.addr.as_str()))
            .finish()
    }
}

/// What a read on a replica gave.
pub(crate) enum ReplicaRead {
    /// The replica's answer (an error the primary would give too, such as `WRONGTYPE`).
    Answer(Result<Value>),
    /// No replica could serve it at once: ask the primary.
    AskPrimary,
}

impl Replicas {
    /// Replicas from these nodes.
    pub(crate) fn new(nodes: Vec<Arc<Replica>>) -> Replicas {
        Replicas {
            nodes: RwLock::new(nodes),
            next: AtomicUsize::new(0),
        }
    }

    /// Replaces the nodes (Sentinel's list changed).
    pub(crate) fn set(&self, nodes: Vec<Arc<Replica>>) {
        *self.nodes.write().unwrap_or_else(PoisonError::into_inner) = nodes;
    }

    /// The current nodes.
    pub(crate) fn nodes(&self) -> Vec<Arc<Replica>> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next replica that is not left out, in turn.
    fn pick(&self) -> Option<Arc<Replica>> {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        let n = nodes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .filter_map(|i| nodes.get((start + i) % n))
            .find(|node| !node.is_down())
            .cloned()
    }

    /// Sends a read to a replica. A replica that cannot be reached or refuses to serve
    /// (`LOADING`, `MASTERDOWN`, `READONLY`…) is left out for [`DOWN_FOR`] and the primary is
    /// asked instead; a timeout is the answer (the call's bound is spent).
    pub(crate) async fn read(&self, command: &str, cmd: &Cmd, timeouts: Timeouts) -> ReplicaRead {
        let Some(node) = self.pick() else {
            return ReplicaRead::AskPrimary;
        };
        match node.query(command, cmd, timeouts).await {
            Ok(value) => ReplicaRead::Answer(Ok(value)),
            Err(e) if e.kind() == ErrorKind::Timeout => {
                node.mark_down();
                tracing::warn!(backend = BACKEND, replica = node.addr(), error = %e,
                    "a replica did not answer in time; left out for a second");
                ReplicaRead::Answer(Err(e))
            }
            Err(e) if e.kind() == ErrorKind::WrongType => ReplicaRead::Answer(Err(e)),
            Err(e) => {
                node.mark_down();
                tracing::warn!(backend = BACKEND, replica = node.addr(), error = %e,
                    "a replica failed a read; left out for a second, the primary answers");
                ReplicaRead::AskPrimary
            }
        }
    }
}

/// Sends the reads of the keys this handle wrote within the last `window` to the primary.
#[derive(Debug)]
pub(crate) struct ReadYourWrites {
    window: Duration,
    /// Until when each key written is read from the primary.
    keys: Mutex<HashMap<Vec<u8>, Instant>>,
    /// Until when every key is read from the primary (after a `clear` or `flush_db`).
    everything_until: Mutex<Option<Instant>>,
}

impl ReadYourWrites {
    pub(crate) fn new(window: Duration) -> ReadYourWrites {
        ReadYourWrites {
            window,
            keys: Mutex::new(HashMap::new()),
            everything_until: Mutex::new(None),
        }
    }

    /// Records that `keys` were written (or may have been: the call failed) just now.
    pub(crate) fn wrote(&self, keys: &[&[u8]]) {
        if self.window.is_zero() {
            return;
        }
        let now = Instant::now();
        let until = now + self.window;
        let mut map = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= PRUNE_AT {
            map.retain(|_, t| *t > now);
        }
        for key in keys {
            map.insert(key.to_vec(), until);
        }
    }

    /// Records that any key may have been written just now.
    pub(crate) fn wrote_everything(&self) {
        if self.window.is_zero() {
            return;
        }
        *self
            .everything_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.window);
    }

    /// Whether one of `keys` was written within the window.
    pub(crate) fn recent(&self, keys: &[&[u8]]) -> bool {
        if self.window.is_zero() {
            return false;
        }
        let now = Instant::now();
        if self
            .everything_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| now < until)
        {
            return true;
        }
        let map = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .any(|key| map.get(*key).is_some_and(|until| now < *until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_are_recent_for_the_window_only() {
        let ryw = ReadYourWrites::new(Duration::from_secs(3600));
        assert!(!ryw.recent(&[b"a"]));
        ryw.wrote(&[b"a"]);
        assert!(ryw.recent(&[b"a"]));
        assert!(ryw.recent(&[b"b", b"a"]));
        assert!(!ryw.recent(&[b"b"]));
        ryw.wrote_everything();
        assert!(ryw.recent(&[b"b"]));
        let off = ReadYourWrites::new(Duration::ZERO);
        off.wrote(&[b"a"]);
        off.wrote_everything();
        assert!(!off.recent(&[b"a"]));
    }
}
