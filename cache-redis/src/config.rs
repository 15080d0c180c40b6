//! [`RedisBackendBuilder`]: where the server (or the cluster) is and how long to wait for it.

use std::fmt;
use std::time::Duration;

use cachette_api::redact_url;
use cachette_api::{Error, ErrorKind, Result};
use redis::cluster::ClusterClientBuilder;

use crate::connection::Timeouts;
use crate::error::BACKEND;
use crate::topology::{Client, Reads, SentinelSpec};
use crate::RedisBackend;

/// The server used when no URL is given: database 0 of a local Redis.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";

/// The environment variable read by [`RedisBackendBuilder::from_env`].
pub const URL_ENV_VAR: &str = "REDIS_URL";

/// How long one connection attempt may take by default (TCP, TLS, `AUTH`, `SELECT`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to answer one command by default.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a [`RedisBackend`]: the server's URL (or a cluster's) and two timeouts.
///
/// The URL takes the forms the `redis` crate accepts, and two for a Redis Cluster:
///
/// | URL                                        | meaning                                    |
/// |--------------------------------------------|--------------------------------------------|
/// | `redis://127.0.0.1:6379/0`                 | database 0, no password                    |
/// | `redis://:secret@127.0.0.1:6379/3`         | `requirepass` password, database 3         |
/// | `redis://user:secret@cache.internal/0`     | ACL user and password                      |
/// | `rediss://cache.internal:6380/0`           | TLS (with the `tls` feature)               |
/// | `unix:///run/redis.sock?db=2`              | a Unix socket                              |
/// | `redis+cluster://:secret@h1:7000,h2:7001`  | a Redis Cluster, from these seed nodes     |
/// | `rediss+cluster://h1:7000,h2:7001`         | a Redis Cluster over TLS                   |
/// | `redis+sentinel://:secret@s1:26379,s2:26379/mymaster/0` | the primary Sentinel names `mymaster`, database 0 |
///
/// A Sentinel URL lists the sentinels, separated by commas, then the name they monitor the
/// primary under and, optionally, the database. The user and password before the sentinels
/// are the *data* nodes' (the primary's and the replicas'); the sentinels' own password
/// (their `requirepass`) is the query parameter `sentinel_password`, or
/// [`with_sentinel_password`](Self::with_sentinel_password); `replica_reads=true` sends reads
/// to the replicas the sentinels list (see [`with_replica_reads`](Self::with_replica_reads)).
/// Example: `redis+sentinel://:datapw@10.0.0.1:26379,10.0.0.2:26379/mymaster/0?sentinel_password=sentpw`.
///
/// A cluster URL lists one or more nodes (any of them, masters or replicas: the rest of the
/// cluster is found from them), separated by commas, after one user and password for all;
/// a path, if any, must be `/0` (a cluster has only database 0), and a query applies to every
/// node. [`with_cluster_urls`](Self::with_cluster_urls) takes the same seeds as one URL each.
///
/// A password with reserved characters must be percent-encoded (`@` as `%40`), or given to
/// [`with_password`](Self::with_password). The builder's `Debug` output, and every error, leave
/// the password out.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use std::time::Duration;
/// use cachette_redis::RedisBackend;
///
/// let backend = RedisBackend::builder()
///     .with_url("redis://:secret@127.0.0.1:6379/1")
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_response_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(()) }
/// ```
///
/// A cluster is chosen by its URL alone:
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette_api::Result<()> {
/// use cachette_redis::RedisBackend;
///
/// let backend = RedisBackend::builder()
///     .with_url("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000")
///     .build()
///     .await?;
/// // The same, one URL per seed node and the password apart:
/// let backend = RedisBackend::builder()
///     .with_cluster_urls(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .with_password("secret")
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisBackendBuilder {
    url: String,
    /// The seed nodes of a cluster, when given by [`with_cluster_urls`](Self::with_cluster_urls).
    cluster_urls: Option<Vec<String>>,
    /// Replaces the password of the URL(s).
    password: Option<String>,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// A CA certificate (PEM) trusted instead of the system's roots, for `rediss://`.
    tls_root_certificate: Option<Vec<u8>>,
    /// Build even when the server cannot be reached, and connect at a later call.
    lazy: bool,
    /// The sentinels' password (their `requirepass`), for `redis+sentinel://` URLs.
    sentinel_password: Option<String>,
    /// Replicas that reads go to (the URL names the primary).
    replica_urls: Vec<String>,
    /// Reads go to the replicas the sentinels list.
    replica_reads: bool,
    /// How long the reads of a key written by this handle go to the primary.
    read_your_writes: Duration,
}

impl Default for RedisBackendBuilder {
    fn default() -> Self {
        RedisBackendBuilder {
            url: DEFAULT_URL.to_owned(),
            cluster_urls: None,
            password: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            tls_root_certificate: None,
            lazy: false,
            sentinel_password: None,
            replica_urls: Vec::new(),
            replica_reads: false,
            read_your_writes: Duration::ZERO,
        }
    }
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &redact_url(&self.url))
            .field(
                "cluster_urls",
                &self
                    .cluster_urls
                    .as_ref()
                    .map(|urls| urls.iter().map(|url| redact_url(url)).collect::<Vec<_>>()),
            )
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field(
                "tls_root_certificate",
                &self
                    .tls_root_certificate
                    .as_ref()
                    .map(|pem| format!("{} bytes of PEM", pem.len())),
            )
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "***"),
            )
            .field(
                "replica_urls",
                &self
                    .replica_urls
                    .iter()
                    .map(|url| redact_url(url))
                    .collect::<Vec<_>>(),
            )
            .field("replica_reads", &self.replica_reads)
            .field("read_your_writes", &self.read_your_writes)
            .finish()
    }
}

