//! Which L1 entries may still be served: stamps, invalidation counters and the clear history.
//!
//! # The invariant
//!
//! An L1 entry is served only if **no invalidation of its key was applied after the L2 call
//! that produced its value began**.
//!
//! Every L1 entry carries a [`Stamp`] taken *before* the L2 read (or, for a local write, before
//! the L2 write) whose answer it holds. Applying an invalidation bumps a counter: the key's
//! stripe counter for a key, the clear sequence for a prefix (a reconnection clears the prefix
//! `""`, everything). A reader compares the entry's stamp with the counters *now*; any bump in
//! between, from this instance or from a message, makes the entry invisible.
//!
//! This closes the classic race of tiered caches without a lock on the read path: a fill that
//! read L2 just before another instance's write, and lands in L1 just after that write's
//! invalidation was applied, carries a stamp older than the bump and is never served.
//!
//! Stripes are shared by the keys that hash alike, so an invalidation may hide a few unrelated
//! entries too (a spurious miss, never a stale hit). The clear history is bounded: an entry
//! older than every remembered clear is treated as cleared.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use bytes::{BufMut, Bytes, BytesMut};

/// How many stripe counters there are (a power of two).
const STRIPES: usize = 4096;

/// How many prefix clears are remembered.
const CLEAR_HISTORY: usize = 64;

/// The length of the header written before each value in L1.
const HEADER_LEN: usize = 16;

/// The state of the counters that an L1 entry depends on, taken before its L2 call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    stripe: u64,
    clears: u64,
}

/// The invalidation counters of one instance.
#[derive(Debug)]
pub(crate) struct Coherence {
    /// The seed of the stripe hash: random per instance, so that no one can choose keys
    /// that share a stripe (a shared stripe costs spurious misses, never a stale hit).
    seed: u64,
    stripes: Box<[AtomicU64; STRIPES]>,
    /// The sequence number of the last prefix clear.
    clear_seq: AtomicU64,
    /// The last [`CLEAR_HISTORY`] clears: sequence number and prefix, oldest first.
    history: RwLock<VecDeque<(u64, String)>>,
}

impl Default for Coherence {
    fn default() -> Self {
        Coherence {
            seed: RandomState::new().hash_one(STRIPES),
            stripes: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            clear_seq: AtomicU64::new(0),
            history: RwLock::new(VecDeque::with_capacity(CLEAR_HISTORY)),
        }
    }
}

impl Coherence {
    fn stripe(&self, key: &str) -> &AtomicU64 {
        // Masked to the array's length (a power of two): the index is always in bounds.
        // xxh3, seeded: a fraction of SipHash's cost on every L1 read.
        let hash = xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), self.seed);
        &self.stripes[(hash as usize) & (STRIPES - 1)]
    }

    /// The stamp for an entry of `key` whose L2 call starts now.
    pub(crate) fn stamp(&self, key: &str) -> Stamp {
        Stamp {
            stripe: self.stripe(key).load(Ordering::SeqCst),
            clears: self.clear_seq.load(Ordering::SeqCst),
        }
    }

    /// Invalidates `key`: every entry stamped before now becomes invisible.
    pub(crate) fn invalidate_key(&self, key: &str) {
        self.stripe(key).fetch_add(1, Ordering::SeqCst);
    }

    /// Invalidates `key` after this instance changed it in L2, and answers the stamp under
    /// which the value just written may be put in L1, or `None` when it may not: when anything
    /// else invalidated the key between `before` (taken before the L2 write) and now, the
    /// order of the two changes in L2 is unknown, so neither value may be cached.
    pub(crate) fn invalidate_after_write(&self, key: &str, before: Stamp) -> Option<Stamp> {
        let previous = self.stripe(key).fetch_add(1, Ordering::SeqCst);
        let clears = self.clear_seq.load(Ordering::SeqCst);
        (previous == before.stripe && clears == before.clears).then_some(Stamp {
            stripe: previous.wrapping_add(1),
            clears,
        })
    }

    /// Invalidates every key that starts with `prefix` (`""`: every key).
    pub(crate) fn invalidate_prefix(&self, prefix: &str) {
        let mut history = self.history.write().unwrap_or_else(PoisonError::into_inner);
        let seq = self.clear_seq.load(Ordering::SeqCst).wrapping_add(1);
        if history.len() == CLEAR_HISTORY {
            history.pop_front();
        }
        history.push_back((seq, prefix.to_owned()));
        // Stored under the lock, after the push: a reader that sees `seq` finds its entry.
        self.clear_seq.store(seq, Ordering::SeqCst);
    }

    /// Whether an entry of `key` stamped `stamp` may still be served.
    pub(crate) fn is_current(&self, key: &str, stamp: Stamp) -> bool {
        if self.stripe(key).load(Ordering::SeqCst) != stamp.stripe {
            return false;
        }
        if self.clear_seq.load(Ordering::SeqCst) == stamp.clears {
            return true;
        }
        let history = self.history.read().unwrap_or_else(PoisonError::into_inner);
        // Every clear after the stamp must still be remembered, or the entry counts as cleared.
        let remembered = history
            .front()
            .is_some_and(|(oldest, _)| *oldest <= stamp.clears.wrapping_add(1));
        remembered
            && !history
                .iter()
                .any(|(seq, prefix)| *seq > stamp.clears && key.starts_with(prefix.as_str()))
    }
}

