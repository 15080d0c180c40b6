//! The one loading engine behind `get_or_set`, `get_or_set_with`, `get_or_set_with_policy`
//! and `get_or_set_many`.
//!
//! Each entry point reads, then on a miss joins the key's [`SingleFlight`]: one caller per
//! key and process leads (runs the loader), the others follow and get its outcome, taking
//! over when it is cancelled, panics or outlives their patience. The leader stores what it
//! loaded with [`Call::store_first`]: the backend's `add_or_get`, so that the first writer
//! wins (as Django's `add` then `get`) and every caller returns the winner.

pub(crate) mod envelope;
mod many;
mod one;
mod policy;
mod resilient;
mod single_flight;
mod unwind;

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use policy::{FailSafe, Lease, LoadPolicy, Loaded, OnUndecodable, Source};
pub(crate) use single_flight::SingleFlight;

use crate::cache::Call;
use crate::expiry::Lifetime;
use crate::{Error, ErrorKind, Result};

/// What a loader may fail with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error of a failed loader, keeping the loader's error as its source.
pub(crate) fn loader_error(error: BoxError) -> Error {
    Error::new(ErrorKind::Loader, "the loader failed").with_shared_source(error.into())
}

/// The error of a caller that waited for a loader longer than its hard timeout.
pub(crate) fn hard_timeout_error(hard: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("the loader did not finish within the hard timeout of {hard:?}"),
    )
}

/// What a leader ends with: its own value when the cache now holds it (or nothing contested
/// it), `None` when another writer won, and the bytes its followers get.
pub(crate) type Produced<T> = (Option<T>, Bytes);

impl<'a> Call<'a> {
    /// Encodes a loaded value and stores it unless another writer stored one first.
    pub(crate) async fn produce<T: Serialize>(
        &self,
        composed: &str,
        value: T,
        lifetime: Lifetime,
    ) -> Result<Produced<T>> {
        let bytes = self.encode(&value)?;
        Ok(
            match self.store_first(composed, bytes.clone(), lifetime).await? {
                None => (Some(value), bytes),
                Some(winner) => (None, winner),
            },
        )
    }

    /// The value a leader returns: its own, or the winner's, decoded.
    pub(crate) fn value_of<T: DeserializeOwned>(&self, produced: Produced<T>) -> Result<T> {
        match produced {
            (Some(value), _) => Ok(value),
            (None, bytes) => self.decode(&bytes),
        }
    }

    /// Encodes loaded values and stores each unless another writer stored one first, all in
    /// one backend call ([`add_or_get_many`](crate::CacheBackend::add_or_get_many)); one
    /// outcome per entry, in order. Each entry is the caller's key (for errors), the composed
    /// key and the value.
    pub(crate) async fn produce_many<T: Serialize>(
        self,
        entries: Vec<(&'a str, String, T)>,
        lifetime: Lifetime,
    ) -> Vec<Result<Produced<T>>> {
        let mut outcomes: Vec<Option<Result<Produced<T>>>> = Vec::with_capacity(entries.len());
        let mut encoded = Vec::with_capacity(entries.len());
        let mut pending = Vec::with_capacity(entries.len());
        for (i, (key, composed, value)) in entries.into_iter().enumerate() {
            match self.about(key).encode(&value) {
                Ok(bytes) => {
                    encoded.push((composed, bytes));
                    pending.push((i, key, value));
                    outcomes.push(None);
                }
                Err(err) => outcomes.push(Some(Err(err))),
            }
        }
        let stored = self.store_first_many(&encoded, lifetime).await;
        for (((i, key, value), (_, bytes)), slot) in pending.into_iter().zip(encoded).zip(stored) {
            let outcome = match slot {
                Ok(None) => Ok((Some(value), bytes)),
                Ok(Some(winner)) => Ok((None, winner)),
                Err(err) => Err(self.about(key).fail(err)),
            };
            if let Some(place) = outcomes.get_mut(i) {
                *place = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    Err(self.fail(Error::new(
                        ErrorKind::Backend,
                        "the backend answered fewer entries than it was given",
                    )))
                })
            })
            .collect()
    }

    /// [`store_first`](Call::store_first) for many entries in one backend call; one answer
    /// per entry, in order.
    async fn store_first_many(
        &self,
        entries: &[(String, Bytes)],
        lifetime: Lifetime,
    ) -> Vec<Result<Option<Bytes>>> {
        let Lifetime::Keep(expiry) = lifetime else {
            return entries.iter().map(|_| Ok(None)).collect();
        };
        if entries.is_empty() {
            return Vec::new();
        }
        let backend = self.cache.backend();
        let stored = async { backend.add_or_get_many(entries, expiry).await.map(Some) };
        match self.run_or(entries.len(), stored, || None).await {
            Ok(Some(slots)) => {
                let written = slots.iter().filter(|s| matches!(s, Ok(None))).count();
                self.cache.counters().set(written as u64);
                slots
            }
            // Fail-open: not stored, not contested.
            Ok(None) => entries.iter().map(|_| Ok(None)).collect(),
            Err(err) => entries.iter().map(|_| Err(err.clone())).collect(),
        }
    }

    /// Stores a loaded value unless another writer stored one first; answers the winner's
    /// bytes when it lost, `None` when the value was stored (or, for "expire now" and under
    /// fail-open, not stored and not contested).
    pub(crate) async fn store_first(
        &self,
        composed: &str,
        bytes: Bytes,
        lifetime: Lifetime,
    ) -> Result<Option<Bytes>> {
        let Lifetime::Keep(expiry) = lifetime else {
            return Ok(None);
        };
        let backend = self.cache.backend();
        let stored = async { backend.add_or_get(composed, bytes, expiry).await.map(Some) };
        match self.run_or(1, stored, || None).await? {
            Some(None) => {
                self.cache.counters().set(1);
                Ok(None)
            }
            Some(winner) => Ok(winner),
            None => Ok(None),
        }
    }
}
