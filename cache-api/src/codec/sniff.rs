//! Recognising what stored bytes are, to say in a `Decode` error which option reads them.

use super::{msgpack, Codec, Compression};
use crate::{Error, ErrorKind};

/// The compression framing `bytes` start with, if any: a zlib stream as Python's
/// `zlib.compress` writes it (`0x78` then a header check), an LZ4 frame or a Zstandard frame
/// (their magic numbers).
pub(super) fn compression(bytes: &[u8]) -> Option<Compression> {
    match bytes {
        [0x78, flg, _, ..] if (0x7800u16 | u16::from(*flg)).is_multiple_of(31) => {
            Some(Compression::Zlib)
        }
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Compression::Lz4),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
        _ => None,
    }
}

/// The error for a compressed value the cache is not configured to inflate.
pub(super) fn compressed_error(found: Compression, configured: Compression) -> Error {
    let setting = match configured {
        Compression::None => "no compression is configured".to_owned(),
        other => format!("this cache uses `compression={other}`"),
    };
    Error::new(
        ErrorKind::Decode,
        format!(
            "stored bytes are a {found} frame (django-redis's {found} compressor) but {setting}: \
             read them with the option `compression={found}`"
        ),
    )
}

/// The format `bytes` look like, when they are recognisably one.
fn format(bytes: &[u8]) -> Option<(Codec, String)> {
    if let [0x80, proto @ 2..=5, .., b'.'] = bytes {
        return Some((Codec::Pickle, format!("a Python pickle (protocol {proto})")));
    }
    if looks_like_json(bytes) {
        return Some((Codec::Json, "JSON".to_owned()));
    }
    if msgpack::value_len(bytes, msgpack::MAX_DEPTH) == Some(bytes.len()) {
        return Some((Codec::MessagePack, "MessagePack".to_owned()));
    }
    None
}

/// An object, array or string in JSON's framing, or `true`/`false`/`null`, or a number
/// with a fraction or exponent (integers are ASCII in every codec).
fn looks_like_json(bytes: &[u8]) -> bool {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.trim(),
        Err(_) => return false,
    };
    let framed = |open: char, close: char| text.starts_with(open) && text.ends_with(close);
    (text.len() >= 2 && (framed('{', '}') || framed('[', ']') || framed('"', '"')))
        || matches!(text, "true" | "false" | "null")
        || (text.parse::<f64>().is_ok()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)))
}

/// Adds to a `Decode` error what the bytes look like, and the option that reads them.
pub(super) fn explain(err: Error, bytes: &[u8], codec: Codec) -> Error {
    if err.kind() != ErrorKind::Decode {
        return err;
    }
    let hint = match bytes {
        [0x1f, 0x8b, ..] => Some(
            "; they look like gzip (django-redis's GzipCompressor), which this crate does not read"
                .to_owned(),
        ),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some(
            "; they look like xz/lzma (django-redis's LzmaCompressor), which this crate does not read"
                .to_owned(),
        ),
        _ => match format(bytes) {
            Some((found, what)) if found != codec => Some(format!(
                "; they look like {what}, not {}: read them with the option `{}`",
                codec.describe(),
                found.option()
            )),
            _ => None,
        },
    };
    match hint {
        Some(hint) => Error::new(ErrorKind::Decode, format!("{}{hint}", err.message())),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        // pickle.dumps({"a": 1}, 4) and pickle.dumps("x", 5)
        let pickle4 = b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.";
        assert_eq!(format(pickle4).map(|f| f.0), Some(Codec::Pickle));
        let pickle5 = b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.";
        assert_eq!(format(pickle5).map(|f| f.0), Some(Codec::Pickle));
        for json in [&b"{\"a\": 1}"[..], b"[1, 2]", b"\"text\"", b"null", b"2.5"] {
            assert_eq!(format(json).map(|f| f.0), Some(Codec::Json), "{json:?}");
        }
        assert_eq!(
            format(b"\x81\xa1a\x01").map(|f| f.0),
            Some(Codec::MessagePack)
        );
        assert_eq!(format(b"\xc1\xc1"), None);
    }

    #[test]
    fn a_pickle_read_as_messagepack_names_the_pickle_option() {
        let pickle4 = b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.";
        let err = msgpack::decode_plain::<serde::de::IgnoredAny>(pickle4).unwrap_err();
        let err = explain(err, pickle4, Codec::MessagePack);
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(
            err.message().contains("Python pickle (protocol 4)"),
            "{err}"
        );
        assert!(err.message().contains("`codec=pickle`"), "{err}");
    }

    #[test]
    fn compressed_frames_are_recognised_by_their_magic() {
        assert_eq!(
            compression(b"x\x9c\xcbH\xcd\xc9\xc9\x07\x00"),
            Some(Compression::Zlib)
        );
        assert_eq!(
            compression(b"\x04\x22\x4d\x18\x60\x40"),
            Some(Compression::Lz4)
        );
        assert_eq!(
            compression(b"\x28\xb5\x2f\xfd\x20\x05"),
            Some(Compression::Zstd)
        );
        assert_eq!(compression(b"x1"), None);
        assert_eq!(compression(b"\x80\x04\x95"), None);
        let err = compressed_error(Compression::Zstd, Compression::None);
        assert!(err.message().contains("`compression=zstd`"), "{err}");
    }
}
