//! The one private call path: every public method of [`Cache`] composes its keys, calls the
//! backend, traces, applies fail-open, adds context to errors and counts them through a
//! [`Call`]. Nothing else in the crate does any of these.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::memo::DecodedBy;
use crate::{Cache, Error, ErrorKind, Result, StoredEntry};

/// One public operation in progress: its name, and the caller's key when there is one, for
/// every span, error and counter it produces.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) op: &'static str,
    key: Option<&'a str>,
}

impl Cache {
    /// Starts the operation `op`, about the caller's `key` when it has one.
    pub(crate) fn call<'a>(&'a self, op: &'static str, key: Option<&'a str>) -> Call<'a> {
        Call {
            cache: self,
            op,
            key,
        }
    }
}

impl<'a> Call<'a> {
    /// The same operation, about one key of a batch.
    pub(crate) fn about(self, key: &'a str) -> Call<'a> {
        Call {
            key: Some(key),
            ..self
        }
    }

    /// Composes and validates `key` under this view's prefix, version and namespace.
    pub(crate) fn compose(&self, key: &str) -> Result<String> {
        let cache = self.cache;
        cache
            .key_maker()
            .make(key, &cache.shared.policy)
            .map_err(|e| self.about(key).fail(e))
    }

    /// Composes every key, failing on the first invalid one.
    pub(crate) fn compose_all<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<String>> {
        keys.iter().map(|k| self.compose(k.as_ref())).collect()
    }

    /// Encodes a value, refusing one larger than the cache allows.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes> {
        let max = self.cache.shared.max_value_size;
        self.cache
            .shared
            .codec
            .encode(value)
            .and_then(|bytes| {
                if bytes.len() > max {
                    return Err(Error::new(
                        ErrorKind::TooLarge,
                        format!(
                            "encoded value is {} bytes, more than the {max} allowed",
                            bytes.len()
                        ),
                    ));
                }
                Ok(bytes)
            })
            .map_err(|e| self.fail(e))
    }

    /// Decodes stored bytes, naming this call's key on failure.
    pub(crate) fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.cache
            .shared
            .codec
            .decode(bytes)
            .map_err(|e| self.fail(e))
    }

    /// Decodes a stored entry to a value that may be shared: the one its memo holds when a
    /// handle that decodes as this one did decoded a `T` from it before; otherwise decoded now
    /// (by [`decode`](Call::decode)) and left in the memo for the next read.
    pub(crate) fn decode_shared<T>(&self, entry: &StoredEntry) -> Result<Arc<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let decoder = DecodedBy::of(&self.cache.shared.codec);
        let memo = entry.memo.as_deref();
        if let Some(value) = memo.and_then(|memo| memo.get::<T>(decoder)) {
            return Ok(value);
        }
        let value = Arc::new(self.decode::<T>(&entry.bytes)?);
        if let Some(memo) = memo {
            memo.fill(decoder, value.clone());
        }
        Ok(value)
    }

    /// Runs one backend call: traced, its error given this call's context.
    pub(crate) async fn run<T>(
        &self,
        keys: usize,
        backend_call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.execute(keys, backend_call)
            .await
            .map_err(|e| self.fail(e))
    }

    /// [`run`](Call::run), and with fail-open on, answers an outage (an unreachable or
    /// timed-out backend) with `outage()` — a miss, "not stored" — counting and logging it.
    pub(crate) async fn run_or<T>(
        &self,
        keys: usize,
        backend_call: impl Future<Output = Result<T>>,
        outage: impl FnOnce() -> T,
    ) -> Result<T> {
        match self.execute(keys, backend_call).await {
            Err(err) if self.tolerates(&err) => {
                self.cache.counters().ignored_error();
                tracing::warn!(
                    backend = self.cache.shared.backend.name(),
                    operation = self.op,
                    kind = err.kind().as_str(),
                    error = %err,
                    "cache backend unavailable; answering as a miss (fail-open)"
                );
                Ok(outage())
            }
            other => other.map_err(|e| self.fail(e)),
        }
    }

    /// Runs the backend call: inside a span when tracing may listen, timed into the
    /// `metrics` histogram when that feature is on.
    async fn execute<T>(
        &self,
        keys: usize,
        backend_call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        // No subscriber ever installed (globally or for a scope): nothing can listen, so
        // the call runs bare, without even the layer that would build its span.
        let result = if tracing::dispatcher::has_been_set() {
            self.traced(keys, backend_call).await
        } else {
            backend_call.await
        };
        #[cfg(feature = "metrics")]
        crate::stats::record_call(
            self.cache.shared.backend.name(),
            self.op,
            outcome(&result),
            started.elapsed(),
        );
        result
    }

    /// Whether fail-open turns `err` into a miss.
    fn tolerates(&self, err: &Error) -> bool {
        self.cache.shared.fail_open
            && matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
    }

    /// Gives an error this call's operation, key and backend, counts it and logs it.
    ///
    /// Context already present (an error handed over by another call) is kept.
    pub(crate) fn fail(&self, err: Error) -> Error {
        let backend = self.cache.shared.backend.name();
        self.cache.counters().error();
        let mut err = err.with_operation(self.op).with_backend(backend);
        if let (Some(key), None) = (self.key, err.key()) {
            err = err.with_key(key);
        }
        tracing::debug!(
            backend,
            operation = self.op,
            kind = err.kind().as_str(),
            "cache operation failed"
        );
        err
    }

    /// Runs `backend_call` inside a `tracing` span naming the backend, the operation, the
    /// number of keys and the outcome (never a value, never a secret); no span at all when
    /// tracing is off.
    async fn traced<T>(
        &self,
        keys: usize,
        backend_call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let span = tracing::debug_span!(
            "cache",
            backend = self.cache.shared.backend.name(),
            operation = self.op,
            keys,
            outcome = tracing::field::Empty
        );
        if span.is_disabled() {
            return backend_call.await;
        }
        let result = backend_call.instrument(span.clone()).await;
        span.record("outcome", outcome(&result));
        result
    }
}

/// `"ok"`, or the error's kind: the outcome label of spans and metrics.
fn outcome<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.kind().as_str(),
    }
}
