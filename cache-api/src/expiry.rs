//! How long an entry lives: [`Timeout`] for callers, [`Expiry`] for backends.

use std::time::Duration;

/// The timeout a caller gives to a write, in Django's terms.
///
/// | Django            | here                        |
/// |-------------------|-----------------------------|
/// | argument omitted  | [`Timeout::Default`]        |
/// | `timeout=None`    | [`Timeout::Never`]          |
/// | `timeout=0`       | `Timeout::After(Duration::ZERO)`: not stored / expire now |
/// | `timeout=60`      | `Timeout::After(Duration::from_secs(60))` |
///
/// Durations have millisecond precision: a non-zero duration shorter than a millisecond is
/// rounded up to one millisecond, never down to "expire now".
///
/// ```
/// use std::time::Duration;
/// use cache_api::Timeout;
///
/// let t: Timeout = Duration::from_secs(60).into();
/// assert_eq!(t, Timeout::After(Duration::from_secs(60)));
/// assert_eq!(Timeout::secs(0), Timeout::After(Duration::ZERO));
/// assert!(Timeout::default().is_default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Timeout {
    /// The cache's default timeout (300 s unless the builder says otherwise).
    #[default]
    Default,
    /// Never expire.
    Never,
    /// Expire after this long; zero means "do not store / expire now".
    After(Duration),
}

impl Timeout {
    /// A timeout of `secs` seconds; `0` means "do not store".
    pub const fn secs(secs: u64) -> Self {
        Timeout::After(Duration::from_secs(secs))
    }

    /// A timeout of `millis` milliseconds; `0` means "do not store".
    pub const fn millis(millis: u64) -> Self {
        Timeout::After(Duration::from_millis(millis))
    }

    /// Whether this is [`Timeout::Default`].
    pub const fn is_default(&self) -> bool {
        matches!(self, Timeout::Default)
    }

    /// Resolves [`Timeout::Default`] against the cache's default (itself resolved).
    ///
    /// Returns `None` for "expire now" (a zero duration), `Some(expiry)` otherwise.
    pub fn resolve(self, default: Option<Expiry>) -> Option<Expiry> {
        match self {
            Timeout::Default => default,
            Timeout::Never => Some(Expiry::Never),
            Timeout::After(d) => Expiry::after(d),
        }
    }
}

impl From<Duration> for Timeout {
    fn from(d: Duration) -> Self {
        Timeout::After(d)
    }
}

/// The expiry a backend applies to an entry: the caller's [`Timeout`] once resolved.
///
/// A backend never receives a zero duration: the [`Cache`](crate::Cache) handle turns
/// "expire now" into a delete (or into nothing, for `add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expiry {
    /// Keep the entry until it is deleted or evicted.
    Never,
    /// Expire after this long (at least one millisecond).
    After(Duration),
}

impl Expiry {
    /// An expiry of `d`, rounded up to whole milliseconds; `None` when `d` is zero.
    pub fn after(d: Duration) -> Option<Expiry> {
        if d.is_zero() {
            return None;
        }
        let millis = d.as_nanos().div_ceil(1_000_000);
        let millis = u64::try_from(millis).unwrap_or(u64::MAX);
        Some(Expiry::After(Duration::from_millis(millis)))
    }

    /// The duration in whole milliseconds, `None` for [`Expiry::Never`].
    pub fn as_millis(&self) -> Option<u64> {
        match self {
            Expiry::Never => None,
            Expiry::After(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// What a backend knows of a key's remaining life, as answered by
/// [`CacheBackend::ttl`](crate::CacheBackend::ttl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyTtl {
    /// The key does not exist (or has expired).
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key exists and expires after this long.
    Expires(Duration),
}

impl KeyTtl {
    /// The remaining time, when the key exists and expires.
    pub fn remaining(&self) -> Option<Duration> {
        match self {
            KeyTtl::Expires(d) => Some(*d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_resolves_to_expire_now() {
        assert_eq!(Timeout::secs(0).resolve(Some(Expiry::Never)), None);
    }

    #[test]
    fn default_resolves_to_the_caches_default() {
        let d = Expiry::After(Duration::from_secs(300));
        assert_eq!(Timeout::Default.resolve(Some(d)), Some(d));
        assert_eq!(Timeout::Default.resolve(None), None);
        assert_eq!(Timeout::Never.resolve(Some(d)), Some(Expiry::Never));
    }

    #[test]
    fn sub_millisecond_rounds_up() {
        assert_eq!(
            Expiry::after(Duration::from_nanos(1)),
            Some(Expiry::After(Duration::from_millis(1)))
        );
        assert_eq!(
            Expiry::after(Duration::from_micros(1500)),
            Some(Expiry::After(Duration::from_millis(2)))
        );
    }
}
