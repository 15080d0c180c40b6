//! How long an entry lives: [`Ttl`] for callers, [`Expiry`] for backends, and the one rule
//! that turns the first into the second.

use std::time::Duration;

/// How long an entry lives, as a caller gives it to a write (Django's `timeout=`).
///
/// | Django            | here                        |
/// |-------------------|-----------------------------|
/// | argument omitted  | [`Ttl::Default`]            |
/// | `timeout=None`    | [`Ttl::Never`]              |
/// | `timeout=0`       | `Ttl::After(Duration::ZERO)`: not stored / expire now |
/// | `timeout=60`      | `Ttl::After(Duration::from_secs(60))` |
///
/// Durations have millisecond precision: a non-zero duration shorter than a millisecond is
/// rounded up to one millisecond, never down to "expire now".
///
/// The name is `Ttl`, not Django's `timeout`, because in this library a *timeout* is always a
/// limit on waiting (a connection, a loader), never an entry's lifetime.
///
/// ```
/// use std::time::Duration;
/// use cachette_api::Ttl;
///
/// let t: Ttl = Duration::from_secs(60).into();
/// assert_eq!(t, Ttl::After(Duration::from_secs(60)));
/// assert_eq!(Ttl::secs(0), Ttl::After(Duration::ZERO));
/// assert!(Ttl::default().is_default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Ttl {
    /// The cache's default TTL (300 s unless the builder says otherwise).
    #[default]
    Default,
    /// Never expire.
    Never,
    /// Expire after this long; zero means "do not store / expire now".
    After(Duration),
}

impl Ttl {
    /// A TTL of `secs` seconds; `0` means "do not store".
    pub const fn secs(secs: u64) -> Self {
        Ttl::After(Duration::from_secs(secs))
    }

    /// A TTL of `millis` milliseconds; `0` means "do not store".
    pub const fn millis(millis: u64) -> Self {
        Ttl::After(Duration::from_millis(millis))
    }

    /// Whether this is [`Ttl::Default`].
    pub const fn is_default(&self) -> bool {
        matches!(self, Ttl::Default)
    }

    /// What a write with this TTL does, [`Ttl::Default`] standing for `default`.
    ///
    /// This is the one place where a zero duration becomes "expire now".
    pub(crate) fn lifetime(self, default: Lifetime) -> Lifetime {
        match self {
            Ttl::Default => default,
            Ttl::Never => Lifetime::Keep(Expiry::Never),
            Ttl::After(d) => Lifetime::after(d),
        }
    }
}

impl From<Duration> for Ttl {
    fn from(d: Duration) -> Self {
        Ttl::After(d)
    }
}

/// The expiry a backend applies to an entry: never, or after at least one millisecond.
///
/// A backend never receives a zero duration: the [`Cache`](crate::Cache) handle turns
/// "expire now" into a delete (or into nothing, for `add`) before calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expiry {
    /// Keep the entry until it is deleted or evicted.
    Never,
    /// Expire after this long (at least one millisecond, whole milliseconds).
    After(Duration),
}

impl Expiry {
    /// An expiry of `d`, rounded up to whole milliseconds; `None` when `d` is zero, which is
    /// not an expiry but "expire now".
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

/// What a write does with its entry once its TTL is resolved: keep it for an [`Expiry`], or
/// expire it now (Django's `timeout=0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Store the entry with this expiry.
    Keep(Expiry),
    /// Store nothing, and remove what is there.
    ExpireNow,
}

impl Lifetime {
    /// A lifetime of `d`: zero is "expire now".
    pub(crate) fn after(d: Duration) -> Lifetime {
        match Expiry::after(d) {
            Some(expiry) => Lifetime::Keep(expiry),
            None => Lifetime::ExpireNow,
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

    const FIVE_MIN: Lifetime = Lifetime::Keep(Expiry::After(Duration::from_secs(300)));

    #[test]
    fn zero_is_expire_now() {
        assert_eq!(Ttl::secs(0).lifetime(FIVE_MIN), Lifetime::ExpireNow);
        assert_eq!(Expiry::after(Duration::ZERO), None);
    }

    #[test]
    fn default_stands_for_the_caches_default() {
        assert_eq!(Ttl::Default.lifetime(FIVE_MIN), FIVE_MIN);
        assert_eq!(
            Ttl::Default.lifetime(Lifetime::ExpireNow),
            Lifetime::ExpireNow
        );
        assert_eq!(Ttl::Never.lifetime(FIVE_MIN), Lifetime::Keep(Expiry::Never));
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
