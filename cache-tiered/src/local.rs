//! [`LocalInvalidation`]: an invalidation channel within one process, for layers that share
//! an L2 in the same process (and for tests without a server).

use std::fmt;
use std::time::{Duration, Instant};

use cachette_api::{
    async_trait, Bytes, Error, ErrorKind, InvalidationChannel, InvalidationEvent,
    InvalidationStream, Result, Subscription,
};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Interval, MissedTickBehavior};

use crate::error::BACKEND;

/// How many messages a subscriber may fall behind before its stream fails (and its layer
/// clears L1), by default.
pub const DEFAULT_LOCAL_CAPACITY: usize = 4096;

/// An [`InvalidationChannel`] within one process: a broadcast queue. Clones share the queue.
///
/// Every message published reaches every subscription made before it, in order; a subscriber
/// that falls more than the capacity behind sees its stream fail, as the contract asks (never
/// a silent loss). Nothing here waits on a network: every call returns at once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::sync::Arc;
/// use cachette_memory::MemoryBackend;
/// use cachette_tiered::{LocalInvalidation, TieredLayer};
///
/// // Two layers over one shared L2, in one process.
/// let l2 = MemoryBackend::new();
/// let channel = Arc::new(LocalInvalidation::new());
/// let a = TieredLayer::builder(MemoryBackend::new(), l2.clone())
///     .with_invalidation(channel.clone())
///     .build()
///     .await?;
/// let b = TieredLayer::builder(MemoryBackend::new(), l2)
///     .with_invalidation(channel)
///     .build()
///     .await?;
/// # let _ = (a, b);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LocalInvalidation {
    sender: broadcast::Sender<Bytes>,
}

// Compile-time check: the channel crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LocalInvalidation>();
};

impl fmt::Debug for LocalInvalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalInvalidation")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl Default for LocalInvalidation {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalInvalidation {
    /// A channel of [`DEFAULT_LOCAL_CAPACITY`].
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_LOCAL_CAPACITY)
    }

    /// A channel whose subscribers may fall `capacity` messages behind (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        LocalInvalidation { sender }
    }
}

#[async_trait]
impl InvalidationChannel for LocalInvalidation {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn publish(&self, message: Bytes) -> Result<()> {
        // No subscriber is not an error: nobody needs telling.
        let _ = self.sender.send(message);
        Ok(())
    }

    async fn subscribe(&self, heartbeat: Duration) -> Result<Subscription> {
        let receiver = self.sender.subscribe();
        let since = Instant::now();
        let mut heartbeat = tokio::time::interval(heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Subscription::new(
            Box::new(LocalStream {
                receiver,
                heartbeat,
                confirmation: None,
            }),
            since,
        ))
    }
}

/// One subscription of a [`LocalInvalidation`].
struct LocalStream {
    receiver: broadcast::Receiver<Bytes>,
    heartbeat: Interval,
    /// A confirmation due once the messages queued before it are yielded.
    confirmation: Option<Instant>,
}

impl fmt::Debug for LocalStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStream")
            .field("queued", &self.receiver.len())
            .finish_non_exhaustive()
    }
}

fn lagged(missed: u64) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("local invalidation: {missed} messages missed (the subscriber fell behind)"),
    )
    .with_backend(BACKEND)
}

#[async_trait]
impl InvalidationStream for LocalStream {
    async fn next(&mut self) -> Result<InvalidationEvent> {
        loop {
            if let Some(at) = self.confirmation {
                // Everything sent before `at` is in the queue: yield it first.
                return match self.receiver.try_recv() {
                    Ok(message) => Ok(InvalidationEvent::Message(message)),
                    Err(TryRecvError::Empty) => {
                        self.confirmation = None;
                        Ok(InvalidationEvent::Confirmed(at))
                    }
                    Err(TryRecvError::Lagged(missed)) => Err(lagged(missed)),
                    // Not reached while the channel (which the layer holds) lives.
                    Err(TryRecvError::Closed) => Err(lagged(0)),
                };
            }
            tokio::select! {
                received = self.receiver.recv() => return match received {
                    Ok(message) => Ok(InvalidationEvent::Message(message)),
                    Err(RecvError::Lagged(missed)) => Err(lagged(missed)),
                    Err(RecvError::Closed) => Err(lagged(0)),
                },
                _ = self.heartbeat.tick() => self.confirmation = Some(Instant::now()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_come_in_order_then_the_confirmation() {
        let channel = LocalInvalidation::new();
        let mut subscription = channel.subscribe(Duration::from_millis(10)).await.unwrap();
        let sent = Instant::now();
        for i in 0..3 {
            channel.publish(Bytes::from(vec![i])).await.unwrap();
        }
        let mut events = Vec::new();
        loop {
            match subscription.stream.next().await.unwrap() {
                InvalidationEvent::Confirmed(at) if at >= sent => break,
                InvalidationEvent::Message(m) => events.push(m),
                _ => {}
            }
        }
        assert_eq!(events, [vec![0u8], vec![1], vec![2]].map(Bytes::from));
    }

    #[tokio::test]
    async fn a_subscriber_left_behind_fails_instead_of_missing_messages() {
        let channel = LocalInvalidation::with_capacity(2);
        let mut subscription = channel.subscribe(Duration::from_secs(60)).await.unwrap();
        for i in 0..5 {
            channel.publish(Bytes::from(vec![i])).await.unwrap();
        }
        let err = subscription.stream.next().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    }
}
