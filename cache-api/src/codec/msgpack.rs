//! The default value codec: MessagePack (`rmp-serde`, structs as maps) for every value, except
//! integers, which are stored as ASCII decimal so that a backend can increment them in place
//! (Redis `INCRBY`), as Django's Redis backend does.
//!
//! The two forms can never be confused on read: a MessagePack value that starts with one of
//! the bytes `-` or `0`–`9` is a one-byte integer, and integers are never stored as
//! MessagePack.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ascii::{parse_ascii_integer, AsciiInt};
use crate::{Error, ErrorKind, Result};

/// Encodes a value into the bytes a backend stores.
///
/// # Errors
/// [`ErrorKind::Encode`] when serde refuses the value (for example a map with non-string keys
/// that the format cannot represent, or a failing `Serialize` impl).
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    // The buffer starts at the size of the last value encoded (values written in a row tend
    // to be alike): no regrowth on the way, and a buffer filled exactly becomes `Bytes`
    // without another allocation. Only a hint: a race on it costs a regrowth, nothing else.
    let hint = LAST_ENCODED_LEN.load(Ordering::Relaxed);
    let mut packed = Vec::with_capacity(hint.clamp(16, MAX_HINT));
    rmp_serde::encode::write_named(&mut packed, value)
        .map_err(|e| Error::new(ErrorKind::Encode, e.to_string()))?;
    if packed.len() != hint {
        // Written only when it changes: a steady size leaves the cache line shared.
        LAST_ENCODED_LEN.store(packed.len(), Ordering::Relaxed);
    }
    if let Some(text) = integer_as_ascii(&packed) {
        return Ok(Bytes::from(text));
    }
    Ok(Bytes::from(packed))
}

/// The length of the last value [`encode`] wrote, its next buffer's first capacity.
static LAST_ENCODED_LEN: AtomicUsize = AtomicUsize::new(0);

/// The largest first capacity taken from the hint (larger values grow as they are written).
const MAX_HINT: usize = 64 * 1024;

/// Decodes stored bytes into a value.
///
/// Bytes that are not a complete MessagePack value of the requested type (or an ASCII decimal
/// integer, for integer types) are an error, never a panic. Lengths declared in MessagePack
/// headers are checked against the bytes actually present before anything is decoded, and
/// strings are decoded straight from the stored bytes.
///
/// # Errors
/// [`ErrorKind::Decode`] with serde's explanation.
#[cfg(test)]
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (_, bytes) = crate::load::envelope::split(bytes);
    decode_plain(bytes)
}

/// [`decode`] of bytes already out of their envelope.
pub(crate) fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if let Some(n) = parse_ascii_integer(bytes) {
        let mut buf = Vec::with_capacity(9);
        let written = match n {
            AsciiInt::Signed(i) => rmp::encode::write_sint(&mut buf, i).map(|_| ()),
            AsciiInt::Unsigned(u) => rmp::encode::write_uint(&mut buf, u).map(|_| ()),
        };
        written.map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))?;
        return decode_packed(&buf);
    }
    decode_packed(bytes)
}

pub(crate) fn decode_packed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // The borrowing decoder checks every declared length against the bytes it still has
    // before it takes them (a string is borrowed from `bytes`, never copied into a buffer
    // sized by its header), so a forged length is an error, not an allocation.
    let mut decoder = rmp_serde::Deserializer::from_read_ref(bytes);
    decoder.set_max_depth(usize::from(MAX_DEPTH));
    let value = T::deserialize(&mut decoder).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("stored bytes do not decode: {e}"),
        )
    })?;
    // One whole value and nothing after it: the marker of a next value must be missing.
    // (Asking for `()` reads that marker and at most a string's bytes, never a container's
    // elements, so a truncated value after the first one is not taken for the end.)
    match <()>::deserialize(&mut decoder) {
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Ok(value)
        }
        _ => Err(Error::new(
            ErrorKind::Decode,
            "stored bytes hold more than one MessagePack value",
        )),
    }
}