impl RedisBackendBuilder {
    /// A builder for [`DEFAULT_URL`] with 5-second timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for the URL in the `REDIS_URL` environment variable, or [`DEFAULT_URL`]
    /// when it is not set.
    ///
    /// A value that is not valid Unicode is kept (lossily) and refused by
    /// [`build`](Self::build) with [`ErrorKind::Config`].
    pub fn from_env() -> Self {
        Self::from_url_var(std::env::var_os(URL_ENV_VAR))
    }

    /// [`from_env`](Self::from_env) given the variable's value.
    fn from_url_var(url: Option<std::ffi::OsString>) -> Self {
        let builder = Self::new();
        match url {
            Some(url) if !url.is_empty() => builder.with_url(url.to_string_lossy()),
            _ => builder,
        }
    }

    /// The server's URL, or a cluster's (`redis+cluster://…`); see the table above. Checked by
    /// [`build`](Self::build). Replaces the URLs of an earlier
    /// [`with_cluster_urls`](Self::with_cluster_urls).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self.cluster_urls = None;
        self
    }

    /// Connects to a Redis Cluster through these seed nodes, one `redis://host:port` (or
    /// `rediss://`) URL each; replaces [`with_url`](Self::with_url).
    ///
    /// Any node of the cluster will do, and one is enough: the others are found from it. More
    /// seeds let [`build`](Self::build) succeed while some nodes are down. The URLs must agree
    /// on the user and password, and name database 0 or none. Checked by
    /// [`build`](Self::build).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachette_api::Result<()> {
    /// let backend = cachette_redis::RedisBackend::builder()
    ///     .with_cluster_urls(vec![
    ///         "redis://10.0.0.1:7000".to_owned(),
    ///         "redis://10.0.0.2:7000".to_owned(),
    ///     ])
    ///     .build()
    ///     .await?;
    /// # let _ = backend;
    /// # Ok(()) }
    /// ```
    pub fn with_cluster_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster_urls = Some(urls.into_iter().map(Into::into).collect());
        self
    }

    /// The password (`AUTH`), replacing any in the URL(s): for a password that is kept apart
    /// from the URL, or one with characters a URL would need encoded.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// How long one connection attempt may take (default 5 s), the `AUTH` and `SELECT` of a
    /// new connection included.
    ///
    /// [`build`](Self::build) fails within about this long when the server cannot be reached.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may take to answer one command (default 5 s); past it, the call
    /// fails with [`ErrorKind::Timeout`].
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Builds the backend even when the server cannot be reached (off by default): `build`
    /// then succeeds, calls fail with [`ErrorKind::Unavailable`] (answered as misses by a
    /// fail-open cache) and the backend connects at the first call after the server is
    /// back (attempts are at least 500 ms apart). Configuration errors (a bad URL, a refused
    /// password) still fail `build`.
    ///
    /// The facade turns it on with `fail_open`, so that an instance started while Redis is
    /// down boots and serves misses, as django-redis' `IGNORE_EXCEPTIONS` does.
    pub fn with_lazy_connect(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// Trusts the CA certificate `pem` (PEM-encoded) for `rediss://` servers, instead of the
    /// system's root certificates: for a server whose certificate a private CA signed.
    ///
    /// Only with the `tls` feature (on by default).
    #[cfg(feature = "tls")]
    pub fn with_tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    /// The sentinels' own password (their `requirepass`), for a `redis+sentinel://` URL;
    /// replaces the URL's `sentinel_password`. The data nodes' password is the URL's, or
    /// [`with_password`](Self::with_password).
    pub fn with_sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// Sends reads to replicas of the primary the URL names (one `redis://` URL each; the
    /// password of [`with_password`](Self::with_password) and the TLS root certificate apply
    /// to them too): Django's `LOCATION` list, its first server the primary.
    ///
    /// `get`, `get_many`, `has_key` and `ttl` go to the replicas in turn; every write, `incr`,
    /// `add`, `delete_if_value` and the reads with their remaining life go to the primary. A
    /// replica answers what it has received so far: a read may miss a write acknowledged a
    /// moment ago (replication lag), unless
    /// [`with_read_your_writes`](Self::with_read_your_writes) is set. A replica that cannot be
    /// reached is left out for a second and the primary answers. Not with a cluster or
    /// Sentinel (for Sentinel, see [`with_replica_reads`](Self::with_replica_reads)).
    pub fn with_replica_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.replica_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// With a `redis+sentinel://` URL, sends reads to the replicas the sentinels list (as
    /// [`with_replica_urls`](Self::with_replica_urls) does for fixed replicas); off by
    /// default. The URL's `replica_reads=true` does the same.
    pub fn with_replica_reads(mut self, on: bool) -> Self {
        self.replica_reads = on;
        self
    }

    /// When reads go to replicas: the reads of a key this handle wrote (or deleted, or
    /// incremented…) within `window` go to the primary, so that this handle reads its own
    /// writes despite replication lag. Zero (the default) turns it off. Other handles, and
    /// other processes, may still read an older value from a replica.
    pub fn with_read_your_writes(mut self, window: Duration) -> Self {
        self.read_your_writes = window;
        self
    }

    /// Checks the configuration, connects, and checks the connection with a `PING`.
    ///
    /// For a cluster, connects to the seed nodes, reads the slot map from them and connects to
    /// every node; the `PING` goes to every master.
    ///
    /// # Errors
    /// - [`ErrorKind::Config`]: the URL does not parse, a timeout is zero, TLS is asked for
    ///   without the `tls` feature, or the server refuses the password or user; for a
    ///   cluster, also no seed, seeds that disagree on the password, a database other than 0,
    ///   or a Unix socket.
    /// - [`ErrorKind::Unavailable`]: the server cannot be reached (connection refused).
    /// - [`ErrorKind::Timeout`]: the server did not answer within the timeouts.
    pub async fn build(self) -> Result<RedisBackend> {
        let refuse = |message: String| {
            Error::new(ErrorKind::Config, message)
                .with_operation("connect")
                .with_backend(BACKEND)
        };
        for (name, timeout) in [
            ("connect", self.connect_timeout),
            ("response", self.response_timeout),
        ] {
            if timeout < MIN_TIMEOUT || timeout > MAX_TIMEOUT {
                return Err(refuse(format!(
                    "the {name} timeout must lie between 1 ms and 1 day"
                )));
            }
        }
        for url in self
            .cluster_urls
            .iter()
            .flatten()
            .chain(&self.replica_urls)
            .chain([&self.url])
        {
            if ends_authority_early(url) {
                return Err(refuse(
                    "the URL's password holds a raw # / or ?, which ends the address early: \
                     percent-encode it (# as %23, / as %2F, ? as %3F) or give it with \
                     with_password"
                        .to_owned(),
                ));
            }
            if let Some(name) = foreign_query_option(url).filter(|name| {
                !(is_sentinel_url(url) && SENTINEL_QUERY_OPTIONS.contains(&name.as_str()))
            }) {
                return Err(refuse(format!(
                    "the URL's query holds `{name}`, which the redis client does not read \
                     (it reads db, user, pass and protocol); set timeouts with \
                     with_connect_timeout / with_response_timeout, or build from the facade's \
                     URL, which takes every option"
                )));
            }
        }
        let redacted = match &self.cluster_urls {
            Some(urls) => urls
                .iter()
                .map(|url| redact_url(url))
                .collect::<Vec<_>>()
                .join(","),
            None => redact_url(&self.url),
        };
        // Building the client does no I/O: whatever it refuses is configuration.
        let client = self.client().map_err(|e| {
            crate::error::config_from_redis(&format!("URL {redacted}"), e).with_operation("connect")
        })?;
        let reads = self.reads().map_err(|e| {
            crate::error::config_from_redis("the replicas' URLs", e).with_operation("connect")
        })?;
        let timeouts = Timeouts {
            connect: self.connect_timeout,
            response: self.response_timeout,
        };
        let url = self.url.clone();
        RedisBackend::connect_client(client, reads, redacted.clone(), timeouts, self.lazy)
            .await
            .map_err(|e| connect_error(e, &redacted, &url))
    }
}

