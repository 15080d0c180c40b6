//! The one mapping from what goes wrong talking to memcached to [`cachette_api::Error`].

use cachette_api::{Error, ErrorKind};

/// The backend's name, as errors and [`CacheBackend::name`](cachette_api::CacheBackend::name)
/// report it.
pub const BACKEND: &str = "memcached";

/// A socket error met while `doing` something with `server`: [`ErrorKind::Unavailable`],
/// temporary, with the I/O error as the source.
pub(crate) fn io(doing: &str, server: &str, err: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("{doing} {server}: the connection failed"),
    )
    .with_backend(BACKEND)
    .with_source(err)
}

/// No answer from `server` within `limit`: [`ErrorKind::Timeout`], temporary.
pub(crate) fn timeout(doing: &str, server: &str, limit: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{doing} {server}: no answer within {limit:?}"),
    )
    .with_backend(BACKEND)
}

/// The server answered something this driver does not expect: [`ErrorKind::Backend`].
pub(crate) fn protocol(server: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{server} answered outside the meta protocol: {what}"),
    )
    .with_backend(BACKEND)
    .with_temporary(false)
}

/// An error reply (`CLIENT_ERROR`, `SERVER_ERROR`, `ERROR`) to `command`.
pub(crate) fn refused(command: &str, line: &str) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{command}: the server refused it ({line})"),
    )
    .with_backend(BACKEND)
    .with_temporary(false)
}

/// A value larger than the server's item size limit (`-I`, 1 MiB by default).
pub(crate) fn too_large(len: usize) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "the server refused a value of {len} bytes as larger than its item size limit \
             (memcached -I); the old value was deleted"
        ),
    )
    .with_backend(BACKEND)
    .with_temporary(false)
}

/// A configuration refused before any I/O: [`ErrorKind::Config`], permanent.
pub(crate) fn config(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message)
        .with_backend(BACKEND)
        .with_temporary(false)
}

/// A call after [`close`](cachette_api::CacheBackend::close).
pub(crate) fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the backend was closed")
        .with_backend(BACKEND)
        .with_temporary(false)
}
