//! Feeds arbitrary bytes to the value codec's decoder, as stored bytes another client may
//! have written under a cache key: every input must give `Ok` or an error of kind `Decode`,
//! never a panic, an abort or an allocation sized by a header rather than by the input.
#![no_main]

use std::collections::HashMap;

use cachette_api::{codec, ErrorKind};
use libfuzzer_sys::fuzz_target;

/// Checks that a failed decode is a `Decode` error.
fn check<T>(result: cachette_api::Result<T>) {
    if let Err(err) = result {
        assert_eq!(err.kind(), ErrorKind::Decode, "{err:?}");
    }
}

fuzz_target!(|bytes: &[u8]| {
    check(codec::decode::<serde::de::IgnoredAny>(bytes));
    check(codec::decode::<String>(bytes));
    check(codec::decode::<Vec<i64>>(bytes));
    check(codec::decode::<HashMap<String, Option<f64>>>(bytes));
});
