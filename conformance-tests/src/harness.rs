//! What each case is given: a backend and a fresh namespace in it.

use std::fmt::Debug;

use cachette_api::{Cache, CacheBuilder, DynCacheBackend, ErrorKind, Result};
use rand::Rng;

use crate::Handle;

/// A backend plus a prefix no other case uses.
#[derive(Debug, Clone)]
pub struct Harness {
    backend: DynCacheBackend,
    expected_name: &'static str,
    prefix: String,
    blocking: bool,
}

impl Harness {
    /// A harness over `backend`, which must report `expected_name`.
    pub fn new(backend: DynCacheBackend, expected_name: &'static str) -> Self {
        Harness {
            backend,
            expected_name,
            prefix: unique("ct"),
            blocking: false,
        }
    }

    /// This harness, handing out [blocking handles](cachette_api::blocking::Cache) from
    /// [`handle`](Harness::handle) and [`handle_of`](Harness::handle_of).
    pub fn blocking(mut self) -> Self {
        self.blocking = true;
        self
    }

    /// The backend under test.
    pub fn backend(&self) -> &DynCacheBackend {
        &self.backend
    }

    /// The name the backend must report.
    pub fn expected_name(&self) -> &'static str {
        self.expected_name
    }

    /// This case's own prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A builder over the backend with this case's prefix.
    pub fn builder(&self) -> CacheBuilder {
        Cache::builder(self.backend.clone()).with_prefix(self.prefix.clone())
    }

    /// A cache with this case's prefix and Django's defaults.
    pub fn cache(&self) -> Cache {
        self.builder()
            .build()
            .expect("a random prefix is a valid prefix")
    }

    /// The handle under test over [`cache`](Harness::cache): async, or blocking for a
    /// [`blocking`](Harness::blocking) harness.
    pub fn handle(&self) -> Handle {
        self.handle_of(self.cache())
    }

    /// The handle under test over `cache`.
    pub fn handle_of(&self, cache: Cache) -> Handle {
        if self.blocking {
            match cache.blocking() {
                Ok(cache) => Handle::Blocking(cache),
                Err(err) => panic!("cannot start the blocking handle's runtime: {err}"),
            }
        } else {
            Handle::Async(cache)
        }
    }

    /// Another prefix, unique to this case, starting with `stem`.
    pub fn other_prefix(&self, stem: &str) -> String {
        format!("{stem}{}", unique(""))
    }
}

fn unique(stem: &str) -> String {
    let n: u64 = rand::rng().random();
    format!("{stem}{n:016x}")
}

/// Asserts that `result` failed with `kind`, printing what it got otherwise.
pub fn expect_kind<T: Debug>(result: Result<T>, kind: ErrorKind) -> cachette_api::Error {
    match result {
        Ok(value) => panic!("expected an error of kind {kind:?}, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(err.kind(), kind, "unexpected error: {err}");
            err
        }
    }
}
