//! Named in-process stores: caches configured with the same `memory://NAME` share one store,
//! as Django's `LocMemCache` caches with the same `LOCATION` do. `memory://` alone is a store
//! of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cachette_api::{DynCacheBackend, Result};
use cachette_memory::{MemoryBackend, MemoryBackendBuilder};

use crate::options;

/// The bounds a store was made with: `max_entries`, `max_bytes`.
type Bounds = (Option<u64>, Option<u64>);

fn stores() -> &'static Mutex<HashMap<String, (Bounds, MemoryBackend)>> {
    static STORES: OnceLock<Mutex<HashMap<String, (Bounds, MemoryBackend)>>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

/// The store called `name`, made with `builder` the first time.
///
/// # Errors
/// [`Config`](cachette_api::ErrorKind::Config) when the store exists with other bounds.
pub(crate) fn shared(
    name: &str,
    bounds: Bounds,
    builder: MemoryBackendBuilder,
) -> Result<DynCacheBackend> {
    let mut stores = stores().lock().unwrap_or_else(|p| p.into_inner());
    let (made_with, store) = stores
        .entry(name.to_owned())
        .or_insert_with(|| (bounds, builder.build()));
    if *made_with != bounds {
        return Err(options::invalid(
            "url",
            "names a memory store that exists with other bounds (max_entries, max_bytes)",
        ));
    }
    Ok(Arc::new(store.clone()))
}

#[cfg(test)]
mod tests {
    use crate::CacheConfig;

    #[tokio::test]
    async fn caches_with_one_memory_location_share_its_store() {
        let a = CacheConfig::from_url("memory://shared-test?prefix=a").unwrap();
        let b = CacheConfig::from_url("memory://shared-test?prefix=b").unwrap();
        let (a, b) = (a.build().await.unwrap(), b.build().await.unwrap());
        let a2 = CacheConfig::from_url("memory://shared-test?prefix=a").unwrap();
        let a2 = a2.build().await.unwrap();
        a.set("k", "from a").await.unwrap();
        assert_eq!(
            a2.get::<String>("k").await.unwrap().as_deref(),
            Some("from a")
        );
        assert_eq!(b.get::<String>("k").await.unwrap(), None);
        let private = CacheConfig::from_url("memory://?prefix=a").unwrap();
        let private = private.build().await.unwrap();
        assert_eq!(private.get::<String>("k").await.unwrap(), None);
        let other_bounds = CacheConfig::from_url("memory://shared-test?max_entries=5").unwrap();
        let err = other_bounds.build().await.unwrap_err();
        assert_eq!(err.kind(), cachette_api::ErrorKind::Config, "{err}");
    }
}
