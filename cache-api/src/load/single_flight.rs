//! One load per key per process: the first caller of a missing key leads, the others follow
//! and get the leader's outcome. Followers take over when the leader is cancelled, panics, or
//! outlives their patience.
//!
//! A leader may lead many keys at once (a batch of `get_or_set_many`): one channel carries
//! the outcomes of all its keys, and the slot of each key points at that channel and at the
//! key's place in it. Any key of a batch is joined like a key loaded alone, by single loads
//! and other batches alike; the batch costs one lock, one channel and one hand-over.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::{Error, Result};

/// What a leader hands over: one outcome per key it leads, in the order of its keys; `None`
/// while it runs.
type Outcomes = Option<Vec<Result<Bytes>>>;

/// How many counters of finished loads keys are spread over.
const EPOCH_SHARDS: usize = 16;

/// The loads running in this process, by composed key.
#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    loads: Mutex<HashMap<Arc<str>, Slot>>,
    finished: [AtomicU64; EPOCH_SHARDS],
}

/// Where the outcome of a running load of a key will be.
#[derive(Debug)]
struct Slot {
    /// The leader's channel.
    rx: watch::Receiver<Outcomes>,
    /// The key's place among the leader's keys.
    place: usize,
}

/// What a caller of [`SingleFlight::join`] is to do.
pub(crate) enum Role {
    /// Run the loader, then [`Leader::finish`].
    Leader(Leader),
    /// Wait for the leader with [`Follower::follow`].
    Follower(Follower),
}

/// What a caller of [`SingleFlight::join_many`] is to do.
pub(crate) struct Joins {
    /// The leader of the keys nobody loaded yet (the [`Part::Lead`] ones, in order), if any.
    pub(crate) leader: Option<Leader>,
    /// One part per key, in the order given.
    pub(crate) parts: Vec<Part>,
}

/// What a caller of [`SingleFlight::join_many`] is to do with one of its keys.
pub(crate) enum Part {
    /// Load it: it is one of [`Joins::leader`]'s keys.
    Lead,
    /// Wait for another caller's load of it, with [`Follower::outcome`].
    Follow(Follower),
    /// Nothing: the key at this earlier position is the same key.
    Repeat(usize),
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

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Slot>> {
        self.loads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the load of `key`, becoming its leader when none runs.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut loads = self.lock();
        if let Some((name, slot)) = loads.get_key_value(key) {
            return Role::Follower(Follower {
                flights: self.clone(),
                key: name.clone(),
                rx: slot.rx.clone(),
                place: slot.place,
            });
        }
        Role::Leader(self.lead(&mut loads, key))
    }

