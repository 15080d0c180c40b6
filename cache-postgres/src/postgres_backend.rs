//! [`PostgresBackend`]: the handle on a pool of connections and a table, and what it offers
//! besides the contract (creating the table, culling). The contract itself is in `backend.rs`,
//! the SQL in `sql.rs`.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cachette_api::{Cache, CacheBuilder, Error, ErrorKind, Result};
use deadpool_postgres::{ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::{self, BACKEND};
use crate::sql::{self, Statements, TableName};
use crate::PostgresBackendBuilder;

/// The PostgreSQL backend: Django's `DatabaseCache`, on `tokio-postgres` with a
/// `deadpool-postgres` pool, in one table.
///
/// # The table
///
/// ```sql
/// CREATE UNLOGGED TABLE IF NOT EXISTS cachette_cache (
///     key bytea PRIMARY KEY,
///     value bytea NOT NULL,
///     expires_at timestamptz            -- NULL: never expires
/// );
/// CREATE INDEX IF NOT EXISTS cachette_cache_expires_at ON cachette_cache (expires_at);
/// ```
///
/// [`build`](PostgresBackendBuilder::build) creates it when it is missing (under an advisory
/// lock, so that many instances starting at once do not race), unless
/// [`with_create_table(false)`](PostgresBackendBuilder::with_create_table) says the
/// application's role may not: then [`PostgresBackendBuilder::create_table`] is the explicit
/// step, as Django's `createcachetable`. Creating at start-up rather than at the first write
/// keeps every call one statement, and reports a missing privilege when the application starts.
///
/// The table is `UNLOGGED` by default: writes skip the write-ahead log (several times faster),
/// and PostgreSQL empties the table after a crash, which a cache can afford. Keys are `bytea`,
/// so that every key is stored exactly (lease keys hold a NUL, which `text` cannot), and
/// `clear` deletes a byte range of the primary key: no character of a prefix is a wildcard.
///
/// # Semantics
///
/// Every operation is one statement, answered from the server's clock (`now()`): expired rows
/// are never returned, counted, touched or incremented, even before they are culled. `add` is
/// `INSERT … ON CONFLICT (key) DO UPDATE … WHERE` the row has expired; `incr` is one `UPDATE`
/// that reads the row's own value under its row lock (no update is lost) and keeps
/// `expires_at`; the batches are one statement each (`key = ANY($1)`, `UNNEST`);
/// `delete_if_value` is one `DELETE … WHERE value = $2`. `add_or_get` is one statement too,
/// run again in the rare case where a racing writer committed the row after the statement
/// began.
///
/// # Culling
///
/// A background task deletes expired rows every
/// [`cull_interval`](PostgresBackendBuilder::with_cull_interval) (60 s by default), at most
/// [`cull_limit`](PostgresBackendBuilder::with_cull_limit) rows per pass; with
/// [`max_entries`](PostgresBackendBuilder::with_max_entries) (Django's `MAX_ENTRIES`), a pass
/// that finds more rows also deletes 1/[`cull_frequency`](PostgresBackendBuilder::with_cull_frequency)
/// of them, soonest to expire first. [`cull`](Self::cull) runs one pass now.
///
/// # Failures
///
/// No call waits longer than the connect timeout (for a connection of the pool) plus the
/// response timeout (for its statement, which is also the session's `statement_timeout`).
/// When the server restarts, the calls in flight fail with
/// [`ErrorKind::Unavailable`], broken connections are dropped from the pool, and the same
/// backend works again once the server is back.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_postgres::PostgresBackend;
///
/// let backend = PostgresBackend::connect("postgres://app:secret@127.0.0.1:5432/app").await?;
/// let cache = backend.cache_builder().with_prefix("wheel_analyzer").build()?;
/// cache.set("scanner:last_run", "2025-11-10T14:00:00Z").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pool: Pool,
    pub(crate) sql: Statements,
    table: TableName,
    create_sql: String,
    create_table: bool,
    /// Set once the table is known to exist: at build, or (lazy mode) at the first call.
    ready: tokio::sync::OnceCell<()>,
    response_timeout: Duration,
    cull_limit: u64,
    max_entries: Option<u64>,
    cull_frequency: u64,
    closed: AtomicBool,
    culler: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The URL with the password hidden.
    url: String,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresBackend")
            .field("url", &self.inner.url)
            .field("table", &self.inner.table.as_str())
            .field("ready", &self.inner.ready.initialized())
            .field("pool_size", &status.max_size)
            .field("connections", &status.size)
            .field("response_timeout", &self.inner.response_timeout)
            .field("max_entries", &self.inner.max_entries)
            .field("closed", &self.inner.closed.load(Ordering::Acquire))
            .finish()
    }
}

