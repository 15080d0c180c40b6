//! A blocking handle: Django's cache API for code without an async runtime.
//!
//! [`Cache`] wraps the async [`crate::Cache`] and has the same methods, the same semantics
//! and the same errors; each call waits for the async call on the calling thread (see
//! [`Runtime`] for how). Use it from plain threads, CLIs, build scripts, synchronous web
//! frameworks and tests that are not `#[tokio::test]`.
//!
//! ```
//! # fn main() -> cachette_api::Result<()> {
//! let cache = cachette_memory::MemoryBackend::new().cache().blocking()?;
//! cache.set("greeting", "hello")?;
//! assert_eq!(cache.get::<String>("greeting")?.as_deref(), Some("hello"));
//! assert_eq!(cache.get_or_set_with("answer", || Ok::<_, std::io::Error>(42))?, 42);
//! # Ok(()) }
//! ```

mod load;
mod ops;
mod runtime;

use std::fmt;
use std::future::Future;

pub use runtime::Runtime;

use crate::{CacheStats, DynCacheBackend, Result, Ttl};

/// The blocking cache handle: every method of the async [`crate::Cache`], waited for.
///
/// Cloning is cheap, and clones share everything with each other and with the async handle
/// they were made from (backend, counters, in-process single flight).
///
/// From inside async code a call blocks the task's thread for its duration (it does not
/// panic, and does not deadlock: the I/O is driven by the handle's [`Runtime`]); prefer the
/// async handle there, which [`as_async`](Cache::as_async) gives.
#[derive(Clone)]
pub struct Cache {
    inner: crate::Cache,
    runtime: Runtime,
}

// Compile-time check: the blocking handle crosses threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cache>();
};

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Cache")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl crate::Cache {
    /// A blocking handle over this cache, on the process-wide [`Runtime::shared`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when that runtime cannot start.
    pub fn blocking(&self) -> Result<Cache> {
        Ok(Cache::with_runtime(self.clone(), Runtime::shared()?))
    }
}

impl Cache {
    /// A blocking handle over `cache`, on the process-wide [`Runtime::shared`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when that runtime cannot start.
    pub fn new(cache: crate::Cache) -> Result<Cache> {
        Ok(Cache::with_runtime(cache, Runtime::shared()?))
    }

    /// A blocking handle over `cache`, on `runtime`.
    pub fn with_runtime(cache: crate::Cache, runtime: Runtime) -> Cache {
        Cache {
            inner: cache,
            runtime,
        }
    }

    /// The async handle this one waits for (sharing everything with it).
    pub fn as_async(&self) -> &crate::Cache {
        &self.inner
    }

    /// The async handle this one waits for.
    pub fn into_async(self) -> crate::Cache {
        self.inner
    }

    /// The runtime this handle runs on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// A view whose keys live under `namespace`; see [`crate::Cache::namespace`].
    pub fn namespace(&self, namespace: &str) -> Cache {
        self.view(self.inner.namespace(namespace))
    }

    /// A view at another version; see [`crate::Cache::with_version`].
    pub fn with_version(&self, version: i64) -> Cache {
        self.view(self.inner.with_version(version))
    }

    /// The backend this cache was built on.
    pub fn backend(&self) -> &DynCacheBackend {
        self.inner.backend()
    }

    /// The key prefix (Django's `KEY_PREFIX`).
    pub fn prefix(&self) -> &str {
        self.inner.prefix()
    }

    /// The version of this view (Django's `VERSION`).
    pub fn version(&self) -> i64 {
        self.inner.version()
    }

    /// The TTL of writes that give none (Django's `TIMEOUT`).
    pub fn default_ttl(&self) -> Ttl {
        self.inner.default_ttl()
    }

    /// The format this cache stores values in: [`crate::Cache::codec`].
    pub fn codec(&self) -> crate::Codec {
        self.inner.codec()
    }

    /// How this cache compresses values: [`crate::Cache::compression`].
    pub fn compression(&self) -> crate::Compression {
        self.inner.compression()
    }

    /// A snapshot of the counters of this cache (shared with the async handle).
    pub fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    /// The final key stored in the backend for `key`; see [`crate::Cache::make_key`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`](crate::ErrorKind::InvalidKey) when the key breaks the
    /// cache's key policy.
    pub fn make_key(&self, key: &str) -> Result<String> {
        self.inner.make_key(key)
    }

    fn view(&self, inner: crate::Cache) -> Cache {
        Cache {
            inner,
            runtime: self.runtime.clone(),
        }
    }

    /// Waits for one call of the async handle.
    fn wait<F: Future>(&self, call: F) -> F::Output {
        self.runtime.block_on(call)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The names of the `pub fn`s and `pub async fn`s declared in `files`.
    fn public_fns(files: &[&str]) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for file in files {
            for decl in file.split("    pub ").skip(1) {
                let decl = decl.trim_start_matches("async ");
                if let Some(rest) = decl.strip_prefix("fn ") {
                    let end = rest.find(['<', '(']).unwrap_or(rest.len());
                    names.insert(rest[..end].to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn the_blocking_handle_has_every_method_of_the_async_one() {
        let async_handle = public_fns(&[
            include_str!("../cache/mod.rs"),
            include_str!("../cache/read.rs"),
            include_str!("../cache/write.rs"),
            include_str!("../cache/counter.rs"),
            include_str!("../cache/version.rs"),
            include_str!("../load/one.rs"),
            include_str!("../load/resilient.rs"),
            include_str!("../load/many.rs"),
        ]);
        let blocking_handle = public_fns(&[
            include_str!("mod.rs"),
            include_str!("ops.rs"),
            include_str!("load.rs"),
        ]);
        // Constructors differ: the blocking handle is made from an async one.
        let missing: Vec<_> = async_handle
            .difference(&blocking_handle)
            .filter(|name| !["builder"].contains(&name.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "missing from blocking::Cache: {missing:?}"
        );
    }
}
