//! `get_or_set_many`: many keys, one read, the missing ones loaded by a batch loader.

use std::collections::HashMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::single_flight::{bytes_of, Joins, Leader, Part};
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
        let mut composed = call.compose_all(keys)?;
        let found = self.read_many(call, keys).await?;
        let mut slots: Vec<Slot<T>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for (i, bytes) in found.into_iter().enumerate() {
            match bytes {
                Some(bytes) => slots.push(Some(call.about(keys[i].as_ref()).decode(&bytes))),
                None => {
                    slots.push(None);
                    missing.push(i);
                }
            }
        }
        self.counters().hit((keys.len() - missing.len()) as u64);

        // Each round joins the keys still to load, all under one lock: this call leads the
        // keys whose load does not run yet (one leader, one loader call), then waits for the
        // others; keys whose leader went away without an outcome join the next round.
        let flights = &self.shared.flights;
        // The keys given twice: (the repeat, the position of its first), settled together.
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut first_round = true;
        while !missing.is_empty() {
            let Joins { leader, parts } =
                flights.join_many(missing.iter().map(|&i| composed[i].as_str()));
            let mut led = Vec::new();
            let mut followers = Vec::new();
            for (&i, part) in missing.iter().zip(parts) {
                match part {
                    Part::Lead => led.push(i),
                    Part::Follow(follower) => followers.push((i, follower)),
                    Part::Repeat(at) => {
                        if let Some(&first) = missing.get(at) {
                            repeats.push((i, first));
                        }
                    }
                }
            }
            if first_round {
                self.counters().miss((missing.len() - repeats.len()) as u64);
                first_round = false;
            }
            // Lead first (so that no two calls wait on each other), then follow.
            if let Some(leader) = leader {
                let produced = self
                    .lead_batch(call, keys, &mut composed, options, &mut load, &led, leader)
                    .await;
                for (&i, produced) in led.iter().zip(produced) {
                    settle(call, keys, &mut slots, &repeats, i, produced);
                }
            }
            missing = Vec::new();
            for (i, follower) in followers {
                match follower.outcome().await {
                    Some(outcome) => {
                        let produced = outcome.map(|bytes| (None, bytes));
                        settle(call, keys, &mut slots, &repeats, i, produced);
                    }
                    None => missing.push(i),
                }
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

    /// Calls the loader once for the keys `led` (positions in `keys`, in the order of
    /// `leader`'s keys), stores what it returned (each value only if no other writer stored
    /// first) and hands every outcome to the followers; answers them in the same order.
    #[allow(clippy::too_many_arguments)]
    async fn lead_batch<T, K, F, Fut, E>(
        &self,
        call: Call<'_>,
        keys: &[K],
        composed: &mut [String],
        options: WriteOptions,
        load: &mut F,
        led: &[usize],
        leader: Leader,
    ) -> Vec<Result<Produced<T>>>
    where
        T: Serialize + DeserializeOwned,
        K: AsRef<str>,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = std::result::Result<HashMap<String, T>, E>>,
        E: Into<BoxError>,
    {
        let asked = led.iter().map(|&i| keys[i].as_ref().to_owned()).collect();
        let mut values = match load(asked).await {
            Ok(values) => values,
            Err(e) => {
                let err = loader_error(e.into());
                let failed: Vec<Result<Produced<T>>> = led
                    .iter()
                    .map(|&i| Err(call.about(keys[i].as_ref()).fail(err.clone())))
                    .collect();
                leader.finish_each(failed.iter().map(bytes_of));
                return failed;
            }
        };
        let lifetime = self.lifetime(options.ttl);
        let mut outcomes: Vec<Slot<Produced<T>>> = Vec::with_capacity(led.len());
        let mut entries = Vec::new();
        for &i in led {
            let key = keys[i].as_ref();
            match values.remove(key) {
                Some(value) => {
                    // A led key is settled by this round: its composed key is not needed again.
                    entries.push((key, std::mem::take(&mut composed[i]), value));
                    outcomes.push(None);
                }
                None => {
                    let err = call.about(key).fail(Error::new(
                        ErrorKind::NotFound,
                        "the loader returned no value for this key",
                    ));
                    outcomes.push(Some(Err(err)));
                }
            }
        }
        // One backend call stores every loaded value (one pipeline on Redis).
        let mut stored = call.produce_many(entries, lifetime).await.into_iter();
        let produced: Vec<Result<Produced<T>>> = outcomes
            .into_iter()
            .zip(led)
            .map(|(outcome, &i)| {
                outcome.or_else(|| stored.next()).unwrap_or_else(|| {
                    Err(call.about(keys[i].as_ref()).fail(Error::new(
                        ErrorKind::Backend,
                        "the store of this key ended without an outcome",
                    )))
                })
            })
            .collect();
        leader.finish_each(produced.iter().map(bytes_of));
        produced
    }
}

/// Settles the key at `i` (and its repeats) with the outcome of its load: the value the
/// leader produced, or the bytes, decoded.
fn settle<'a, T: DeserializeOwned, K: AsRef<str>>(
    call: Call<'a>,
    keys: &'a [K],
    slots: &mut [Slot<T>],
    repeats: &[(usize, usize)],
    i: usize,
    produced: Result<Produced<T>>,
) {
    let copies = repeats.iter().filter(|&&(_, first)| first == i);
    match produced {
        Ok((value, bytes)) => {
            for &(copy, _) in copies {
                slots[copy] = Some(call.about(keys[copy].as_ref()).decode(&bytes));
            }
            slots[i] = Some(call.about(keys[i].as_ref()).value_of((value, bytes)));
        }
        Err(err) => {
            for &(copy, _) in copies {
                slots[copy] = Some(Err(err.clone()));
            }
            slots[i] = Some(Err(err));
        }
    }
}
