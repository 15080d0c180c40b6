//! The one mapping from [`redis::RedisError`] to [`cachette_api::Error`], exported so that other
//! crates talking to the same server (a layer, an invalidation channel) classify its errors the
//! same way instead of keeping a copy that drifts.

use cachette_api::{Error, ErrorKind};
use redis::{RedisError, ServerErrorKind};

/// The backend's name, as errors and [`CacheBackend::name`](cachette_api::CacheBackend::name)
/// report it.
pub const BACKEND: &str = "redis";

/// Maps an error of the `redis` crate, met while running `command`, to the cache's error.
///
/// The kind and whether a retry may succeed come from redis' own classification
/// (`is_timeout`, `is_connection_dropped`, `is_io_error`, the error kind and the server's
/// error code), never from message text. The redis error is kept as the source. Neither
/// carries a password: redis' errors do not include the connection URL.
///
/// ```
/// use cachette_api::ErrorKind;
///
/// let refused = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// let err = cachette_redis::from_redis("GET", refused);
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert!(err.is_temporary());
/// ```
pub fn from_redis(command: &str, err: RedisError) -> Error {
    let (kind, temporary) = classify(&err);
    // The redis error is the source: the message says what happened in our words only, so
    // that a reporter walking the chain prints the redis error once.
    let what = match (kind, err.code()) {
        (ErrorKind::Timeout, _) => "no answer in time".to_owned(),
        (ErrorKind::Unavailable, Some(code)) => format!("the server is unavailable ({code})"),
        (ErrorKind::Unavailable, None) => "the connection failed".to_owned(),
        (ErrorKind::WrongType, _) => "the key holds a value of another type".to_owned(),
        (_, Some(code)) => format!("the server refused it ({code})"),
        (_, None) => "the client failed".to_owned(),
    };
    Error::new(kind, format!("{command}: {what}"))
        .with_temporary(temporary)
        .with_backend(BACKEND)
        .with_source(err)
}

/// Maps an error of the `redis` crate met while building its client (parsing the URL, the
/// password, the CA certificate), before any I/O: always [`ErrorKind::Config`], permanent,
/// although redis reports some of these as I/O errors (a CA certificate PEM that does not
/// parse).
pub(crate) fn config_from_redis(context: &str, err: RedisError) -> Error {
    Error::new(ErrorKind::Config, context.to_owned())
        .with_temporary(false)
        .with_backend(BACKEND)
        .with_source(err)
}

/// A configuration refused before any I/O (a zero timeout, an empty name…): always
/// [`ErrorKind::Config`], permanent.
pub(crate) fn config(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
        .with_temporary(false)
        .with_backend(BACKEND)
}

/// The kind of `err` and whether retrying may succeed: the classification [`from_redis`] uses.
///
/// - [`ErrorKind::Timeout`] (temporary): no answer in time.
/// - [`ErrorKind::Unavailable`] (temporary): refused, dropped or broken connections, a server
///   loading its data, a cluster resharding or failing over (`MOVED`, `ASK`, `TRYAGAIN`,
///   `CLUSTERDOWN`, `MASTERDOWN`).
/// - [`ErrorKind::Config`] (permanent): a refused password or user, a missing permission, an
///   invalid client configuration.
/// - [`ErrorKind::WrongType`] (permanent): the key holds another Redis type.
/// - [`ErrorKind::Backend`], temporary: `READONLY` (a replica, maybe promoted soon, as during
///   a failover); permanent: anything else, `OOM` included (`maxmemory` reached under
///   `noeviction`: the same write fails until someone frees memory, so an automatic retry
///   would only spin).
pub fn classify(err: &RedisError) -> (ErrorKind, bool) {
    if err.is_timeout() {
        return (ErrorKind::Timeout, true);
    }
    if err.is_connection_refusal() || err.is_connection_dropped() || err.is_io_error() {
        return (ErrorKind::Unavailable, true);
    }
    match err.kind() {
        redis::ErrorKind::AuthenticationFailed
        | redis::ErrorKind::InvalidClientConfig
        | redis::ErrorKind::RESP3NotSupported => (ErrorKind::Config, false),
        redis::ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown,
        ) => (ErrorKind::Unavailable, true),
        // A cluster whose slots are moving (redirections left after the client's retries), or
        // whose node for a slot cannot be reached yet (a failover under way).
        redis::ErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask)
        | redis::ErrorKind::ClusterConnectionNotFound => (ErrorKind::Unavailable, true),
        // A replica promoted or demoted during a failover: the same write may succeed soon.
        redis::ErrorKind::Server(ServerErrorKind::ReadOnly) => (ErrorKind::Backend, true),
        // The ACL user may not run the command: the configuration names the wrong user.
        redis::ErrorKind::Server(ServerErrorKind::NoPerm) => (ErrorKind::Config, false),
        // Error codes the redis crate has no kind for, as sent by the server.
        _ => match err.code() {
            Some("WRONGTYPE") => (ErrorKind::WrongType, false),
            Some("NOAUTH" | "WRONGPASS") => (ErrorKind::Config, false),
            // As `ServerErrorKind::ReadOnly`, should a reply carry the code without the kind
            // (a script answering the error of its `INCRBY`).
            Some("READONLY") => (ErrorKind::Backend, true),
            _ => (ErrorKind::Backend, false),
        },
    }
}

/// The error of a call that got no answer within `bound`, as the `redis` crate makes it, so
/// that [`from_redis`] maps it to [`ErrorKind::Timeout`].
pub(crate) fn timed_out(bound: std::time::Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer within {bound:?}"),
    ))
}

