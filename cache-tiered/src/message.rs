//! The invalidation message one instance publishes after a change, and its wire format.
//!
//! ```text
//! b"TC" | version (1 byte) | sender (16 bytes, LE) | kind (1 byte) | body
//! kind 1, keys:   count (u32 LE), then per key: length (u32 LE) and UTF-8 bytes
//! kind 2, prefix: length (u32 LE) and UTF-8 bytes
//! ```
//!
//! A receiver that cannot read a payload (another version, truncated, not UTF-8) cannot know
//! which keys changed, so it must distrust its whole L1: see [`Decoded::Unreadable`].

/// The first bytes of every payload.
const MAGIC: &[u8; 2] = b"TC";

/// The format version this crate writes and reads.
const VERSION: u8 = 1;

const KIND_KEYS: u8 = 1;
const KIND_PREFIX: u8 = 2;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// These keys changed (written, deleted, touched or incremented).
    Keys(Vec<String>),
    /// Every key starting with this prefix was deleted; `""` means every key.
    Prefix(String),
}

impl Invalidation {
    /// Merges `other` into `self`, for the queue of unpublished invalidations.
    ///
    /// Two key lists concatenate; anything else becomes [`Invalidation::Prefix`] of their
    /// common prefix, which covers both (at worst `""`, everything).
    pub(crate) fn merge(self, other: Invalidation) -> Invalidation {
        match (self, other) {
            (Invalidation::Keys(a), other) if a.is_empty() => other,
            (this, Invalidation::Keys(b)) if b.is_empty() => this,
            (Invalidation::Keys(mut a), Invalidation::Keys(b)) => {
                a.extend(b);
                Invalidation::Keys(a)
            }
            (a, b) => Invalidation::Prefix(common_prefix(a.prefix(), b.prefix()).to_owned()),
        }
    }

    /// One [`Invalidation::Prefix`] that covers everything this invalidation names.
    pub(crate) fn collapse(self) -> Invalidation {
        Invalidation::Prefix(self.prefix().to_owned())
    }

    /// The longest prefix shared by everything this invalidation names.
    fn prefix(&self) -> &str {
        match self {
            Invalidation::Prefix(p) => p,
            Invalidation::Keys(keys) => match keys.split_first() {
                None => "",
                Some((first, rest)) => rest
                    .iter()
                    .fold(first.as_str(), |acc, k| common_prefix(acc, k)),
            },
        }
    }
}

fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let mut end = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            return a.get(..i).unwrap_or("");
        }
        end = i + ca.len_utf8();
    }
    a.get(..end).unwrap_or("")
}

/// A received payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A message this crate wrote.
    Message {
        /// The instance that published it.
        sender: u128,
        /// What changed.
        invalidation: Invalidation,
    },
    /// A payload this version cannot read: the receiver must invalidate its whole L1.
    Unreadable,
}

/// Encodes `invalidation` as published by `sender`.
pub(crate) fn encode(sender: u128, invalidation: &Invalidation) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&sender.to_le_bytes());
    match invalidation {
        Invalidation::Keys(keys) => {
            out.push(KIND_KEYS);
            put_len(&mut out, keys.len());
            for key in keys {
                put_str(&mut out, key);
            }
        }
        Invalidation::Prefix(prefix) => {
            out.push(KIND_PREFIX);
            put_str(&mut out, prefix);
        }
    }
    out
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Keys are at most a few hundred bytes and batches far below 4 billion keys; a longer
    // length saturates and the receiver, unable to read the rest, invalidates everything.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes a payload; anything unexpected is [`Decoded::Unreadable`].
pub(crate) fn decode(payload: &[u8]) -> Decoded {
    read(payload).unwrap_or(Decoded::Unreadable)
}

fn read(payload: &[u8]) -> Option<Decoded> {
    let mut r = Reader(payload);
    if r.take(2)? != MAGIC || r.byte()? != VERSION {
        return None;
    }
    let sender = u128::from_le_bytes(r.take(16)?.try_into().ok()?);
    let invalidation = match r.byte()? {
        KIND_KEYS => {
            let count = r.len()?;
            // Every key takes at least its 4-byte length: a count beyond that is corrupt,
            // and is refused before anything is allocated for it.
            if count > r.0.len() / 4 {
                return None;
            }
            let mut keys = Vec::with_capacity(count);
            for _ in 0..count {
                keys.push(r.string()?);
            }
            Invalidation::Keys(keys)
        }
        KIND_PREFIX => Invalidation::Prefix(r.string()?),
        _ => return None,
    };
    r.0.is_empty().then_some(Decoded::Message {
        sender,
        invalidation,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn len(&mut self) -> Option<usize> {
        let bytes: [u8; 4] = self.take(4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(invalidation: Invalidation) {
        let sender = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        let decoded = decode(&encode(sender, &invalidation));
        assert_eq!(
            decoded,
            Decoded::Message {
                sender,
                invalidation
            }
        );
    }

    #[test]
    fn messages_round_trip() {
        round_trip(Invalidation::Keys(vec![]));
        round_trip(Invalidation::Keys(vec!["app:1:k".into()]));
        round_trip(Invalidation::Keys(vec![
            "a".into(),
            "".into(),
            "clé:ünïcode:😀".into(),
            "with space\tand\ncontrol".into(),
        ]));
        round_trip(Invalidation::Prefix("app:1:".into()));
        round_trip(Invalidation::Prefix(String::new()));
    }

    #[test]
    fn anything_malformed_is_unreadable() {
        let good = encode(7, &Invalidation::Keys(vec!["key".into(), "other".into()]));
        for cut in 0..good.len() {
            assert_eq!(decode(&good[..cut]), Decoded::Unreadable, "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Decoded::Unreadable);
        let mut other_version = good.clone();
        other_version[2] = VERSION + 1;
        assert_eq!(decode(&other_version), Decoded::Unreadable);
        let mut other_kind = good.clone();
        other_kind[19] = 9;
        assert_eq!(decode(&other_kind), Decoded::Unreadable);
        assert_eq!(decode(b"hello"), Decoded::Unreadable);
        let mut huge_count = encode(7, &Invalidation::Keys(vec![]));
        let at = huge_count.len() - 4;
        huge_count[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge_count), Decoded::Unreadable);
        let mut not_utf8 = encode(7, &Invalidation::Prefix("ab".into()));
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert_eq!(decode(&not_utf8), Decoded::Unreadable);
    }

    #[test]
    fn merging_covers_both_sides() {
        let keys = |ks: &[&str]| Invalidation::Keys(ks.iter().map(|k| (*k).to_owned()).collect());
        assert_eq!(keys(&["a"]).merge(keys(&["b"])), keys(&["a", "b"]));
        assert_eq!(
            Invalidation::Prefix("app:1:".into()).merge(keys(&["app:1:x", "app:1:y"])),
            Invalidation::Prefix("app:1:".into())
        );
        assert_eq!(
            Invalidation::Prefix("app:1:ns:".into()).merge(Invalidation::Prefix("app:2:".into())),
            Invalidation::Prefix("app:".into())
        );
        assert_eq!(
            Invalidation::Prefix("é:".into()).merge(Invalidation::Prefix("è:".into())),
            Invalidation::Prefix(String::new())
        );
        assert_eq!(
            Invalidation::Prefix("x".into()).merge(keys(&[])),
            Invalidation::Prefix("x".into())
        );
        assert_eq!(keys(&[]).merge(keys(&["k"])), keys(&["k"]));
        assert_eq!(
            keys(&["app:1:a", "app:1:b"]).collapse(),
            Invalidation::Prefix("app:1:".into())
        );
    }
}
