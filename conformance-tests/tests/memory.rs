//! The conformance suite against the memory backend, directly, through `Box<dyn …>`, and
//! through the blocking handle.

// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cachette_api::{CacheBackend, DynCacheBackend};
use cachette_memory::MemoryBackend;

mod memory {
    use super::*;

    cachette_conformance::conformance_suite!("memory", || async {
        Arc::new(MemoryBackend::new()) as DynCacheBackend
    });
}

mod memory_boxed {
    use super::*;

    cachette_conformance::conformance_suite!("memory", || async {
        let boxed: Box<dyn CacheBackend> = Box::new(MemoryBackend::new());
        Arc::new(boxed) as DynCacheBackend
    });
}

mod blocking_memory {
    use super::*;

    cachette_conformance::blocking_conformance_suite!("memory", || async {
        Arc::new(MemoryBackend::new()) as DynCacheBackend
    });
}
