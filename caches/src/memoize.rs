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

/// The default key of a memoized call: the function's path, then each argument encoded with
/// MessagePack, in hexadecimal (`my_app::quotes::quote:a4414150…`).
///
/// A key longer than the cache's key policy allows fails the call with
/// [`ErrorKind::InvalidKey`]; give such a function a `key = …` of its own.
///
/// ```
/// # fn main() -> cachette::Result<()> {
/// let mut key = cachette::memoize::Key::new("app::quote");
/// key.push("AAPL")?;
/// key.push(&2_u32)?;
/// assert_eq!(key.finish(), "app::quote:a44141504c02");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Key(String);

impl Key {
    /// A key for the function at `path` (its module path and name).
    pub fn new(path: &str) -> Key {
        Key(format!("{path}:"))
    }

    /// Appends an argument.
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] when the argument cannot be encoded.
    pub fn push<A: Serialize + ?Sized>(&mut self, arg: &A) -> Result<()> {
        use std::fmt::Write;

        let bytes = rmp_serde::to_vec(arg).map_err(|err| {
            Error::new(
                ErrorKind::Encode,
                "cannot encode an argument of a memoized call",
            )
            .with_source(err)
        })?;
        for byte in bytes {
            let _ = write!(self.0, "{byte:02x}");
        }
        Ok(())
    }

    /// The key.
    pub fn finish(self) -> String {
        self.0
    }
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
