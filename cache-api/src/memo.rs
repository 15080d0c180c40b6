//! [`StoredEntry`] and [`DecodedMemo`]: the bytes of one stored entry and, when the backend
//! keeps one per entry, a slot for the value decoded from them, so that a process-local
//! backend can answer [`Cache::get_shared`](crate::Cache::get_shared) without decoding again.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec::ValueCodec;
use crate::{Codec, Compression};

/// What [`CacheBackend::get_entry`](crate::CacheBackend::get_entry) answers: the stored bytes,
/// and the entry's [`DecodedMemo`] when the backend keeps one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredEntry {
    /// The stored bytes, as [`get`](crate::CacheBackend::get) answers them.
    pub bytes: Bytes,
    /// The slot for the value decoded from `bytes`: one per stored entry, dropped with it.
    /// `None` for a backend that keeps none (every read then decodes).
    pub memo: Option<Arc<DecodedMemo>>,
}

impl StoredEntry {
    /// Stored bytes without a memo.
    pub fn new(bytes: Bytes) -> Self {
        StoredEntry { bytes, memo: None }
    }

    /// Stored bytes with the memo of their entry.
    pub fn with_memo(bytes: Bytes, memo: Arc<DecodedMemo>) -> Self {
        StoredEntry {
            bytes,
            memo: Some(memo),
        }
    }
}

/// The value decoded from one stored entry's bytes, kept with the entry by a process-local
/// backend so that [`Cache::get_shared`](crate::Cache::get_shared) decodes each entry once.
///
/// A backend makes a new, empty memo for every value it stores (a write, an `incr`, any
/// change of the bytes) and hands it out with the entry from
/// [`get_entry`](crate::CacheBackend::get_entry); it never looks inside. The memo holds at
/// most one value, the first decoded: its type and the codec, compression and size limit of
/// the handle that decoded it travel with it, and a handle that asks for another type, or
/// decodes differently, decodes the bytes itself (as [`Cache::get`](crate::Cache::get)
/// does) and leaves the memo as it is. Filling it is one atomic store; reading it, one load.
///
/// The decoded value lives as long as the entry (or as long as a caller holds its `Arc`);
/// a backend that bounds its memory by the bytes it stores does not count it.
#[derive(Default)]
pub struct DecodedMemo {
    slot: OnceLock<Memoized>,
}

impl fmt::Debug for DecodedMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedMemo")
            .field("filled", &self.slot.get().is_some())
            .finish()
    }
}

impl DecodedMemo {
    /// An empty memo, for a new stored value.
    pub fn new() -> Self {
        Self::default()
    }

    /// The memoized value if it is a `T` decoded as `decoder` decodes.
    pub(crate) fn get<T: Any + Send + Sync>(&self, decoder: DecodedBy) -> Option<Arc<T>> {
        let memoized = self.slot.get()?;
        if memoized.by != decoder {
            return None;
        }
        memoized.value.clone().downcast::<T>().ok()
    }

    /// Keeps `value`, decoded as `decoder` decodes, unless the memo already holds a value.
    pub(crate) fn fill<T: Any + Send + Sync>(&self, decoder: DecodedBy, value: Arc<T>) {
        let _ = self.slot.set(Memoized { by: decoder, value });
    }
}

/// A decoded value and what decoded it.
struct Memoized {
    by: DecodedBy,
    value: Arc<dyn Any + Send + Sync>,
}

/// Everything besides the bytes and the type that decides what a decode answers: two handles
/// that differ in any of these may answer differently for the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodedBy {
    codec: Codec,
    compression: Compression,
    /// The limit a compressed value may inflate to (past it, the decode fails).
    max_value_size: usize,
}

impl DecodedBy {
    pub(crate) fn of(codec: &ValueCodec) -> Self {
        DecodedBy {
            codec: codec.codec,
            compression: codec.compression,
            max_value_size: codec.max_value_size,
        }
    }
}
