//! The invalidation channel as the layer uses it, over any
//! [`InvalidationChannel`]: publishing this instance's changes (with a queue for those that
//! could not be published), and listening for the others' ([`listen`]).
//!
//! The contract of the channel says a message is never lost silently: the stream fails
//! instead. The listener treats every failed stream as "anything may have changed": it clears
//! L1 before trusting it again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cachette_api::{
    DynCacheBackend, DynInvalidationChannel, Error, ErrorKind, InvalidationEvent, Result,
    Subscription,
};
use tokio::sync::watch;

use crate::coherence::Coherence;
use crate::error::BACKEND;
use crate::link::Link;
use crate::message::{self, Decoded, Invalidation};
use crate::stats::{bump, Counters};

/// The shortest and the longest wait between two failed attempts to subscribe again.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How many keys the queue of unpublished invalidations holds before it collapses them into
/// one prefix.
const MAX_PENDING_KEYS: usize = 10_000;

/// What the listening task shares with the layer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) l1: DynCacheBackend,
    pub(crate) coherence: Coherence,
    pub(crate) link: Link,
    pub(crate) counters: Counters,
    /// This instance's id, written in each message it publishes.
    pub(crate) instance: u128,
}

impl Shared {
    /// Applies an invalidation: the counters first (which makes stale entries invisible at
    /// once), then the removal from L1 (which frees their memory).
    pub(crate) async fn apply(&self, invalidation: &Invalidation) {
        match invalidation {
            Invalidation::Keys(keys) => {
                for key in keys {
                    self.coherence.invalidate_key(key);
                }
                if !keys.is_empty() {
                    let _ = self.l1.delete_many(keys).await;
                }
            }
            Invalidation::Prefix(prefix) => {
                self.coherence.invalidate_prefix(prefix);
                let _ = self.l1.clear(prefix).await;
            }
        }
    }

    /// The channel is (again) subscribed, from `since` on: forget everything L1 holds, then
    /// trust it.
    pub(crate) async fn connected(&self, since: Instant) {
        self.apply(&Invalidation::Prefix(String::new())).await;
        self.link.alive(since);
        self.link.set_connected(true);
    }

    async fn receive(&self, payload: &[u8]) {
        match message::decode(payload) {
            Decoded::Message { sender, .. } if sender == self.instance => {}
            Decoded::Message { invalidation, .. } => {
                self.apply(&invalidation).await;
                bump(&self.counters.invalidations_received);
            }
            Decoded::Unreadable => {
                bump(&self.counters.invalidations_received);
                tracing::warn!(
                    backend = BACKEND,
                    "unreadable invalidation message (another version?); clearing L1"
                );
                self.apply(&Invalidation::Prefix(String::new())).await;
            }
        }
    }
}

/// Publishes this instance's invalidations.
#[derive(Debug)]
pub(crate) struct Publisher {
    channel: DynInvalidationChannel,
    instance: u128,
    /// The bound of one publication, its retry included.
    timeout: Duration,
    /// Invalidations whose publication failed, merged, retried at each confirmation.
    pending: Mutex<Option<Invalidation>>,
}

impl Publisher {
    pub(crate) fn new(channel: DynInvalidationChannel, instance: u128, timeout: Duration) -> Self {
        Publisher {
            channel,
            instance,
            timeout,
            pending: Mutex::new(None),
        }
    }

    /// Sends one message, within `bound`.
    async fn send(&self, invalidation: &Invalidation, bound: Duration) -> Result<()> {
        let payload = message::encode(self.instance, invalidation);
        match tokio::time::timeout(bound, self.channel.publish(payload.into())).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("invalidation: publishing took longer than {bound:?}"),
            )
            .with_backend(BACKEND)),
        }
    }

    /// Publishes `invalidation` within the network timeout, once more on a new connection
    /// when the first attempt found the connection dropped and time is left; a publication
    /// that still fails is queued (and retried at each confirmation of the channel), counted
    /// and logged. Answers whether it was published.
    ///
    /// Whatever happens, this takes at most the network timeout: it is the part of a tiered
    /// change's bound that comes after L2's.
    pub(crate) async fn publish(&self, invalidation: Invalidation, counters: &Counters) -> bool {
        let deadline = Instant::now() + self.timeout;
        let mut result = self.send(&invalidation, self.timeout).await;
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Unavailable) {
            let left = deadline.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                result = self.send(&invalidation, left).await;
            }
        }
        let last = match result {
            Ok(()) => {
                bump(&counters.invalidations_published);
                return true;
            }
            Err(e) => e,
        };
        bump(&counters.publish_failures);
        tracing::warn!(
            backend = BACKEND,
            error = %last,
            "could not publish an invalidation; other instances may serve the previous value \
             until it is published or their L1 entry expires"
        );
        self.queue(invalidation);
        false
    }

    fn queue(&self, invalidation: Invalidation) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let merged = match pending.take() {
            Some(queued) => queued.merge(invalidation),
            None => invalidation,
        };
        *pending = Some(match merged {
            Invalidation::Keys(keys) if keys.len() > MAX_PENDING_KEYS => {
                Invalidation::Keys(keys).collapse()
            }
            other => other,
        });
    }

    /// Retries the queued invalidations, if any.
    async fn flush(&self, counters: &Counters) {
        let queued = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(queued) = queued {
            if self.send(&queued, self.timeout).await.is_ok() {
                bump(&counters.invalidations_published);
            } else {
                self.queue(queued);
            }
        }
    }
}