/// The shortest and longest timeouts accepted.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// The query parameters of a `redis+sentinel://` URL besides the `redis` crate's.
const SENTINEL_QUERY_OPTIONS: [&str; 2] = ["sentinel_password", "replica_reads"];

/// Whether `url` is a Sentinel URL.
fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
}

/// The query parameters the `redis` crate reads in a URL.
const CLIENT_QUERY_OPTIONS: [&str; 4] = ["db", "user", "pass", "protocol"];

/// The first parameter of `url`'s query (after the user information) that the `redis` crate
/// would silently ignore.
fn foreign_query_option(url: &str) -> Option<String> {
    let after_userinfo = url.rfind('@').map_or(0, |at| at + 1);
    let query = url[after_userinfo..].split_once('?')?.1;
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(name, _)| name))
        .find(|name| !CLIENT_QUERY_OPTIONS.contains(name))
        .map(str::to_owned)
}

/// Whether the user information of `url` (up to its last `@`) holds a character that ends a
/// URL's authority: the client would then take part of the password for the host.
fn ends_authority_early(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.rfind('@').map(|at| &rest[..at]))
        .is_some_and(|userinfo| userinfo.contains(['#', '/', '?']))
}

/// A failed connection, said of the (redacted) URL, with a hint at the usual causes. A
/// server that answers but refuses (no such database, not a Redis server) is a
/// configuration error.
fn connect_error(err: Error, redacted: &str, url: &str) -> Error {
    let (kind, hint) = match err.kind() {
        ErrorKind::Timeout if url.starts_with("rediss") => (
            err.kind(),
            "; rediss:// speaks TLS: is that port a TLS port of Redis?",
        ),
        ErrorKind::Timeout | ErrorKind::Unavailable if !url.starts_with("rediss") => (
            err.kind(),
            "; is Redis listening there (and without TLS: rediss:// is for TLS ports)?",
        ),
        ErrorKind::Backend => (
            ErrorKind::Config,
            "; the server answered but refused the connection's setup: a database number \
             past the server's `databases`, or not a Redis server",
        ),
        _ => (err.kind(), ""),
    };
    Error::new(kind, format!("cannot connect to {redacted}{hint}"))
        .with_temporary(kind != ErrorKind::Config && err.is_temporary())
        .with_operation("connect")
        .with_backend(BACKEND)
        .with_source(err)
}

