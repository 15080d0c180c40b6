//! What every subject works on: the workloads, the keys and the value.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Result;

/// How many keys the reads and overwrites walk through (fewer for large values: see
/// [`Fixture::keyspace`]).
pub(crate) const KEYSPACE: usize = 10_000;

/// The most bytes of values one subject holds for one value size.
const MAX_STORED_BYTES: usize = 64 * 1024 * 1024;

/// How many counters `incr` spreads over (so that 64 tasks rarely wait on one key).
pub(crate) const COUNTERS: usize = 1_000;

/// How many keys one `get_many` / `set_many` call carries in the main tables.
pub(crate) const BATCH: usize = 100;

/// The prefix of our `Cache`; raw subjects compose the same `{prefix}:1:{key}` by hand.
pub(crate) const OURS_PREFIX: &str = "bo";

/// The prefix of the raw subjects doing the same work (same length as ours, so keys are the
/// same size).
pub(crate) const RAW_PREFIX: &str = "br";

/// The prefix of the bare raw subjects.
pub(crate) const BARE_PREFIX: &str = "bb";

/// The prefix of our `Cache` on the tiered layer (its L2 is the same Redis server).
pub(crate) const TIERED_PREFIX: &str = "bt";

/// The prefix of the raw subject behind a `ConnectionManager`.
pub(crate) const MANAGER_PREFIX: &str = "bm";

/// The expiry every write carries: our default timeout, 300 s.
pub(crate) const EXPIRY_MS: u64 = 300_000;

/// One kind of operation, timed call by call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Workload {
    /// `get` of a key that is there.
    GetHit,
    /// `get` of a key that is not.
    GetMiss,
    /// `set` over an existing key.
    Set,
    /// `add` of a fresh key (it always writes).
    Add,
    /// `incr` by 1 of an existing counter.
    Incr,
    /// `get_many` of a batch of keys that are all there.
    GetMany,
    /// `set_many` of a batch of keys.
    SetMany,
    /// `get_or_set_with` of a key that is there (the loader never runs).
    GetOrSetWithHit,
}

impl Workload {
    /// Every workload, in the order of the report.
    pub(crate) const ALL: [Workload; 8] = [
        Workload::GetHit,
        Workload::GetMiss,
        Workload::Set,
        Workload::Add,
        Workload::Incr,
        Workload::GetMany,
        Workload::SetMany,
        Workload::GetOrSetWithHit,
    ];

    /// The name on the command line (`--workloads`).
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Workload::GetHit => "get-hit",
            Workload::GetMiss => "get-miss",
            Workload::Set => "set",
            Workload::Add => "add",
            Workload::Incr => "incr",
            Workload::GetMany => "get-many",
            Workload::SetMany => "set-many",
            Workload::GetOrSetWithHit => "get-or-set-with-hit",
        }
    }

    /// Whether the workload carries a batch of keys.
    pub(crate) fn is_batch(self) -> bool {
        matches!(self, Workload::GetMany | Workload::SetMany)
    }

    /// The name in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Workload::GetHit => "get hit",
            Workload::GetMiss => "get miss",
            Workload::Set => "set",
            Workload::Add => "add",
            Workload::Incr => "incr",
            Workload::GetMany => "get_many",
            Workload::SetMany => "set_many",
            Workload::GetOrSetWithHit => "get_or_set_with hit",
        }
    }
}

/// The stored value: a struct with one string, sized so that `cachette_api::codec` encodes it
/// to exactly the wanted number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// Filler.
    pub(crate) data: String,
}

impl Payload {
    /// The payload whose encoding is exactly `size` bytes, with that encoding.
    pub(crate) fn of_encoded_size(size: usize) -> Result<(Payload, Bytes)> {
        // The encoding is a one-entry map: a few bytes of framing, then the string.
        for len in size.saturating_sub(16)..=size {
            let payload = Payload {
                data: "x".repeat(len),
            };
            let encoded = Bytes::from(rmp_serde::to_vec_named(&payload)?);
            if encoded.len() == size {
                return Ok((payload, encoded));
            }
        }
        Err(format!("no payload encodes to exactly {size} bytes").into())
    }
}

