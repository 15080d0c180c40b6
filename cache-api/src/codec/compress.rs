//! Compression in django-redis's framings, behind one trait: a zlib stream (`zlib.compress`,
//! level 6), an LZ4 frame (`lz4.frame.compress`), a Zstandard frame (`pyzstd.compress`).
//!
//! Inflating is streamed and bounded: a value that would inflate past the cache's
//! `max_value_size` is refused once that many bytes came out, never allocated whole.

use std::io::Read;

use super::Compression;
use crate::{Error, ErrorKind, Result};

/// One compression algorithm.
trait Compressor {
    /// The compressed form of `plain`.
    fn compress(&self, plain: &[u8]) -> Result<Vec<u8>>;

    /// A reader of the bytes `compressed` inflates to.
    fn inflate<'a>(&self, compressed: &'a [u8]) -> Result<Box<dyn Read + 'a>>;
}

/// The compressor of `compression`, when this build has it.
fn compressor(compression: Compression) -> Result<&'static dyn Compressor> {
    match compression {
        #[cfg(feature = "zlib")]
        Compression::Zlib => Ok(&Zlib),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Ok(&Lz4),
        #[cfg(feature = "zstd")]
        Compression::Zstd => Ok(&Zstd),
        other => Err(Error::new(
            ErrorKind::Config,
            format!(
                "`compression={other}` needs the cargo feature `{}`",
                other.feature().unwrap_or("?")
            ),
        )),
    }
}

/// Compresses an encoded value.
pub(super) fn compress(compression: Compression, plain: &[u8]) -> Result<Vec<u8>> {
    compressor(compression)?.compress(plain)
}

/// Inflates a stored value, refusing one that grows past `max` bytes.
pub(super) fn decompress(
    compression: Compression,
    compressed: &[u8],
    max: usize,
) -> Result<Vec<u8>> {
    let reader = compressor(compression)?.inflate(compressed)?;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(max).min(1 << 20));
    reader.take(limit).read_to_end(&mut out).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("stored bytes are a {compression} frame that does not inflate: {e}"),
        )
    })?;
    if out.len() > max {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "stored {compression} value inflates past the {max} bytes allowed (max_value_size)"
            ),
        ));
    }
    Ok(out)
}

#[cfg(feature = "zlib")]
struct Zlib;

#[cfg(feature = "zlib")]
impl Compressor for Zlib {
    fn compress(&self, plain: &[u8]) -> Result<Vec<u8>> {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(plain.len() / 2 + 16),
            flate2::Compression::new(6),
        );
        encoder
            .write_all(plain)
            .and_then(|()| encoder.finish())
            .map_err(|e| Error::new(ErrorKind::Encode, format!("zlib: {e}")))
    }

    fn inflate<'a>(&self, compressed: &'a [u8]) -> Result<Box<dyn Read + 'a>> {
        Ok(Box::new(flate2::read::ZlibDecoder::new(compressed)))
    }
}

#[cfg(feature = "lz4")]
struct Lz4;

#[cfg(feature = "lz4")]
impl Compressor for Lz4 {
    fn compress(&self, plain: &[u8]) -> Result<Vec<u8>> {
        use std::io::Write;
        let mut encoder =
            lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(plain.len() / 2 + 32));
        encoder
            .write_all(plain)
            .map_err(|e| Error::new(ErrorKind::Encode, format!("lz4: {e}")))?;
        encoder
            .finish()
            .map_err(|e| Error::new(ErrorKind::Encode, format!("lz4: {e}")))
    }

    fn inflate<'a>(&self, compressed: &'a [u8]) -> Result<Box<dyn Read + 'a>> {
        Ok(Box::new(lz4_flex::frame::FrameDecoder::new(compressed)))
    }
}

#[cfg(feature = "zstd")]
struct Zstd;

#[cfg(feature = "zstd")]
impl Compressor for Zstd {
    fn compress(&self, plain: &[u8]) -> Result<Vec<u8>> {
        Ok(ruzstd::encoding::compress_to_vec(
            plain,
            ruzstd::encoding::CompressionLevel::Fastest,
        ))
    }

    fn inflate<'a>(&self, compressed: &'a [u8]) -> Result<Box<dyn Read + 'a>> {
        let decoder = ruzstd::decoding::StreamingDecoder::new(compressed).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("stored bytes are not a valid zstd frame: {e}"),
            )
        })?;
        Ok(Box::new(decoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every() -> Vec<Compression> {
        [Compression::Zlib, Compression::Lz4, Compression::Zstd]
            .into_iter()
            .filter(|c| c.is_available())
            .collect()
    }

    #[test]
    fn round_trips_and_is_recognised() {
        let plain = b"wheel_analyzer wheel_analyzer wheel_analyzer wheel_analyzer".repeat(20);
        for c in every() {
            let packed = compress(c, &plain).unwrap();
            assert!(packed.len() < plain.len(), "{c}");
            assert_eq!(super::super::sniff::compression(&packed), Some(c));
            assert_eq!(decompress(c, &packed, plain.len()).unwrap(), plain, "{c}");
        }
    }

    #[test]
    fn a_value_inflating_past_the_limit_is_refused() {
        let plain = vec![0u8; 1 << 20];
        for c in every() {
            let packed = compress(c, &plain).unwrap();
            assert!(packed.len() < 64 * 1024, "{c}: {}", packed.len());
            let err = decompress(c, &packed, 1000).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TooLarge, "{c}");
            assert!(err.message().contains("max_value_size"), "{err}");
        }
    }

    #[test]
    fn a_corrupt_frame_is_a_decode_error() {
        let plain = b"a value long enough to be compressed, and then damaged".repeat(4);
        for c in every() {
            let mut packed = compress(c, &plain).unwrap();
            let n = packed.len();
            packed.truncate(n / 2);
            let err = decompress(c, &packed, 1 << 20).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{c}");
        }
    }
}
