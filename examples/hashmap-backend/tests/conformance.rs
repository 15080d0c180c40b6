//! The three lines a third-party backend writes to prove it conforms.

mod hashmap {
    cachette_conformance::conformance_suite!("hashmap", || async {
        std::sync::Arc::new(hashmap_backend::HashMapBackend::new()) as cachette_api::DynCacheBackend
    });
}
