//! The three lines a third-party backend writes to prove it conforms.

mod hashmap {
    conformance_tests::conformance_suite!("hashmap", || async {
        std::sync::Arc::new(hashmap_backend::HashMapBackend::new()) as cache_api::DynCacheBackend
    });
}
