//! [`RedisBackend`]: the handle on a server or a cluster, and what it offers besides the
//! contract (connecting, a `Cache` over it, `flush_db`). The contract itself is in
//! `backend.rs`; the connections in `connection`, the multi-key algorithms in `topology`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cachette_api::{Cache, CacheBuilder, Error, ErrorKind, Result};

use crate::connection::{OnReplace, Timeouts};
use crate::error::BACKEND;
use crate::topology::{self, Client, Driver, Reads};
use crate::RedisBackendBuilder;

/// The Redis backend, on the `redis` crate's `ConnectionManager` for one server, or its
/// `ClusterConnection` for a Redis Cluster.
///
/// All clones share one multiplexed connection (one per node on a cluster), on which many tasks
/// pipeline their commands.
/// When the connection drops (a server restart, a network failure), the calls in flight fail
/// with [`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable), the next call reconnects, and the same backend works again
/// once the server is back: there is nothing to rebuild. No call waits longer than the connect
/// timeout plus the response timeout; a server that does not answer in time gives
/// [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout).
///
/// No argument longer than the server's `proto-max-bulk-len` (read with `CONFIG GET` at
/// connect; 512 MiB when `CONFIG` is not allowed) is sent: such a call fails at once with
/// [`ErrorKind::TooLarge`](cachette_api::ErrorKind::TooLarge), and the connection the other calls
/// share is untouched (the server would otherwise close it).
///
/// Every operation is one round trip: `GET`, one `MGET`, `SET` with `PX` and `NX`/`XX`,
/// `SET … NX GET` for `add_or_get` (Redis 7.0 or later), one pipeline of `SET`s, `UNLINK`,
/// `PEXPIRE`, `EXISTS`, `PTTL`, and one Lua script each for `incr`, `delete_if_value` and the
/// reads with their remaining life (`get_with_expiry`, `get_many_with_expiry`: `GET` and
/// `PTTL` of every key in one atomic call). A script costs one more round trip the first time a
/// server sees it (`NOSCRIPT`, then `EVAL` with its source).
/// Only [`clear`](cachette_api::CacheBackend::clear) takes several (`SCAN` and `UNLINK` in batches): it never
/// runs `FLUSHDB`, which is [`flush_db`](RedisBackend::flush_db), named for what it does.
///
/// # Redis Cluster
///
/// A `redis+cluster://host1:7000,host2:7001` URL, or
/// [`with_cluster_urls`](RedisBackendBuilder::with_cluster_urls), connects to a cluster instead;
/// the backend behaves the same (the same conformance suite passes on both). Each command goes
/// to the master of its key's hash slot, and `MOVED`/`ASK` redirections (a resharding) and a
/// failover are followed within the call's time bound. The multi-key calls are split by slot and
/// the parts sent at once: `get_many` is one `MGET` and `delete_many` one `UNLINK` per slot,
/// `set_many` one `SET` per entry; `clear` scans every master. See `docs/cluster.md`.
///
/// # Redis Sentinel and replicas
///
/// A `redis+sentinel://s1:26379,s2:26379/mymaster/0` URL finds the primary through the
/// sentinels and follows it across failovers: a call that fails because the primary moved
/// waits for the sentinels' answer within its own bound, then a read (or a write that was
/// certainly not applied) runs again on the new primary. Reads can go to replicas
/// ([`with_replica_urls`](RedisBackendBuilder::with_replica_urls),
/// [`with_replica_reads`](RedisBackendBuilder::with_replica_reads)), with
/// [`with_read_your_writes`](RedisBackendBuilder::with_read_your_writes) for a handle that
/// must read its own writes. See `docs/sentinel.md`.
///
/// # Cancel safety
///
/// A call dropped before it completes (a `select!`, a timeout) may or may not have reached the
/// server. The batch writes are not transactions: a cancelled or failed `set_many` may have
/// written some of its entries, and a cancelled `clear` may have deleted some batches. Each
/// single-key operation, `incr` included, is applied entirely or not at all.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_redis::RedisBackend;
///
/// let backend = RedisBackend::connect("redis://127.0.0.1:6379/0").await?;
/// let cache = backend.cache_builder().with_prefix("wheel_analyzer").build()?;
/// cache.set("scanner:last_run", "2025-11-10T14:00:00Z").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Set once connected: at build, or (lazy mode) at the first call that reaches Redis.
    driver: tokio::sync::OnceCell<Driver>,
    /// What to connect with while not connected yet.
    client: Client,
    /// Where reads go besides the primary.
    reads: Reads,
    /// When the last connection attempt failed: none is made for [`RETRY_AFTER`] after.
    failed_at: Mutex<Option<Instant>>,
    closed: AtomicBool,
    /// The URL (or the cluster's seed URLs) with the password hidden.
    url: String,
    timeouts: Timeouts,
}

/// How long a backend that is not connected yet waits after a failed attempt before the next
/// one; calls meanwhile fail at once with [`ErrorKind::Unavailable`].
const RETRY_AFTER: Duration = Duration::from_millis(500);

