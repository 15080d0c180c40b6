//! [`RedisStream`]: a subscribed pub/sub connection, its messages and its heartbeat.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use cachette_api::{async_trait, Bytes, Error, InvalidationEvent, InvalidationStream, Result};
use futures::{FutureExt, StreamExt};
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use tokio::time::{Interval, MissedTickBehavior};

use crate::connection::bounded;
use crate::error;

/// The events of one subscribed connection; a `PING` every heartbeat confirms it.
pub(crate) struct RedisStream {
    sink: PubSubSink,
    messages: PubSubStream,
    heartbeat: Interval,
    timeout: Duration,
    /// Events read ahead (the messages drained before a confirmation, and the confirmation).
    pending: VecDeque<InvalidationEvent>,
    /// Set once the connection is lost: the stream yields nothing more.
    lost: bool,
}

impl fmt::Debug for RedisStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStream")
            .field("heartbeat", &self.heartbeat.period())
            .field("timeout", &self.timeout)
            .field("pending", &self.pending.len())
            .field("lost", &self.lost)
            .finish()
    }
}

impl RedisStream {
    pub(crate) fn new(pubsub: PubSub, heartbeat: Duration, timeout: Duration) -> RedisStream {
        let (sink, messages) = pubsub.split();
        let mut heartbeat = tokio::time::interval(heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        heartbeat.reset();
        RedisStream {
            sink,
            messages,
            heartbeat,
            timeout,
            pending: VecDeque::new(),
            lost: false,
        }
    }

    fn lost(&mut self, why: &str) -> Error {
        self.lost = true;
        error::subscription_lost(why)
    }

    /// Sends a `PING` and, once answered, reads ahead the messages that came before its
    /// answer, then the confirmation.
    async fn confirm(&mut self) -> Result<()> {
        let sent = Instant::now();
        if let Err(e) = bounded(
            "invalidation PING",
            self.timeout,
            self.sink.ping::<redis::Value>(),
        )
        .await
        {
            self.lost = true;
            return Err(e);
        }
        // The messages published before the server saw our PING arrived before its answer.
        while let Some(message) = self.messages.next().now_or_never() {
            match message {
                Some(message) => {
                    self.pending
                        .push_back(InvalidationEvent::Message(Bytes::copy_from_slice(
                            message.get_payload_bytes(),
                        )))
                }
                None => return Err(self.lost("the connection closed")),
            }
        }
        self.pending.push_back(InvalidationEvent::Confirmed(sent));
        Ok(())
    }
}

#[async_trait]
impl InvalidationStream for RedisStream {
    async fn next(&mut self) -> Result<InvalidationEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if self.lost {
                return Err(self.lost("the connection was lost earlier"));
            }
            tokio::select! {
                message = self.messages.next() => {
                    return match message {
                        Some(message) => Ok(InvalidationEvent::Message(Bytes::copy_from_slice(
                            message.get_payload_bytes(),
                        ))),
                        None => Err(self.lost("the connection closed")),
                    };
                }
                _ = self.heartbeat.tick() => self.confirm().await?,
            }
        }
    }
}
