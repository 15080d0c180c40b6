//! What `#[cachette::cached]` expands to: where the cache comes from, how the key is made,
//! and the named caches the attribute's `named = "…"` finds.
//!
//! The attribute itself is [`crate::cached`]; the guide's page `docs/memoize.md` shows it in
//! use.

use std::sync::OnceLock;

use serde::Serialize;

use crate::{blocking, Cache, Caches, Error, ErrorKind, Result};

/// A cache the attribute's `cache = EXPR` may name: an async [`Cache`] or a
/// [`blocking::Cache`] (or anything that derefs to one, such as a `LazyLock` static). An
/// async function gets the async handle, a sync one the blocking handle.
pub trait CacheSource {
    /// The async handle.
    ///
    /// # Errors
    /// None for the handles of this crate.
    fn async_cache(&self) -> Result<Cache>;
    /// The blocking handle.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the blocking runtime cannot start.
    fn blocking_cache(&self) -> Result<blocking::Cache>;
}

impl CacheSource for Cache {
    fn async_cache(&self) -> Result<Cache> {
        Ok(self.clone())
    }

    fn blocking_cache(&self) -> Result<blocking::Cache> {
        self.blocking()
    }
}

impl CacheSource for blocking::Cache {
    fn async_cache(&self) -> Result<Cache> {
        Ok(self.as_async().clone())
    }

    fn blocking_cache(&self) -> Result<blocking::Cache> {
        Ok(self.clone())
    }
}

static INSTALLED: OnceLock<Caches> = OnceLock::new();

/// Installs the named caches that `#[cached(named = "…")]` finds, once per process (as
/// Django reads `CACHES` once).
///
/// # Errors
/// [`ErrorKind::Config`] when caches are already installed.
pub fn install(caches: Caches) -> Result<()> {
    INSTALLED.set(caches).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "named caches are already installed (cachette::memoize::install is called once)",
        )
    })
}

/// The installed cache called `name`.
///
/// # Errors
/// [`ErrorKind::Config`] when no caches are installed, or none has that name.
pub fn named(name: &str) -> Result<Cache> {
    match INSTALLED.get() {
        Some(caches) => caches.get(name).cloned(),
        None => Err(Error::new(
            ErrorKind::Config,
            format!(
                "#[cached(named = {name:?})]: no named caches installed; call \
                 cachette::memoize::install(caches) at start-up"
            ),
        )),
    }
}

/// The default key of a memoized call: the function's path, then its arguments encoded
/// with MessagePack, in hexadecimal (`my_app::quotes::quote:91a441415050…`).
///
/// A key longer than the cache's key policy allows fails the call with
/// [`ErrorKind::InvalidKey`]; give such a function a `key = …` of its own.
///
/// # Errors
/// [`ErrorKind::Encode`] when an argument cannot be encoded.
pub fn key<A: Serialize + ?Sized>(path: &str, args: &A) -> Result<String> {
    use std::fmt::Write;

    let bytes = rmp_serde::to_vec(args).map_err(|err| {
        Error::new(
            ErrorKind::Encode,
            "cannot encode the arguments of a memoized call",
        )
        .with_source(err)
    })?;
    let mut key = String::with_capacity(path.len() + 1 + 2 * bytes.len());
    key.push_str(path);
    key.push(':');
    for byte in bytes {
        let _ = write!(key, "{byte:02x}");
    }
    Ok(key)
}

/// The loader error that stands for the function's own error, which the expansion keeps
/// aside and returns as it is.
#[derive(Debug, Clone, Copy)]
pub struct LoaderFailed;

impl std::fmt::Display for LoaderFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the memoized function failed")
    }
}

impl std::error::Error for LoaderFailed {}