/// The deepest nesting of containers accepted (serde_json's limit too): deep enough for any
/// value an application stores, shallow enough that decoding it recursively fits the stack
/// of any thread, a debug build's included.
pub(crate) const MAX_DEPTH: u16 = 128;

/// The length of the MessagePack value at the start of `bytes`, or `None` when a declared
/// length runs past the end, a marker is invalid, or nesting is deeper than `depth`.
///
/// Each element consumes at least one byte, so a header claiming billions of elements fails
/// as soon as the bytes run out: the walk is bounded by `bytes.len()`.
pub(crate) fn value_len(bytes: &[u8], depth: u16) -> Option<usize> {
    let (head, body, items) = header(bytes)?;
    let mut at = head.checked_add(body)?;
    if at > bytes.len() {
        return None;
    }
    if items > 0 {
        let depth = depth.checked_sub(1)?;
        for _ in 0..items {
            let rest = bytes.get(at..)?;
            // A scalar or a string is measured here; only a nested container recurses.
            let (head, body, nested) = header(rest)?;
            let len = if nested == 0 {
                let len = head.checked_add(body)?;
                if len > rest.len() {
                    return None;
                }
                len
            } else {
                value_len(rest, depth)?
            };
            at = at.checked_add(len)?;
        }
    }
    Some(at)
}

/// The header of the MessagePack value at the start of `bytes`: (header bytes, payload
/// bytes, nested values), or `None` for an invalid marker or a header cut short.
#[inline(always)]
fn header(bytes: &[u8]) -> Option<(usize, usize, usize)> {
    fn be(bytes: &[u8], n: usize) -> Option<usize> {
        let raw = bytes.get(1..1 + n)?;
        Some(
            raw.iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
        )
    }
    let marker = *bytes.first()?;
    Some(match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, 0, 0),
        0xcc | 0xd0 => (2, 0, 0),
        0xcd | 0xd1 => (3, 0, 0),
        0xca | 0xce | 0xd2 => (5, 0, 0),
        0xcb | 0xcf | 0xd3 => (9, 0, 0),
        0xa0..=0xbf => (1, usize::from(marker & 0x1f), 0),
        0xc4 | 0xd9 => (2, be(bytes, 1)?, 0),
        0xc5 | 0xda => (3, be(bytes, 2)?, 0),
        0xc6 | 0xdb => (5, be(bytes, 4)?, 0),
        0xd4 => (2, 1, 0),
        0xd5 => (2, 2, 0),
        0xd6 => (2, 4, 0),
        0xd7 => (2, 8, 0),
        0xd8 => (2, 16, 0),
        0xc7 => (3, be(bytes, 1)?, 0),
        0xc8 => (4, be(bytes, 2)?, 0),
        0xc9 => (6, be(bytes, 4)?, 0),
        0x90..=0x9f => (1, 0, usize::from(marker & 0x0f)),
        0xdc => (3, 0, be(bytes, 2)?),
        0xdd => (5, 0, be(bytes, 4)?),
        0x80..=0x8f => (1, 0, 2 * usize::from(marker & 0x0f)),
        0xde => (3, 0, 2 * be(bytes, 2)?),
        0xdf => (5, 0, 2 * be(bytes, 4)?),
        _ => return None, // 0xc1: never used
    })
}

