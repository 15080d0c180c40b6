//! The invalidation channel: publishing changes, listening for other instances' changes, and
//! knowing whether the channel can be trusted ([`Link`]).
//!
//! Redis pub/sub delivers a message to every connection subscribed when it is published, in
//! order, or drops the connection (a full output buffer, a `CLIENT KILL`, a network failure).
//! A message is therefore lost only with the connection, and the listener treats every lost
//! connection as "anything may have changed": it clears L1 before trusting it again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cache_api::{CacheBackend, ErrorKind, Result};
use cache_memory::MemoryBackend;
use futures::{FutureExt, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use tokio::sync::watch;

use crate::coherence::Coherence;
use crate::error::bounded;
use crate::message::{self, Decoded, Invalidation};
use crate::stats::{bump, Counters};
use crate::DisconnectedMode;

/// The shortest and the longest wait between two failed attempts to subscribe again.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How many keys the queue of unpublished invalidations holds before it collapses them into
/// one prefix.
const MAX_PENDING_KEYS: usize = 10_000;

/// Whether L1 may answer a read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// The channel works: L1 is coherent, and may be filled.
    Connected,
    /// The channel is down, but within the configured staleness: L1 may answer, not be filled.
    Stale,
    /// L1 must not answer.
    None,
}

/// The health of the channel, as the readers see it.
#[derive(Debug)]
pub(crate) struct Link {
    base: Instant,
    connected: AtomicBool,
    /// Microseconds from `base` to the last instant from which every invalidation published
    /// is known to have been applied (when the last answered `PING` was sent).
    alive_at: AtomicU64,
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
            window: heartbeat + timeout,
            mode,
        }
    }

    /// Whether L1 may answer a read made at `now`.
    pub(crate) fn trust(&self, now: Instant) -> Trust {
        let alive_at = self.base + Duration::from_micros(self.alive_at.load(Ordering::SeqCst));
        let age = now.saturating_duration_since(alive_at);
        if self.connected.load(Ordering::SeqCst) && age <= self.window {
            return Trust::Connected;
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
    fn alive(&self, at: Instant) {
        let micros =
            u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX);
        self.alive_at.fetch_max(micros, Ordering::SeqCst);
    }

    fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::SeqCst);
    }
}

/// What the listening task shares with the backend.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) l1: MemoryBackend,
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
                for key in keys {
                    let _ = self.l1.delete(key).await;
                }
            }
            Invalidation::Prefix(prefix) => {
                self.coherence.invalidate_prefix(prefix);
                let _ = self.l1.clear(prefix).await;
            }
        }
    }

    /// The channel is (again) subscribed, from `subscribed_at` on: forget everything L1 holds,
    /// then trust it.
    pub(crate) async fn connected(&self, subscribed_at: Instant) {
        self.apply(&Invalidation::Prefix(String::new())).await;
        self.link.alive(subscribed_at);
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
                    backend = crate::error::BACKEND,
                    "unreadable invalidation message (another version?); clearing L1"
                );
                self.apply(&Invalidation::Prefix(String::new())).await;
            }
        }
    }
}

/// Publishes this instance's invalidations.
pub(crate) struct Publisher {
    connection: ConnectionManager,
    channel: String,
    instance: u128,
    timeout: Duration,
    /// Invalidations whose publication failed, merged, retried at each heartbeat.
    pending: Mutex<Option<Invalidation>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("channel", &self.channel)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub(crate) async fn connect(
        client: redis::Client,
        channel: String,
        instance: u128,
        timeout: Duration,
    ) -> Result<Publisher> {
        // No retries inside the manager: a failed PUBLISH is retried once here, then queued.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let connection = bounded(
            "connecting the publisher",
            timeout * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        Ok(Publisher {
            connection,
            channel,
            instance,
            timeout,
            pending: Mutex::new(None),
        })
    }

