//! The part of memcached's meta protocol this driver speaks: how a key is written on the wire,
//! the commands it sends, and the replies it reads.
//!
//! Commands: `mg` (get, with the flags `v` value, `f` client flags, `t` seconds left, `c` CAS),
//! `ms` (set, with `T` seconds, `F` client flags, `C` compare-CAS, `ME` add mode), `md`
//! (delete, optionally `C`), `ma` (arithmetic) and `lru_crawler metadump hash` (the key scan
//! behind `clear`).

use std::borrow::Cow;

use bytes::Bytes;

/// memcached's longest key, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 250;

/// How many bytes of a long key are kept in front of its digest, so that `clear` still finds
/// it by prefix.
pub(crate) const LONG_KEY_HEAD: usize = 200;

/// The key memcached stores for a composed key: the key itself when it fits in 250 bytes,
/// otherwise its first [`LONG_KEY_HEAD`] bytes, `#~`, and the SHA-1 of the whole key in hex.
pub(crate) fn stored_key(key: &str) -> Cow<'_, [u8]> {
    let bytes = key.as_bytes();
    if bytes.len() <= MAX_KEY_LEN {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.get(..LONG_KEY_HEAD).unwrap_or(bytes).to_vec();
    out.extend_from_slice(b"#~");
    out.extend_from_slice(sha1_smol::Sha1::from(bytes).digest().to_string().as_bytes());
    Cow::Owned(out)
}

/// Appends the key token of a command: the key as is when memcached's text protocol can carry
/// it (no space, no control character), otherwise base64 with the `b` flag appended to
/// `flags` (returned).
fn push_key(buf: &mut Vec<u8>, key: &[u8]) -> bool {
    if key.iter().all(|&b| b > b' ' && b != 0x7f) {
        buf.extend_from_slice(key);
        false
    } else {
        base64(buf, key);
        true
    }
}

