//! One load per key per process: the first caller of a missing key leads, the others follow
//! and get the leader's outcome. Followers take over when the leader is cancelled, panics, or
//! outlives their patience.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::{Error, Result};

type Outcome = Option<Result<Bytes>>;

/// How many counters of finished loads keys are spread over.
const EPOCH_SHARDS: usize = 16;

/// The loads running in this process, by composed key.
#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    loads: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
    finished: [AtomicU64; EPOCH_SHARDS],
}

/// What a caller of [`SingleFlight::join`] is to do.
pub(crate) enum Role {
    /// Run the loader, then [`Leader::finish`].
    Leader(Leader),
    /// Wait for the leader with [`Follower::follow`].
    Follower(Follower),
}

/// How long a follower waits for its leader.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Patience {
    /// The caller's own deadline, and the hard timeout it comes from (for the error).
    pub(crate) deadline: Option<(Instant, Duration)>,
    /// After this long, the leader is taken to be stuck and the follower leads instead.
    pub(crate) take_over_after: Option<Duration>,
}

/// Where following ended.
pub(crate) enum Joined {
    /// This caller leads now (it was first, or it took over).
    Lead(Leader),
    /// The leader's outcome (or the caller's deadline, as an error).
    Outcome(Result<Bytes>),
}

impl SingleFlight {
    /// A number that changes whenever a load of a key in `key`'s shard finishes.
    pub(crate) fn epoch(&self, key: &str) -> u64 {
        self.finished[shard(key)].load(Ordering::Acquire)
    }

