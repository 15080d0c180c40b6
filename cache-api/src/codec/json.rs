//! The JSON codec (`serde_json`), as django-redis's `JSONSerializer` reads and writes it.
//! A bare integer's JSON is its ASCII decimal, the form every codec stores integers in.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, ErrorKind, Result};

/// Encodes a value as JSON.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::new(ErrorKind::Encode, format!("JSON: {e}")))
}

/// Decodes JSON (nesting is bounded by `serde_json`'s recursion limit).
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("stored bytes do not decode as JSON: {e}"),
        )
    })
}