/// Rewrites a MessagePack buffer holding exactly one integer as ASCII decimal.
fn integer_as_ascii(packed: &[u8]) -> Option<Vec<u8>> {
    let (&marker, rest) = packed.split_first()?;
    let be = |n: usize| -> Option<[u8; 8]> {
        if rest.len() != n {
            return None;
        }
        let mut out = [0u8; 8];
        out[8 - n..].copy_from_slice(rest);
        Some(out)
    };
    let sign_extend = |n: usize| -> Option<i64> {
        let raw = u64::from_be_bytes(be(n)?);
        let shift = 64 - 8 * n as u32;
        Some(((raw << shift) as i64) >> shift)
    };
    let text = match marker {
        0x00..=0x7f if rest.is_empty() => marker.to_string(),
        0xe0..=0xff if rest.is_empty() => (marker as i8).to_string(),
        0xcc => u64::from_be_bytes(be(1)?).to_string(),
        0xcd => u64::from_be_bytes(be(2)?).to_string(),
        0xce => u64::from_be_bytes(be(4)?).to_string(),
        0xcf => u64::from_be_bytes(be(8)?).to_string(),
        0xd0 => sign_extend(1)?.to_string(),
        0xd1 => sign_extend(2)?.to_string(),
        0xd2 => sign_extend(4)?.to_string(),
        0xd3 => sign_extend(8)?.to_string(),
        _ => return None,
    };
    Some(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ascii::stored_integer;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[test]
    fn integers_are_ascii_everything_else_msgpack() {
        for (n, text) in [
            (0i64, "0"),
            (5, "5"),
            (127, "127"),
            (128, "128"),
            (-1, "-1"),
            (-32, "-32"),
            (-33, "-33"),
            (-129, "-129"),
            (70_000, "70000"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ] {
            assert_eq!(&encode(&n).unwrap()[..], text.as_bytes(), "{n}");
            assert_eq!(decode::<i64>(text.as_bytes()).unwrap(), n);
        }
        assert_eq!(&encode(&u64::MAX).unwrap()[..], b"18446744073709551615");
        assert_eq!(decode::<u64>(b"18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(decode::<u8>(b"200").unwrap(), 200);
        assert_eq!(decode::<f64>(b"3").unwrap(), 3.0);
    }

    #[test]
    fn strings_bools_and_none_keep_their_type() {
        assert_eq!(decode::<String>(&encode("2").unwrap()).unwrap(), "2");
        assert!(decode::<bool>(&encode(&true).unwrap()).unwrap());
        assert_eq!(
            decode::<Option<i32>>(&encode(&None::<i32>).unwrap()).unwrap(),
            None
        );
        assert_eq!(decode::<f64>(&encode(&5.0).unwrap()).unwrap(), 5.0);
        assert_eq!(decode::<String>(&encode("").unwrap()).unwrap(), "");
        assert!(decode::<String>(b"2").is_err());
        assert!(decode::<i64>(&encode("2").unwrap()).is_err());
    }

    #[test]
    fn a_struct_reads_back_after_gaining_an_optional_field() {
        #[derive(Serialize)]
        struct V1 {
            ticker: String,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct V2 {
            ticker: String,
            #[serde(default)]
            eps: Option<f64>,
        }
        let bytes = encode(&V1 {
            ticker: "AAPL".into(),
        })
        .unwrap();
        assert_eq!(
            decode::<V2>(&bytes).unwrap(),
            V2 {
                ticker: "AAPL".into(),
                eps: None
            }
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_decode_errors() {
        for bad in [&b"\xc1"[..], b"\x92\x01", b"\xa5ab", b"", b"\x01\x02"] {
            let err = decode::<serde_ignored_any::Any>(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{bad:?}");
        }
    }

    #[test]
    fn integers_are_ascii_and_strings_are_not() {
        assert_eq!(&encode(&42_i64).unwrap()[..], b"42");
        assert_eq!(&encode(&-7_i8).unwrap()[..], b"-7");
        let text = encode(&"42").unwrap();
        assert_ne!(&text[..], b"42");
        assert_eq!(decode::<String>(&text).unwrap(), "42");
        assert_eq!(stored_integer(b"-12").unwrap(), -12);
        assert_eq!(
            stored_integer(b"12a").unwrap_err().kind(),
            ErrorKind::NotInteger
        );
        assert_eq!(
            stored_integer(b"").unwrap_err().kind(),
            ErrorKind::NotInteger
        );
        let huge = b"123456789012345678901234567890";
        assert_eq!(
            stored_integer(huge).unwrap_err().kind(),
            ErrorKind::NotInteger
        );
        assert_eq!(
            stored_integer(b"18446744073709551615").unwrap_err().kind(),
            ErrorKind::Overflow
        );
    }

    #[test]
    fn envelopes_are_transparent_to_decode() {
        use crate::load::envelope::wrap;
        let inner = encode("fresh").unwrap();
        let wrapped = wrap(1_700_000_000_000, &inner);
        assert_eq!(decode::<String>(&wrapped).unwrap(), "fresh");
        assert_eq!(decode::<i64>(&wrap(1, b"42")).unwrap(), 42);
        assert!(decode::<String>(&[0xc1, b'R', 1]).is_err());
    }

    #[test]
    fn a_header_claiming_4_gib_is_refused() {
        let str32 = [0xdb, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert_eq!(
            decode::<String>(&str32).unwrap_err().kind(),
            ErrorKind::Decode
        );
        let bin32 = [0xc6, 0xff, 0xff, 0xff, 0xff, 1];
        assert_eq!(
            decode::<Vec<u8>>(&bin32).unwrap_err().kind(),
            ErrorKind::Decode
        );
        let array32 = [0xdd, 0xff, 0xff, 0xff, 0xff, 1];
        assert_eq!(
            decode::<Vec<u64>>(&array32).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    mod serde_ignored_any {
        /// Accepts any value, to test the framing alone.
        pub(super) type Any = serde::de::IgnoredAny;
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing_the_stack() {
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0x01);
        assert_eq!(
            decode::<serde::de::IgnoredAny>(&deep).unwrap_err().kind(),
            ErrorKind::Decode
        );
        let mut at_limit = vec![0x91u8; usize::from(MAX_DEPTH) - 1];
        at_limit.push(0x01);
        assert!(decode::<serde::de::IgnoredAny>(&at_limit).is_ok());
        let mut past_limit = vec![0x91u8; usize::from(MAX_DEPTH) + 1];
        past_limit.push(0x01);
        assert_eq!(
            decode::<serde::de::IgnoredAny>(&past_limit)
                .unwrap_err()
                .kind(),
            ErrorKind::Decode
        );
        let map32 = [0xdf, 0xff, 0xff, 0xff, 0xff, 1, 2];
        assert_eq!(
            decode::<serde::de::IgnoredAny>(&map32).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    proptest! {
        #[test]
        fn framing_agrees_with_the_reader_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            // The framing check must accept exactly what a reader-based decode accepts.
            let mut rest = &bytes[..];
            let reader = {
                let mut de = rmp_serde::Deserializer::new(&mut rest);
                serde::de::IgnoredAny::deserialize(&mut de).is_ok()
            } && rest.is_empty();
            prop_assert_eq!(reader, value_len(&bytes, MAX_DEPTH) == Some(bytes.len()));
        }

        #[test]
        fn the_decoder_accepts_exactly_one_whole_value(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            // Framing is checked by the decode itself: it must accept exactly the byte
            // strings that hold one complete value and nothing after it.
            let whole = value_len(&bytes, MAX_DEPTH) == Some(bytes.len());
            prop_assert_eq!(decode_packed::<serde::de::IgnoredAny>(&bytes).is_ok(), whole);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<serde::de::IgnoredAny>(&bytes);
            let _ = decode::<String>(&bytes);
            let _ = decode::<Vec<i64>>(&bytes);
            let _ = decode::<std::collections::HashMap<String, Option<f64>>>(&bytes);
        }

        #[test]
        fn every_integer_round_trips(n in any::<i64>()) {
            prop_assert_eq!(decode::<i64>(&encode(&n).unwrap()).unwrap(), n);
        }

        #[test]
        fn every_string_round_trips_as_a_string(s in ".*") {
            prop_assert_eq!(decode::<String>(&encode(&s).unwrap()).unwrap(), s);
        }
    }
}