// Compile-time check: the backend crosses tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PostgresBackend>();
};

/// The parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PostgresBackend {
    /// A builder for the URL, the table and the options; see [`PostgresBackendBuilder`].
    pub fn builder() -> PostgresBackendBuilder {
        PostgresBackendBuilder::new()
    }

    /// Connects to `url` with the default options:
    /// `PostgresBackend::builder().with_url(url).build()`.
    ///
    /// # Errors
    /// As [`PostgresBackendBuilder::build`].
    pub async fn connect(url: &str) -> Result<PostgresBackend> {
        PostgresBackendBuilder::new().with_url(url).build().await
    }

    /// Called by [`PostgresBackendBuilder::build`] once the options are checked.
    pub(crate) async fn start(
        builder: PostgresBackendBuilder,
        config: tokio_postgres::Config,
        connector: crate::tls::Connector,
        table: TableName,
    ) -> Result<PostgresBackend> {
        let manager = connector.manager(
            config,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(builder.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(builder.connect_timeout))
            .create_timeout(Some(builder.connect_timeout))
            .recycle_timeout(Some(builder.connect_timeout))
            .build()
            .map_err(|e| error::config("the connection pool could not be built").with_source(e))?;
        let inner = Arc::new(Inner {
            pool,
            sql: Statements::new(&table),
            create_sql: sql::create_table(&table, builder.unlogged),
            table,
            create_table: builder.create_table,
            ready: tokio::sync::OnceCell::new(),
            response_timeout: builder.response_timeout,
            cull_limit: builder.cull_limit,
            max_entries: builder.max_entries,
            cull_frequency: builder.cull_frequency,
            closed: AtomicBool::new(false),
            culler: Mutex::new(None),
            url: crate::config::redact(&builder.url),
        });
        match inner.ensure_ready().await {
            Ok(()) => inner.warm_up().await,
            Err(e)
                if builder.lazy
                    && matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) =>
            {
                tracing::warn!(
                    backend = BACKEND,
                    url = %inner.url,
                    kind = e.kind().as_str(),
                    "PostgreSQL is not reachable; the backend connects at a later call (lazy mode)"
                );
            }
            Err(e) => return Err(e),
        }
        if let Some(interval) = builder.cull_interval {
            let task = tokio::spawn(cull_periodically(Arc::downgrade(&inner), interval));
            *inner.culler.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(PostgresBackend { inner })
    }

    /// A [`Cache`] with Django's defaults (no prefix, version 1, 300 s) over this backend.
    pub fn cache(&self) -> Cache {
        Cache::new(Arc::new(self.clone()))
    }

    /// A [`CacheBuilder`] over this backend, to set the prefix, version and default timeout.
    pub fn cache_builder(&self) -> CacheBuilder {
        Cache::builder(Arc::new(self.clone()))
    }

    /// The table's name, as configured.
    pub fn table(&self) -> &str {
        self.inner.table.as_str()
    }

    /// The SQL that creates the table and its index when missing (what
    /// [`create_table`](Self::create_table) runs), for a migration of your own.
    pub fn create_table_sql(&self) -> &str {
        &self.inner.create_sql
    }

    /// Creates the table and its index if they are missing: Django's `createcachetable`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the role may not create the table; the network errors.
    pub async fn create_table(&self) -> Result<()> {
        self.inner.create().await
    }

    /// Runs one culling pass now and returns how many rows it deleted: the expired rows (at
    /// most the cull limit), then, when the table holds more than `max_entries` rows,
    /// 1/`cull_frequency` of them (at most the cull limit), soonest to expire first.
    ///
    /// # Errors
    /// The network errors ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`]).
    pub async fn cull(&self) -> Result<u64> {
        self.inner.cull().await
    }
}

