//! The contract of an invalidation channel: how the instances of a layer (a tiered cache) tell
//! each other what changed, whatever carries the messages.
//!
//! A layer sees only this trait, never a driver: the Redis pub/sub channel lives with the
//! Redis driver (`cachette_redis::RedisInvalidation`), and another transport (NATS, PostgreSQL
//! `LISTEN`, an in-process broadcast for tests) implements the same two methods. The messages
//! are opaque bytes: what they mean (keys, prefixes, the sender) is the layer's business.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidationEvent {
    /// A message published by one of the instances (the receiver's own included).
    Message(Bytes),
    /// Every message published before this instant has been yielded already: the
    /// subscription is confirmed to be delivering up to here.
    Confirmed(Instant),
}

/// A live subscription: the events, in order.
#[async_trait]
pub trait InvalidationStream: Debug + Send + 'static {
    /// The next event.
    ///
    /// # Errors
    /// The subscription is lost (a dropped connection, a heartbeat not answered in time):
    /// messages may have been missed, and the stream yields nothing more. The caller
    /// subscribes again, and must treat everything it cached as possibly stale.
    async fn next(&mut self) -> Result<InvalidationEvent>;
}

/// A new subscription, and the instant from which it receives every message.
#[derive(Debug)]
#[non_exhaustive]
pub struct Subscription {
    /// The events.
    pub stream: Box<dyn InvalidationStream>,
    /// Every message published from this instant on is delivered to `stream` (or the stream
    /// fails).
    pub since: Instant,
}

impl Subscription {
    /// A subscription delivering every message published from `since` on.
    pub fn new(stream: Box<dyn InvalidationStream>, since: Instant) -> Self {
        Subscription { stream, since }
    }
}

/// A broadcast channel between the instances of a layer.
///
/// # Contract
///
/// - **Delivery.** A message published after a subscription's
///   [`since`](Subscription::since) is yielded by its stream, in the order each instance
///   published, or the stream fails. A message is never lost silently.
/// - **Confirmation.** While it works, a stream yields
///   [`InvalidationEvent::Confirmed`] at least once per `heartbeat` (plus one round trip of
///   the transport); a stream that cannot confirm within the implementation's own timeout
///   fails instead.
/// - **Bounded calls.** `publish`, `subscribe` and each `next` that waits on the network
///   return within the implementation's documented timeout; a network failure is an
///   [`Error`](crate::Error) of kind [`Unavailable`](crate::ErrorKind::Unavailable) or
///   [`Timeout`](crate::ErrorKind::Timeout), never a panic.
#[async_trait]
pub trait InvalidationChannel: Debug + Send + Sync + 'static {
    /// The transport's name: `"redis"`, …
    fn name(&self) -> &'static str;

    /// Sends `message` to every subscribed instance.
    ///
    /// # Errors
    /// The message could not be handed to the transport; it may or may not be delivered.
    async fn publish(&self, message: Bytes) -> Result<()>;

    /// Subscribes, confirming delivery at least once per `heartbeat`.
    ///
    /// # Errors
    /// The transport cannot be reached, or refuses the subscription.
    async fn subscribe(&self, heartbeat: Duration) -> Result<Subscription>;
}

/// An invalidation channel chosen at run time.
pub type DynInvalidationChannel = Arc<dyn InvalidationChannel>;

macro_rules! forward_channel {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<T: InvalidationChannel + ?Sized> InvalidationChannel for $ptr<T> {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            async fn publish(&self, message: Bytes) -> Result<()> {
                (**self).publish(message).await
            }
            async fn subscribe(&self, heartbeat: Duration) -> Result<Subscription> {
                (**self).subscribe(heartbeat).await
            }
        }
    )*};
}

forward_channel!(Arc, Box);
