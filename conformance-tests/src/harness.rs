//! What each case is given: a backend and a fresh namespace in it.

use std::fmt::Debug;

use cachette_api::{Cache, CacheBuilder, DynCacheBackend, ErrorKind, Result};
use rand::Rng;

/// A backend plus a prefix no other case uses.
#[derive(Debug, Clone)]
pub struct Harness {
    backend: DynCacheBackend,
    expected_name: &'static str,
    prefix: String,
}

impl Harness {
    /// A harness over `backend`, which must report `expected_name`.
    pub fn new(backend: DynCacheBackend, expected_name: &'static str) -> Self {
        Harness {
            backend,
            expected_name,
            prefix: unique("ct"),
        }
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