/// The settings of the listening task.
#[derive(Debug, Clone)]
pub(crate) struct ListenerConfig {
    pub(crate) channel: DynInvalidationChannel,
    pub(crate) heartbeat: Duration,
    pub(crate) timeout: Duration,
}

impl ListenerConfig {
    /// Subscribes, within the network timeout.
    pub(crate) async fn subscribe(&self) -> Result<Subscription> {
        match tokio::time::timeout(self.timeout, self.channel.subscribe(self.heartbeat)).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "invalidation: subscribing took longer than {:?}",
                    self.timeout
                ),
            )
            .with_backend(BACKEND)),
        }
    }

    /// The longest a working stream may stay silent: a confirmation is due every heartbeat,
    /// and may take the network timeout.
    fn silence_bound(&self) -> Duration {
        self.heartbeat + self.timeout
    }
}

/// Listens until `shutdown` changes: applies the other instances' invalidations, records each
/// confirmation, and subscribes again (clearing L1) whenever the stream fails or stays silent
/// too long.
///
/// `first` is the subscription [`build`](crate::TieredLayerBuilder::build) made.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    publisher: Arc<Publisher>,
    config: ListenerConfig,
    first: Subscription,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut session = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        let subscription = match session.take() {
            Some(subscription) => subscription,
            None => {
                let attempt = tokio::select! {
                    attempt = config.subscribe() => attempt,
                    _ = shutdown.changed() => return,
                };
                match attempt {
                    Ok(subscription) => {
                        shared.connected(subscription.since).await;
                        bump(&shared.counters.reconnects);
                        tracing::info!(backend = BACKEND, "invalidation channel back; L1 cleared");
                        backoff = MIN_BACKOFF;
                        subscription
                    }
                    Err(err) => {
                        tracing::debug!(
                            backend = BACKEND,
                            error = %err,
                            "subscribing to the invalidation channel failed; retrying"
                        );
                        // Publishing may work even when subscribing does not.
                        publisher.flush(&shared.counters).await;
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.changed() => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
        };
        let stopped = serve(&shared, &publisher, &config, subscription, &mut shutdown).await;
        shared.link.set_connected(false);
        if stopped {
            return;
        }
        bump(&shared.counters.disconnects);
        tracing::warn!(
            backend = BACKEND,
            "invalidation channel lost; L1 is not trusted until it is back"
        );
    }
}

/// Serves one subscription until it fails or stays silent too long (`false`), or `shutdown`
/// changes (`true`).
async fn serve(
    shared: &Shared,
    publisher: &Publisher,
    config: &ListenerConfig,
    subscription: Subscription,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut stream = subscription.stream;
    loop {
        let event = tokio::select! {
            event = tokio::time::timeout(config.silence_bound(), stream.next()) => event,
            _ = shutdown.changed() => return true,
        };
        match event {
            Ok(Ok(InvalidationEvent::Message(payload))) => shared.receive(&payload).await,
            Ok(Ok(InvalidationEvent::Confirmed(at))) => {
                shared.link.alive(at);
                publisher.flush(&shared.counters).await;
            }
            // An event of a later version of the contract: nothing to do.
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::debug!(backend = BACKEND, error = %err, "invalidation stream failed");
                return false;
            }
            Err(_) => {
                tracing::debug!(backend = BACKEND, "invalidation stream silent too long");
                return false;
            }
        }
    }
}
