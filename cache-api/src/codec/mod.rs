//! Value codecs and compression: how a [`Cache`](crate::Cache) turns values into the bytes a
//! backend stores, and back.
//!
//! A cache has one [`Codec`] (MessagePack by default; JSON and Python pickle behind the cargo
//! features `json` and `pickle`) and, optionally, one [`Compression`] (zlib, LZ4 or Zstandard
//! behind the features `zlib`, `lz4`, `zstd`) applied to encoded values of at least a minimum
//! size. Every codec stores a bare integer as ASCII decimal, so `incr` works in place and
//! Django's raw integers read back; integers are never compressed.
//!
//! The framings are those of Django and django-redis, so that a Rust service and a Django
//! application can share one cache (docs/django-interop.md): pickle as Django's `RedisCache`
//! and django-redis's default serializer write it, JSON as django-redis's `JSONSerializer`,
//! MessagePack as its `MSGPackSerializer`, and compressed values as its `ZlibCompressor`,
//! `Lz4Compressor` and `ZStdCompressor` frame them.
//!
//! The formats are an enum rather than a trait object because serde's generic methods cannot
//! be called through `dyn`; compression, byte to byte, is behind one private trait
//! ([`compress::Compressor`]).

mod ascii;
mod compress;
#[cfg(feature = "json")]
mod json;
pub(crate) mod msgpack;
#[cfg(feature = "pickle")]
mod pickle;
mod sniff;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use ascii::stored_integer;

use crate::{Error, ErrorKind, Result};

/// The format values are stored in.
///
/// ```
/// use cachette_api::Codec;
///
/// assert_eq!("msgpack".parse::<Codec>()?, Codec::MessagePack);
/// assert_eq!(Codec::default(), Codec::MessagePack);
/// assert_eq!(Codec::Pickle.option(), "codec=pickle");
/// # Ok::<(), cachette_api::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Codec {
    /// MessagePack, structs as maps (the default): django-redis's `MSGPackSerializer`.
    #[default]
    MessagePack,
    /// JSON (cargo feature `json`): django-redis's `JSONSerializer`.
    Json,
    /// Python pickle (cargo feature `pickle`): reads protocols 0–5, writes protocol 3, as
    /// Django's `RedisCache` and django-redis's default `PickleSerializer` read and write.
    /// Only builtin Python types: any other class is a `Decode` error naming it.
    Pickle,
}

impl Codec {
    /// The name used in URLs and TOML: `msgpack`, `json`, `pickle`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::MessagePack => "msgpack",
            Codec::Json => "json",
            Codec::Pickle => "pickle",
        }
    }

    /// The configuration option that selects this codec, e.g. `codec=pickle`.
    pub fn option(self) -> String {
        format!("codec={}", self.name())
    }

    /// The cargo feature this codec needs, when it is not always built.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Codec::MessagePack => None,
            Codec::Json => Some("json"),
            Codec::Pickle => Some("pickle"),
        }
    }

    /// Whether this build includes the codec (its cargo feature is on).
    pub fn is_available(self) -> bool {
        match self {
            Codec::MessagePack => true,
            Codec::Json => cfg!(feature = "json"),
            Codec::Pickle => cfg!(feature = "pickle"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Codec::MessagePack => "MessagePack",
            Codec::Json => "JSON",
            Codec::Pickle => "a Python pickle",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = Error;

    /// `msgpack` (or `messagepack`), `json`, `pickle`, any case.
    fn from_str(s: &str) -> Result<Codec> {
        match s.trim().to_ascii_lowercase().as_str() {
            "msgpack" | "messagepack" => Ok(Codec::MessagePack),
            "json" => Ok(Codec::Json),
            "pickle" => Ok(Codec::Pickle),
            _ => Err(Error::new(
                ErrorKind::Config,
                "unknown codec: write msgpack, json or pickle",
            )),
        }
    }
}

/// How encoded values are compressed, in django-redis's framings.
///
/// ```
/// use cachette_api::Compression;
///
/// assert_eq!("zstd".parse::<Compression>()?, Compression::Zstd);
/// assert_eq!(Compression::default(), Compression::None);
/// # Ok::<(), cachette_api::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (the default).
    #[default]
    None,
    /// A zlib stream at level 6 (cargo feature `zlib`): django-redis's `ZlibCompressor`.
    Zlib,
    /// An LZ4 frame (cargo feature `lz4`): django-redis's `Lz4Compressor`.
    Lz4,
    /// A Zstandard frame (cargo feature `zstd`): django-redis's `ZStdCompressor`.
    Zstd,
}

impl Compression {
    /// The name used in URLs and TOML: `none`, `zlib`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zlib => "zlib",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The cargo feature this compression needs, when it is not always built.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Zlib => Some("zlib"),
            Compression::Lz4 => Some("lz4"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Whether this build includes the compression (its cargo feature is on).
    pub fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Zlib => cfg!(feature = "zlib"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// `none`, `zlib`, `lz4`, `zstd`, any case.
    fn from_str(s: &str) -> Result<Compression> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Compression::None),
            "zlib" => Ok(Compression::Zlib),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(Error::new(
                ErrorKind::Config,
                "unknown compression: write none, zlib, lz4 or zstd",
            )),
        }
    }
}