    async fn send(&self, invalidation: &Invalidation) -> Result<()> {
        let payload = message::encode(self.instance, invalidation);
        let mut connection = self.connection.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&self.channel).arg(payload);
        bounded::<i64>(
            "PUBLISH",
            self.timeout * 2,
            publish.query_async(&mut connection),
        )
        .await
        .map(|_| ())
    }

    /// Publishes `invalidation`, retrying once over a new connection when the connection had
    /// dropped; a publication that still fails is queued (and retried at each heartbeat),
    /// counted and logged. Answers whether it was published.
    pub(crate) async fn publish(&self, invalidation: Invalidation, counters: &Counters) -> bool {
        let mut result = self.send(&invalidation).await;
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Unavailable) {
            result = self.send(&invalidation).await;
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
            backend = crate::error::BACKEND,
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
            if self.send(&queued).await.is_ok() {
                bump(&counters.invalidations_published);
            } else {
                self.queue(queued);
            }
        }
    }
}

/// Opens a connection and subscribes it to `channel`; answers it with the instant the
/// `SUBSCRIBE` was sent, from which every publication is delivered to it.
pub(crate) async fn subscribe(
    client: &redis::Client,
    channel: &str,
    timeout: Duration,
) -> Result<(PubSub, Instant)> {
    let mut pubsub = bounded(
        "connecting the subscriber",
        timeout,
        client.get_async_pubsub(),
    )
    .await?;
    let sent = Instant::now();
    bounded("SUBSCRIBE", timeout, pubsub.subscribe(channel)).await?;
    Ok((pubsub, sent))
}

/// The settings of the listening task.
#[derive(Debug, Clone)]
pub(crate) struct ListenerConfig {
    pub(crate) client: redis::Client,
    pub(crate) channel: String,
    pub(crate) heartbeat: Duration,
    pub(crate) timeout: Duration,
}

/// Listens until `shutdown` changes: applies the other instances' invalidations, checks the
/// connection at each heartbeat, and subscribes again (clearing L1) whenever it is lost.
///
/// `first` is the connection [`build`](crate::TieredBackendBuilder::build) subscribed.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    publisher: Arc<Publisher>,
    config: ListenerConfig,
    first: PubSub,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut session = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        let pubsub = match session.take() {
            Some(pubsub) => pubsub,
            None => {
                let attempt = tokio::select! {
                    attempt = subscribe(&config.client, &config.channel, config.timeout) => attempt,
                    _ = shutdown.changed() => return,
                };
                match attempt {
                    Ok((pubsub, sent)) => {
                        shared.connected(sent).await;
                        bump(&shared.counters.reconnects);
                        tracing::info!(
                            backend = crate::error::BACKEND,
                            "invalidation channel back; L1 cleared"
                        );
                        backoff = MIN_BACKOFF;
                        pubsub
                    }
                    Err(err) => {
                        tracing::debug!(
                            backend = crate::error::BACKEND,
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
        let stopped = serve(&shared, &publisher, &config, pubsub, &mut shutdown).await;
        shared.link.set_connected(false);
        if stopped {
            return;
        }
        bump(&shared.counters.disconnects);
        tracing::warn!(
            backend = crate::error::BACKEND,
            "invalidation channel lost; L1 is not trusted until it is back"
        );
    }
}

/// Serves one subscribed connection until it fails (`false`) or `shutdown` changes (`true`).
async fn serve(
    shared: &Shared,
    publisher: &Publisher,
    config: &ListenerConfig,
    pubsub: PubSub,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let (mut sink, mut stream) = pubsub.split();
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => shared.receive(msg.get_payload_bytes()).await,
                None => return false,
            },
            _ = heartbeat.tick() => {
                let sent = Instant::now();
                let pong = bounded("PING", config.timeout, sink.ping::<redis::Value>()).await;
                if pong.is_err() {
                    return false;
                }
                // The messages published before the server saw our PING arrived before its
                // answer: apply those already received before declaring the channel alive.
                while let Some(msg) = stream.next().now_or_never() {
                    match msg {
                        Some(msg) => shared.receive(msg.get_payload_bytes()).await,
                        None => return false,
                    }
                }
                shared.link.alive(sent);
                publisher.flush(&shared.counters).await;
            }
            _ = shutdown.changed() => return true,
        }
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
            link.trust(now + heartbeat + timeout - Duration::from_millis(1)),
            Trust::Connected
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