    /// Joins the load of `key`, becoming its leader when none runs.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = loads.get(key) {
            return Role::Follower(Follower {
                flights: self.clone(),
                key: key.to_owned(),
                rx: rx.clone(),
            });
        }
        Role::Leader(self.lead(&mut loads, key))
    }

    /// Joins the load of `key` and follows it to the end: see [`Follower::follow`].
    pub(crate) async fn lead_or_wait(self: &Arc<Self>, key: &str, patience: Patience) -> Joined {
        match self.join(key) {
            Role::Leader(leader) => Joined::Lead(leader),
            Role::Follower(follower) => follower.follow(patience).await,
        }
    }

    fn lead(
        self: &Arc<Self>,
        loads: &mut HashMap<String, watch::Receiver<Outcome>>,
        key: &str,
    ) -> Leader {
        let (tx, rx) = watch::channel(None);
        loads.insert(key.to_owned(), rx);
        Leader {
            flights: self.clone(),
            key: key.to_owned(),
            tx,
            finished: false,
        }
    }

    /// Replaces a stuck leader's slot by a new one led by the caller; when someone else took
    /// over already, follows them instead.
    fn take_over(self: &Arc<Self>, stuck: Follower) -> Role {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        match loads.get(&stuck.key) {
            Some(rx) if !rx.same_channel(&stuck.rx) => Role::Follower(Follower {
                rx: rx.clone(),
                ..stuck
            }),
            _ => Role::Leader(self.lead(&mut loads, &stuck.key)),
        }
    }

    /// Removes `key`'s slot if it still belongs to the leader of `tx`.
    fn release(&self, key: &str, tx: &watch::Sender<Outcome>) {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        if loads.get(key).is_some_and(|rx| tx.same_channel_rx(rx)) {
            loads.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.loads.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn shard(key: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % EPOCH_SHARDS as u64) as usize
}

/// A sender that can tell whether a receiver listens to it.
trait SameChannel {
    fn same_channel_rx(&self, rx: &watch::Receiver<Outcome>) -> bool;
}

impl SameChannel for watch::Sender<Outcome> {
    fn same_channel_rx(&self, rx: &watch::Receiver<Outcome>) -> bool {
        self.subscribe().same_channel(rx)
    }
}

/// The one caller that runs the loader of a key.
///
/// Dropping it without [`finish`](Leader::finish) (the caller's future was cancelled, or the
/// loader panicked) frees the slot, and the followers elect a new leader: nothing stays stuck.
pub(crate) struct Leader {
    flights: Arc<SingleFlight>,
    key: String,
    tx: watch::Sender<Outcome>,
    /// Set by [`finish`](Leader::finish): the slot is free and the outcome handed over.
    finished: bool,
}

impl Leader {
    /// Hands the outcome to every follower and frees the slot.
    pub(crate) fn finish(mut self, outcome: Result<Bytes>) {
        self.flights.release(&self.key, &self.tx);
        self.flights.finished[shard(&self.key)].fetch_add(1, Ordering::AcqRel);
        // Followers take their receivers from the slot, under its lock, and the slot is gone:
        // with no receiver left nobody can listen, and the send (which wakes every waiter
        // list of the channel) is skipped — the common case of a load nobody waited for.
        if self.tx.receiver_count() > 0 {
            self.tx.send_replace(Some(outcome));
        }
        self.finished = true;
    }
}

impl Leader {
    /// Hands what the leader produced (its bytes, or its error) to every follower.
    pub(crate) fn hand_over<T>(self, produced: &Result<super::Produced<T>>) {
        match produced {
            Ok((_, bytes)) => self.finish(Ok(bytes.clone())),
            Err(err) => self.finish(Err(err.clone())),
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished && self.tx.borrow().is_none() {
            self.flights.release(&self.key, &self.tx);
        }
    }
}

/// A caller waiting for the leader of a key.
pub(crate) struct Follower {
    flights: Arc<SingleFlight>,
    key: String,
    rx: watch::Receiver<Outcome>,
}

impl Follower {
    /// Waits for the leader's outcome. When the leader is gone without one (cancelled,
    /// panicked), joins again (and usually leads); when it outlives
    /// [`Patience::take_over_after`], leads instead of it; when the caller's deadline passes,
    /// answers the deadline's error.
    pub(crate) async fn follow(mut self, patience: Patience) -> Joined {
        loop {
            let waited = self.wait(patience).await;
            let flights = self.flights.clone();
            let role = match waited {
                Waited::Done(outcome) => return Joined::Outcome(outcome),
                Waited::Deadline(err) => return Joined::Outcome(Err(err)),
                Waited::LeaderGone => flights.join(&self.key),
                Waited::Overdue => flights.take_over(self),
            };
            match role {
                Role::Leader(leader) => return Joined::Lead(leader),
                Role::Follower(next) => self = next,
            }
        }
    }

    async fn wait(&mut self, patience: Patience) -> Waited {
        let outcome = wait_outcome(&mut self.rx);
        let overdue = async {
            match patience.take_over_after {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        let deadline = async {
            match patience.deadline {
                Some((at, hard)) => {
                    tokio::time::sleep_until(at).await;
                    super::hard_timeout_error(hard)
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = outcome => match outcome {
                Some(outcome) => Waited::Done(outcome),
                None => Waited::LeaderGone,
            },
            () = overdue => Waited::Overdue,
            err = deadline => Waited::Deadline(err),
        }
    }
}

enum Waited {
    Done(Result<Bytes>),
    LeaderGone,
    Overdue,
    Deadline(Error),
}

/// The leader's outcome; `None` when the leader was dropped without one.
async fn wait_outcome(rx: &mut watch::Receiver<Outcome>) -> Outcome {
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

    fn follower(flights: &Arc<SingleFlight>) -> Follower {
        match flights.join("k") {
            Role::Follower(f) => f,
            Role::Leader(_) => panic!("the second caller must follow"),
        }
    }

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let flights = Arc::new(SingleFlight::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead")
        };
        let f = follower(&flights);
        let epoch = flights.epoch("k");
        leader.finish(Ok(Bytes::from_static(b"v")));
        let Joined::Outcome(Ok(v)) = f.follow(Patience::default()).await else {
            panic!("the follower must get the value")
        };
        assert_eq!(v, Bytes::from_static(b"v"));
        assert_eq!(flights.len(), 0);
        assert_ne!(flights.epoch("k"), epoch);
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_over() {
        let flights = Arc::new(SingleFlight::default());
        let leader = flights.join("k");
        let f = follower(&flights);
        drop(leader);
        assert!(matches!(
            f.follow(Patience::default()).await,
            Joined::Lead(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_leader_is_taken_over_and_cannot_free_the_new_slot() {
        let flights = Arc::new(SingleFlight::default());
        let Role::Leader(stuck) = flights.join("k") else {
            panic!("first caller must lead")
        };
        let f = follower(&flights);
        let patience = Patience {
            take_over_after: Some(Duration::from_secs(1)),
            ..Patience::default()
        };
        let Joined::Lead(new_leader) = f.follow(patience).await else {
            panic!("the follower must take over")
        };
        // The stuck leader finishing late must not free the new leader's slot.
        stuck.finish(Ok(Bytes::from_static(b"late")));
        assert_eq!(flights.len(), 1);
        let late = follower(&flights);
        new_leader.finish(Ok(Bytes::from_static(b"new")));
        let Joined::Outcome(Ok(v)) = late.follow(Patience::default()).await else {
            panic!("the late follower must get the new leader's value")
        };
        assert_eq!(v, Bytes::from_static(b"new"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_answers_its_error() {
        let flights = Arc::new(SingleFlight::default());
        let _leader = flights.join("k");
        let f = follower(&flights);
        let patience = Patience {
            deadline: Some((
                Instant::now() + Duration::from_secs(1),
                Duration::from_secs(1),
            )),
            ..Patience::default()
        };
        let Joined::Outcome(Err(e)) = f.follow(patience).await else {
            panic!("the deadline must answer")
        };
        assert_eq!(e.kind(), crate::ErrorKind::Timeout);
    }
}
