//! The one mapping from the invalidation channel's errors to [`cache_api::Error`].

use std::future::Future;
use std::time::Duration;

use cache_api::{Error, ErrorKind, Result};
use redis::RedisError;

/// The backend's name, as errors and [`CacheBackend::name`](cache_api::CacheBackend::name)
/// report it.
pub(crate) const BACKEND: &str = "tiered";

/// Maps an error of the `redis` crate, met while running `command` on the invalidation
/// channel, to the cache's error. The kind and whether a retry may succeed come from redis'
/// own classification, never from message text; the redis error is kept as the source.
pub(crate) fn from_redis(command: &str, err: RedisError) -> Error {
    let (kind, temporary) = if err.is_timeout() {
        (ErrorKind::Timeout, true)
    } else if err.is_connection_refusal() || err.is_connection_dropped() || err.is_io_error() {
        (ErrorKind::Unavailable, true)
    } else {
        match err.kind() {
            redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig => {
                (ErrorKind::Config, false)
            }
            redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => (ErrorKind::Config, false),
            _ => match err.code() {
                Some("NOAUTH" | "WRONGPASS") => (ErrorKind::Config, false),
                _ => (ErrorKind::Backend, false),
            },
        }
    };
    Error::new(kind, format!("invalidation channel, {command}: {err}"))
        .with_temporary(temporary)
        .with_backend(BACKEND)
        .with_source(err)
}

/// Runs `call` on the invalidation channel, failing with [`ErrorKind::Timeout`] after `bound`.
pub(crate) async fn bounded<T>(
    command: &str,
    bound: Duration,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T> {
    match tokio::time::timeout(bound, call).await {
        Ok(result) => result.map_err(|e| from_redis(command, e)),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("invalidation channel, {command}: no answer within {bound:?}"),
        )
        .with_backend(BACKEND)),
    }
}

/// Whether an error leaves unknown whether the change reached L2 (a timeout, a dropped
/// connection): the change must then be invalidated as if it had happened.
pub(crate) fn is_ambiguous(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable)
}

/// The error of every call after [`close`](cache_api::CacheBackend::close).
pub(crate) fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the tiered backend was closed")
        .with_temporary(false)
        .with_backend(BACKEND)
}

/// A configuration the builder refuses.
pub(crate) fn config(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message).with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn network_errors_are_temporary_and_ambiguous() {
        for (io_kind, kind) in [
            (io::ErrorKind::TimedOut, ErrorKind::Timeout),
            (io::ErrorKind::ConnectionRefused, ErrorKind::Unavailable),
            (io::ErrorKind::ConnectionReset, ErrorKind::Unavailable),
        ] {
            let err = from_redis("PUBLISH", RedisError::from(io::Error::from(io_kind)));
            assert_eq!(err.kind(), kind, "{err:?}");
            assert!(err.is_temporary());
            assert!(is_ambiguous(&err));
            assert_eq!(err.backend(), Some(BACKEND));
        }
    }

    #[test]
    fn configuration_errors_are_permanent() {
        let err = RedisError::from((redis::ErrorKind::InvalidClientConfig, "Invalid URL"));
        let err = from_redis("connect", err);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.is_temporary());
        assert!(!is_ambiguous(&err));
    }

    #[tokio::test]
    async fn bounded_calls_time_out() {
        let never = std::future::pending::<redis::RedisResult<()>>();
        let err = bounded("PING", Duration::from_millis(10), never)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }
}
