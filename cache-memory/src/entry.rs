//! What the memory backend stores per key: the encoded bytes, their deadline and the slot for
//! the value decoded from them.

use std::sync::Arc;
use std::time::Duration;

use cachette_api::{Bytes, DecodedMemo, Expiry, KeyTtl};
use tokio::time::Instant;

/// What one entry costs besides its key and value bytes: moka's entry, its deadline and
/// frequency bookkeeping, the key's `String` and `Arc`, the value's `Bytes` and this crate's
/// `Entry`. Measured: the process grew by 434–450 bytes per entry more than the keys and
/// values, for values of 10 B, 100 B and 1 KB (2.6 M, 574 k and 66 k entries, release build).
/// That was measured before entries had a [`DecodedMemo`], whose pointer and empty allocation
/// (about 80 bytes) it leaves out; a value decoded into the memo is not counted either.
pub(crate) const ENTRY_OVERHEAD: usize = 448;

/// One stored value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    pub(crate) expires_at: Option<Instant>,
    /// The value decoded from `value` by `Cache::get_shared`: a new, empty one for every
    /// new `value`.
    pub(crate) memo: Arc<DecodedMemo>,
}

impl Entry {
    pub(crate) fn new(value: Bytes, expiry: Expiry, now: Instant) -> Self {
        Entry {
            value,
            expires_at: deadline(expiry, now),
            memo: Arc::default(),
        }
    }

    /// The entry holding `value` instead, with the same deadline (and a new memo).
    pub(crate) fn replaced(&self, value: Bytes) -> Self {
        Entry {
            value,
            expires_at: self.expires_at,
            memo: Arc::default(),
        }
    }

    /// Whether the entry is still alive at `now` (expiry is checked on every read, before
    /// moka evicts anything).
    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// The entry's remaining life, `None` when it has expired at `now`.
    pub(crate) fn expiry(&self, now: Instant) -> Option<Expiry> {
        match self.expires_at {
            None => Some(Expiry::Never),
            Some(at) => Expiry::after(at.saturating_duration_since(now)),
        }
    }

    pub(crate) fn ttl(&self, now: Instant) -> KeyTtl {
        match self.expires_at {
            None => KeyTtl::Persistent,
            Some(at) if at > now => KeyTtl::Expires(at - now),
            Some(_) => KeyTtl::Missing,
        }
    }

    /// Bytes this entry costs the process, for the byte-bounded weigher: its key and value,
    /// and what moka and this crate keep per entry besides them.
    pub(crate) fn weight(&self, key: &str) -> u32 {
        let bytes = key.len() + self.value.len() + ENTRY_OVERHEAD;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// The instant an expiry ends, `None` for never (or past `Instant`'s range).
pub(crate) fn deadline(expiry: Expiry, now: Instant) -> Option<Instant> {
    match expiry {
        Expiry::After(d) => now.checked_add(d),
        _ => None,
    }
}

/// Tells moka when each entry expires: at its own deadline, on Tokio's clock (so that a test
/// with paused time sees entries expire when it advances the clock; moka then evicts them
/// later, on its own clock, and reads never return them meanwhile).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryExpiry;

impl EntryExpiry {
    fn remaining(entry: &Entry) -> Option<Duration> {
        let now = Instant::now();
        entry.expires_at.map(|at| at.saturating_duration_since(now))
    }
}

impl moka::Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Self::remaining(value)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(value)
    }
}
