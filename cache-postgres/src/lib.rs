#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod config;
mod error;
mod postgres_backend;
mod sql;
mod tls;
#[cfg(feature = "tls")]
mod tls_rustls;

pub use config::{
    PostgresBackendBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_CULL_FREQUENCY, DEFAULT_CULL_INTERVAL,
    DEFAULT_CULL_LIMIT, DEFAULT_POOL_SIZE, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_TABLE, DEFAULT_URL,
    URL_ENV_VAR,
};
pub use error::{classify, from_postgres, BACKEND};
pub use postgres_backend::PostgresBackend;
