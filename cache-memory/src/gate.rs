//! The write gate: lets an unconditional `set` use moka's plain `insert` (a third of the cost
//! of a compute) while every read-modify-write (`incr`, `add`, `touch`, `delete`,
//! `delete_if_value`, …) stays atomic.
//!
//! moka serialises its compute operations on one key with each other, but not with a plain
//! `insert`: an insert landing between a compute's read and its write would be overwritten
//! and lost (a `set` racing an `incr` would vanish, and `incr` would answer a value no
//! order of the two calls gives). The gate keeps the two apart: keys hash to stripes, and
//! on one stripe either plain inserts or computes are in flight, never both.
//!
//! - A plain `set` enters its stripe only while no compute is in it (one compare-and-swap),
//!   and leaves after its insert. When a compute is in, the `set` does not wait: it runs as
//!   a compute itself (an unconditional put through moka's per-key lock), so it is
//!   serialised with the read-modify-writes on its key.
//! - A read-modify-write announces itself on its stripe (no new plain insert enters), waits
//!   for the plain inserts already in to leave (each is one moka insert), then runs its
//!   compute, and leaves.
//!
//! So while a compute runs, every other write to its key is a compute too, and moka orders
//! those. Leaving happens on drop, so a cancelled call never keeps a stripe closed.

use std::sync::atomic::{AtomicU64, Ordering};

/// Stripes per store: keys that share one only make each other take the slower path.
const STRIPES: usize = 256;

/// One compute in (the high half of a stripe's word); the low half counts plain inserts.
const COMPUTE: u64 = 1 << 32;

/// The plain inserts in, in a stripe's word.
const INSERTS: u64 = COMPUTE - 1;

/// A stripe on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

/// The gates of one store.
#[derive(Debug)]
pub(crate) struct Gate {
    stripes: Box<[Stripe]>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

/// A plain insert in its stripe; leaves on drop.
#[derive(Debug)]
pub(crate) struct InsertPass<'a>(&'a AtomicU64);

impl Drop for InsertPass<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A compute in its stripe; leaves on drop.
#[derive(Debug)]
pub(crate) struct ComputePass<'a>(&'a AtomicU64);

impl Drop for ComputePass<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(COMPUTE, Ordering::AcqRel);
    }
}

impl Gate {
    fn stripe(&self, key: &str) -> &AtomicU64 {
        // FNV-1a: a few instructions per byte; only the spread over stripes matters.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let at = (hash ^ (hash >> 32)) as usize % self.stripes.len();
        &self.stripes[at].0
    }

    /// Lets a plain insert of `key` in, unless a compute is in its stripe.
    pub(crate) fn try_insert(&self, key: &str) -> Option<InsertPass<'_>> {
        let word = self.stripe(key);
        let mut seen = word.load(Ordering::Acquire);
        loop {
            if seen >= COMPUTE {
                return None;
            }
            match word.compare_exchange_weak(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(InsertPass(word)),
                Err(now) => seen = now,
            }
        }
    }

    /// Lets a compute on `key` in: closes its stripe to new plain inserts, then waits for
    /// those already in to leave.
    pub(crate) async fn compute(&self, key: &str) -> ComputePass<'_> {
        let word = self.stripe(key);
        word.fetch_add(COMPUTE, Ordering::AcqRel);
        let pass = ComputePass(word);
        while word.load(Ordering::Acquire) & INSERTS != 0 {
            // An insert in is one moka insert away from leaving.
            tokio::task::yield_now().await;
        }
        pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inserts_and_computes_never_share_a_stripe() {
        let gate = Gate::default();
        let insert = gate.try_insert("k").unwrap();
        let second = gate.try_insert("k").unwrap();
        drop(second);
        // The compute waits for the insert in, and closes the stripe meanwhile.
        let waiting = gate.compute("k");
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
        assert!(gate.try_insert("k").is_none());
        drop(insert);
        let compute = waiting.await;
        assert!(gate.try_insert("k").is_none());
        drop(compute);
        assert!(gate.try_insert("k").is_some());
    }

    /// Polls a future once: `Some` when it is ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
        let mut fut = fut;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
