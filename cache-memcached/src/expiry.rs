//! Millisecond expiry on a server that counts whole seconds.
//!
//! memcached expires items on a clock that ticks once a second, and reads a TTL over 30 days
//! as a Unix timestamp. The contract wants millisecond expiry (`Ttl::millis(300)` is gone
//! after 300 ms, and `ttl` answers what is left to the millisecond). So each item carries its
//! exact deadline, in Unix milliseconds modulo 2³², in its 32-bit client flags; the server's
//! own expiry (`T`) is set a little later (whole seconds, rounded up, plus one for its coarse
//! clock) so that it frees the memory. A read (`mg … f t`) rebuilds the full deadline from
//! the server's seconds left (`t`, exact to a couple of seconds) and the flags (exact modulo
//! 2³² ms ≈ 49 days), and an item past its deadline is treated as missing.
//!
//! The deadline is read on the writer's clock and checked on the reader's: clients on
//! different hosts need synchronised clocks (NTP) for sub-second expiry to agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachette_api::{Expiry, KeyTtl};

use crate::protocol::flag;

/// memcached reads a TTL above this many seconds as a Unix timestamp.
const RELATIVE_LIMIT_SECS: u64 = 30 * 24 * 3600;

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What an `ms` carries for an expiry: the `T` (server expiry) and `F` (deadline) flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireExpiry {
    /// `T…`.
    pub(crate) ttl_flag: String,
    /// `F…`.
    pub(crate) deadline_flag: String,
}

impl WireExpiry {
    /// The flags for `expiry`, written now (`now_ms`).
    pub(crate) fn new(expiry: Expiry, now_ms: u64) -> Self {
        match expiry.as_millis() {
            None => WireExpiry {
                ttl_flag: "T0".to_owned(),
                deadline_flag: "F0".to_owned(),
            },
            Some(ms) => Self::until(now_ms.saturating_add(ms), now_ms),
        }
    }

    /// The flags for an item that expires at `deadline_ms` (Unix ms), written at `now_ms`.
    pub(crate) fn until(deadline_ms: u64, now_ms: u64) -> Self {
        let left_ms = deadline_ms.saturating_sub(now_ms);
        // Rounded up, plus one second for the server's clock, which lags by up to a second.
        let secs = left_ms.div_ceil(1000).saturating_add(1);
        let server = if secs > RELATIVE_LIMIT_SECS {
            // memcached's rule (Django converts the same way): an absolute Unix time.
            (now_ms / 1000).saturating_add(secs)
        } else {
            secs
        };
        WireExpiry {
            ttl_flag: flag(b'T', server),
            deadline_flag: flag(b'F', deadline_ms & u64::from(u32::MAX)),
        }
    }
}

/// What an item's flags and seconds left say about its life, read at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// It never expires.
    Forever,
    /// It expires at this Unix millisecond (still in the future).
    Until(u64),
    /// It is past its deadline, although the server still holds it.
    Expired,
}

impl Life {
    /// Reads the `f` and `t` of a reply (no `t`: an item that never expires).
    pub(crate) fn read(client_flags: Option<u32>, seconds_left: Option<i64>, now_ms: u64) -> Self {
        let Some(secs) = seconds_left else {
            return Life::Forever;
        };
        if secs < 0 {
            return Life::Forever;
        }
        let approx = now_ms.saturating_add(secs.unsigned_abs().saturating_mul(1000));
        let low = client_flags.unwrap_or(0);
        // The deadline is the number ≡ `low` (mod 2³²) nearest to the server's estimate.
        let offset = low.wrapping_sub(approx as u32) as i32;
        let deadline = approx.saturating_add_signed(i64::from(offset));
        if deadline > now_ms {
            Life::Until(deadline)
        } else {
            Life::Expired
        }
    }

    /// Whether the item is still alive.
    pub(crate) fn is_alive(self) -> bool {
        self != Life::Expired
    }

    /// As the contract's [`KeyTtl`].
    pub(crate) fn key_ttl(self, now_ms: u64) -> KeyTtl {
        match self {
            Life::Forever => KeyTtl::Persistent,
            Life::Until(deadline) => {
                KeyTtl::Expires(Duration::from_millis(deadline.saturating_sub(now_ms)))
            }
            Life::Expired => KeyTtl::Missing,
        }
    }

    /// As the contract's [`Expiry`]; `None` when expired.
    pub(crate) fn expiry(self, now_ms: u64) -> Option<Expiry> {
        match self {
            Life::Forever => Some(Expiry::Never),
            Life::Until(deadline) => {
                Expiry::after(Duration::from_millis(deadline.saturating_sub(now_ms)))
            }
            Life::Expired => None,
        }
    }

    /// The `T` and `F` flags that keep this life on a rewrite at `now_ms` (incr, touch).
    pub(crate) fn wire(self, now_ms: u64) -> WireExpiry {
        match self {
            Life::Until(deadline) => WireExpiry::until(deadline, now_ms),
            Life::Forever | Life::Expired => WireExpiry::new(Expiry::Never, now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_305_091_123;

    #[test]
    fn deadlines_survive_the_round_trip() {
        for ms in [1, 300, 999, 1000, 60_000, 365 * 24 * 3600 * 1000] {
            let wire = WireExpiry::new(Expiry::After(Duration::from_millis(ms)), NOW);
            let flags: u32 = wire.deadline_flag[1..].parse().unwrap();
            // The server's seconds left, off by up to two seconds either way.
            for skew in [-2_i64, 0, 2] {
                let secs = i64::try_from(ms.div_ceil(1000)).unwrap() + skew;
                let life = Life::read(Some(flags), Some(secs.max(0)), NOW);
                assert_eq!(life, Life::Until(NOW + ms), "{ms} ms, skew {skew}");
            }
        }
    }

    #[test]
    fn past_the_deadline_is_expired() {
        let wire = WireExpiry::new(Expiry::After(Duration::from_millis(300)), NOW);
        let flags: u32 = wire.deadline_flag[1..].parse().unwrap();
        assert_eq!(Life::read(Some(flags), Some(1), NOW + 301), Life::Expired);
        assert_eq!(Life::read(Some(0), Some(-1), NOW), Life::Forever);
    }

    #[test]
    fn long_ttls_are_absolute() {
        let month = WireExpiry::new(Expiry::After(Duration::from_secs(31 * 24 * 3600)), NOW);
        let t: u64 = month.ttl_flag[1..].parse().unwrap();
        assert!(t > NOW / 1000, "{t}");
        let short = WireExpiry::new(Expiry::After(Duration::from_millis(300)), NOW);
        assert_eq!(short.ttl_flag, "T2");
    }
}
