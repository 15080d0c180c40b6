//! The Python pickle codec (`serde-pickle`): reads protocols 0–5, writes protocol 3, which
//! Python 3 reads. Only builtin types: a pickle naming any other class is a `Decode` error
//! that names it; nothing is ever executed. Bare integers are ASCII decimal, as Django's
//! `RedisCache` and django-redis store them.
//!
//! Before `serde-pickle` sees them, stored bytes are walked once ([`scan`]) to bound their
//! nesting and the size of what memo references would copy, and to name a non-builtin class.

mod scan;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ascii::parse_ascii_integer;
use crate::{Error, ErrorKind, Result};

/// Encodes a value as a protocol-3 pickle, or an integer as ASCII decimal.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    let pickled = serde_pickle::to_vec(&value, serde_pickle::SerOptions::new())
        .map_err(|e| Error::new(ErrorKind::Encode, format!("pickle: {e}")))?;
    if let Some(text) = integer_as_ascii(&pickled) {
        return Ok(Bytes::from(text));
    }
    Ok(Bytes::from(pickled))
}

/// The ASCII decimal of a pickle holding one integer (`PROTO 3`, an integer opcode, `STOP`).
fn integer_as_ascii(pickled: &[u8]) -> Option<Vec<u8>> {
    // BININT1, BININT2, BININT, LONG1: the opcodes serde-pickle writes integers with.
    if pickled.len() > 32 || !matches!(pickled.get(2), Some(b'K' | b'M' | b'J' | 0x8a)) {
        return None;
    }
    match serde_pickle::value_from_slice(pickled, serde_pickle::DeOptions::new()).ok()? {
        serde_pickle::Value::I64(n) => Some(n.to_string().into_bytes()),
        serde_pickle::Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// Decodes a pickle, or an integer stored as ASCII decimal.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if parse_ascii_integer(bytes).is_some() {
        return super::msgpack::decode_plain(bytes);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::new(
            ErrorKind::Decode,
            "the stored integer does not fit in 64 bits",
        ));
    }
    let scanned = scan::scan(bytes).map_err(|why| {
        Error::new(
            ErrorKind::Decode,
            format!("stored bytes are not a pickle this codec reads: {why}"),
        )
    })?;
    serde_pickle::from_slice(bytes, serde_pickle::DeOptions::new()).map_err(|e| {
        let message = match scanned.foreign_class {
            Some(class) => format!(
                "the stored pickle holds a `{class}`: only Python's builtin types (None, bool, \
                 int, float, str, bytes, list, tuple, dict, set) decode"
            ),
            None => format!("stored bytes do not decode as a pickle: {e}"),
        };
        Error::new(ErrorKind::Decode, message)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Quote {
        ticker: String,
        price: f64,
        tags: Vec<String>,
    }

    #[test]
    fn integers_are_ascii_and_everything_else_a_pickle() {
        for n in [0i64, 1, -1, 255, 256, 65_536, -70_000, i64::MAX, i64::MIN] {
            let bytes = encode(&n).unwrap();
            assert_eq!(&bytes[..], n.to_string().as_bytes());
            assert_eq!(decode::<i64>(&bytes).unwrap(), n);
        }
        assert_eq!(&encode(&u64::MAX).unwrap()[..], b"18446744073709551615");
        assert_eq!(&encode(&true).unwrap()[..2], b"\x80\x03");
        assert!(decode::<bool>(&encode(&true).unwrap()).unwrap());
        assert_eq!(decode::<String>(&encode("42").unwrap()).unwrap(), "42");
        let quote = Quote {
            ticker: "AAPL".into(),
            price: 189.5,
            tags: vec!["tech".into(), "ünïcode".into()],
        };
        assert_eq!(decode::<Quote>(&encode(&quote).unwrap()).unwrap(), quote);
        let none: Option<i32> = None;
        assert_eq!(
            decode::<Option<i32>>(&encode(&none).unwrap()).unwrap(),
            None
        );
        assert!(decode::<i64>(b"123456789012345678901234567890").is_err());
    }

    #[test]
    fn reads_what_python_writes_in_every_protocol() {
        // {"a": [1, 2.5, "x"]} as pickle.dumps(..., protocol) writes it, protocols 0 to 5.
        let dumps: [&[u8]; 6] = [
            b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\nas.",
            b"}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03es.",
            b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03es.",
            b"\x80\x03}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03es.",
            b"\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94es.",
            b"\x80\x05\x95\x1b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94es.",
        ];
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(untagged)]
        enum Item {
            Int(i64),
            Float(f64),
            Text(String),
        }
        for (proto, bytes) in dumps.iter().enumerate() {
            let map: BTreeMap<String, Vec<Item>> =
                decode(bytes).unwrap_or_else(|e| panic!("protocol {proto}: {e}"));
            assert_eq!(
                map["a"],
                vec![Item::Int(1), Item::Float(2.5), Item::Text("x".into())],
                "protocol {proto}"
            );
        }
    }

    #[test]
    fn a_foreign_class_is_named_never_built() {
        // pickle.dumps(datetime.date(2024, 1, 2), 4) and the same with protocol 2.
        let date4 = b"\x80\x04\x95 \x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x04date\x94\x93\x94C\x04\x07\xe8\x01\x02\x94\x85\x94R\x94.";
        let date2 = b"\x80\x02cdatetime\ndate\nq\x00c_codecs\nencode\nq\x01X\x05\x00\x00\x00\x07\xc3\xa8\x01\x02q\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.";
        for bytes in [&date4[..], &date2[..]] {
            let err = decode::<serde::de::IgnoredAny>(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
            assert!(err.message().contains("`datetime.date`"), "{err}");
        }
    }

    #[test]
    fn deep_nesting_and_memo_bombs_are_refused() {
        // 100 000 nested lists: [[[...]]].
        let mut deep = b"\x80\x04".to_vec();
        deep.extend(std::iter::repeat_n(&b"]"[..], 100_000).flatten());
        deep.extend(std::iter::repeat_n(&b"a"[..], 99_999).flatten());
        deep.push(b'.');
        assert_eq!(
            decode::<serde::de::IgnoredAny>(&deep).unwrap_err().kind(),
            ErrorKind::Decode
        );
        // Ten levels of lists, each holding 100 references to the level below.
        let mut bomb = b"\x80\x04".to_vec();
        for level in 0u8..10 {
            bomb.extend(b"]\x94(");
            for _ in 0..100 {
                if level == 0 {
                    bomb.extend(b"K\x00");
                } else {
                    bomb.extend([b'h', level - 1]);
                }
            }
            bomb.push(b'e');
            if level < 9 {
                bomb.push(b'0');
            }
        }
        bomb.push(b'.');
        let err = decode::<serde::de::IgnoredAny>(&bomb).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode::<serde::de::IgnoredAny>(&bytes);
            let _ = decode::<BTreeMap<String, Vec<f64>>>(&bytes);
        }
    }
}
