//! The conformance suite against the memory backend, directly and through `Box<dyn …>`.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cache_api::{CacheBackend, DynCacheBackend};
use cache_memory::MemoryBackend;

mod memory {
    use super::*;

    conformance_tests::conformance_suite!("memory", || async {
        Arc::new(MemoryBackend::new()) as DynCacheBackend
    });
}

mod memory_boxed {
    use super::*;

    conformance_tests::conformance_suite!("memory", || async {
        let boxed: Box<dyn CacheBackend> = Box::new(MemoryBackend::new());
        Arc::new(boxed) as DynCacheBackend
    });
}