impl Inner {
    /// The connected driver, connecting first if this backend is not connected yet.
    pub(crate) async fn driver(&self) -> Result<&Driver> {
        if let Some(driver) = self.driver.get() {
            return Ok(driver);
        }
        // Boxed: connecting is a large future (a cluster's or Sentinel's set-up), and held
        // inline it would make every call's future that large, copied into its box on each
        // call (measured: about 700 instructions of `memcpy` per `get`).
        Box::pin(self.connect()).await
    }

    async fn connect(&self) -> Result<&Driver> {
        let unavailable = |what: &str| {
            Err(
                Error::new(ErrorKind::Unavailable, format!("{what} ({})", self.url))
                    .with_backend(BACKEND),
            )
        };
        if self.closed.load(Ordering::Acquire) {
            return unavailable("the backend was closed");
        }
        let recent = self
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if recent {
            return unavailable("not connected yet: the last attempt failed less than 500 ms ago");
        }
        let connected = self
            .driver
            .get_or_try_init(|| {
                topology::connect(self.client.clone(), self.reads.clone(), self.timeouts)
            })
            .await;
        if connected.is_err() {
            *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        connected
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(driver) = self.driver.get() {
            driver.close();
        }
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.url)
            .field(
                "cluster",
                &matches!(self.inner.client, Client::Cluster { .. }),
            )
            .field(
                "sentinel",
                &matches!(self.inner.client, Client::Sentinel(_)),
            )
            .field("replicas", &self.inner.reads.replicas.len())
            .field("read_your_writes", &self.inner.reads.read_your_writes)
            .field("connected", &self.inner.driver.initialized())
            .field("connect_timeout", &self.inner.timeouts.connect)
            .field("response_timeout", &self.inner.timeouts.response)
            .field("bulk_limit", &self.max_argument_len())
            .field("closed", &self.inner.closed.load(Ordering::Acquire))
            .finish()
    }
}

// Compile-time check: the backend crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RedisBackend>();
};

impl RedisBackend {
    /// A builder for the URL and the timeouts; see [`RedisBackendBuilder`].
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::new()
    }

    /// Connects to `url` with the default timeouts: `RedisBackend::builder().with_url(url)
    /// .build()`.
    ///
    /// # Errors
    /// As [`RedisBackendBuilder::build`].
    pub async fn connect(url: &str) -> Result<RedisBackend> {
        RedisBackendBuilder::new().with_url(url).build().await
    }

    /// Connects with a parsed client; called by [`RedisBackendBuilder::build`].
    pub(crate) async fn connect_client(
        client: Client,
        reads: Reads,
        url: String,
        timeouts: Timeouts,
        lazy: bool,
    ) -> Result<RedisBackend> {
        let inner = Inner {
            driver: tokio::sync::OnceCell::new(),
            client,
            reads,
            failed_at: Mutex::new(None),
            closed: AtomicBool::new(false),
            url,
            timeouts,
        };
        match inner.connect().await {
            Ok(_) => {}
            Err(e) if lazy && matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => {
                tracing::warn!(
                    backend = BACKEND,
                    url = %inner.url,
                    kind = e.kind().as_str(),
                    "Redis is not reachable; the backend connects at a later call (lazy mode)"
                );
            }
            Err(e) => return Err(e),
        }
        Ok(RedisBackend {
            inner: Arc::new(inner),
        })
    }

    /// A [`Cache`] with Django's defaults (no prefix, version 1, 300 s) over this backend.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(self.clone()))
    }

    /// A [`CacheBuilder`] over this backend, to set the prefix, version and default timeout.
    pub fn cache_builder(&self) -> CacheBuilder {
        Cache::builder(Arc::new(self.clone()))
    }

    /// The longest argument (a value, a key) the server accepts, in bytes: its
    /// `proto-max-bulk-len` as read at connect, or 512 MiB when it could not be read. Longer
    /// values are refused with [`ErrorKind::TooLarge`](cachette_api::ErrorKind::TooLarge) before
    /// anything is sent.
    pub fn max_argument_len(&self) -> u64 {
        self.inner
            .driver
            .get()
            .map_or(crate::connection::DEFAULT_BULK_LIMIT, Driver::bulk_limit)
    }

    /// Deletes every key of the database (`FLUSHDB`), whoever wrote it; on a cluster, of every
    /// master.
    ///
    /// Meant for tests on a private server; a [`Cache`]'s `clear` deletes only its own keys.
    ///
    /// # Errors
    /// The network errors of every call
    /// ([`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable),
    /// [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout)).
    pub async fn flush_db(&self) -> Result<()> {
        let driver = self.inner.driver().await?;
        let flushed = driver
            .query("FLUSHDB", OnReplace::Fail, &redis::cmd("FLUSHDB"))
            .await;
        driver.wrote_everything();
        flushed
    }
}
