#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod config;
mod connection;
mod error;
mod invalidation;
mod redis_backend;
mod scripts;
mod topology;

pub use config::{
    RedisBackendBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_URL,
    URL_ENV_VAR,
};
pub use error::{classify, from_redis, BACKEND};
pub use invalidation::{RedisInvalidation, RedisInvalidationBuilder, DEFAULT_INVALIDATION_TIMEOUT};
pub use redis_backend::RedisBackend;
