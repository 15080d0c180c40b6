//! TLS as libpq means it: the `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`) and `sslrootcert` of the URL, turned into the connector the pool uses.
//!
//! `tokio-postgres` reads `disable`, `prefer` and `require` only, and no `sslrootcert`: those
//! are taken out of the URL here, before it parses the rest. With the `tls` feature the
//! connector is rustls (its `ring` provider); without it, TLS that is required is refused
//! with a clear [`ErrorKind::Config`](cachette_api::ErrorKind::Config) error.

use std::path::PathBuf;

use cachette_api::Result;
use deadpool_postgres::{Manager, ManagerConfig};
use tokio_postgres::config::SslMode;
use tokio_postgres::Client;

use crate::error;

/// How much of the server's certificate is checked (libpq's `sslmode` beyond `require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// No check (`prefer`, `require`): encrypted, but anyone may answer.
    Nothing,
    /// The chain up to a trusted CA, not the host name (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// The TLS parameters taken out of the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UrlTls {
    /// `sslmode=verify-ca` or `verify-full` (replaced by `require` in the URL).
    pub(crate) verify: Option<Verify>,
    /// `sslrootcert=<path>`.
    pub(crate) root_cert: Option<PathBuf>,
}

/// Takes `sslmode=verify-ca|verify-full` (left as `sslmode=require`) and `sslrootcert` out of
/// `url` (a `postgres://` URL, or a `key=value` string with unquoted values for these two).
pub(crate) fn take_url_params(url: &str) -> (String, UrlTls) {
    let mut tls = UrlTls::default();
    let mut take = |key: &str, value: &str| -> Option<String> {
        match (key, value) {
            ("sslmode", "verify-ca") => tls.verify = Some(Verify::Chain),
            ("sslmode", "verify-full") => tls.verify = Some(Verify::Full),
            ("sslrootcert", path) => {
                tls.root_cert = Some(PathBuf::from(percent_decode(path)));
                return None;
            }
            _ => return Some(format!("{key}={value}")),
        }
        Some("sslmode=require".to_owned())
    };
    let rewritten = if url.contains("://") {
        let after_userinfo = url.rfind('@').map_or(0, |at| at + 1);
        match url[after_userinfo..].find('?') {
            Some(q) => {
                let (base, query) = url.split_at(after_userinfo + q);
                let kept: Vec<String> = query[1..]
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        take(k, v)
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_owned(),
        }
    } else if !url.contains("sslmode=verify") && !url.contains("sslrootcert=") {
        // Nothing to take: the string is left exactly as given (quoted values and all).
        url.to_owned()
    } else {
        url.split_whitespace()
            .filter_map(|pair| match pair.split_once('=') {
                Some((k, v)) if k == "sslmode" || k == "sslrootcert" => take(k, v),
                _ => Some(pair.to_owned()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rewritten, tls)
}

/// `%XX` escapes decoded (a path in a URL's query); anything else kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What connects the pool's connections: plain TCP, or rustls.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    #[cfg(feature = "tls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connector::Plain => f.write_str("Plain"),
            #[cfg(feature = "tls")]
            Connector::Rustls(_) => f.write_str("Rustls"),
        }
    }
}

impl Connector {
    /// The connector for `mode` (as `tokio-postgres` parsed it), the URL's `verify-*` and
    /// `sslrootcert`, and the builder's CA file (which wins over `sslrootcert`).
    ///
    /// As libpq: `disable` is plain; `prefer` tries TLS without checks and falls back to
    /// plain; `require` is TLS without checks, or `verify-ca` when a CA is given;
    /// `verify-ca` and `verify-full` check against the CA given, or the system's roots.
    pub(crate) fn new(mode: SslMode, url: &UrlTls, ca_file: Option<&PathBuf>) -> Result<Self> {
        let ca_file = ca_file.or(url.root_cert.as_ref());
        let verify = match (mode, url.verify) {
            (SslMode::Disable, _) => return Ok(Connector::Plain),
            (_, Some(verify)) => verify,
            (SslMode::Require, None) if ca_file.is_some() => Verify::Chain,
            _ => Verify::Nothing,
        };
        let required = mode != SslMode::Prefer || url.verify.is_some();
        Self::rustls(verify, ca_file, required)
    }

    #[cfg(feature = "tls")]
    fn rustls(verify: Verify, ca_file: Option<&PathBuf>, _required: bool) -> Result<Self> {
        let config = crate::tls_rustls::client_config(verify, ca_file)?;
        Ok(Connector::Rustls(
            tokio_postgres_rustls::MakeRustlsConnect::new(config),
        ))
    }

    #[cfg(not(feature = "tls"))]
    fn rustls(_verify: Verify, ca_file: Option<&PathBuf>, required: bool) -> Result<Self> {
        if required || ca_file.is_some() {
            Err(error::config(
                "sslmode=require, verify-ca or verify-full, or a CA file: this build has no \
                 TLS; enable the cargo feature `tls` of cachette-postgres (the `tls` feature \
                 of cachette), or use sslmode=prefer/disable",
            )
            .with_operation("connect"))
        } else {
            // `prefer` without TLS compiled in: plain, as libpq built without SSL.
            Ok(Connector::Plain)
        }
    }

    /// The pool's manager for `config`, connecting with this connector.
    pub(crate) fn manager(
        &self,
        config: tokio_postgres::Config,
        manager: ManagerConfig,
    ) -> Manager {
        match self {
            Connector::Plain => Manager::from_config(config, tokio_postgres::NoTls, manager),
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => Manager::from_config(config, tls.clone(), manager),
        }
    }

    /// One connection, its I/O driven by a task of its own; the task ends when the client
    /// is dropped.
    pub(crate) async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<(Client, tokio::task::JoinHandle<()>)> {
        let connected = match self {
            Connector::Plain => config
                .connect(tokio_postgres::NoTls)
                .await
                .map(|(c, conn)| {
                    (
                        c,
                        tokio::spawn(async move {
                            let _ = conn.await;
                        }),
                    )
                }),
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => config.connect(tls.clone()).await.map(|(c, conn)| {
                (
                    c,
                    tokio::spawn(async move {
                        let _ = conn.await;
                    }),
                )
            }),
        };
        connected.map_err(|e| error::from_postgres("connect", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_root_cert_leave_the_url() {
        let (url, tls) = take_url_params(
            "postgres://u:p?w@h/db?application_name=x&sslmode=verify-full&sslrootcert=/a%20b/ca.pem",
        );
        assert_eq!(
            url,
            "postgres://u:p?w@h/db?application_name=x&sslmode=require"
        );
        assert_eq!(tls.verify, Some(Verify::Full));
        assert_eq!(tls.root_cert, Some(PathBuf::from("/a b/ca.pem")));

        let (url, tls) = take_url_params("host=h sslmode=verify-ca sslrootcert=/ca.pem user=u");
        assert_eq!(url, "host=h sslmode=require user=u");
        assert_eq!(tls.verify, Some(Verify::Chain));

        let (url, tls) = take_url_params("postgres://h/db?sslmode=require");
        assert_eq!(url, "postgres://h/db?sslmode=require");
        assert_eq!(tls, UrlTls::default());
    }

    #[test]
    fn disable_is_plain_and_prefer_needs_no_feature() {
        let none = UrlTls::default();
        assert!(matches!(
            Connector::new(SslMode::Disable, &none, None),
            Ok(Connector::Plain)
        ));
        assert!(Connector::new(SslMode::Prefer, &none, None).is_ok());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn require_without_the_feature_names_it() {
        let err = Connector::new(SslMode::Require, &UrlTls::default(), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("feature `tls`"), "{err}");
    }
}
