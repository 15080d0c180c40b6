//! [`TieredBackendBuilder`]: the two levels, the invalidation channel, and what L1 may serve.

use std::fmt;
use std::time::Duration;

use cache_api::{DynCacheBackend, Result};
use cache_memory::MemoryBackend;

use crate::error::config;
use crate::TieredBackend;

/// The longest an entry stays in L1 by default: one minute (less when L2's TTL is shorter).
pub const DEFAULT_L1_MAX_TTL: Duration = Duration::from_secs(60);

/// How often the channel is checked by default with a `PING`: every second.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How long one call on the channel may take by default (connect, `SUBSCRIBE`, `PING`,
/// `PUBLISH`): one second.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(1);

/// What an instance serves while its invalidation channel is down.
///
/// While the channel is down, the instance cannot hear about changes made elsewhere, so its L1
/// may hold values that L2 no longer has. Whichever mode is chosen, the instance clears its L1
/// when the channel comes back, before serving from it again.
///
/// ```
/// use std::time::Duration;
/// use cache_tiered::DisconnectedMode;
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

/// Where invalidations are published and heard.
#[derive(Clone)]
pub(crate) struct ChannelConfig {
    pub(crate) url: String,
    pub(crate) name: String,
}

/// Builds a [`TieredBackend`]: an L1, an L2, the invalidation channel, and the limits.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_api::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_memory::MemoryBackend;
/// use cache_redis::RedisBackend;
/// use cache_tiered::{DisconnectedMode, TieredBackend};
///
/// let url = "redis://127.0.0.1:6379/0";
/// let l1 = MemoryBackend::builder().with_max_entries(50_000).build();
/// let l2 = Arc::new(RedisBackend::connect(url).await?);
/// let backend = TieredBackend::builder(l1, l2)
///     .with_redis_invalidation(url, "myapp:cache-invalidation")
///     .with_l1_max_ttl(Duration::from_secs(30))
///     .with_disconnected_mode(DisconnectedMode::MaxStaleness(Duration::from_secs(2)))
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(()) }
/// ```
#[must_use]
pub struct TieredBackendBuilder {
    pub(crate) l1: MemoryBackend,
    pub(crate) l2: DynCacheBackend,
    pub(crate) channel: Option<ChannelConfig>,
    pub(crate) l1_max_ttl: Duration,
    pub(crate) disconnected_mode: DisconnectedMode,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) network_timeout: Duration,
}

impl fmt::Debug for TieredBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredBackendBuilder")
            .field("l1", &self.l1)
            .field("l2", &self.l2.name())
            .field(
                "channel_url",
                &self.channel.as_ref().map(|c| cache_api::redact_url(&c.url)),
            )
            .field("channel_name", &self.channel.as_ref().map(|c| &c.name))
            .field("l1_max_ttl", &self.l1_max_ttl)
            .field("disconnected_mode", &self.disconnected_mode)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("network_timeout", &self.network_timeout)
            .finish()
    }
}

impl TieredBackendBuilder {
    /// A builder over `l1` and `l2` with the defaults; the invalidation channel must still be
    /// given with [`with_redis_invalidation`](Self::with_redis_invalidation).
    ///
    /// `l1` must be dedicated to this backend: [`build`](Self::build) clears it, and entries
    /// that this backend did not write are never served.
    pub fn new(l1: MemoryBackend, l2: DynCacheBackend) -> Self {
        TieredBackendBuilder {
            l1,
            l2,
            channel: None,
            l1_max_ttl: DEFAULT_L1_MAX_TTL,
            disconnected_mode: DisconnectedMode::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            network_timeout: DEFAULT_NETWORK_TIMEOUT,
        }
    }

