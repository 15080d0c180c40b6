#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod cluster;
mod config;
mod error;
mod watchdog;

pub use backend::RedisBackend;
pub use config::{
    RedisBackendBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_URL,
    URL_ENV_VAR,
};
