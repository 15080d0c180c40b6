//! The one mapping from the errors of `tokio-postgres` and of the pool to
//! [`cachette_api::Error`].

use cachette_api::{Error, ErrorKind};
use tokio_postgres::error::SqlState;

/// The backend's name, as errors and [`CacheBackend::name`](cachette_api::CacheBackend::name)
/// report it.
pub const BACKEND: &str = "postgres";

/// Maps an error of `tokio-postgres`, met while running `statement`, to the cache's error.
///
/// The kind comes from the server's SQLSTATE code when there is one (see [`classify`]), and
/// from the client's own state otherwise (a closed connection, an I/O error: the server is
/// unavailable; a server certificate that TLS refuses: [`ErrorKind::Config`]). The `tokio-postgres` error is kept as the source; neither carries a password.
///
/// ```
/// use cachette_api::ErrorKind;
///
/// // A statement cancelled by `statement_timeout` (SQLSTATE 57014) is a timeout.
/// let (kind, temporary) = cachette_postgres::classify(Some(&tokio_postgres::error::SqlState::QUERY_CANCELED));
/// assert_eq!(kind, ErrorKind::Timeout);
/// assert!(temporary);
/// ```
pub fn from_postgres(statement: &str, err: tokio_postgres::Error) -> Error {
    #[cfg(feature = "tls")]
    if crate::tls_rustls::refused_certificate(&err) {
        return Error::new(
            ErrorKind::Config,
            format!("{statement}: the server's TLS certificate was refused"),
        )
        .with_temporary(false)
        .with_backend(BACKEND)
        .with_source(err);
    }
    let (kind, temporary) = classify(err.code());
    let what = match (kind, err.code()) {
        (ErrorKind::Timeout, _) => "the statement ran past statement_timeout".to_owned(),
        (ErrorKind::Unavailable, Some(code)) => {
            format!("the server is unavailable (SQLSTATE {})", code.code())
        }
        (ErrorKind::Unavailable, None) => "the connection failed".to_owned(),
        (_, Some(code)) => format!("the server refused it (SQLSTATE {})", code.code()),
        (_, None) => "the client failed".to_owned(),
    };
    Error::new(kind, format!("{statement}: {what}"))
        .with_temporary(temporary)
        .with_backend(BACKEND)
        .with_source(err)
}

/// The kind of an error with SQLSTATE `code` (`None`: an error of the client or the network)
/// and whether retrying may succeed.
///
/// - [`ErrorKind::Unavailable`] (temporary): no code (a refused, dropped or broken connection),
///   class 08 (connection exceptions), too many connections (53300), a server shutting down or
///   starting (57P01, 57P02, 57P03), class 53 (out of resources).
/// - [`ErrorKind::Timeout`] (temporary): a statement cancelled (57014), as `statement_timeout`
///   does, and a lock not obtained in time (55P03).
/// - [`ErrorKind::Config`] (permanent): a refused password or user (class 28), a database that
///   does not exist (3D000), a missing privilege (42501), a missing table (42P01).
/// - [`ErrorKind::Backend`]: a serialization failure or deadlock (40001, 40P01: temporary),
///   anything else (permanent).
pub fn classify(code: Option<&SqlState>) -> (ErrorKind, bool) {
    let Some(code) = code else {
        return (ErrorKind::Unavailable, true);
    };
    let text = code.code();
    match text {
        "57014" | "55P03" => (ErrorKind::Timeout, true),
        "53300" | "57P01" | "57P02" | "57P03" => (ErrorKind::Unavailable, true),
        "3D000" | "42501" | "42P01" => (ErrorKind::Config, false),
        "40001" | "40P01" => (ErrorKind::Backend, true),
        _ if text.starts_with("08") || text.starts_with("53") => (ErrorKind::Unavailable, true),
        _ if text.starts_with("28") => (ErrorKind::Config, false),
        _ => (ErrorKind::Backend, false),
    }
}

/// Maps an error of the pool (no connection in time, a connection that failed) to the
/// cache's error.
pub(crate) fn from_pool(err: deadpool_postgres::PoolError) -> Error {
    use deadpool_postgres::PoolError;
    match err {
        PoolError::Backend(err) => from_postgres("connect", err),
        PoolError::Timeout(_) => Error::new(
            ErrorKind::Timeout,
            "no connection of the pool was free or could be made in time",
        )
        .with_backend(BACKEND),
        PoolError::Closed => unavailable("the backend was closed"),
        other => Error::new(ErrorKind::Unavailable, "no connection")
            .with_backend(BACKEND)
            .with_source(other),
    }
}

/// An [`ErrorKind::Unavailable`] error with this message.
pub(crate) fn unavailable(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unavailable, message).with_backend(BACKEND)
}

/// A call that got no answer within `bound`.
pub(crate) fn timed_out(statement: &str, bound: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{statement}: no answer within {bound:?}"),
    )
    .with_backend(BACKEND)
}

/// A configuration refused before any I/O: always [`ErrorKind::Config`], permanent.
pub(crate) fn config(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
        .with_temporary(false)
        .with_backend(BACKEND)
}

/// An answer of the server that the driver did not expect.
pub(crate) fn unexpected(statement: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{statement}: unexpected answer: {what}"),
    )
    .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let kind = |code: &str| classify(Some(&SqlState::from_code(code))).0;
        assert_eq!(kind("57014"), ErrorKind::Timeout);
        assert_eq!(kind("53300"), ErrorKind::Unavailable);
        assert_eq!(kind("08006"), ErrorKind::Unavailable);
        assert_eq!(kind("28P01"), ErrorKind::Config);
        assert_eq!(kind("23505"), ErrorKind::Backend);
        assert_eq!(classify(None), (ErrorKind::Unavailable, true));
    }
}
