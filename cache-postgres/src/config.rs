//! [`PostgresBackendBuilder`]: where the server is, which table, how long to wait, how to cull.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use cachette_api::Result;

use crate::error::{self, BACKEND};
use crate::sql::TableName;
use crate::tls::{self, Connector};
use crate::PostgresBackend;

/// The server used when no URL is given: the `postgres` database of a local server.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The environment variable read by [`PostgresBackendBuilder::from_env`].
pub const URL_ENV_VAR: &str = "DATABASE_URL";

/// The table used when none is given.
pub const DEFAULT_TABLE: &str = "cachette_cache";

/// How long one connection attempt may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one statement may take by default (the session's `statement_timeout` too).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections the pool holds by default (all opened at start-up).
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How often expired rows are deleted by default.
pub const DEFAULT_CULL_INTERVAL: Duration = Duration::from_secs(60);

/// How many rows one culling pass deletes at most by default.
pub const DEFAULT_CULL_LIMIT: u64 = 10_000;

/// Django's `CULL_FREQUENCY`: past `max_entries`, one pass deletes 1/3 of the rows.
pub const DEFAULT_CULL_FREQUENCY: u64 = 3;

/// `url` with its password hidden: a URL's as [`cachette_api::redact_url`] hides it, and a
/// `key=value` connection string whole (it may hold `password=` anywhere).
pub(crate) fn redact(url: &str) -> String {
    if url.contains("://") {
        cachette_api::redact_url(url)
    } else {
        "<key=value connection string, hidden>".to_owned()
    }
}

/// The shortest and longest timeouts accepted.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Builds a [`PostgresBackend`]: the server's URL, the table, the pool, the timeouts and the
/// culling of expired rows.
///
/// The URL is anything `tokio-postgres` reads: `postgres://user:secret@host:5432/db` or
/// `postgresql://…`, with its query parameters (`sslmode`, `application_name`, `options`,
/// `host=/run/postgresql` for a Unix socket directory, …), or a `key=value` string. The
/// builder's `Debug` output, and every error, leave the password out.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::time::Duration;
/// use cachette_postgres::PostgresBackend;
///
/// let backend = PostgresBackend::builder()
///     .with_url("postgres://app:secret@127.0.0.1:5432/app")
///     .with_table("django_cache")
///     .with_response_timeout(Duration::from_millis(500))
///     .with_max_entries(Some(1_000_000))
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct PostgresBackendBuilder {
    pub(crate) url: String,
    pub(crate) password: Option<String>,
    pub(crate) table: String,
    pub(crate) unlogged: bool,
    pub(crate) create_table: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) pool_size: usize,
    pub(crate) cull_interval: Option<Duration>,
    pub(crate) cull_limit: u64,
    pub(crate) max_entries: Option<u64>,
    pub(crate) cull_frequency: u64,
    pub(crate) lazy: bool,
    pub(crate) tls_ca_file: Option<PathBuf>,
}

impl Default for PostgresBackendBuilder {
    fn default() -> Self {
        PostgresBackendBuilder {
            url: DEFAULT_URL.to_owned(),
            password: None,
            table: DEFAULT_TABLE.to_owned(),
            unlogged: true,
            create_table: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            pool_size: DEFAULT_POOL_SIZE,
            cull_interval: Some(DEFAULT_CULL_INTERVAL),
            cull_limit: DEFAULT_CULL_LIMIT,
            max_entries: None,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
            lazy: false,
            tls_ca_file: None,
        }
    }
}

