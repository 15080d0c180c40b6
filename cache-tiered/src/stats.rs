//! [`TieredStats`]: what the two levels and the channel did.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters of one [`TieredLayer`](crate::TieredLayer) (all its clones).
///
/// The hit rate of L1 is `l1_hits / (l1_hits + l1_misses)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// Reads (`get`, each key of `get_many`, `has_key`) answered by L1.
    pub l1_hits: u64,
    /// Reads that went to L2.
    pub l1_misses: u64,
    /// L1 entries found but not served because an invalidation had made them stale (counted
    /// in `l1_misses` too).
    pub l1_rejected: u64,
    /// Values put in L1 after a read or a write.
    pub l1_fills: u64,
    /// L1 hits served while the channel was down, within
    /// [`DisconnectedMode::MaxStaleness`](crate::DisconnectedMode::MaxStaleness) (counted in
    /// `l1_hits` too).
    pub stale_hits: u64,
    /// L1 hits served while the channel was subscribed but unconfirmed: its last confirmation
    /// was more than one heartbeat old (a late `PING` answer: a stalled server, a partition),
    /// within the heartbeat plus the network timeout (counted in `l1_hits` too). An
    /// invalidation may have been held up meanwhile, so such a hit may be older than a write
    /// that another instance saw succeed; a steady count means the channel is unhealthy. A
    /// few per heartbeat are normal under load: the confirmation takes a round trip.
    pub unconfirmed_hits: u64,
    /// Invalidation messages received from other instances.
    pub invalidations_received: u64,
    /// Invalidation messages published.
    pub invalidations_published: u64,
    /// Publications that failed and were queued for a retry.
    pub publish_failures: u64,
    /// Times the channel was lost.
    pub disconnects: u64,
    /// Times the channel was established again (L1 was cleared each time).
    pub reconnects: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l1_misses: AtomicU64,
    pub(crate) l1_rejected: AtomicU64,
    pub(crate) l1_fills: AtomicU64,
    pub(crate) stale_hits: AtomicU64,
    pub(crate) unconfirmed_hits: AtomicU64,
    pub(crate) invalidations_received: AtomicU64,
    pub(crate) invalidations_published: AtomicU64,
    pub(crate) publish_failures: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TieredStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TieredStats {
            l1_hits: read(&self.l1_hits),
            l1_misses: read(&self.l1_misses),
            l1_rejected: read(&self.l1_rejected),
            l1_fills: read(&self.l1_fills),
            stale_hits: read(&self.stale_hits),
            unconfirmed_hits: read(&self.unconfirmed_hits),
            invalidations_received: read(&self.invalidations_received),
            invalidations_published: read(&self.invalidations_published),
            publish_failures: read(&self.publish_failures),
            disconnects: read(&self.disconnects),
            reconnects: read(&self.reconnects),
        }
    }
}
