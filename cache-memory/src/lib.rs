#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
mod config;
mod entry;
mod gate;

pub use backend::MemoryBackend;
pub use config::{MemoryBackendBuilder, DEFAULT_MAX_ENTRIES};
