//! `get_or_set_many`: many keys, one read, the missing ones loaded by a batch loader.

use std::collections::HashMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::single_flight::{Joined, Leader, Patience, Role};
use super::{loader_error, BoxError, Produced};
use crate::cache::Call;
use crate::{Cache, Error, ErrorKind, Result, WriteOptions};

/// The outcome of one key: its value, or why it has none.
type Slot<T> = Option<Result<T>>;

impl Cache {
    /// Reads many keys at once and loads the missing ones with a batch loader: one read for
    /// all keys (one `MGET` on Redis), the missing keys deduplicated against loads already
    /// running in this process, one call of `load` with the rest, and their values stored
    /// concurrently, each only if no other writer stored first (the winner is returned).
    /// Returns one result per key, in the order given, so that a partial failure is
    /// explicit.
    ///
    /// A key that `load` leaves out of its map fails with [`ErrorKind::NotFound`]; when
    /// `load` fails, every key it was asked for fails with [`ErrorKind::Loader`]. When the
    /// load of a key this call waited for is cancelled (or panics) elsewhere in the process,
    /// this call takes it over: `load` is called again, with those keys only.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// use std::collections::HashMap;
    ///
    /// let cache = cachette_memory::MemoryBackend::new().cache();
    /// cache.set("price:AAPL", &189.5).await?;
    /// let results = cache
    ///     .get_or_set_many(&["price:AAPL", "price:MSFT", "price:NOPE"], |missing| async move {
    ///         assert_eq!(missing, ["price:MSFT", "price:NOPE"]);
    ///         Ok::<_, std::io::Error>(HashMap::from([("price:MSFT".to_owned(), 402.1)]))
    ///     })
    ///     .await?;
    /// assert_eq!(results[0].1.as_ref().ok(), Some(&189.5));
    /// assert_eq!(results[1].1.as_ref().ok(), Some(&402.1));
    /// assert!(results[2].1.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The whole call fails only for an invalid key or a backend error on the read.
    pub async fn get_or_set_many<T, K, F, Fut, E>(
        &self,
        keys: &[K],
        load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        self.get_or_set_many_opts(keys, WriteOptions::new(), load)
            .await
    }

    /// [`get_or_set_many`](Cache::get_or_set_many) with per-call options.
    pub async fn get_or_set_many_opts<T, K, F, Fut, E>(
        &self,
        keys: &[K],
        options: impl Into<WriteOptions>,
        mut load: F,
    ) -> Result<Vec<(String, Result<T>)>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        let options = options.into();
        let call = self.call("get_or_set_many", None);
        let composed = call.compose_all(keys)?;
        let found = self.read_many(call, keys).await?;
        let mut slots: Vec<Slot<T>> = Vec::with_capacity(keys.len());
        // The slots of each missing composed key; the first one is the key's "owner".
        let mut missing: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut owners = Vec::new();
        for (i, bytes) in found.into_iter().enumerate() {
            match bytes {
                Some(bytes) => slots.push(Some(call.about(keys[i].as_ref()).decode(&bytes))),
                None => {
                    slots.push(None);
                    let same = missing.entry(composed[i].as_str()).or_default();
                    if same.is_empty() {
                        owners.push(i);
                    }
                    same.push(i);
                }
            }
        }
        let missed: usize = missing.values().map(Vec::len).sum();
        self.counters().hit((keys.len() - missed) as u64);
        self.counters().miss(owners.len() as u64);

        let flights = &self.shared.flights;
        let mut leaders = Vec::new();
        let mut followers = Vec::new();
        for i in owners {
            match flights.join(&composed[i]) {
                Role::Leader(leader) => leaders.push((i, leader)),
                Role::Follower(follower) => followers.push((i, follower)),
            }
        }
        // Lead first (so that no two calls wait on each other), then follow; keys whose
        // leader went away are led in the next round.
        let mut settle = |i: usize, produced: Result<Produced<T>>| {
            let copies = missing
                .get(composed[i].as_str())
                .map_or(&[][..], |s| &s[1..]);
            match produced {
                Ok((value, bytes)) => {
                    for &copy in copies {
                        slots[copy] = Some(call.about(keys[copy].as_ref()).decode(&bytes));
                    }
                    slots[i] = Some(call.about(keys[i].as_ref()).value_of((value, bytes)));
                }
                Err(err) => {
                    for &copy in copies {
                        slots[copy] = Some(Err(err.clone()));
                    }
                    slots[i] = Some(Err(err));
                }
            }
        };
        loop {
            if !leaders.is_empty() {
                let led = self
                    .lead_batch(call, keys, &composed, options, &mut load, leaders)
                    .await;
                for (i, produced) in led {
                    settle(i, produced);
                }
            }
            leaders = Vec::new();
            for (i, follower) in std::mem::take(&mut followers) {
                match follower.follow(Patience::default()).await {
                    Joined::Lead(leader) => leaders.push((i, leader)),
                    Joined::Outcome(outcome) => settle(i, outcome.map(|bytes| (None, bytes))),
                }
            }
            if leaders.is_empty() {
                break;
            }
        }
        Ok(keys
            .iter()
            .zip(slots)
            .map(|(key, slot)| {
                let key = key.as_ref();
                let result = slot.unwrap_or_else(|| {
                    Err(call.about(key).fail(Error::new(
                        ErrorKind::Loader,
                        "the load of this key ended without an outcome",
                    )))
                });
                (key.to_owned(), result)
            })
            .collect())
    }

    /// Calls the loader once for the keys `leaders` lead, stores what it returned (each
    /// value only if no other writer stored first) and hands every outcome to its followers.
    #[allow(clippy::too_many_arguments)]
    async fn lead_batch<T, K, F, Fut, E>(
        &self,
        call: Call<'_>,
        keys: &[K],
        composed: &[String],
        options: WriteOptions,
        load: &mut F,
        leaders: Vec<(usize, Leader)>,
    ) -> Vec<(usize, Result<Produced<T>>)>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        let asked = leaders
            .iter()
            .map(|(i, _)| keys[*i].as_ref().to_owned())
            .collect();
        let mut values = match load(asked).await {
            Ok(values) => values,
            Err(e) => {
                let err = loader_error(e.into());
                return leaders
                    .into_iter()
                    .map(|(i, leader)| {
                        let err = call.about(keys[i].as_ref()).fail(err.clone());
                        leader.finish(Err(err.clone()));
                        (i, Err(err))
                    })
                    .collect();
            }
        };
        let lifetime = self.lifetime(options.ttl);
        let mut outcomes: Vec<(usize, Leader, Slot<Produced<T>>)> = Vec::new();
        let mut entries = Vec::new();
        for (i, leader) in leaders {
            let key = keys[i].as_ref();
            match values.remove(key) {
                Some(value) => {
                    entries.push((key, composed[i].clone(), value));
                    outcomes.push((i, leader, None));
                }
                None => {
                    let err = call.about(key).fail(Error::new(
                        ErrorKind::NotFound,
                        "the loader returned no value for this key",
                    ));
                    outcomes.push((i, leader, Some(Err(err))));
                }
            }
        }
        // One backend call stores every loaded value (one pipeline on Redis).
        let mut stored = call.produce_many(entries, lifetime).await.into_iter();
        outcomes
            .into_iter()
            .map(|(i, leader, outcome)| {
                let produced = outcome.or_else(|| stored.next()).unwrap_or_else(|| {
                    Err(call.about(keys[i].as_ref()).fail(Error::new(
                        ErrorKind::Backend,
                        "the store of this key ended without an outcome",
                    )))
                });
                leader.hand_over(&produced);
                (i, produced)
            })
            .collect()
    }
}