impl RedisBackendBuilder {
    /// The `redis` crate's client for the URL or the seeds (with the password and the CA
    /// certificate, if any).
    fn client(&self) -> redis::RedisResult<Client> {
        if let Some(urls) = &self.cluster_urls {
            return self.cluster_client(urls);
        }
        if let Some(urls) = cluster_node_urls(&self.url) {
            return self.cluster_client(&urls?);
        }
        if is_sentinel_url(&self.url) {
            return self.sentinel_client().map(Client::Sentinel);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str())?;
        self.server_client(info).map(Client::Server)
    }

    /// The client for one server (with the password and the CA certificate, if any).
    fn server_client(&self, mut info: redis::ConnectionInfo) -> redis::RedisResult<redis::Client> {
        if let Some(password) = &self.password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = match &self.tls_root_certificate {
            #[cfg(feature = "tls")]
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            _ => redis::Client::open(info),
        }?;
        Ok(client)
    }

    /// The cluster client for the seed URLs `urls`, and a one-server client for each seed.
    fn cluster_client(&self, urls: &[String]) -> redis::RedisResult<Client> {
        if urls.is_empty() {
            return Err(config_error("no seed node for the cluster"));
        }
        let mut nodes = Vec::with_capacity(urls.len());
        let mut seeds = Vec::with_capacity(urls.len());
        for url in urls {
            let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())?;
            if info.redis_settings().db() != 0 {
                return Err(config_error(
                    "a Redis Cluster has only database 0; leave the database out of the URL",
                ));
            }
            seeds.push(self.server_client(info.clone())?);
            nodes.push(info);
        }
        let bound = self.connect_timeout + self.response_timeout;
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout)
            // Redirections and retries during a failover may take several round trips: the
            // whole call gets the same bound as a call to one server.
            .overall_response_timeout(Some(bound))
            .retries(crate::topology::RETRIES)
            .min_retry_wait(crate::topology::MIN_RETRY_WAIT_MS)
            .max_retry_wait(crate::topology::MAX_RETRY_WAIT_MS);
        if let Some(password) = &self.password {
            builder = builder.password(password);
        }
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.tls_root_certificate {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            });
        }
        Ok(Client::Cluster {
            client: builder.build()?,
            seeds,
        })
    }
}