/// The bytes stored in L1 for `value` under `stamp`: a 16-byte header, then the value.
pub(crate) fn seal(stamp: Stamp, value: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + value.len());
    out.put_u64_le(stamp.stripe);
    out.put_u64_le(stamp.clears);
    out.put_slice(value);
    out.freeze()
}

/// The stamp and the value of bytes read from L1; `None` for bytes [`seal`] did not write.
pub(crate) fn open(sealed: &Bytes) -> Option<(Stamp, Bytes)> {
    let header = sealed.get(..HEADER_LEN)?;
    let (stripe, clears) = header.split_at(8);
    let stamp = Stamp {
        stripe: u64::from_le_bytes(stripe.try_into().ok()?),
        clears: u64::from_le_bytes(clears.try_into().ok()?),
    };
    Some((stamp, sealed.slice(HEADER_LEN..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_to_their_stamp_and_value() {
        let c = Coherence::default();
        let stamp = c.stamp("k");
        let sealed = seal(stamp, b"value");
        assert_eq!(open(&sealed), Some((stamp, Bytes::from_static(b"value"))));
        assert_eq!(
            open(&seal(stamp, b"")),
            Some((stamp, Bytes::from_static(b"")))
        );
        assert_eq!(open(&Bytes::from_static(b"short")), None);
    }

    #[test]
    fn a_key_invalidation_hides_older_entries_only() {
        let c = Coherence::default();
        let old = c.stamp("k");
        assert!(c.is_current("k", old));
        c.invalidate_key("k");
        assert!(!c.is_current("k", old));
        assert!(c.is_current("k", c.stamp("k")));
    }

    #[test]
    fn a_fill_racing_an_invalidation_is_never_served() {
        // Fill: stamp, (L2 read of the old value), invalidation applied, (L1 insert).
        let c = Coherence::default();
        let fill = c.stamp("k");
        c.invalidate_key("k");
        assert!(!c.is_current("k", fill));
    }

    #[test]
    fn a_write_may_fill_only_when_nothing_else_invalidated_the_key() {
        let c = Coherence::default();
        let before = c.stamp("k");
        let stamp = c.invalidate_after_write("k", before).unwrap();
        assert!(c.is_current("k", stamp));

        // Another instance's invalidation arrives while our L2 write is in flight.
        let before = c.stamp("k");
        c.invalidate_key("k");
        assert_eq!(c.invalidate_after_write("k", before), None);

        // Two local writes of the same key in flight: the first to finish may fill, and the
        // second's invalidation then hides it.
        let first = c.stamp("k");
        let second = c.stamp("k");
        let filled = c.invalidate_after_write("k", first).unwrap();
        assert_eq!(c.invalidate_after_write("k", second), None);
        assert!(!c.is_current("k", filled));
    }

    #[test]
    fn a_prefix_clear_hides_matching_keys_only() {
        let c = Coherence::default();
        let inside = c.stamp("app:1:k");
        let outside = c.stamp("other:k");
        c.invalidate_prefix("app:1:");
        assert!(!c.is_current("app:1:k", inside));
        assert!(c.is_current("other:k", outside));
        assert!(c.is_current("app:1:k", c.stamp("app:1:k")));
        // The empty prefix (a reconnection) hides everything.
        c.invalidate_prefix("");
        assert!(!c.is_current("other:k", outside));
    }

    #[test]
    fn entries_older_than_the_remembered_clears_count_as_cleared() {
        let c = Coherence::default();
        let old = c.stamp("keep:k");
        for i in 0..CLEAR_HISTORY {
            c.invalidate_prefix(&format!("other{i}:"));
        }
        assert!(c.is_current("keep:k", old));
        c.invalidate_prefix("another:");
        assert!(!c.is_current("keep:k", old));
    }
}
