//! The one error type of the library, with a kind that callers match on.

use std::fmt;
use std::sync::Arc;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in a form a caller can match on.
///
/// Whether the operation may be retried is a separate question, answered by
/// [`Error::is_temporary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key is empty, too long, or holds whitespace or control characters.
    InvalidKey,
    /// The key does not exist (or has expired): `incr`, `decr`, `incr_version`.
    NotFound,
    /// `incr`/`decr` found a value that is not an integer.
    NotInteger,
    /// `incr`/`decr` would move the value past `i64::MIN` or `i64::MAX`.
    Overflow,
    /// The key holds a value of a kind the cache does not manage (for example a Redis list).
    WrongType,
    /// The value could not be encoded.
    Encode,
    /// The stored bytes could not be decoded into the requested type.
    Decode,
    /// The encoded value is larger than the configured maximum.
    TooLarge,
    /// The backend cannot be reached, or the connection dropped.
    Unavailable,
    /// The backend did not answer within the configured time.
    Timeout,
    /// The backend answered with an error not covered by another kind.
    Backend,
    /// The configuration is invalid (bad URL, unknown option, feature not enabled).
    Config,
    /// A loader passed to `get_or_set_with` failed.
    Loader,
}

impl ErrorKind {
    /// A short, stable, lowercase name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotInteger => "not_integer",
            ErrorKind::Overflow => "overflow",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::Encode => "encode",
            ErrorKind::Decode => "decode",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Backend => "backend",
            ErrorKind::Config => "config",
            ErrorKind::Loader => "loader",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every cache operation.
///
/// It carries a [`kind`](Error::kind), the operation, the user's key where there is one, the
/// backend's name, and the underlying error as its [`source`](std::error::Error::source). It
/// never carries a password. It is cheap to clone, so that one failure can be handed to many
/// waiters (see [`Cache::get_or_set_with`](crate::Cache::get_or_set_with)).
///
/// `Display` shows this error's own words only; the underlying error is returned by
/// `source()`, never also printed, so that a reporter walking the chain prints each cause
/// once. The alternate form, `{:#}`, prints the whole chain on one line.
///
/// ```
/// use cachette_api::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::NotFound, "key does not exist").with_key("earnings:AAPL");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.key(), Some("earnings:AAPL"));
/// assert!(!err.is_temporary());
/// ```
///
/// The error is one pointer wide (its parts are boxed), so that every `Result` of the hot path
/// stays small: moving a `Result<Option<Bytes>>` through the layers of a call costs a copy
/// of its size each time.
#[derive(Clone)]
pub struct Error(Box<Parts>);

/// What an [`Error`] holds.
#[derive(Clone)]
struct Parts {
    kind: ErrorKind,
    message: String,
    operation: Option<&'static str>,
    key: Option<String>,
    backend: Option<&'static str>,
    temporary: bool,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind` with a human-readable message.
    ///
    /// [`ErrorKind::Unavailable`] and [`ErrorKind::Timeout`] are temporary by default.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Parts {
            kind,
            message: message.into(),
            operation: None,
            key: None,
            backend: None,
            temporary: matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout),
            source: None,
        }))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The key the operation was about, as the caller wrote it (not the composed key).
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The operation that failed (`"get"`, `"set"`, …), when known.
    pub fn operation(&self) -> Option<&'static str> {
        self.0.operation
    }

    /// The name of the backend that failed (`"memory"`, `"redis"`), when known.
    pub fn backend(&self) -> Option<&'static str> {
        self.0.backend
    }

    /// The message, without the operation, key and backend that `Display` adds.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether retrying the same call later may succeed (a dropped connection, a timeout).
    pub fn is_temporary(&self) -> bool {
        self.0.temporary
    }

    /// Sets the key the error is about.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.0.key = Some(key.into());
        self
    }

    /// Sets the operation, unless one is already set.
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.operation.get_or_insert(operation);
        self
    }

    /// Sets the backend's name, unless one is already set.
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.0.backend.get_or_insert(backend);
        self
    }

    /// Marks whether a retry may succeed.
    pub fn with_temporary(mut self, temporary: bool) -> Self {
        self.0.temporary = temporary;
        self
    }

    /// Keeps `source` as the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// Keeps an already shared cause.
    pub fn with_shared_source(mut self, source: Arc<dyn std::error::Error + Send + Sync>) -> Self {
        self.0.source = Some(source);
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("operation", &self.0.operation)
            .field("key", &self.0.key)
            .field("backend", &self.0.backend)
            .field("temporary", &self.0.temporary)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(backend) = self.0.backend {
            write!(f, "{backend} ")?;
        }
        if let Some(op) = self.0.operation {
            write!(f, "{op} ")?;
        }
        if let Some(key) = &self.0.key {
            write!(f, "of key {key:?} ")?;
        }
        write!(f, "failed ({}): {}", self.0.kind, self.0.message)?;
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(err) = cause {
                write!(f, ": {err}")?;
                cause = err.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_wide() {
        // Every `Result` of the call path carries it: it must stay small.
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert!(
            std::mem::size_of::<Result<Option<bytes::Bytes>>>()
                <= std::mem::size_of::<Option<bytes::Bytes>>() + std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn display_names_operation_key_and_backend() {
        let err = Error::new(ErrorKind::Decode, "invalid type")
            .with_key("k1")
            .with_operation("get")
            .with_backend("memory");
        assert_eq!(
            err.to_string(),
            "memory get of key \"k1\" failed (decode): invalid type"
        );
    }

    #[test]
    fn the_source_is_shown_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::new(ErrorKind::Unavailable, "cannot connect").with_source(io);
        assert!(!err.to_string().contains("refused"));
        assert_eq!(
            std::error::Error::source(&err).map(|s| s.to_string()),
            Some("refused".to_owned())
        );
        assert!(format!("{err:#}").ends_with("cannot connect: refused"));
    }

    #[test]
    fn network_kinds_are_temporary() {
        assert!(Error::new(ErrorKind::Timeout, "t").is_temporary());
        assert!(Error::new(ErrorKind::Unavailable, "u").is_temporary());
        assert!(!Error::new(ErrorKind::Decode, "d").is_temporary());
    }

    #[test]
    fn first_operation_wins() {
        let err = Error::new(ErrorKind::Backend, "x")
            .with_operation("incr")
            .with_operation("get");
        assert_eq!(err.operation(), Some("incr"));
    }
}
