//! The envelope of entries written by
//! [`Cache::get_or_set_with_policy`](crate::Cache::get_or_set_with_policy): `0xc1` (a byte
//! MessagePack never uses) then `R`, then the instant the value stops being fresh (Unix
//! milliseconds, big-endian), then the value's own encoding. Plain reads look through it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

const MAGIC: [u8; 2] = [0xc1, b'R'];
const HEADER: usize = 10;

/// Wraps an encoded value with the instant it stops being fresh.
pub(crate) fn wrap(fresh_until_ms: u64, inner: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(HEADER + inner.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&fresh_until_ms.to_be_bytes());
    out.extend_from_slice(inner);
    Bytes::from(out)
}

/// Splits an entry into its freshness deadline (for entries written with a policy) and the
/// value's own encoding.
pub(crate) fn split(bytes: &[u8]) -> (Option<u64>, &[u8]) {
    match bytes.strip_prefix(&MAGIC[..]) {
        Some(rest) if rest.len() >= 8 => {
            let (deadline, inner) = rest.split_at(8);
            let mut be = [0u8; 8];
            be.copy_from_slice(deadline);
            (Some(u64::from_be_bytes(be)), inner)
        }
        _ => (None, bytes),
    }
}

/// Milliseconds since the Unix epoch: freshness deadlines are shared between processes.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

/// `d` in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let wrapped = wrap(42, b"\xa1x");
        assert_eq!(split(&wrapped), (Some(42), &b"\xa1x"[..]));
        assert_eq!(split(b"\xa1x"), (None, &b"\xa1x"[..]));
    }
}