/// The smallest encoded value compressed by default: 16 bytes, as django-redis compresses
/// values longer than 15 bytes.
pub const DEFAULT_COMPRESS_MIN_SIZE: usize = 16;

/// One cache's codec, compression and limits: everything encode and decode need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueCodec {
    pub(crate) codec: Codec,
    pub(crate) compression: Compression,
    pub(crate) compress_min_size: usize,
    pub(crate) max_value_size: usize,
}

impl ValueCodec {
    /// Refuses a codec or compression this build does not include.
    pub(crate) fn check(&self) -> Result<()> {
        let missing = if self.codec.is_available() {
            self.compression
                .feature()
                .filter(|_| !self.compression.is_available())
                .map(|f| (format!("compression={}", self.compression), f))
        } else {
            self.codec.feature().map(|f| (self.codec.option(), f))
        };
        match missing {
            Some((option, feature)) => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "`{option}` needs the cargo feature `{feature}` (of cachette, or cachette-api)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Encodes a value: the codec, then compression when configured and the encoding is at
    /// least the minimum size. Integers are ASCII decimal whatever the codec, never compressed.
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] when the codec refuses the value.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes> {
        let encoded = match self.codec {
            Codec::MessagePack => msgpack::encode(value)?,
            #[cfg(feature = "json")]
            Codec::Json => json::encode(value)?,
            #[cfg(feature = "pickle")]
            Codec::Pickle => pickle::encode(value)?,
            #[allow(unreachable_patterns)]
            other => return Err(unavailable(other)),
        };
        if self.compression == Compression::None
            || encoded.len() < self.compress_min_size
            || ascii::parse_ascii_integer(&encoded).is_some()
        {
            return Ok(encoded);
        }
        compress::compress(self.compression, &encoded).map(Bytes::from)
    }

    /// Decodes stored bytes (in an envelope or not, compressed or not).
    ///
    /// # Errors
    /// [`ErrorKind::Decode`] when the bytes are not this codec's encoding of a `T`; the
    /// message says which codec or compression option would read bytes that look like
    /// another format. [`ErrorKind::TooLarge`] when a compressed value inflates past the
    /// cache's `max_value_size`.
    pub(crate) fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let (_, bytes) = crate::load::envelope::split(bytes);
        self.decode_plain(bytes)
    }

    /// [`decode`](ValueCodec::decode) of bytes already out of their envelope.
    pub(crate) fn decode_plain<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let inflated;
        let mut plain = bytes;
        if let Some(found) = sniff::compression(bytes) {
            if found == self.compression {
                inflated = compress::decompress(found, bytes, self.max_value_size)?;
                plain = &inflated;
            } else {
                // No value of any codec starts with these magic bytes (a lone MessagePack
                // integer is never stored: integers are ASCII).
                return Err(sniff::compressed_error(found, self.compression));
            }
        }
        let decoded = match self.codec {
            Codec::MessagePack => msgpack::decode_plain(plain),
            #[cfg(feature = "json")]
            Codec::Json => json::decode(plain),
            #[cfg(feature = "pickle")]
            Codec::Pickle => pickle::decode(plain),
            #[allow(unreachable_patterns)]
            other => Err(unavailable(other)),
        };
        decoded.map_err(|e| sniff::explain(e, plain, self.codec))
    }
}

