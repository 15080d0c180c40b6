//! The layer's own errors. Errors of L1, L2 and the invalidation channel are theirs, passed
//! through: each driver classifies its own (for Redis, `cachette_redis::classify`).

use cachette_api::{Error, ErrorKind};

/// The layer's name, as errors and [`CacheBackend::name`](cachette_api::CacheBackend::name)
/// report it.
pub(crate) const BACKEND: &str = "tiered";

/// Whether an error leaves unknown whether the change reached L2 (a timeout, a dropped
/// connection): the change must then be invalidated as if it had happened.
pub(crate) fn is_ambiguous(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable)
}

/// The error of every call after [`close`](cachette_api::CacheBackend::close).
pub(crate) fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the tiered layer was closed")
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

    #[test]
    fn network_errors_are_ambiguous_and_others_are_not() {
        assert!(is_ambiguous(&Error::new(ErrorKind::Timeout, "t")));
        assert!(is_ambiguous(&Error::new(ErrorKind::Unavailable, "u")));
        assert!(!is_ambiguous(&Error::new(ErrorKind::Backend, "b")));
        assert!(!is_ambiguous(&config("c")));
        assert!(!closed().is_temporary());
    }
}