impl Inner {
    /// Creates the table, or checks that it exists, once.
    async fn ensure_ready(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| async {
                if self.create_table {
                    self.create().await
                } else {
                    let client = self.connection().await?;
                    self.bounded("check table", client.query(&self.sql.exists, &[]))
                        .await
                        .map(drop)
                        .map_err(|e| {
                            if e.kind() == ErrorKind::Config {
                                Error::new(
                                    ErrorKind::Config,
                                    format!(
                                        "the table {} does not exist (or may not be read): \
                                         create it with PostgresBackend::create_table, or \
                                         build with create_table on",
                                        self.table.as_str()
                                    ),
                                )
                                .with_backend(BACKEND)
                                .with_source(e)
                            } else {
                                e
                            }
                        })
                }
            })
            .await
            .map(|_| ())
    }

    async fn create(&self) -> Result<()> {
        let client = self.connection().await?;
        // One transaction under an advisory lock: concurrent `CREATE … IF NOT EXISTS` of the
        // same table can otherwise fail on the catalog's unique index.
        let batch = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('cachette:' || {})); {}; COMMIT",
            quote_literal(self.table.as_str()),
            self.create_sql
        );
        let outcome = self
            .bounded("create table", client.batch_execute(&batch))
            .await;
        if outcome.is_err() {
            // Leave no connection behind in an aborted transaction.
            let _ = Object::take(client);
        }
        outcome
    }

    /// Opens every connection of the pool at once, so that a burst of calls is served by
    /// connections that exist (a new one costs the server a process, and more than a
    /// statement); a failure is left to the calls.
    async fn warm_up(&self) {
        let wanted = self.pool.status().max_size;
        let opened = futures::future::join_all((0..wanted).map(|_| self.pool.get())).await;
        drop(opened);
    }

    /// A connection of the pool, the table known to exist.
    async fn client(&self) -> Result<Object> {
        if !self.ready.initialized() {
            self.ensure_ready().await?;
        }
        self.connection().await
    }

    async fn connection(&self) -> Result<Object> {
        if self.closed.load(Ordering::Acquire) {
            return Err(error::unavailable("the backend was closed"));
        }
        self.pool.get().await.map_err(error::from_pool)
    }

    /// `work`, bounded by the response timeout, its error mapped.
    async fn bounded<T>(
        &self,
        statement: &str,
        work: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.response_timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(error::from_postgres(statement, e)),
            Err(_) => Err(error::timed_out(statement, self.response_timeout)),
        }
    }

    /// Runs `sql` (prepared once per connection) and returns its rows.
    pub(crate) async fn query(
        &self,
        statement: &str,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>> {
        let client = self.client().await?;
        self.bounded(statement, async {
            let prepared = client.prepare_cached(sql).await?;
            client.query(&prepared, params).await
        })
        .await
    }

    /// Runs `sql` and returns its one row, or none.
    pub(crate) async fn query_opt(
        &self,
        statement: &str,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let client = self.client().await?;
        self.bounded(statement, async {
            let prepared = client.prepare_cached(sql).await?;
            client.query_opt(&prepared, params).await
        })
        .await
    }

    /// Runs `sql` and returns its one row.
    pub(crate) async fn query_one(
        &self,
        statement: &str,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row> {
        let client = self.client().await?;
        self.bounded(statement, async {
            let prepared = client.prepare_cached(sql).await?;
            client.query_one(&prepared, params).await
        })
        .await
    }

    /// Runs `sql` and returns how many rows it changed.
    pub(crate) async fn execute(
        &self,
        statement: &str,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64> {
        let client = self.client().await?;
        self.bounded(statement, async {
            let prepared = client.prepare_cached(sql).await?;
            client.execute(&prepared, params).await
        })
        .await
    }

    async fn cull(&self) -> Result<u64> {
        let limit = i64::try_from(self.cull_limit).unwrap_or(i64::MAX);
        let mut deleted = self
            .execute("cull", &self.sql.cull_expired, &[&limit])
            .await?;
        if let Some(max) = self.max_entries {
            let row = self.query_one("count", &self.sql.count, &[]).await?;
            let rows = u64::try_from(
                row.try_get::<_, i64>(0)
                    .map_err(|e| error::unexpected("count", "not an integer").with_source(e))?,
            )
            .unwrap_or(0);
            if rows > max {
                let cut = (rows / self.cull_frequency).clamp(1, self.cull_limit);
                let cut = i64::try_from(cut).unwrap_or(i64::MAX);
                deleted += self
                    .execute("cull", &self.sql.cull_soonest, &[&cut])
                    .await?;
            }
        }
        Ok(deleted)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(task) = self.culler.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        self.pool.close();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.culler.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

/// The background culling: one pass every `interval`, until the backend is closed or dropped.
async fn cull_periodically(inner: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        match inner.cull().await {
            Ok(deleted) => {
                tracing::debug!(
                    backend = BACKEND,
                    table = inner.table.as_str(),
                    deleted,
                    "culled"
                )
            }
            Err(e) => tracing::warn!(
                backend = BACKEND,
                table = inner.table.as_str(),
                error = %e,
                "culling failed; the next pass tries again"
            ),
        }
    }
}

/// `text` as an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