impl RedisBackendBuilder {
    /// The replicas reads go to, and the read-your-writes window.
    fn reads(&self) -> redis::RedisResult<Reads> {
        if !self.replica_urls.is_empty()
            && (self.cluster_urls.is_some()
                || cluster_node_urls(&self.url).is_some()
                || is_sentinel_url(&self.url))
        {
            return Err(config_error(
                "replica URLs go with one primary's redis:// URL, not a cluster or Sentinel \
                 (for Sentinel, turn on replica_reads)",
            ));
        }
        let mut replicas = Vec::with_capacity(self.replica_urls.len());
        for url in &self.replica_urls {
            let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())?;
            let addr = info.addr().to_string();
            replicas.push((addr, self.server_client(info)?));
        }
        Ok(Reads {
            replicas,
            read_your_writes: self.read_your_writes,
        })
    }

    /// The sentinels and the data nodes' settings of a `redis+sentinel://` URL.
    fn sentinel_client(&self) -> redis::RedisResult<SentinelSpec> {
        let parts = parse_sentinel_url(&self.url)?;
        let mut template = redis::IntoConnectionInfo::into_connection_info(
            format!(
                "redis://{}sentinel-primary:6379/{}{}",
                parts.userinfo, parts.db, parts.query
            )
            .as_str(),
        )?;
        if let Some(password) = &self.password {
            let settings = template.redis_settings().clone().set_password(password);
            template = template.set_redis_settings(settings);
        }
        let password = self.sentinel_password.as_ref().or(parts.password.as_ref());
        let mut sentinels = Vec::with_capacity(parts.hosts.len());
        for host in &parts.hosts {
            let mut info = redis::IntoConnectionInfo::into_connection_info(
                format!("redis://{host}").as_str(),
            )?;
            if let Some(password) = password {
                let settings = info.redis_settings().clone().set_password(password);
                info = info.set_redis_settings(settings);
            }
            sentinels.push(redis::Client::open(info)?);
        }
        Ok(SentinelSpec {
            sentinels,
            sentinel_addrs: parts.hosts,
            master: parts.master,
            template,
            replica_reads: self.replica_reads || parts.replica_reads,
        })
    }
}

