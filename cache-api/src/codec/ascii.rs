//! Integers as ASCII decimal: how every codec stores a bare integer, so that a backend can
//! increment it in place (Redis `INCRBY`) and Django's raw integers read back.

use crate::{Error, ErrorKind, Result};

/// An integer read back from its ASCII form.
pub(crate) enum AsciiInt {
    Signed(i64),
    Unsigned(u64),
}

/// Parses `-?[0-9]+` fitting in `i64` or `u64`.
pub(crate) fn parse_ascii_integer(bytes: &[u8]) -> Option<AsciiInt> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if let Ok(i) = text.parse::<i64>() {
        return Some(AsciiInt::Signed(i));
    }
    text.parse::<u64>().ok().map(AsciiInt::Unsigned)
}

/// The integer stored as ASCII decimal in `bytes`, for a backend's `incr`.
///
/// # Errors
/// [`ErrorKind::Overflow`] for an integer in `u64`'s range but past `i64`;
/// [`ErrorKind::NotInteger`] for anything else that is not an `i64` in ASCII decimal (as
/// Redis answers `INCRBY` on it).
pub(crate) fn stored_integer(bytes: &[u8]) -> Result<i64> {
    match parse_ascii_integer(bytes) {
        Some(AsciiInt::Signed(n)) => Ok(n),
        Some(AsciiInt::Unsigned(_)) => Err(Error::new(
            ErrorKind::Overflow,
            "the stored integer is out of range",
        )),
        None => Err(Error::new(
            ErrorKind::NotInteger,
            "the stored value is not an integer",
        )),
    }
}
