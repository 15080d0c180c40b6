//! The blocking handle, for programs without an async runtime: a CLI, a synchronous web
//! framework, a build script, a plain `#[test]`.
//!
//! [`Cache`] has every method of the async [`crate::Cache`], with the same names, semantics
//! and errors; [`from_url`] and [`build`] make caches on the blocking [`Runtime`], so that
//! their connections live there. The program needs no Tokio dependency of its own.
//!
//! ```
//! # fn main() -> cachette::Result<()> {
//! let cache = cachette::blocking::from_url("memory://?prefix=cli&default_timeout=45m")?;
//! cache.set("scanner:last_run", "now")?;
//! assert_eq!(cache.get::<String>("scanner:last_run")?.as_deref(), Some("now"));
//! let price: f64 = cache.get_or_set_with("price:AAPL", || Ok::<_, std::io::Error>(189.5))?;
//! assert_eq!(price, 189.5);
//! # Ok(()) }
//! ```
//!
//! See the guide's page `docs/blocking.md` for how a call waits, what it costs, and what it
//! does inside async code.

pub use cachette_api::blocking::{Cache, Runtime};

use crate::{Caches, CachesConfig, Result};

/// Builds a blocking [`Cache`] from a URL, as [`crate::from_url`] does an async one,
/// connecting on the shared blocking [`Runtime`].
///
/// # Errors
/// As [`crate::from_url`]; [`ErrorKind::Config`](crate::ErrorKind::Config) when the blocking
/// runtime cannot start.
pub fn from_url(url: &str) -> Result<Cache> {
    let runtime = Runtime::shared()?;
    let cache = runtime.block_on(crate::from_url(url))?;
    Ok(Cache::with_runtime(cache, runtime))
}

/// Builds named caches (Django's `CACHES`) on the shared blocking [`Runtime`]; take a
/// blocking handle of one with `caches.get(name)?.blocking()?`.
///
/// ```
/// # fn main() -> cachette::Result<()> {
/// let config = cachette::CachesConfig::from_toml_str(
///     r#"
///     [caches.default]
///     url = "memory://"
///     prefix = "wheel_analyzer"
///     "#,
/// )?;
/// let caches = cachette::blocking::build(&config)?;
/// let cache = caches.default_cache()?.blocking()?;
/// cache.set("k", &1)?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`CachesConfig::build`].
pub fn build(config: &CachesConfig) -> Result<Caches> {
    Runtime::shared()?.block_on(config.build())
}
