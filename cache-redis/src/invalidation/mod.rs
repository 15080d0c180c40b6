//! [`RedisInvalidation`]: the [`InvalidationChannel`] contract on Redis pub/sub, for layers
//! such as the tiered cache.
//!
//! Redis pub/sub delivers a message to every connection subscribed when it is published, in
//! order, or drops the connection (a full output buffer, a `CLIENT KILL`, a network failure):
//! a message is lost only with the connection, and the stream then fails, as the contract
//! asks. A connection that silently stops delivering (a partition, a frozen server) is caught
//! by a `PING` on the subscribed connection every heartbeat: its answer comes after every
//! message published before the server saw it, which is what [`InvalidationEvent::Confirmed`]
//! promises.
//!
//! [`InvalidationEvent::Confirmed`]: cachette_api::InvalidationEvent::Confirmed

mod stream;

use std::fmt;
use std::time::{Duration, Instant};

use cachette_api::{
    async_trait, redact_url, Bytes, Error, InvalidationChannel, Result, Subscription,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::connection::bounded;
use crate::error::{self, BACKEND};

/// How long one call on the channel may take by default (connect, `SUBSCRIBE`, `PING`,
/// `PUBLISH`): one second.
pub const DEFAULT_INVALIDATION_TIMEOUT: Duration = Duration::from_secs(1);

/// An invalidation channel on a Redis pub/sub channel: one connection that publishes, and one
/// per subscription.
///
/// Every call is bounded by the [timeout](RedisInvalidationBuilder::with_timeout): `publish`
/// (one `PUBLISH`), `subscribe` (a connection and `SUBSCRIBE`), and each heartbeat `PING`.
///
/// Pub/sub ignores the database number: instances over different databases of one server
/// need different channel names. On a Redis Cluster, `PUBLISH` reaches the subscribers of
/// every node, so the URL of any one node will do.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_api::InvalidationChannel;
/// use cachette_redis::RedisInvalidation;
///
/// let channel = RedisInvalidation::connect("redis://127.0.0.1:6379", "myapp:invalidation").await?;
/// channel.publish("hello".into()).await?;
/// # Ok(()) }
/// ```
pub struct RedisInvalidation {
    client: redis::Client,
    publisher: ConnectionManager,
    channel: String,
    /// The URL with the password hidden.
    url: String,
    timeout: Duration,
}

impl fmt::Debug for RedisInvalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidation")
            .field("url", &self.url)
            .field("channel", &self.channel)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

// Compile-time check: the channel crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RedisInvalidation>();
};

/// Builds a [`RedisInvalidation`]: the server, the channel's name, the timeout.
#[must_use]
pub struct RedisInvalidationBuilder {
    url: String,
    channel: String,
    timeout: Duration,
}

impl fmt::Debug for RedisInvalidationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidationBuilder")
            .field("url", &redact_url(&self.url))
            .field("channel", &self.channel)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisInvalidationBuilder {
    /// How long one call may take (default [`DEFAULT_INVALIDATION_TIMEOUT`]): the
    /// connection, `SUBSCRIBE`, each `PING` and each `PUBLISH`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the configuration and connects the publishing connection.
    ///
    /// # Errors
    /// - [`ErrorKind::Config`](cachette_api::ErrorKind::Config): an empty channel name, a zero timeout, a URL that does not
    ///   parse (or names a cluster), a refused password.
    /// - [`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable) or
    ///   [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout): the server cannot be reached
    ///   within the timeout.
    pub async fn build(self) -> Result<RedisInvalidation> {
        let config = |message: &str| Err(error::config(message).with_operation("connect"));
        if self.channel.is_empty() {
            return config("the invalidation channel name is empty");
        }
        if self.timeout.is_zero() {
            return config("the invalidation timeout is zero");
        }
        let url = redact_url(&self.url);
        if crate::config::cluster_node_urls(&self.url).is_some() {
            return config(
                "the invalidation channel takes one node's URL (redis://host:port): \
                 a PUBLISH on any node of a cluster reaches every node",
            );
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            error::config_from_redis(&format!("URL {url}"), e).with_operation("connect")
        })?;
        // No retries inside the manager: a failed PUBLISH is the layer's to retry or queue.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0);
        let publisher = bounded(
            "connecting the invalidation publisher",
            self.timeout * 2,
            ConnectionManager::new_with_config(client.clone(), manager),
        )
        .await
        .map_err(|e| e.with_operation("connect"))?;
        Ok(RedisInvalidation {
            client,
            publisher,
            channel: self.channel,
            url,
            timeout: self.timeout,
        })
    }
}

impl RedisInvalidation {
    /// A builder for the server at `url` (`redis://[user][:password@]host:port`) and the
    /// pub/sub channel `channel`.
    pub fn builder(url: impl Into<String>, channel: impl Into<String>) -> RedisInvalidationBuilder {
        RedisInvalidationBuilder {
            url: url.into(),
            channel: channel.into(),
            timeout: DEFAULT_INVALIDATION_TIMEOUT,
        }
    }

    /// Connects with the default timeout: `RedisInvalidation::builder(url, channel).build()`.
    ///
    /// # Errors
    /// As [`RedisInvalidationBuilder::build`].
    pub async fn connect(url: &str, channel: impl Into<String>) -> Result<RedisInvalidation> {
        Self::builder(url, channel).build().await
    }

    /// The bound of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl InvalidationChannel for RedisInvalidation {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn publish(&self, message: Bytes) -> Result<()> {
        let mut connection = self.publisher.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&self.channel).arg(message.as_ref());
        bounded::<i64>(
            "invalidation PUBLISH",
            self.timeout,
            publish.query_async(&mut connection),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.with_operation("publish"))
    }

    async fn subscribe(&self, heartbeat: Duration) -> Result<Subscription> {
        let subscribe = async {
            let mut pubsub = bounded(
                "connecting the invalidation subscriber",
                self.timeout,
                self.client.get_async_pubsub(),
            )
            .await?;
            let since = Instant::now();
            bounded(
                "invalidation SUBSCRIBE",
                self.timeout,
                pubsub.subscribe(&self.channel),
            )
            .await?;
            Ok(Subscription::new(
                Box::new(stream::RedisStream::new(pubsub, heartbeat, self.timeout)),
                since,
            ))
        };
        subscribe
            .await
            .map_err(|e: Error| e.with_operation("subscribe"))
    }
}