    /// Joins the loads of many keys under one lock: the caller leads every key whose load
    /// does not run yet (all with one leader), and follows the others. A key given twice is
    /// joined once, its repeats pointing at its first position.
    pub(crate) fn join_many<'k>(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Joins {
        let keys = keys.into_iter();
        let (tx, rx) = watch::channel(None);
        let mut led: Vec<Arc<str>> = Vec::new();
        // Where each led key is among the parts, and the followed ones (to spot repeats).
        let mut led_at = Vec::new();
        let mut followed: Vec<usize> = Vec::new();
        let mut parts = Vec::with_capacity(keys.size_hint().0);
        let mut loads = self.lock();
        for key in keys {
            let part = match loads.get_key_value(key) {
                Some((_, slot)) if slot.rx.same_channel(&rx) => {
                    Part::Repeat(led_at.get(slot.place).copied().unwrap_or(0))
                }
                Some((name, slot)) => {
                    let first = followed.iter().copied().find(
                        |&at| matches!(parts.get(at), Some(Part::Follow(f)) if f.key == *name),
                    );
                    match first {
                        Some(at) => Part::Repeat(at),
                        None => {
                            followed.push(parts.len());
                            Part::Follow(Follower {
                                flights: self.clone(),
                                key: name.clone(),
                                rx: slot.rx.clone(),
                                place: slot.place,
                            })
                        }
                    }
                }
                None => {
                    let name: Arc<str> = Arc::from(key);
                    loads.insert(
                        name.clone(),
                        Slot {
                            rx: rx.clone(),
                            place: led.len(),
                        },
                    );
                    led.push(name);
                    led_at.push(parts.len());
                    Part::Lead
                }
            };
            parts.push(part);
        }
        drop(loads);
        let leader = (!led.is_empty()).then(|| Leader {
            flights: self.clone(),
            keys: led,
            tx,
            finished: false,
        });
        Joins { leader, parts }
    }

    /// Joins the load of `key` and follows it to the end: see [`Follower::follow`].
    pub(crate) async fn lead_or_wait(self: &Arc<Self>, key: &str, patience: Patience) -> Joined {
        match self.join(key) {
            Role::Leader(leader) => Joined::Lead(leader),
            Role::Follower(follower) => follower.follow(patience).await,
        }
    }

    /// Puts a new slot for `key`, led by the caller alone, in place of any other.
    fn lead(self: &Arc<Self>, loads: &mut HashMap<Arc<str>, Slot>, key: &str) -> Leader {
        let (tx, rx) = watch::channel(None);
        let name: Arc<str> = Arc::from(key);
        loads.insert(name.clone(), Slot { rx, place: 0 });
        Leader {
            flights: self.clone(),
            keys: vec![name],
            tx,
            finished: false,
        }
    }

    /// Replaces a stuck leader's slot by a new one led by the caller; when someone else took
    /// over already, follows them instead.
    fn take_over(self: &Arc<Self>, stuck: Follower) -> Role {
        let mut loads = self.lock();
        match loads.get(&*stuck.key) {
            Some(slot) if !slot.rx.same_channel(&stuck.rx) => Role::Follower(Follower {
                rx: slot.rx.clone(),
                place: slot.place,
                ..stuck
            }),
            _ => Role::Leader(self.lead(&mut loads, &stuck.key)),
        }
    }

    /// Removes the slots of `keys` that still belong to the leader of `tx`.
    fn release(&self, keys: &[Arc<str>], tx: &watch::Sender<Outcomes>) {
        let own = tx.subscribe();
        let mut loads = self.lock();
        for key in keys {
            if let Some((name, slot)) = loads.remove_entry(&**key) {
                if !slot.rx.same_channel(&own) {
                    // Taken over: the slot is the new leader's.
                    loads.insert(name, slot);
                }
            }
        }
    }

    /// Moves the epoch of every key of a finished load on: shard by shard for a few keys,
    /// every shard at once for more keys than shards.
    fn bump(&self, keys: &[Arc<str>]) {
        if keys.len() >= EPOCH_SHARDS {
            for finished in &self.finished {
                finished.fetch_add(1, Ordering::AcqRel);
            }
        } else {
            for key in keys {
                self.finished[shard(key)].fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

fn shard(key: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % EPOCH_SHARDS as u64) as usize
}

/// The one caller that runs the loader of a key, or of many keys at once.
///
/// Dropping it without [`finish`](Leader::finish) (the caller's future was cancelled, or the
/// loader panicked) frees the slots, and the followers elect a new leader: nothing stays
/// stuck.
pub(crate) struct Leader {
    flights: Arc<SingleFlight>,
    /// The keys it leads, in the order of their outcomes.
    keys: Vec<Arc<str>>,
    tx: watch::Sender<Outcomes>,
    /// Set by [`finish`](Leader::finish): the slots are free and the outcomes handed over.
    finished: bool,
}

impl Leader {
    /// Hands the outcome of a one-key load to every follower and frees the slot.
    pub(crate) fn finish(self, outcome: Result<Bytes>) {
        self.finish_each(std::iter::once(outcome));
    }

    /// Hands one outcome per key led, in order, to every follower and frees the slots. A
    /// follower of a key left without an outcome joins again.
    pub(crate) fn finish_each(mut self, outcomes: impl IntoIterator<Item = Result<Bytes>>) {
        self.flights.release(&self.keys, &self.tx);
        self.flights.bump(&self.keys);
        // Followers take their receivers from the slots, under the lock, and the slots are
        // gone: with no receiver left nobody can listen, and the send (which wakes every
        // waiter list of the channel) is skipped — the common case of a load nobody waited
        // for.
        if self.tx.receiver_count() > 0 {
            self.tx.send_replace(Some(outcomes.into_iter().collect()));
        }
        self.finished = true;
    }

    /// Hands what the leader of one key produced (its bytes, or its error) to every follower.
    pub(crate) fn hand_over<T>(self, produced: &Result<super::Produced<T>>) {
        self.finish(bytes_of(produced));
    }
}

/// The bytes followers get of what a leader produced (or its error).
pub(crate) fn bytes_of<T>(produced: &Result<super::Produced<T>>) -> Result<Bytes> {
    match produced {
        Ok((_, bytes)) => Ok(bytes.clone()),
        Err(err) => Err(err.clone()),
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished && self.tx.borrow().is_none() {
            self.flights.release(&self.keys, &self.tx);
        }
    }
}

/// A caller waiting for the leader of a key.
pub(crate) struct Follower {
    flights: Arc<SingleFlight>,
    key: Arc<str>,
    rx: watch::Receiver<Outcomes>,
    /// The key's place among the leader's keys.
    place: usize,
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

    /// Waits for the leader's outcome, with no patience limit; `None` when the leader is
    /// gone without one (cancelled, panicked): the caller joins again.
    pub(crate) async fn outcome(mut self) -> Option<Result<Bytes>> {
        wait_outcome(&mut self.rx, self.place).await
    }

    async fn wait(&mut self, patience: Patience) -> Waited {
        let outcome = wait_outcome(&mut self.rx, self.place);
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

/// The leader's outcome of the key at `place`; `None` when the leader was dropped without
/// one.
async fn wait_outcome(rx: &mut watch::Receiver<Outcomes>, place: usize) -> Option<Result<Bytes>> {
    let of_key = |outcomes: &Outcomes| outcomes.as_ref().map(|all| all.get(place).cloned());
    loop {
        if let Some(outcome) = of_key(&rx.borrow_and_update()) {
            return outcome;
        }
        if rx.changed().await.is_err() {
            return of_key(&rx.borrow()).flatten();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let flights = Arc::new(SingleFlight::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead")
        };
        let f = follower_of(&flights, "k");
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
        let f = follower_of(&flights, "k");
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
        let f = follower_of(&flights, "k");
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
        let late = follower_of(&flights, "k");
        new_leader.finish(Ok(Bytes::from_static(b"new")));
        let Joined::Outcome(Ok(v)) = late.follow(Patience::default()).await else {
            panic!("the late follower must get the new leader's value")
        };
        assert_eq!(v, Bytes::from_static(b"new"));
    }

    fn bytes(text: &'static str) -> Result<Bytes> {
        Ok(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test]
    async fn a_batch_leads_its_keys_once_and_its_keys_are_joined_one_by_one() {
        let flights = Arc::new(SingleFlight::default());
        let Joins { leader, parts } = flights.join_many(["a", "b", "a", "c", "b"]);
        let leader = leader.expect("nobody loads these keys: the batch leads");
        assert!(matches!(
            parts[..],
            [
                Part::Lead,
                Part::Lead,
                Part::Repeat(0),
                Part::Lead,
                Part::Repeat(1)
            ]
        ));
        assert_eq!(flights.len(), 3);
        // A single caller, and another batch, join a key of the batch at its place.
        let b = follower_of(&flights, "b");
        let Joins {
            leader: none,
            parts,
        } = flights.join_many(["c", "b", "c"]);
        assert!(none.is_none());
        let [Part::Follow(c), Part::Follow(b2), Part::Repeat(0)] =
            <[Part; 3]>::try_from(parts).unwrap_or_else(|_| panic!("three parts"))
        else {
            panic!("the second batch must follow the first")
        };
        leader.finish_each([bytes("A"), bytes("B"), bytes("C")]);
        assert_eq!(flights.len(), 0);
        let Joined::Outcome(Ok(v)) = b.follow(Patience::default()).await else {
            panic!("the follower must get its key's value")
        };
        assert_eq!(v, "B");
        assert_eq!(
            c.outcome().await.and_then(|r| r.ok()),
            Some(Bytes::from("C"))
        );
        assert_eq!(
            b2.outcome().await.and_then(|r| r.ok()),
            Some(Bytes::from("B"))
        );
    }

    fn follower_of(flights: &Arc<SingleFlight>, key: &str) -> Follower {
        match flights.join(key) {
            Role::Follower(f) => f,
            Role::Leader(_) => panic!("{key} is loaded already: the caller must follow"),
        }
    }

    #[tokio::test]
    async fn a_batch_follows_a_running_load_and_leads_the_rest() {
        let flights = Arc::new(SingleFlight::default());
        let Role::Leader(single) = flights.join("a") else {
            panic!("first caller must lead")
        };
        let Joins { leader, parts } = flights.join_many(["x", "a", "a"]);
        let batch = leader.expect("the batch leads x");
        let [Part::Lead, Part::Follow(a), Part::Repeat(1)] =
            <[Part; 3]>::try_from(parts).unwrap_or_else(|_| panic!("three parts"))
        else {
            panic!("the batch must lead x and follow a, once")
        };
        single.finish(bytes("1"));
        assert_eq!(
            a.outcome().await.and_then(|r| r.ok()),
            Some(Bytes::from("1"))
        );
        // The single leader's finish freed its key only.
        assert_eq!(flights.len(), 1);
        batch.finish(bytes("X"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_batch_hands_each_key_over() {
        let flights = Arc::new(SingleFlight::default());
        let Joins { leader, .. } = flights.join_many(["a", "b"]);
        let a = follower_of(&flights, "a");
        let b = follower_of(&flights, "b");
        drop(leader);
        assert_eq!(flights.len(), 0);
        assert!(matches!(
            a.follow(Patience::default()).await,
            Joined::Lead(_)
        ));
        assert!(
            b.outcome().await.is_none(),
            "no outcome: the caller joins again"
        );
    }

    #[tokio::test]
    async fn a_key_left_without_an_outcome_is_handed_over() {
        let flights = Arc::new(SingleFlight::default());
        let Joins { leader, .. } = flights.join_many(["a", "b"]);
        let leader = leader.expect("the batch leads");
        let a = follower_of(&flights, "a");
        let b = follower_of(&flights, "b");
        leader.finish_each([bytes("A")]);
        assert_eq!(
            a.outcome().await.and_then(|r| r.ok()),
            Some(Bytes::from("A"))
        );
        assert!(matches!(
            b.follow(Patience::default()).await,
            Joined::Lead(_)
        ));
    }

    #[tokio::test]
    async fn a_finished_batch_moves_the_epoch_of_each_of_its_keys() {
        let flights = Arc::new(SingleFlight::default());
        for size in [2, EPOCH_SHARDS + 4] {
            let keys: Vec<String> = (0..size).map(|i| format!("k{i}")).collect();
            let before: Vec<u64> = keys.iter().map(|k| flights.epoch(k)).collect();
            let Joins { leader, .. } = flights.join_many(keys.iter().map(String::as_str));
            let leader = leader.expect("the batch leads");
            leader.finish_each(keys.iter().map(|_| bytes("v")));
            for (key, before) in keys.iter().zip(before) {
                assert_ne!(flights.epoch(key), before, "{key} of a batch of {size}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_batch_is_taken_over_key_by_key() {
        let flights = Arc::new(SingleFlight::default());
        let Joins { leader, .. } = flights.join_many(["a", "b"]);
        let stuck = leader.expect("the batch leads");
        let patience = Patience {
            take_over_after: Some(Duration::from_secs(1)),
            ..Patience::default()
        };
        let Joined::Lead(new_leader) = follower_of(&flights, "b").follow(patience).await else {
            panic!("the follower must take over")
        };
        // The stuck batch finishing late frees its other key, not the new leader's slot.
        stuck.finish_each([bytes("A"), bytes("late")]);
        assert_eq!(flights.len(), 1);
        let late = follower_of(&flights, "b");
        new_leader.finish(bytes("new"));
        let Joined::Outcome(Ok(v)) = late.follow(Patience::default()).await else {
            panic!("the late follower must get the new leader's value")
        };
        assert_eq!(v, "new");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_answers_its_error() {
        let flights = Arc::new(SingleFlight::default());
        let _leader = flights.join("k");
        let f = follower_of(&flights, "k");
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