impl Default for ValueCodec {
    fn default() -> Self {
        ValueCodec {
            codec: Codec::MessagePack,
            compression: Compression::None,
            compress_min_size: DEFAULT_COMPRESS_MIN_SIZE,
            max_value_size: crate::DEFAULT_MAX_VALUE_SIZE,
        }
    }
}

fn unavailable(codec: Codec) -> Error {
    Error::new(
        ErrorKind::Config,
        format!(
            "`{}` needs the cargo feature `{}`",
            codec.option(),
            codec.feature().unwrap_or("?")
        ),
    )
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

    fn quote() -> Quote {
        Quote {
            ticker: "AAPL".into(),
            price: 189.5,
            tags: vec!["a".into()],
        }
    }

    /// Bytes written by the codec of version 0.1 (before codecs were pluggable): the default
    /// must keep writing and reading exactly these.
    #[test]
    fn the_messagepack_default_is_byte_for_byte_unchanged() {
        let written: &[u8] =
            b"\x83\xa6ticker\xa4AAPL\xa5price\xcb\x40\x67\xb0\x00\x00\x00\x00\x00\xa4tags\x91\xa1a";
        let default = ValueCodec::default();
        assert_eq!(&default.encode(&quote()).unwrap()[..], written);
        assert_eq!(default.decode::<Quote>(written).unwrap(), quote());
        let cases: [(&[u8], Bytes); 7] = [
            (b"42", default.encode(&42).unwrap()),
            (b"-7", default.encode(&-7i8).unwrap()),
            (b"\xa6h\xc3\xa9llo", default.encode("héllo").unwrap()),
            (b"\xc3", default.encode(&true).unwrap()),
            (b"\xc0", default.encode(&None::<i32>).unwrap()),
            (
                b"\xcb\x40\x04\x00\x00\x00\x00\x00\x00",
                default.encode(&2.5).unwrap(),
            ),
            (b"\x92\x01\xa1x", default.encode(&(1, "x")).unwrap()),
        ];
        for (old, new) in cases {
            assert_eq!(&new[..], old);
        }
        // Long values are not compressed by default either.
        let long = "x".repeat(100);
        assert_eq!(default.encode(&long).unwrap().len(), 102);
    }

    fn every_codec() -> Vec<ValueCodec> {
        let mut out = Vec::new();
        for codec in [Codec::MessagePack, Codec::Json, Codec::Pickle] {
            for compression in [
                Compression::None,
                Compression::Zlib,
                Compression::Lz4,
                Compression::Zstd,
            ] {
                if codec.is_available() && compression.is_available() {
                    out.push(ValueCodec {
                        codec,
                        compression,
                        ..ValueCodec::default()
                    });
                }
            }
        }
        out
    }

    #[test]
    fn every_codec_round_trips_and_keeps_integers_ascii() {
        let long: Vec<Quote> = (0..20).map(|_| quote()).collect();
        for c in every_codec() {
            let name = format!("{} {}", c.codec, c.compression);
            assert_eq!(&c.encode(&1234567).unwrap()[..], b"1234567", "{name}");
            assert_eq!(c.decode::<i64>(b"-5").unwrap(), -5, "{name}");
            assert_eq!(
                c.decode::<Quote>(&c.encode(&quote()).unwrap()).unwrap(),
                quote(),
                "{name}"
            );
            let packed = c.encode(&long).unwrap();
            if c.compression != Compression::None {
                assert_eq!(sniff::compression(&packed), Some(c.compression), "{name}");
            }
            assert_eq!(c.decode::<Vec<Quote>>(&packed).unwrap(), long, "{name}");
            let map: BTreeMap<String, Option<f64>> =
                [("a".to_owned(), Some(1.5)), ("b".to_owned(), None)].into();
            assert_eq!(
                c.decode::<BTreeMap<String, Option<f64>>>(&c.encode(&map).unwrap())
                    .unwrap(),
                map,
                "{name}"
            );
        }
    }

    #[test]
    fn short_values_are_not_compressed() {
        for c in every_codec()
            .into_iter()
            .filter(|c| c.compression != Compression::None)
        {
            let short = c.encode("abc").unwrap();
            assert_eq!(sniff::compression(&short), None);
            let at_min = ValueCodec {
                compress_min_size: 1,
                ..c
            }
            .encode("abc")
            .unwrap();
            assert_eq!(sniff::compression(&at_min), Some(c.compression));
        }
    }

    #[test]
    fn a_frame_of_another_compression_names_its_option() {
        let zstd = ValueCodec {
            compression: Compression::Zstd,
            compress_min_size: 1,
            ..ValueCodec::default()
        };
        if !Compression::Zstd.is_available() {
            return;
        }
        let packed = zstd.encode(&"x".repeat(64)).unwrap();
        let err = ValueCodec::default().decode::<String>(&packed).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.message().contains("`compression=zstd`"), "{err}");
    }

    #[test]
    fn another_codec_s_bytes_name_its_option() {
        let pairs = [
            (Codec::Json, Codec::MessagePack),
            (Codec::MessagePack, Codec::Json),
            (Codec::Pickle, Codec::Json),
            (Codec::MessagePack, Codec::Pickle),
            (Codec::Pickle, Codec::MessagePack),
            (Codec::Json, Codec::Pickle),
        ];
        // Recognised whatever the features: JSON and a pickle read by the default codec.
        for (bytes, option) in [
            (&b"{\"ticker\": \"AAPL\"}"[..], "`codec=json`"),
            (
                b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.",
                "`codec=pickle`",
            ),
        ] {
            let err = ValueCodec::default().decode::<Quote>(bytes).unwrap_err();
            assert!(err.message().contains(option), "{err}");
        }
        for (writer, reader) in pairs {
            if !writer.is_available() || !reader.is_available() {
                continue;
            }
            let w = ValueCodec {
                codec: writer,
                ..ValueCodec::default()
            };
            let r = ValueCodec {
                codec: reader,
                ..ValueCodec::default()
            };
            let err = r.decode::<Quote>(&w.encode(&quote()).unwrap()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
            assert!(
                err.message().contains(&format!("`{}`", writer.option())),
                "{writer} read as {reader}: {err}"
            );
        }
    }

    #[test]
    fn names_parse_and_unknown_ones_are_config_errors() {
        for c in [Codec::MessagePack, Codec::Json, Codec::Pickle] {
            assert_eq!(c.name().parse::<Codec>().unwrap(), c);
        }
        for c in [
            Compression::None,
            Compression::Zlib,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(c.name().parse::<Compression>().unwrap(), c);
        }
        assert_eq!(
            "yaml".parse::<Codec>().unwrap_err().kind(),
            ErrorKind::Config
        );
        assert_eq!(
            "gzip".parse::<Compression>().unwrap_err().kind(),
            ErrorKind::Config
        );
    }
}

#[cfg(test)]
mod availability {
    use super::*;

    #[test]
    fn a_codec_or_compression_not_built_is_a_config_error_naming_its_feature() {
        for codec in [Codec::MessagePack, Codec::Json, Codec::Pickle] {
            for compression in [
                Compression::None,
                Compression::Zlib,
                Compression::Lz4,
                Compression::Zstd,
            ] {
                let value_codec = ValueCodec {
                    codec,
                    compression,
                    ..ValueCodec::default()
                };
                match (codec.is_available(), compression.is_available()) {
                    (true, true) => assert!(value_codec.check().is_ok()),
                    (false, _) => {
                        let err = value_codec.check().unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::Config);
                        let feature = codec.feature().unwrap_or_default();
                        assert!(
                            err.message().contains(&format!("feature `{feature}`")),
                            "{err}"
                        );
                    }
                    (true, false) => {
                        let err = value_codec.check().unwrap_err();
                        let feature = compression.feature().unwrap_or_default();
                        assert!(
                            err.message().contains(&format!("feature `{feature}`")),
                            "{err}"
                        );
                    }
                }
            }
        }
    }
}