/// The keys and the value of one value size, shared by every task.
#[derive(Debug)]
pub(crate) struct Fixture {
    /// The encoded size of the value, in bytes.
    pub(crate) size: usize,
    /// The value our `Cache` encodes on every write.
    pub(crate) payload: Payload,
    /// The same value encoded once, which the raw subjects store.
    pub(crate) encoded: Bytes,
    /// `k0` … : present keys.
    pub(crate) keys: Vec<String>,
    /// `miss0` … : keys never written.
    pub(crate) miss_keys: Vec<String>,
    /// `ctr0` … : integers for `incr`.
    pub(crate) counters: Vec<String>,
}

impl Fixture {
    /// The fixture of values encoding to `size` bytes.
    pub(crate) fn new(size: usize) -> Result<Fixture> {
        let (payload, encoded) = Payload::of_encoded_size(size)?;
        Ok(Fixture {
            size,
            payload,
            encoded,
            keys: (0..Self::keyspace(size)).map(|i| format!("k{i}")).collect(),
            miss_keys: (0..KEYSPACE).map(|i| format!("miss{i}")).collect(),
            counters: (0..COUNTERS).map(|i| format!("ctr{i}")).collect(),
        })
    }

    /// How many keys a fixture of `size`-byte values has: [`KEYSPACE`], fewer when that
    /// many values would pass 64 MiB (64 keys of 1 MiB).
    pub(crate) fn keyspace(size: usize) -> usize {
        (MAX_STORED_BYTES / size.max(1)).clamp(64, KEYSPACE)
    }

    /// The `n` keys of the batch at `window` (all the keys when there are fewer).
    pub(crate) fn batch(&self, window: usize, n: usize) -> &[String] {
        let windows = self.keys.len() / n.max(1);
        let start = (window % windows.max(1)) * n;
        self.keys.get(start..start + n).unwrap_or(&self.keys[..])
    }
}

/// What one call needs, prepared before its clock starts.
#[derive(Debug)]
pub(crate) struct OpInput {
    /// Which key (or batch, or counter) the call uses.
    pub(crate) index: usize,
    /// The fresh key of an `add`; empty otherwise.
    pub(crate) fresh_key: String,
    /// Keys per `get_many` / `set_many` call.
    pub(crate) batch: usize,
}

impl OpInput {
    /// The input of call `n` of task `task` in chunk `chunk`.
    pub(crate) fn new(
        workload: Workload,
        chunk: u64,
        task: usize,
        n: u64,
        batch: usize,
    ) -> OpInput {
        // Each task walks the keys in order from its own starting point.
        let index = task.wrapping_mul(7_919).wrapping_add(n as usize);
        let fresh_key = if workload == Workload::Add {
            fresh_key(chunk, task, n)
        } else {
            String::new()
        };
        OpInput {
            index,
            fresh_key,
            batch,
        }
    }
}

/// The key that call `n` of task `task` adds in chunk `chunk`.
pub(crate) fn fresh_key(chunk: u64, task: usize, n: u64) -> String {
    format!("add{chunk}_{task}_{n}")
}

/// `{head}{key}` in one allocation, as `cache-api` composes keys.
pub(crate) fn compose(head: &str, key: &str) -> String {
    let mut composed = String::with_capacity(head.len() + key.len());
    composed.push_str(head);
    composed.push_str(key);
    composed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_encode_to_the_exact_size() {
        for size in [100, 10 * 1024] {
            let (payload, encoded) = Payload::of_encoded_size(size).unwrap();
            assert_eq!(encoded.len(), size);
            assert_eq!(rmp_serde::from_slice::<Payload>(&encoded).unwrap(), payload);
        }
    }

    #[test]
    fn batches_stay_inside_the_keyspace() {
        let fixture = Fixture::new(100).unwrap();
        for window in [0, 1, 99, 100, 12_345] {
            assert_eq!(fixture.batch(window, BATCH).len(), BATCH);
            assert_eq!(fixture.batch(window, 1_000).len(), 1_000);
        }
        assert_eq!(fixture.batch(1, BATCH)[0], "k100");
        assert_eq!(Fixture::keyspace(100), KEYSPACE);
        assert_eq!(Fixture::keyspace(1024 * 1024), 64);
    }

    #[test]
    fn keys_compose_like_cache_api() {
        assert_eq!(compose("br:1:", "k7"), "br:1:k7");
        let cache = cachette_memory::MemoryBackend::new()
            .cache_builder()
            .with_prefix(OURS_PREFIX)
            .build()
            .unwrap();
        assert_eq!(
            compose(&format!("{OURS_PREFIX}:1:"), "k7"),
            cache.make_key("k7").unwrap()
        );
    }
}