    /// Publishes and hears invalidations on the Redis pub/sub channel `channel_name` of the
    /// server at `url` (usually L2's own server). Every instance that shares L2 must use the
    /// same channel. Required.
    ///
    /// The URL takes the forms of the `redis` crate (`redis://[user][:password]@host:port/db`);
    /// pub/sub ignores the database number, so instances over different databases of one
    /// server need different channel names.
    pub fn with_redis_invalidation(
        mut self,
        url: impl Into<String>,
        channel_name: impl Into<String>,
    ) -> Self {
        self.channel = Some(ChannelConfig {
            url: url.into(),
            name: channel_name.into(),
        });
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

    /// How often the channel is checked with a `PING` (default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`]).
    ///
    /// A connection that breaks is noticed at once; one that silently stops delivering (a
    /// network partition) is noticed within this interval plus the network timeout, and L1 is
    /// trusted no longer than that after the last answered `PING`.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// How long one call on the channel may take (default [`DEFAULT_NETWORK_TIMEOUT`]): the
    /// connection, `SUBSCRIBE`, each `PING` and each `PUBLISH`. L2's calls are bounded by L2.
    pub fn with_network_timeout(mut self, timeout: Duration) -> Self {
        self.network_timeout = timeout;
        self
    }

    /// Checks the configuration, connects the channel (a publishing connection and a
    /// subscribed one), clears L1, and starts the task that listens for invalidations.
    ///
    /// Must be called within a tokio runtime, which runs the listening task.
    ///
    /// # Errors
    /// - [`ErrorKind::Config`](cache_api::ErrorKind::Config): no invalidation channel, an
    ///   empty channel name, a zero duration, a URL that does not parse, a refused password,
    ///   or no tokio runtime.
    /// - [`ErrorKind::Unavailable`](cache_api::ErrorKind::Unavailable) or
    ///   [`ErrorKind::Timeout`](cache_api::ErrorKind::Timeout): the channel's server cannot
    ///   be reached within the network timeout.
    pub async fn build(self) -> Result<TieredBackend> {
        let Some(channel) = &self.channel else {
            return Err(config(
                "no invalidation channel: call with_redis_invalidation(url, channel_name); \
                 without one, instances would serve each other's stale values",
            ));
        };
        if channel.name.is_empty() {
            return Err(config("the invalidation channel name is empty"));
        }
        for (name, value) in [
            ("l1_max_ttl", self.l1_max_ttl),
            ("heartbeat_interval", self.heartbeat_interval),
            ("network_timeout", self.network_timeout),
        ] {
            if value.is_zero() {
                return Err(config(format!("{name} is zero")));
            }
        }
        TieredBackend::start(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cache_api::ErrorKind;

    use super::*;

    fn builder() -> TieredBackendBuilder {
        TieredBackendBuilder::new(MemoryBackend::new(), Arc::new(MemoryBackend::new()))
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

    #[test]
    fn debug_leaves_the_password_out() {
        let b = builder().with_redis_invalidation("redis://app:hunter2@127.0.0.1:1/0", "ch");
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://app:***@127.0.0.1:1/0"), "{shown}");
    }

    #[tokio::test]
    async fn invalid_configurations_are_refused() {
        let url = "redis://127.0.0.1:1";
        let cases = [
            builder(),
            builder().with_redis_invalidation(url, ""),
            builder()
                .with_redis_invalidation(url, "ch")
                .with_l1_max_ttl(Duration::ZERO),
            builder()
                .with_redis_invalidation(url, "ch")
                .with_heartbeat_interval(Duration::ZERO),
            builder()
                .with_redis_invalidation(url, "ch")
                .with_network_timeout(Duration::ZERO),
            builder().with_redis_invalidation("not a url", "ch"),
            builder().with_redis_invalidation("http://127.0.0.1:1", "ch"),
        ];
        for b in cases {
            let shown = format!("{b:?}");
            let err = b.build().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err:?}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_channel_fails_within_the_timeout() {
        // Port 1 on loopback: nothing listens there.
        let started = std::time::Instant::now();
        let err = builder()
            .with_redis_invalidation("redis://127.0.0.1:1", "ch")
            .with_network_timeout(Duration::from_millis(300))
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{err:?}");
    }
}
