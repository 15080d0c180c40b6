//! [`MemoryBackendBuilder`]: how much the memory backend may hold.

use moka::future::Cache as MokaCache;

use crate::entry::{Entry, EntryExpiry};
use crate::MemoryBackend;

/// The default bound: 100,000 entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Entries(u64),
    Bytes(u64),
    Unbounded,
}

/// Builds a [`MemoryBackend`].
///
/// ```
/// use cachette_memory::MemoryBackend;
///
/// let by_count = MemoryBackend::builder().with_max_entries(10_000).build();
/// let by_size = MemoryBackend::builder().with_max_bytes(64 * 1024 * 1024).build();
/// # let _ = (by_count, by_size);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryBackendBuilder {
    bound: Bound,
}

impl Default for MemoryBackendBuilder {
    fn default() -> Self {
        MemoryBackendBuilder {
            bound: Bound::Entries(DEFAULT_MAX_ENTRIES),
        }
    }
}

impl MemoryBackendBuilder {
    /// A builder bounded to [`DEFAULT_MAX_ENTRIES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds at most `n` entries, evicting the least useful ones (moka's TinyLFU) beyond.
    pub fn with_max_entries(mut self, n: u64) -> Self {
        self.bound = Bound::Entries(n);
        self
    }

    /// Holds at most about `n` bytes, evicting beyond: each entry counts its key and value
    /// and a measured 448 bytes of bookkeeping, so that the process's memory for the store
    /// stays near `n` whatever the size of the values (measured 1.0–1.1× with values of
    /// 10 B to 1 KB; keys and values alone would let tiny entries take 18× the budget).
    pub fn with_max_bytes(mut self, n: u64) -> Self {
        self.bound = Bound::Bytes(n);
        self
    }

    /// Holds everything until it expires or is deleted.
    pub fn unbounded(mut self) -> Self {
        self.bound = Bound::Unbounded;
        self
    }

    /// Builds the backend. Building cannot fail.
    pub fn build(self) -> MemoryBackend {
        let builder = MokaCache::builder().expire_after(EntryExpiry);
        let store = match self.bound {
            Bound::Entries(n) => builder.max_capacity(n).build(),
            Bound::Bytes(n) => builder
                .max_capacity(n)
                .weigher(|key: &String, entry: &Entry| entry.weight(key))
                .build(),
            Bound::Unbounded => builder.build(),
        };
        MemoryBackend::from_store(store)
    }
}
