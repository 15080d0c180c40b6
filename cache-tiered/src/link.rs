//! [`Link`]: whether the invalidation channel can be trusted now, as the readers see it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::DisconnectedMode;

/// Whether L1 may answer a read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// The channel confirmed, less than one heartbeat ago, that every invalidation published
    /// before then was applied: L1 is coherent, and may be filled.
    Connected,
    /// The channel is subscribed but its last confirmation is older than one heartbeat (the
    /// heartbeat's answer is late: a stalled server, a partition), within the heartbeat plus
    /// the network timeout. L1 still answers and may be filled, but an invalidation may be
    /// held up: these hits are counted apart
    /// ([`TieredStats::unconfirmed_hits`](crate::TieredStats::unconfirmed_hits)).
    Unconfirmed,
    /// The channel is down, but within the configured staleness: L1 may answer, not be filled.
    Stale,
    /// L1 must not answer.
    None,
}

impl Trust {
    /// Whether a value read from L2 may be put in L1.
    pub(crate) fn may_fill(self) -> bool {
        matches!(self, Trust::Connected | Trust::Unconfirmed)
    }
}

/// The health of the channel, as the readers see it.
#[derive(Debug)]
pub(crate) struct Link {
    base: Instant,
    connected: AtomicBool,
    /// Microseconds from `base` to the last instant from which every invalidation published
    /// is known to have been applied (when the last answered `PING` was sent).
    alive_at: AtomicU64,
    /// How long after `alive_at` the channel counts as confirmed.
    heartbeat: Duration,
    /// How long after `alive_at` a connected channel is still trusted.
    window: Duration,
    mode: DisconnectedMode,
}

impl Link {
    pub(crate) fn new(heartbeat: Duration, timeout: Duration, mode: DisconnectedMode) -> Self {
        Link {
            base: Instant::now(),
            connected: AtomicBool::new(false),
            alive_at: AtomicU64::new(0),
            heartbeat,
            window: heartbeat + timeout,
            mode,
        }
    }

    /// Whether L1 may answer a read made at `now`.
    pub(crate) fn trust(&self, now: Instant) -> Trust {
        let alive_at = self.base + Duration::from_micros(self.alive_at.load(Ordering::SeqCst));
        let age = now.saturating_duration_since(alive_at);
        if self.connected.load(Ordering::SeqCst) {
            if age <= self.heartbeat {
                return Trust::Connected;
            }
            if age <= self.window {
                return Trust::Unconfirmed;
            }
        }
        match self.mode {
            DisconnectedMode::MaxStaleness(max) if age <= max => Trust::Stale,
            _ => Trust::None,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Records that every invalidation published before `at` has been applied.
    pub(crate) fn alive(&self, at: Instant) {
        let micros =
            u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX);
        self.alive_at.fetch_max(micros, Ordering::SeqCst);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_follows_the_connection_and_the_mode() {
        let heartbeat = Duration::from_millis(100);
        let timeout = Duration::from_millis(50);
        let link = Link::new(heartbeat, timeout, DisconnectedMode::L2Only);
        let now = Instant::now();
        assert_eq!(link.trust(now), Trust::None, "not yet connected");
        link.alive(now);
        link.set_connected(true);
        assert_eq!(link.trust(now), Trust::Connected);
        // (`alive_at` is kept in whole microseconds, rounded down: slightly conservative.)
        assert_eq!(
            link.trust(now + heartbeat - Duration::from_millis(1)),
            Trust::Connected
        );
        // A heartbeat late: still served, counted apart.
        assert_eq!(
            link.trust(now + heartbeat + Duration::from_millis(1)),
            Trust::Unconfirmed
        );
        assert_eq!(
            link.trust(now + heartbeat + timeout - Duration::from_millis(1)),
            Trust::Unconfirmed
        );
        // A heartbeat that does not come back in time ends the trust, even if connected.
        assert_eq!(
            link.trust(now + heartbeat + timeout + Duration::from_millis(1)),
            Trust::None
        );
        link.set_connected(false);
        assert_eq!(link.trust(now), Trust::None);

        let lenient = Link::new(
            heartbeat,
            timeout,
            DisconnectedMode::MaxStaleness(Duration::from_secs(1)),
        );
        // Instants before the link was made would be clamped to its creation: take a new one.
        let now = Instant::now();
        lenient.alive(now);
        assert_eq!(
            lenient.trust(now + Duration::from_millis(999)),
            Trust::Stale
        );
        assert_eq!(
            lenient.trust(now + Duration::from_millis(1001)),
            Trust::None
        );
    }

    #[test]
    fn alive_never_goes_back() {
        let link = Link::new(
            Duration::from_millis(10),
            Duration::from_millis(10),
            DisconnectedMode::L2Only,
        );
        let now = Instant::now() + Duration::from_secs(1);
        link.alive(now);
        link.alive(now - Duration::from_millis(500));
        link.set_connected(true);
        assert_eq!(link.trust(now), Trust::Connected);
    }
}
