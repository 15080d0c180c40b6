//! How a [`MemcachedBackend`] is configured: servers, timeouts, pool size.

use std::fmt;
use std::time::Duration;

use cachette_api::Result;

use crate::connection::Limits;
use crate::error;
use crate::MemcachedBackend;

/// The URL used when none is given.
pub const DEFAULT_URL: &str = "memcached://127.0.0.1:11211";

/// The environment variable [`MemcachedBackendBuilder::from_env`] reads.
pub const URL_ENV_VAR: &str = "MEMCACHED_URL";

/// memcached's port, used when a server names none.
pub const DEFAULT_PORT: u16 = 11211;

/// The default bound on opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default bound on each request (a pipeline of commands and its replies).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default number of connections per server.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// The longest timeout accepted: a day.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Builds a [`MemcachedBackend`].
///
/// ```
/// use std::time::Duration;
/// use cachette_memcached::MemcachedBackend;
///
/// let backend = MemcachedBackend::builder()
///     .with_url("memcached://10.0.0.1:11211,10.0.0.2")
///     .with_response_timeout(Duration::from_millis(500))
///     .build()?;
/// assert_eq!(backend.servers(), ["10.0.0.1:11211", "10.0.0.2:11211"]);
/// # Ok::<(), cachette_api::Error>(())
/// ```
#[derive(Clone)]
pub struct MemcachedBackendBuilder {
    url: String,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    pool_size: Option<usize>,
}

impl Default for MemcachedBackendBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemcachedBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // memcached has no password: the URL holds hosts, ports and options only.
        f.debug_struct("MemcachedBackendBuilder")
            .field("url", &self.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl MemcachedBackendBuilder {
    /// A builder for [`DEFAULT_URL`] with 5-second timeouts and 8 connections per server.
    pub fn new() -> Self {
        MemcachedBackendBuilder {
            url: DEFAULT_URL.to_owned(),
            connect_timeout: None,
            response_timeout: None,
            pool_size: None,
        }
    }

    /// A builder for the URL in `MEMCACHED_URL`, or [`DEFAULT_URL`] when it is unset.
    pub fn from_env() -> Self {
        let builder = Self::new();
        match std::env::var(URL_ENV_VAR) {
            Ok(url) if !url.is_empty() => builder.with_url(url),
            _ => builder,
        }
    }

    /// Sets the servers: `memcached://host[:port][,host2[:port2]…][?option=value&…]`.
    ///
    /// Options: `connect_timeout`, `response_timeout` (durations such as `500ms`, `2s`) and
    /// `pool_size` (connections per server). An option set with a `with_*` method wins over
    /// the URL's.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Bounds opening a connection (default 5 s; 1 ms to 1 day).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Bounds each request, from waiting for a connection to the last reply (default 5 s;
    /// 1 ms to 1 day).
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Sets the number of connections per server (default 8; 1 to 1024).
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = Some(size);
        self
    }

    /// Checks the configuration and makes the backend. No connection is opened yet: each
    /// server is connected on first use, so one server down does not stop the others.
    ///
    /// # Errors
    /// [`Config`](cachette_api::ErrorKind::Config) for a URL that does not parse, an unknown
    /// option, a timeout out of range or a pool size of zero.
    pub fn build(self) -> Result<MemcachedBackend> {
        let parsed = parse_url(&self.url)?;
        let limits = Limits {
            connect_timeout: self
                .connect_timeout
                .or(parsed.connect_timeout)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            response_timeout: self
                .response_timeout
                .or(parsed.response_timeout)
                .unwrap_or(DEFAULT_RESPONSE_TIMEOUT),
            pool_size: self
                .pool_size
                .or(parsed.pool_size)
                .unwrap_or(DEFAULT_POOL_SIZE),
        };
        for (name, value) in [
            ("connect_timeout", limits.connect_timeout),
            ("response_timeout", limits.response_timeout),
        ] {
            if value < Duration::from_millis(1) || value > MAX_TIMEOUT {
                return Err(error::config(format!(
                    "{name} must be between 1 ms and 1 day, not {value:?}"
                )));
            }
        }
        if !(1..=1024).contains(&limits.pool_size) {
            return Err(error::config(format!(
                "pool_size must be between 1 and 1024, not {}",
                limits.pool_size
            )));
        }
        Ok(MemcachedBackend::from_parts(parsed.servers, limits))
    }
}

/// What a URL says.
#[derive(Debug, Default, PartialEq, Eq)]
struct ParsedUrl {
    servers: Vec<String>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    pool_size: Option<usize>,
}

fn parse_url(url: &str) -> Result<ParsedUrl> {
    let rest = url.strip_prefix("memcached://").ok_or_else(|| {
        error::config(format!(
            "a memcached URL starts with memcached://, not {url:?}"
        ))
    })?;
    let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
    let mut parsed = ParsedUrl::default();
    for host in hosts.split(',') {
        parsed.servers.push(parse_server(host)?);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "connect_timeout" => parsed.connect_timeout = Some(parse_duration(name, value)?),
            "response_timeout" | "timeout" => {
                parsed.response_timeout = Some(parse_duration(name, value)?)
            }
            "pool_size" => {
                parsed.pool_size = Some(value.parse().map_err(|_| {
                    error::config(format!("pool_size must be a whole number, not {value:?}"))
                })?)
            }
            _ => {
                return Err(error::config(format!(
                    "unknown memcached URL option {name:?} (known: connect_timeout, \
                     response_timeout, pool_size)"
                )))
            }
        }
    }
    Ok(parsed)
}

/// `host[:port]`, `[v6]:port` → `host:port`.
fn parse_server(server: &str) -> Result<String> {
    let bad = || error::config(format!("a memcached server is host[:port], not {server:?}"));
    let (host, port) = if let Some(v6) = server.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match server.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (server.to_owned(), None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(bad)?,
    };
    Ok(format!("{host}:{port}"))
}

fn parse_duration(name: &str, value: &str) -> Result<Duration> {
    let millis = value
        .strip_suffix("ms")
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| {
            value
                .strip_suffix('s')
                .and_then(|v| v.parse::<u64>().ok())
                .map(|s| s.saturating_mul(1000))
        });
    millis.map(Duration::from_millis).ok_or_else(|| {
        error::config(format!(
            "{name} must be a duration such as 500ms or 2s, not {value:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachette_api::ErrorKind;

    #[test]
    fn urls_name_servers_and_options() {
        let parsed =
            parse_url("memcached://a:1,b,[::1]:3?connect_timeout=250ms&timeout=2s&pool_size=4")
                .unwrap();
        assert_eq!(parsed.servers, ["a:1", "b:11211", "[::1]:3"]);
        assert_eq!(parsed.connect_timeout, Some(Duration::from_millis(250)));
        assert_eq!(parsed.response_timeout, Some(Duration::from_secs(2)));
        assert_eq!(parsed.pool_size, Some(4));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "redis://a:1",
            "memcached://",
            "memcached://a:0",
            "memcached://a:x",
            "memcached://a,",
            "memcached://user@a:1",
            "memcached://a?nope=1",
            "memcached://a?timeout=5",
            "memcached://a?pool_size=-1",
        ] {
            let err = MemcachedBackendBuilder::new()
                .with_url(url)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        }
        let zero = MemcachedBackendBuilder::new().with_pool_size(0).build();
        assert_eq!(zero.unwrap_err().kind(), ErrorKind::Config);
        let long =
            MemcachedBackendBuilder::new().with_connect_timeout(Duration::from_secs(1 << 20));
        assert_eq!(long.build().unwrap_err().kind(), ErrorKind::Config);
    }
}