/// The pieces of a `redis+sentinel://` URL.
#[derive(Debug, PartialEq, Eq)]
struct SentinelUrl {
    /// `user:password@` of the data nodes, or empty.
    userinfo: String,
    /// `host:port` of each sentinel.
    hosts: Vec<String>,
    master: String,
    db: i64,
    /// The sentinels' password (`sentinel_password=`), percent-decoded.
    password: Option<String>,
    replica_reads: bool,
    /// What is left of the query for the data nodes (`?protocol=resp3`), or empty.
    query: String,
}

/// Splits `redis+sentinel://[user][:password@]h1:p1,h2:p2/master[/db][?query]`.
fn parse_sentinel_url(url: &str) -> redis::RedisResult<SentinelUrl> {
    let rest = match url.split_once("://") {
        Some(("redis+sentinel", rest)) => rest,
        Some(("rediss+sentinel", _)) => {
            return Err(config_error(
                "rediss+sentinel:// (TLS) is not supported yet; use redis+sentinel://",
            ))
        }
        _ => return Err(config_error("not a redis+sentinel:// URL")),
    };
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => rest.split_at(at + 1),
        None => ("", rest),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    let hosts: Vec<String> = hosts.split(',').map(|h| h.trim().to_owned()).collect();
    if hosts.iter().any(String::is_empty) {
        return Err(config_error(
            "a Sentinel URL lists its sentinels as host:port,host:port; one is empty",
        ));
    }
    let hosts = hosts
        .into_iter()
        .map(|h| {
            if h.contains(':') && !h.ends_with(']') {
                h
            } else {
                format!("{h}:26379")
            }
        })
        .collect();
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let master = segments.next().map(str::to_owned).ok_or_else(|| {
        config_error("a Sentinel URL names the primary: redis+sentinel://host:26379/mymaster/0")
    })?;
    let db = match segments.next() {
        Some(db) => db
            .parse()
            .map_err(|_| config_error("a Sentinel URL's database (after the name) is a number"))?,
        None => 0,
    };
    if segments.next().is_some() {
        return Err(config_error(
            "a Sentinel URL's path is /name or /name/db, nothing more",
        ));
    }
    let mut password = None;
    let mut replica_reads = false;
    let mut kept = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        match param.split_once('=').unwrap_or((param, "")) {
            ("sentinel_password", value) => password = Some(percent_decode(value)?),
            ("replica_reads", value) => {
                replica_reads = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(config_error("replica_reads is true or false")),
                }
            }
            _ => kept.push(param),
        }
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    Ok(SentinelUrl {
        userinfo: userinfo.to_owned(),
        hosts,
        master,
        db,
        password,
        replica_reads,
        query,
    })
}

/// Decodes `%XX` escapes (and `+` as a space, as in a form-encoded query).
fn percent_decode(value: &str) -> redis::RedisResult<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| config_error("a bad %-escape in sentinel_password"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| config_error("sentinel_password is not UTF-8"))
}

/// A configuration error of the `redis` crate's kind, so that it maps to `Config`.
fn config_error(message: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, message))
}

