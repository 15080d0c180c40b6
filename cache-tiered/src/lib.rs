#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod channel;
mod coherence;
mod config;
mod error;
mod layer;
mod link;
mod local;
mod message;
#[cfg(feature = "metrics")]
mod metrics;
mod stats;

pub use config::{
    DisconnectedMode, TieredLayerBuilder, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_L1_MAX_TTL,
    DEFAULT_NETWORK_TIMEOUT,
};
pub use layer::TieredLayer;
pub use local::{LocalInvalidation, DEFAULT_LOCAL_CAPACITY};
#[cfg(feature = "metrics")]
pub use metrics::record_metrics;
pub use stats::TieredStats;
