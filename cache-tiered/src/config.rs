//! [`TieredLayerBuilder`]: the two levels, the invalidation channel, and what L1 may serve.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cachette_api::{
    CacheBackend, DynCacheBackend, DynInvalidationChannel, InvalidationChannel, Result,
};

use crate::error::config;
use crate::TieredLayer;

/// The longest an entry stays in L1 by default: one minute (less when L2's TTL is shorter).
pub const DEFAULT_L1_MAX_TTL: Duration = Duration::from_secs(60);

/// How often the channel is checked by default with a `PING`: every second.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How long one call on the channel may take by default (subscribing, a confirmation, a
/// publication with its retry): one second.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(1);

/// What an instance serves while its invalidation channel is down.
///
/// While the channel is down, the instance cannot hear about changes made elsewhere, so its L1
/// may hold values that L2 no longer has. Whichever mode is chosen, the instance clears its L1
/// when the channel comes back, before serving from it again.
///
/// ```
/// use std::time::Duration;
/// use cachette_tiered::DisconnectedMode;
///
/// assert_eq!(DisconnectedMode::default(), DisconnectedMode::L2Only);
/// let lenient = DisconnectedMode::MaxStaleness(Duration::from_secs(5));
/// # let _ = lenient;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DisconnectedMode {
    /// Every read goes to L2 until the channel is back (the default): never stale, slower.
    #[default]
    L2Only,
    /// L1 keeps serving for at most this long after the channel was last known to be
    /// working, then every read goes to L2: a value served may be this much out of date.
    MaxStaleness(Duration),
}

/// Builds a [`TieredLayer`]: an L1, an L2, the invalidation channel, and the limits.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cachette_memory::MemoryBackend;
/// use cachette_redis::{RedisBackend, RedisInvalidation};
/// use cachette_tiered::{DisconnectedMode, TieredLayer};
///
/// let url = "redis://127.0.0.1:6379/0";
/// let l1 = MemoryBackend::builder().with_max_entries(50_000).build();
/// let l2 = RedisBackend::connect(url).await?;
/// let channel = RedisInvalidation::connect(url, "myapp:cache-invalidation").await?;
/// let backend = TieredLayer::builder(l1, l2)
///     .with_invalidation(Arc::new(channel))
///     .with_l1_max_ttl(Duration::from_secs(30))
///     .with_disconnected_mode(DisconnectedMode::MaxStaleness(Duration::from_secs(2)))
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(()) }
/// ```
#[must_use]
pub struct TieredLayerBuilder {
    pub(crate) l1: DynCacheBackend,
    pub(crate) l2: DynCacheBackend,
    pub(crate) channel: Option<DynInvalidationChannel>,
    pub(crate) l1_max_ttl: Duration,
    pub(crate) disconnected_mode: DisconnectedMode,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) network_timeout: Duration,
}

impl fmt::Debug for TieredLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredLayerBuilder")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .field("channel", &self.channel)
            .field("l1_max_ttl", &self.l1_max_ttl)
            .field("disconnected_mode", &self.disconnected_mode)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("network_timeout", &self.network_timeout)
            .finish()
    }
}

impl TieredLayerBuilder {
    /// A builder over `l1` and `l2` (any two backends; usually an in-process memory backend
    /// over a shared one) with the defaults; the invalidation channel must still be given
    /// with [`with_invalidation`](Self::with_invalidation).
    ///
    /// `l1` must be dedicated to this layer: [`build`](Self::build) clears it, and entries
    /// that this layer did not write are never served. An `Arc` of a backend, or a
    /// [`DynCacheBackend`], is a backend too.
    pub fn new(l1: impl CacheBackend, l2: impl CacheBackend) -> Self {
        TieredLayerBuilder {
            l1: Arc::new(l1),
            l2: Arc::new(l2),
            channel: None,
            l1_max_ttl: DEFAULT_L1_MAX_TTL,
            disconnected_mode: DisconnectedMode::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            network_timeout: DEFAULT_NETWORK_TIMEOUT,
        }
    }

    /// Publishes and hears invalidations on `channel` (for Redis,
    /// `cachette_redis::RedisInvalidation`; within one process, [`LocalInvalidation`](crate::LocalInvalidation)).
    /// Every instance that shares L2 must use the same channel. Required. An `Arc` of a
    /// channel, or a [`DynInvalidationChannel`], is a channel too.
    pub fn with_invalidation(mut self, channel: impl InvalidationChannel) -> Self {
        self.channel = Some(Arc::new(channel));
        self
    }

    /// The longest an entry stays in L1 (default [`DEFAULT_L1_MAX_TTL`]); an entry never
    /// outlives its remaining TTL in L2 either.
    ///
    /// This also bounds how stale L1 can get should an invalidation be lost although the
    /// channel looked healthy (a publication that failed, see
    /// [`TieredStats::publish_failures`](crate::TieredStats::publish_failures)).
    pub fn with_l1_max_ttl(mut self, ttl: Duration) -> Self {
        self.l1_max_ttl = ttl;
        self
    }

    /// What to serve while the channel is down (default [`DisconnectedMode::L2Only`]).
    pub fn with_disconnected_mode(mut self, mode: DisconnectedMode) -> Self {
        self.disconnected_mode = mode;
        self
    }