/// The seed URLs of a `redis+cluster://` or `rediss+cluster://` URL, `None` for another scheme.
///
/// `redis+cluster://[user][:password@]h1:p1,h2:p2[/0][?query]` gives
/// `redis://[user][:password@]h1:p1[/0][?query]` and the same for `h2:p2`. As in
/// [`cachette_api::redact_url`], everything up to the last `@` is the user information.
pub(crate) fn cluster_node_urls(url: &str) -> Option<redis::RedisResult<Vec<String>>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => rest.split_at(at + 1),
        None => ("", rest),
    };
    let hosts_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hosts, tail) = rest.split_at(hosts_end);
    let mut urls = Vec::new();
    for host in hosts.split(',').map(str::trim) {
        if host.is_empty() {
            return Some(Err(config_error(
                "a cluster URL lists its nodes as host:port,host:port; one is empty",
            )));
        }
        urls.push(format!("{scheme}://{userinfo}{host}{tail}"));
    }
    Some(Ok(urls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_setters() {
        let b = RedisBackendBuilder::new();
        assert_eq!(b.url, DEFAULT_URL);
        assert_eq!(b.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(b.response_timeout, DEFAULT_RESPONSE_TIMEOUT);
        let b = b
            .with_url("redis://:pw@h/1")
            .with_connect_timeout(Duration::from_secs(1))
            .with_response_timeout(Duration::from_millis(100));
        assert_eq!(b.url, "redis://:pw@h/1");
        assert_eq!(b.connect_timeout, Duration::from_secs(1));
        assert_eq!(b.response_timeout, Duration::from_millis(100));
    }

    #[test]
    fn from_env_takes_redis_url_or_the_default() {
        let b = RedisBackendBuilder::from_url_var(Some("redis://cache:6380/2".into()));
        assert_eq!(b.url, "redis://cache:6380/2");
        assert_eq!(RedisBackendBuilder::from_url_var(None).url, DEFAULT_URL);
        assert_eq!(
            RedisBackendBuilder::from_url_var(Some("".into())).url,
            DEFAULT_URL
        );
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let b = RedisBackendBuilder::new().with_url("redis://user:hunter2@h:1/0");
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://user:***@h:1/0"), "{shown}");
    }

    #[test]
    fn cluster_urls_give_one_url_per_seed() {
        let urls = |url| cluster_node_urls(url).map(|r| r.unwrap());
        assert_eq!(
            urls("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001"),
            Some(vec![
                "redis://:s3cret@10.0.0.1:7000".to_owned(),
                "redis://:s3cret@10.0.0.2:7001".to_owned()
            ])
        );
        assert_eq!(
            urls("rediss+cluster://app:p@ss@h1:7000, h2:7000/0?protocol=resp3"),
            Some(vec![
                "rediss://app:p@ss@h1:7000/0?protocol=resp3".to_owned(),
                "rediss://app:p@ss@h2:7000/0?protocol=resp3".to_owned()
            ])
        );
        assert_eq!(
            urls("redis+cluster://[::1]:7000"),
            Some(vec!["redis://[::1]:7000".to_owned()])
        );
        assert_eq!(urls("redis://127.0.0.1:6379/0"), None);
        assert_eq!(urls("unix:///run/redis.sock"), None);
        assert!(cluster_node_urls("redis+cluster://h1:7000,,h2:7000")
            .unwrap()
            .is_err());
    }

    #[test]
    fn sentinel_urls_split_into_sentinels_name_and_database() {
        let parsed = parse_sentinel_url(
            "redis+sentinel://:data%40pw@s1:26379, s2:26380,s3/mymaster/2?sentinel_password=s%26cret&protocol=resp3&replica_reads=true",
        )
        .unwrap();
        assert_eq!(
            parsed,
            SentinelUrl {
                userinfo: ":data%40pw@".to_owned(),
                hosts: vec!["s1:26379".into(), "s2:26380".into(), "s3:26379".into()],
                master: "mymaster".to_owned(),
                db: 2,
                password: Some("s&cret".to_owned()),
                replica_reads: true,
                query: "?protocol=resp3".to_owned(),
            }
        );
        let plain = parse_sentinel_url("redis+sentinel://127.0.0.1:26379/cache").unwrap();
        assert_eq!(
            (plain.db, plain.password, plain.replica_reads),
            (0, None, false)
        );
        for bad in [
            "redis+sentinel://h:26379",
            "redis+sentinel://h:26379/",
            "redis+sentinel://h:26379,/m",
            "redis+sentinel://h:26379/m/x",
            "redis+sentinel://h:26379/m/0/9",
            "redis+sentinel://h:26379/m?replica_reads=maybe",
            "redis+sentinel://h:26379/m?sentinel_password=%zz",
            "rediss+sentinel://h:26379/m",
        ] {
            assert!(parse_sentinel_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sentinel_and_replica_settings_leave_passwords_out() {
        let b = RedisBackendBuilder::new()
            .with_url("redis+sentinel://:hunter2@s1:26379/m/0?sentinel_password=tr0ub4dor")
            .with_sentinel_password("correct horse")
            .with_replica_urls(["redis://:battery@r1:6379/0"])
            .with_replica_reads(true)
            .with_read_your_writes(Duration::from_millis(500));
        let shown = format!("{b:?}");
        for secret in ["hunter2", "tr0ub4dor", "correct horse", "battery"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("read_your_writes: 500ms"), "{shown}");
    }

    #[tokio::test]
    async fn bad_sentinel_and_replica_configurations_are_config_errors() {
        for builder in [
            RedisBackendBuilder::new().with_url("redis+sentinel://:hunter2@h:26379"),
            RedisBackendBuilder::new().with_url("redis+sentinel://:hunter2@h:26379/m?timeout=1"),
            RedisBackendBuilder::new()
                .with_url("redis+sentinel://h:26379/m")
                .with_replica_urls(["redis://:hunter2@r:6379"]),
            RedisBackendBuilder::new()
                .with_url("redis+cluster://h:7000")
                .with_replica_urls(["redis://:hunter2@r:6379"]),
            RedisBackendBuilder::new()
                .with_url("redis://127.0.0.1:1/0")
                .with_replica_urls(["redis://:hunter2@r:notaport"]),
        ] {
            let shown = format!("{builder:?}");
            let err = builder.build().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        }
    }

    #[test]
    fn cluster_setters_and_debug_leave_passwords_out() {
        let b = RedisBackendBuilder::new()
            .with_cluster_urls(["redis://:hunter2@h1:7000", "redis://h2:7000"])
            .with_password("correct horse");
        assert_eq!(
            b.cluster_urls.as_deref(),
            Some(
                &[
                    "redis://:hunter2@h1:7000".to_owned(),
                    "redis://h2:7000".to_owned()
                ][..]
            )
        );
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("correct horse"), "{shown}");
        assert!(shown.contains("redis://:***@h1:7000"), "{shown}");
        // A later URL replaces the seeds.
        let b = b.with_url("redis+cluster://h3:7000");
        assert_eq!(b.cluster_urls, None);
        let b = RedisBackendBuilder::new().with_url("redis+cluster://:hunter2@h1:1,h2:2");
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[tokio::test]
    async fn bad_cluster_configurations_are_config_errors() {
        for builder in [
            RedisBackendBuilder::new().with_url("redis+cluster://"),
            RedisBackendBuilder::new().with_url("redis+cluster://h1:7000,"),
            RedisBackendBuilder::new().with_url("redis+cluster://127.0.0.1:7000/3"),
            RedisBackendBuilder::new().with_url("redis+cluster://:hunter2@h1:notaport"),
            RedisBackendBuilder::new().with_cluster_urls(Vec::<String>::new()),
            RedisBackendBuilder::new().with_cluster_urls(["unix:///run/redis.sock"]),
            RedisBackendBuilder::new()
                .with_cluster_urls(["redis://:a@127.0.0.1:7000", "redis://:b@127.0.0.1:7001"]),
        ] {
            let shown = format!("{builder:?}");
            let err = builder.build().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        }
    }

    #[tokio::test]
    async fn bad_urls_and_zero_timeouts_are_config_errors() {
        for url in [
            "not a url",
            "http://127.0.0.1:6379",
            "redis://127.0.0.1:6379/notadb",
            "redis://:hunter2@",
        ] {
            let err = RedisBackendBuilder::new()
                .with_url(url)
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        }
        let err = RedisBackendBuilder::new()
            .with_response_timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
