#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod builder;
mod cache;
pub mod codec;
mod error;
mod expiry;
mod inflight;
mod invalidation;
mod key;
mod options;
mod policy;
mod redact;
mod resilient;
mod stats;

pub use backend::{CacheBackend, DynCacheBackend, SetMode, SetOptions};
pub use builder::{CacheBuilder, DEFAULT_MAX_VALUE_SIZE, DEFAULT_TIMEOUT};
pub use cache::Cache;
pub use error::{Error, ErrorKind, Result};
pub use expiry::{Expiry, KeyTtl, Timeout};
pub use invalidation::{
    DynInvalidationChannel, InvalidationChannel, InvalidationEvent, InvalidationStream,
    Subscription,
};
pub use key::{make_key, KeyPolicy, DEFAULT_MAX_KEY_LEN};
pub use options::CallOptions;
pub use policy::{FailSafe, Lease, LoadPolicy, Loaded, OnUndecodable, Source};
pub use redact::redact_url;
pub use stats::CacheStats;

/// Re-exported so that backends implement [`CacheBackend`] with the same macro version.
pub use async_trait::async_trait;
/// Re-exported: the byte buffer type of the [`CacheBackend`] contract.
pub use bytes::Bytes;