    /// How often the channel must confirm that it delivers (default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`]; a `PING` on Redis).
    ///
    /// A connection that breaks is noticed at once; one that silently stops delivering (a
    /// network partition) is noticed within this interval plus the network timeout, and L1 is
    /// trusted no longer than that after the last confirmation. Hits served more than one
    /// interval after it are counted as
    /// [`unconfirmed_hits`](crate::TieredStats::unconfirmed_hits).
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// How long one call on the channel may take (default [`DEFAULT_NETWORK_TIMEOUT`]):
    /// subscribing, each confirmation, and each publication (its retry included). L2's calls
    /// are bounded by L2.
    ///
    /// A change (`set`, `delete`, …) takes at most L2's bound plus this timeout (plus L1's
    /// own time, microseconds for a memory L1): the L2 call, then the publication of its
    /// invalidation, which is queued (and retried at each confirmation) when it does not
    /// complete in time.
    pub fn with_network_timeout(mut self, timeout: Duration) -> Self {
        self.network_timeout = timeout;
        self
    }

    /// Checks the configuration, subscribes to the channel, clears L1, and starts the task
    /// that listens for invalidations.
    ///
    /// Must be called within a tokio runtime, which runs the listening task.
    ///
    /// # Errors
    /// - [`ErrorKind::Config`](cachette_api::ErrorKind::Config): no invalidation channel, a
    ///   duration below 1 ms or over a day, or no tokio runtime.
    /// - The channel's errors when it cannot subscribe
    ///   ([`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable),
    ///   [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout) within the network timeout).
    pub async fn build(self) -> Result<TieredLayer> {
        if self.channel.is_none() {
            return Err(config(
                "no invalidation channel: call with_invalidation(channel); without one, \
                 instances would serve each other's stale values",
            ));
        }
        for (name, value) in [
            ("l1_max_ttl", self.l1_max_ttl),
            ("heartbeat_interval", self.heartbeat_interval),
            ("network_timeout", self.network_timeout),
        ] {
            if value < Duration::from_millis(1) {
                return Err(config(format!("{name} is below 1 ms")));
            }
            // Deadlines are computed by adding these to an instant: beyond a day they are
            // mistakes, and near Duration::MAX they would overflow.
            if value > Duration::from_secs(86_400) {
                return Err(config(format!("{name} is longer than a day")));
            }
        }
        TieredLayer::start(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use cachette_api::{async_trait, Bytes, Error, ErrorKind, Subscription};
    use cachette_memory::MemoryBackend;

    use super::*;

    /// A channel that cannot be reached.
    #[derive(Debug)]
    struct Unreachable;

    #[async_trait]
    impl InvalidationChannel for Unreachable {
        fn name(&self) -> &'static str {
            "unreachable"
        }
        async fn publish(&self, _: Bytes) -> Result<()> {
            Err(Error::new(ErrorKind::Unavailable, "unreachable"))
        }
        async fn subscribe(&self, _: Duration) -> Result<Subscription> {
            Err(Error::new(ErrorKind::Unavailable, "unreachable"))
        }
    }

    /// A channel that never answers.
    #[derive(Debug)]
    struct Silent;

    #[async_trait]
    impl InvalidationChannel for Silent {
        fn name(&self) -> &'static str {
            "silent"
        }
        async fn publish(&self, _: Bytes) -> Result<()> {
            std::future::pending().await
        }
        async fn subscribe(&self, _: Duration) -> Result<Subscription> {
            std::future::pending().await
        }
    }

    fn builder() -> TieredLayerBuilder {
        TieredLayerBuilder::new(MemoryBackend::new(), MemoryBackend::new())
    }

    #[test]
    fn defaults() {
        let b = builder();
        assert_eq!(b.l1_max_ttl, DEFAULT_L1_MAX_TTL);
        assert_eq!(b.disconnected_mode, DisconnectedMode::L2Only);
        assert_eq!(b.heartbeat_interval, DEFAULT_HEARTBEAT_INTERVAL);
        assert_eq!(b.network_timeout, DEFAULT_NETWORK_TIMEOUT);
        assert!(b.channel.is_none());
    }

    #[tokio::test]
    async fn invalid_configurations_are_refused() {
        let channel = || -> DynInvalidationChannel { Arc::new(Unreachable) };
        let cases = [
            builder(),
            builder()
                .with_invalidation(channel())
                .with_l1_max_ttl(Duration::ZERO),
            builder()
                .with_invalidation(channel())
                .with_heartbeat_interval(Duration::ZERO),
            builder()
                .with_invalidation(channel())
                .with_network_timeout(Duration::ZERO),
        ];
        for b in cases {
            let shown = format!("{b:?}");
            let err = b.build().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err:?}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_channel_fails_within_the_timeout() {
        for channel in [
            Arc::new(Unreachable) as DynInvalidationChannel,
            Arc::new(Silent),
        ] {
            let started = Instant::now();
            let err = builder()
                .with_invalidation(channel)
                .with_network_timeout(Duration::from_millis(300))
                .build()
                .await
                .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                "{err:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{err:?}");
        }
    }
}
