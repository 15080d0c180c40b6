#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod config;
mod connection;
mod error;
mod expiry;
mod protocol;
mod ring;

pub use backend::MemcachedBackend;
pub use config::{
    MemcachedBackendBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_PORT,
    DEFAULT_RESPONSE_TIMEOUT, DEFAULT_URL, URL_ENV_VAR,
};
pub use error::BACKEND;

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_backend_is_send_and_sync() {
        assert_send_sync::<super::MemcachedBackend>();
    }
}