/// An error for a call whose cluster connection stopped answering and was replaced before the
/// call was answered: it may or may not have been applied.
pub(crate) fn replaced(command: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "{command}: the cluster connection stopped answering and was replaced; the call \
             may or may not have been applied"
        ),
    )
    .with_temporary(true)
    .with_backend(BACKEND)
}

/// An error for a call made after [`close`](cachette_api::CacheBackend::close).
pub(crate) fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the backend was closed")
        .with_temporary(false)
        .with_backend(BACKEND)
}

/// An error for a value (or any argument) of `len` bytes, over the server's
/// `proto-max-bulk-len` of `limit`: refused before anything is sent, so that the server does
/// not close the connection that other calls share.
pub(crate) fn too_large(command: &str, len: usize, limit: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "{command}: an argument of {len} bytes is over the server's proto-max-bulk-len \
             ({limit} bytes); nothing was sent"
        ),
    )
    .with_temporary(false)
    .with_backend(BACKEND)
}

/// Whether the server answered `NOSCRIPT` (the script is not in its cache).
pub(crate) fn is_noscript(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript)
}

/// [`is_noscript`] for an error already mapped by [`from_redis`], which keeps the redis error
/// as its source.
pub(crate) fn is_noscript_mapped(err: &Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<RedisError>())
        .is_some_and(is_noscript)
}

/// The error of an invalidation subscription that can yield nothing more.
pub(crate) fn subscription_lost(why: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("invalidation subscription lost: {why}"),
    )
    .with_backend(BACKEND)
}

/// An error for a reply of an unexpected shape.
pub(crate) fn unexpected(command: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{command}: unexpected reply: {what}"),
    )
    .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;
    use std::io;

    fn io_error(kind: io::ErrorKind) -> RedisError {
        RedisError::from(io::Error::from(kind))
    }

    #[test]
    fn network_errors_are_unavailable_or_timeout_and_temporary() {
        for (err, kind) in [
            (io_error(io::ErrorKind::TimedOut), ErrorKind::Timeout),
            (
                io_error(io::ErrorKind::ConnectionRefused),
                ErrorKind::Unavailable,
            ),
            (
                io_error(io::ErrorKind::ConnectionReset),
                ErrorKind::Unavailable,
            ),
            (io_error(io::ErrorKind::BrokenPipe), ErrorKind::Unavailable),
        ] {
            let mapped = from_redis("GET", err);
            assert_eq!(mapped.kind(), kind, "{mapped:?}");
            assert!(mapped.is_temporary(), "{mapped:?}");
            assert_eq!(mapped.backend(), Some("redis"));
            assert!(std::error::Error::source(&mapped).is_some());
        }
    }

    #[test]
    fn configuration_errors_are_config_and_permanent() {
        let err = RedisError::from((redis::ErrorKind::InvalidClientConfig, "Invalid URL"));
        let mapped = from_redis("connect", err);
        assert_eq!(mapped.kind(), ErrorKind::Config);
        assert!(!mapped.is_temporary());
        let err = RedisError::from((redis::ErrorKind::AuthenticationFailed, "Password"));
        assert_eq!(from_redis("AUTH", err).kind(), ErrorKind::Config);
    }

    #[test]
    fn server_codes_without_a_kind_are_classified_by_code() {
        let err = redis::make_extension_error("WRONGTYPE".into(), Some("wrong kind".into()));
        assert_eq!(from_redis("GET", err).kind(), ErrorKind::WrongType);
        let err = redis::make_extension_error("NOAUTH".into(), None);
        assert_eq!(from_redis("PING", err).kind(), ErrorKind::Config);
        let err = redis::make_extension_error("SOMETHING".into(), None);
        let mapped = from_redis("GET", err);
        assert_eq!(mapped.kind(), ErrorKind::Backend);
        assert!(!mapped.is_temporary());
    }

    #[test]
    fn cluster_redirections_and_outages_are_unavailable_and_temporary() {
        // Errors as the server sends them, parsed as the client parses them.
        let server = |reply: &str| {
            redis::parse_redis_value(reply.as_bytes())
                .and_then(Value::extract_error)
                .unwrap_err()
        };
        for err in [
            server("-MOVED 3999 127.0.0.1:6381\r\n"),
            server("-ASK 3999 127.0.0.1:6381\r\n"),
            server("-TRYAGAIN Multiple keys request during rehashing of slot\r\n"),
            server("-CLUSTERDOWN The cluster is down\r\n"),
            RedisError::from((
                redis::ErrorKind::ClusterConnectionNotFound,
                "No connections found",
            )),
        ] {
            let mapped = from_redis("GET", err);
            assert_eq!(mapped.kind(), ErrorKind::Unavailable, "{mapped:?}");
            assert!(mapped.is_temporary(), "{mapped:?}");
        }
    }

    #[test]
    fn write_refusals_are_backend() {
        let server = |reply: &str| {
            redis::parse_redis_value(reply.as_bytes())
                .and_then(Value::extract_error)
                .unwrap_err()
        };
        for (err, temporary) in [
            (
                server("-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
                false,
            ),
            (
                server("-READONLY You can't write against a read only replica.\r\n"),
                true,
            ),
            (server("-MISCONF Errors writing to the AOF file\r\n"), false),
        ] {
            let mapped = from_redis("SET", err);
            assert_eq!(mapped.kind(), ErrorKind::Backend, "{mapped:?}");
            assert_eq!(mapped.is_temporary(), temporary, "{mapped:?}");
        }
    }

    #[test]
    fn too_large_is_permanent() {
        let err = too_large("SET", 10, 5);
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert!(!err.is_temporary());
    }

    #[test]
    fn closed_is_unavailable_for_good() {
        let err = closed();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(!err.is_temporary());
    }
}