/// A command flag: its letter and a number (`T300`, `F1234`), without `format!`'s machinery
/// (this is on the path of every write).
pub(crate) fn flag(letter: u8, n: u64) -> String {
    let mut out = Vec::with_capacity(21);
    out.push(letter);
    push_decimal(&mut out, n);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `n` in decimal.
fn push_decimal(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    buf.extend_from_slice(digits.get(at..).unwrap_or_default());
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(buf: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| BASE64[((n >> shift) & 63) as usize];
        buf.push(sextet(18));
        buf.push(sextet(12));
        buf.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        buf.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
}

/// Appends one meta command: `verb key [size] flags… [b]\r\n`.
fn command(buf: &mut Vec<u8>, verb: &str, key: &[u8], size: Option<usize>, flags: &[&str]) {
    buf.extend_from_slice(verb.as_bytes());
    buf.push(b' ');
    let binary = push_key(buf, key);
    if let Some(size) = size {
        // `ms` wants the value's length right after the key.
        buf.push(b' ');
        push_decimal(buf, size as u64);
    }
    for flag in flags {
        buf.push(b' ');
        buf.extend_from_slice(flag.as_bytes());
    }
    if binary {
        buf.extend_from_slice(b" b");
    }
    buf.extend_from_slice(b"\r\n");
}

/// `mg key flags…`: a get returning what `flags` ask for (`v`, `f`, `t`, `c`).
pub(crate) fn meta_get(buf: &mut Vec<u8>, key: &[u8], flags: &[&str]) {
    command(buf, "mg", key, None, flags);
}

/// `md key flags…`: a delete (`C<cas>` to delete only an unchanged item).
pub(crate) fn meta_delete(buf: &mut Vec<u8>, key: &[u8], flags: &[&str]) {
    command(buf, "md", key, None, flags);
}

/// `ma key flags…`: arithmetic (`D<delta>`, `MD` to decrement, `v`, `c`).
pub(crate) fn meta_arithmetic(buf: &mut Vec<u8>, key: &[u8], flags: &[&str]) {
    command(buf, "ma", key, None, flags);
}

/// `ms key <len> flags…\r\n<value>\r\n`: a set.
pub(crate) fn meta_set(buf: &mut Vec<u8>, key: &[u8], value: &[u8], flags: &[&str]) {
    buf.reserve(key.len() + value.len() + 64);
    command(buf, "ms", key, Some(value.len()), flags);
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

/// The key scan: one line per item of the server, then `END`. `by_hash` walks the hash table
/// (memcached 1.6.10+), which sees every item; otherwise the LRUs are walked, which misses
/// items that the server moves between its LRUs during the walk (recently read ones).
pub(crate) fn metadump(buf: &mut Vec<u8>, by_hash: bool) {
    if by_hash {
        buf.extend_from_slice(b"lru_crawler metadump hash\r\n");
    } else {
        buf.extend_from_slice(b"lru_crawler metadump all\r\n");
    }
}

/// The status word of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// `VA`: a value follows.
    Value,
    /// `HD`: done (stored, deleted, found without value).
    Done,
    /// `NS`: not stored (an add over an existing item).
    NotStored,
    /// `EX`: the item changed since its CAS was read.
    Exists,
    /// `NF`: not found (delete, arithmetic, compare-set).
    NotFound,
    /// `EN`: miss (get).
    Miss,
    /// `CLIENT_ERROR …`: the server refused the command or the item (a non-numeric `ma`).
    ClientError(String),
    /// `SERVER_ERROR …`: the server failed (out of memory, an item over its size limit).
    ServerError(String),
    /// `BUSY …`: another scan runs.
    Busy,
    /// `ERROR`, or any other line: the server does not know the command.
    Unknown(String),
    /// The keys of a `metadump`, percent-decoded.
    Dump(Vec<Vec<u8>>),
}

/// One reply of a meta command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: Status,
    /// `f`: the client flags.
    pub(crate) client_flags: Option<u32>,
    /// `t`: seconds left, `-1` for an item that never expires.
    pub(crate) seconds_left: Option<i64>,
    /// `c`: the CAS value.
    pub(crate) cas: Option<u64>,
    /// The value of a `VA` reply.
    pub(crate) value: Option<Bytes>,
}

impl Status {
    /// Whether the connection may be out of step after this reply: the server refused a
    /// command line it could not parse, and may read what followed it (a value) as the next
    /// command. Only a refused increment of a non-number is known to be clean.
    pub(crate) fn may_desync(&self) -> bool {
        match self {
            Status::ClientError(line) => !line.contains("non-numeric"),
            Status::Unknown(_) => true,
            _ => false,
        }
    }
}

impl Reply {
    pub(crate) fn from_status(status: Status) -> Self {
        Reply {
            status,
            client_flags: None,
            seconds_left: None,
            cas: None,
            value: None,
        }
    }

    /// Whether the item was there (`VA` or `HD` to a get).
    pub(crate) fn is_found(&self) -> bool {
        matches!(self.status, Status::Value | Status::Done)
    }
}

/// What the first line of a reply announces.
#[derive(Debug)]
pub(crate) enum Head {
    /// A complete reply.
    Complete(Reply),
    /// A value of this many bytes (plus `\r\n`) follows.
    Value(Reply, usize),
    /// Dump lines follow, up to `END`.
    Dump(Vec<u8>),
}

/// Parses the first line of a reply (without its line end).
///
/// # Errors
/// The line, when it is not a reply of the meta protocol.
pub(crate) fn parse_head(line: &[u8]) -> Result<Head, String> {
    let mut words = line.split(|&b| b == b' ');
    let word = words.next().unwrap_or_default();
    let text = || String::from_utf8_lossy(line).into_owned();
    let status = match word {
        b"VA" => Status::Value,
        b"HD" => Status::Done,
        b"NS" => Status::NotStored,
        b"EX" => Status::Exists,
        b"NF" => Status::NotFound,
        b"EN" => Status::Miss,
        b"END" => return Ok(Head::Complete(Reply::from_status(Status::Dump(Vec::new())))),
        b"BUSY" => return Ok(Head::Complete(Reply::from_status(Status::Busy))),
        b"CLIENT_ERROR" => {
            return Ok(Head::Complete(Reply::from_status(Status::ClientError(
                text(),
            ))))
        }
        b"SERVER_ERROR" => {
            return Ok(Head::Complete(Reply::from_status(Status::ServerError(
                text(),
            ))))
        }
        _ if word.starts_with(b"key=") => return Ok(Head::Dump(dump_key(line))),
        _ => return Ok(Head::Complete(Reply::from_status(Status::Unknown(text())))),
    };
    let mut reply = Reply::from_status(status);
    let mut len = None;
    if reply.status == Status::Value {
        let size = words.next().and_then(number::<usize>);
        len = Some(size.ok_or_else(|| format!("a VA reply without a size: {:?}", text()))?);
    }
    for word in words {
        let (flag, arg) = word.split_at(word.len().min(1));
        match flag {
            b"f" => reply.client_flags = number(arg),
            b"t" => reply.seconds_left = number(arg),
            b"c" => reply.cas = number(arg),
            _ => {}
        }
    }
    Ok(match len {
        Some(len) => Head::Value(reply, len),
        None => Head::Complete(reply),
    })
}

/// A decimal number of a reply line.
fn number<T: std::str::FromStr>(word: &[u8]) -> Option<T> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// The key of one `metadump` line (`key=<percent-encoded> exp=… …`), decoded.
pub(crate) fn dump_key(line: &[u8]) -> Vec<u8> {
    let field = line
        .split(|&b| b == b' ')
        .next()
        .and_then(|f| f.strip_prefix(b"key="))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        let hex = field
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_go_as_they_are_and_others_in_base64() {
        let mut buf = Vec::new();
        meta_get(&mut buf, b"a:1:clef", &["v", "t"]);
        assert_eq!(buf, b"mg a:1:clef v t\r\n");
        buf.clear();
        meta_get(&mut buf, b"with space", &["v"]);
        assert_eq!(buf, b"mg d2l0aCBzcGFjZQ== v b\r\n");
        buf.clear();
        meta_set(&mut buf, b"k", b"xy", &["T0"]);
        assert_eq!(buf, b"ms k 2 T0\r\nxy\r\n");
        buf.clear();
        meta_set(&mut buf, b"k k", &[7; 1234], &["T0"]);
        assert!(buf.starts_with(b"ms ayBr 1234 T0 b\r\n"));
        buf.clear();
        meta_set(&mut buf, b"k", b"", &[]);
        assert_eq!(buf, b"ms k 0\r\n\r\n");
    }

    #[test]
    fn base64_pads() {
        for (input, expected) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v")] {
            let mut buf = Vec::new();
            base64(&mut buf, input.as_bytes());
            assert_eq!(buf, expected.as_bytes());
        }
    }

    #[test]
    fn long_keys_keep_their_head_and_a_digest() {
        let long = "k".repeat(400);
        let stored = stored_key(&long);
        assert!(stored.len() <= MAX_KEY_LEN);
        assert!(stored.starts_with(&long.as_bytes()[..LONG_KEY_HEAD]));
        assert_ne!(stored, stored_key(&"k".repeat(401)));
        assert_eq!(stored_key("short").as_ref(), b"short");
    }

    #[test]
    fn heads_parse() {
        let Ok(Head::Value(reply, 2)) = parse_head(b"VA 2 f12345 t9 c1") else {
            panic!("not a value head");
        };
        assert_eq!(reply.client_flags, Some(12345));
        assert_eq!(reply.seconds_left, Some(9));
        assert_eq!(reply.cas, Some(1));
        let Ok(Head::Complete(reply)) = parse_head(b"HD t-1") else {
            panic!("not a complete head");
        };
        assert_eq!(reply.seconds_left, Some(-1));
        assert!(parse_head(b"VA x").is_err());
        let Ok(Head::Complete(reply)) = parse_head(b"SERVER_ERROR object too large for cache")
        else {
            panic!("not a complete head");
        };
        assert_eq!(
            reply.status,
            Status::ServerError("SERVER_ERROR object too large for cache".to_owned())
        );
        assert_eq!(flag(b'T', 0), "T0");
        assert_eq!(flag(b'F', u64::from(u32::MAX)), "F4294967295");
        assert_eq!(dump_key(b"key=cle%20j%C3%A9 exp=-1"), "cle jé".as_bytes());
    }
}
