//! Feeds arbitrary bytes to the value decoder, as stored bytes another client may have
//! written under a cache key, read back through the public API (`Cache::get` over the memory
//! backend): every input must give `Ok` or an error of kind `Decode`, never a panic, an abort
//! or an allocation sized by a header rather than by the input.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use cachette_api::{Bytes, Cache, CacheBackend, ErrorKind, Expiry, SetOptions};
use libfuzzer_sys::fuzz_target;

struct Target {
    runtime: tokio::runtime::Runtime,
    store: cachette_memory::MemoryBackend,
    cache: Cache,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let store = cachette_memory::MemoryBackend::new();
        Target {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime"),
            cache: store.cache(),
            store,
        }
    })
}

/// Checks that a failed read is a `Decode` error.
fn check<T>(result: cachette_api::Result<Option<T>>) {
    if let Err(err) = result {
        assert_eq!(err.kind(), ErrorKind::Decode, "{err:?}");
    }
}

fuzz_target!(|bytes: &[u8]| {
    let t = target();
    t.runtime.block_on(async {
        let key = t.cache.make_key("fuzzed").expect("a valid key");
        let options = SetOptions::new(Expiry::Never);
        t.store
            .set(&key, Bytes::copy_from_slice(bytes), options)
            .await
            .expect("the memory backend stores any bytes");
        check(t.cache.get::<serde::de::IgnoredAny>("fuzzed").await);
        check(t.cache.get::<String>("fuzzed").await);
        check(t.cache.get::<Vec<i64>>("fuzzed").await);
        check(t.cache.get::<HashMap<String, Option<f64>>>("fuzzed").await);
    });
});
