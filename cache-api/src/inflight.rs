//! In-flight loads of `get_or_set_with`, so that one loader runs per key per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use crate::Result;

type Outcome = Option<Result<Bytes>>;

/// The loads running in this process, by composed key.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    loads: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
}

/// What a caller of [`InFlight::join`] is to do.
pub(crate) enum Role {
    /// Run the loader, then [`Leader::finish`].
    Leader(Leader),
    /// Wait for the leader with [`wait`].
    Follower(watch::Receiver<Outcome>),
}

impl InFlight {
    /// Joins the load of `key`, becoming its leader when none runs.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = loads.get(key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        loads.insert(key.to_owned(), rx);
        Role::Leader(Leader {
            loads: self.clone(),
            key: key.to_owned(),
            tx,
        })
    }

    fn remove(&self, key: &str) {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        loads.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.loads.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The one caller that runs the loader of a key.
///
/// Dropping it without [`finish`](Leader::finish) (the caller's future was cancelled) frees
/// the slot, and the waiting followers elect a new leader: nothing stays stuck.
pub(crate) struct Leader {
    loads: Arc<InFlight>,
    key: String,
    tx: watch::Sender<Outcome>,
}

impl Leader {
    /// Hands the outcome to every follower and frees the slot.
    pub(crate) fn finish(self, outcome: Result<Bytes>) {
        self.loads.remove(&self.key);
        self.tx.send_replace(Some(outcome));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // After `finish` this finds nothing: a newer leader's slot is never under our key
        // while we live, because a slot is only created when none exists.
        if self.tx.borrow().is_none() {
            self.loads.remove(&self.key);
        }
    }
}

/// Waits for the leader's outcome; `None` when the leader was cancelled (try again).
pub(crate) async fn wait(mut rx: watch::Receiver<Outcome>) -> Outcome {
    loop {
        if let Some(outcome) = rx.borrow_and_update().clone() {
            return Some(outcome);
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let flights = Arc::new(InFlight::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead")
        };
        let Role::Follower(rx) = flights.join("k") else {
            panic!("second caller must follow")
        };
        leader.finish(Ok(Bytes::from_static(b"v")));
        assert_eq!(wait(rx).await.unwrap().unwrap(), Bytes::from_static(b"v"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_frees_the_slot() {
        let flights = Arc::new(InFlight::default());
        let leader = flights.join("k");
        let Role::Follower(rx) = flights.join("k") else {
            panic!("second caller must follow")
        };
        drop(leader);
        assert!(wait(rx).await.is_none());
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }
}