impl fmt::Debug for PostgresBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackendBuilder")
            .field("url", &redact(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("table", &self.table)
            .field("unlogged", &self.unlogged)
            .field("create_table", &self.create_table)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_size", &self.pool_size)
            .field("cull_interval", &self.cull_interval)
            .field("cull_limit", &self.cull_limit)
            .field("max_entries", &self.max_entries)
            .field("cull_frequency", &self.cull_frequency)
            .field("lazy", &self.lazy)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl PostgresBackendBuilder {
    /// A builder for [`DEFAULT_URL`] and the defaults of every option.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for the URL in the `DATABASE_URL` environment variable, or [`DEFAULT_URL`]
    /// when it is not set.
    pub fn from_env() -> Self {
        match std::env::var_os(URL_ENV_VAR) {
            Some(url) if !url.is_empty() => Self::new().with_url(url.to_string_lossy()),
            _ => Self::new(),
        }
    }

    /// The server's URL (`postgres://` or `postgresql://`), checked by [`build`](Self::build).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The password, replacing any in the URL.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The table (default [`DEFAULT_TABLE`]): one SQL identifier, or `schema.table`.
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Whether a table created by this backend is `UNLOGGED` (default `true`): much faster
    /// writes, but PostgreSQL empties it after a crash, and replicas do not have it. A cache
    /// may lose its entries; set `false` to keep them across crashes, or to read them on a
    /// replica. An existing table is left as it is.
    pub fn with_unlogged(mut self, unlogged: bool) -> Self {
        self.unlogged = unlogged;
        self
    }

    /// Whether [`build`](Self::build) creates the table (and its index) when it is missing
    /// (default `true`). Set `false` when the application's role may not create tables: run
    /// [`PostgresBackend::create_table`] (or the SQL it shows) once as a role that may, as
    /// Django's `createcachetable`; `build` then checks that the table exists.
    pub fn with_create_table(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// How long one connection attempt may take (default 5 s), and how long a call waits for
    /// a connection of the pool.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may take (default 5 s): past it the call fails with
    /// [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout). The session's
    /// `statement_timeout` is 4/5 of it, so that the server stops the work first and the
    /// connection stays usable.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many connections the pool holds (default 8), all opened by
    /// [`build`](Self::build) so that a burst of calls never waits for new ones; calls beyond
    /// wait for a free connection (at most the connect timeout).
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How often a background task deletes expired rows (default 60 s); `None` turns it off
    /// (then call [`PostgresBackend::cull`] yourself, or let rows pile up: expired rows are
    /// never returned either way).
    pub fn with_cull_interval(mut self, interval: Option<Duration>) -> Self {
        self.cull_interval = interval;
        self
    }

    /// The most rows one culling pass deletes (default 10 000), so that a pass never holds
    /// locks on a large part of the table.
    pub fn with_cull_limit(mut self, rows: u64) -> Self {
        self.cull_limit = rows;
        self
    }

    /// Django's `MAX_ENTRIES`: past this many rows, a culling pass also deletes 1/`cull_frequency`
    /// of them, those that expire soonest first (default `None`: no limit). The table may hold
    /// more between passes.
    pub fn with_max_entries(mut self, max: Option<u64>) -> Self {
        self.max_entries = max;
        self
    }

    /// Django's `CULL_FREQUENCY` (default 3): the fraction (1/n) of the rows deleted when the
    /// table holds more than `max_entries`.
    pub fn with_cull_frequency(mut self, n: u64) -> Self {
        self.cull_frequency = n;
        self
    }

    /// Builds the backend even when the server cannot be reached (off by default): calls fail
    /// with [`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable) until it is back,
    /// and the table is made ready at the first call that reaches it.
    pub fn with_lazy_connect(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// A PEM file of the CA certificates to trust for TLS (libpq's `sslrootcert`, which the
    /// URL may give too; this wins): with `sslmode=require`, the server's certificate must
    /// then chain up to it (as libpq's `verify-ca`); with `verify-ca` and `verify-full` it
    /// replaces the system's roots. Needs the `tls` feature: without it,
    /// [`build`](Self::build) fails with [`ErrorKind::Config`](cachette_api::ErrorKind::Config).
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// The `tokio-postgres` configuration (the URL, the password, the timeouts) and the
    /// connector its `sslmode` asks for.
    pub(crate) fn pg_config(&self) -> Result<(tokio_postgres::Config, Connector)> {
        let (url, url_tls) = tls::take_url_params(&self.url);
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            error::config(format!("the URL {} does not parse", redact(&self.url)))
                .with_operation("connect")
                .with_source(e)
        })?;
        if let Some(password) = &self.password {
            config.password(password.as_bytes());
        }
        let connector = Connector::new(config.get_ssl_mode(), &url_tls, self.tls_ca_file.as_ref())?;
        config.connect_timeout(self.connect_timeout);
        // 4/5 of the response timeout: the server cancels a slow statement (and keeps the
        // connection usable) before the client gives up on it.
        let statement_timeout = format!(
            "-c statement_timeout={}",
            (self.response_timeout.as_millis() * 4 / 5).max(1)
        );
        let options = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {statement_timeout}"),
            _ => statement_timeout,
        };
        config.options(options);
        if config.get_application_name().is_none() {
            config.application_name("cachette");
        }
        Ok((config, connector))
    }

    /// The SQL that creates the table and its index when they are missing, for a migration
    /// of your own.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](cachette_api::ErrorKind::Config) when the table name is not one
    /// or two SQL identifiers.
    pub fn create_table_sql(&self) -> Result<String> {
        Ok(crate::sql::create_table(
            &TableName::parse(&self.table)?,
            self.unlogged,
        ))
    }

    /// Creates the table and its index if they are missing, on a connection of its own, and
    /// builds nothing: Django's `createcachetable`, for a deployment step run by a role that
    /// may create tables when the application's may not (which then builds with
    /// [`with_create_table(false)`](Self::with_create_table)).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub async fn create_table(&self) -> Result<()> {
        let sql = self.create_table_sql()?;
        let (config, connector) = self.pg_config()?;
        let bound = self.connect_timeout + self.response_timeout;
        let work = async {
            let (client, connection) = connector.connect(&config).await?;
            let created = client
                .batch_execute(&sql)
                .await
                .map_err(|e| error::from_postgres("create table", e));
            drop(client);
            let _ = connection.await;
            created
        };
        match tokio::time::timeout(bound, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(error::timed_out("create table", bound)),
        }
        .map_err(|e| e.with_operation("create_table"))
    }

    /// Checks the configuration, connects, and creates the table (or checks that it exists).
    ///
    /// # Errors
    /// - [`ErrorKind::Config`](cachette_api::ErrorKind::Config): the URL does not parse, a
    ///   timeout is out of 1 ms ..= 1 day, the pool size or the cull limit or frequency is 0,
    ///   the table name is not an identifier, the server refuses the password, the database
    ///   does not exist, or the table is missing and may not be created.
    /// - [`ErrorKind::Unavailable`](cachette_api::ErrorKind::Unavailable): the server cannot be
    ///   reached.
    /// - [`ErrorKind::Timeout`](cachette_api::ErrorKind::Timeout): the server did not answer
    ///   in time.
    pub async fn build(self) -> Result<PostgresBackend> {
        for (name, timeout) in [
            ("connect", self.connect_timeout),
            ("response", self.response_timeout),
        ] {
            if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
                return Err(error::config(format!(
                    "the {name} timeout must lie between 1 ms and 1 day"
                ))
                .with_operation("connect"));
            }
        }
        if self.pool_size == 0 || self.cull_limit == 0 || self.cull_frequency == 0 {
            return Err(error::config(
                "the pool size, the cull limit and the cull frequency must be at least 1",
            )
            .with_operation("connect"));
        }
        if self.cull_interval.is_some_and(|i| i.is_zero()) {
            return Err(error::config(
                "the cull interval must be at least 1 ms (None turns culling off)",
            )
            .with_operation("connect"));
        }
        let table = TableName::parse(&self.table)?;
        let (config, connector) = self.pg_config()?;
        PostgresBackend::start(self, config, connector, table)
            .await
            .map_err(|e| e.with_operation("connect").with_backend(BACKEND))
    }
}
