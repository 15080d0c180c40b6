//! Key composition (`{prefix}:{version}:{key}`, as Django's default key function) and
//! validation, done once for every backend.

use crate::{Error, ErrorKind, Result};

/// The longest composed key accepted by default, in bytes (memcached's limit, which Django
/// warns about).
pub const DEFAULT_MAX_KEY_LEN: usize = 250;

/// Which keys a [`Cache`](crate::Cache) accepts.
///
/// By default a key is refused with [`ErrorKind::InvalidKey`] when it is empty, when the
/// composed key is longer than 250 bytes, or when it holds whitespace, a control character or
/// an invisible format character. Django only warns about some of these; refusing them means
/// code that passes on one backend passes on all. Each rule, and why:
///
/// - **250 bytes, not characters.** Memcached's limit is 250 bytes; Django counts characters,
///   so a 200-character key in Greek passes Django's check and is refused by memcached.
/// - **Every Unicode whitespace and control character**, not only Django's ASCII ones: ASCII
///   spaces and controls delimit memcached's protocol, and the others (U+00A0, U+3000,
///   U+2028…) print as a space or a line break in logs, so two keys that look alike differ.
/// - **Invisible format characters** (zero-width spaces and joiners U+200B–U+200D, U+2060,
///   the bidirectional controls U+202A–U+202E and U+2066–U+2069, the byte-order mark U+FEFF,
///   the soft hyphen U+00AD, tag characters…): they print as nothing, or reorder what is
///   printed, so a key holding one cannot be told from one without it.
///
/// ```
/// use cachette_api::KeyPolicy;
///
/// let strict = KeyPolicy::default();
/// assert!(strict.check("wheel_analyzer:1:scanner:last_run").is_ok());
/// assert!(strict.check("wheel_analyzer:1:has space").is_err());
/// assert!(KeyPolicy::relaxed().check("wheel_analyzer:1:has space").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct KeyPolicy {
    /// The longest composed key accepted, in bytes; `None` for no limit.
    pub max_len: Option<usize>,
    /// Whether whitespace, control and invisible format characters are refused.
    pub reject_whitespace_and_control: bool,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy {
            max_len: Some(DEFAULT_MAX_KEY_LEN),
            reject_whitespace_and_control: true,
        }
    }
}

impl KeyPolicy {
    /// Accepts any non-empty key.
    pub fn relaxed() -> Self {
        KeyPolicy {
            max_len: None,
            reject_whitespace_and_control: false,
        }
    }

    /// Sets the longest composed key accepted.
    pub fn with_max_len(mut self, max_len: Option<usize>) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets whether whitespace and control characters are refused.
    pub fn with_reject_whitespace_and_control(mut self, reject: bool) -> Self {
        self.reject_whitespace_and_control = reject;
        self
    }

    /// Checks a composed key against the policy.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] naming the rule that was broken.
    pub fn check(&self, composed: &str) -> Result<()> {
        if let Some(max) = self.max_len {
            if composed.len() > max {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "composed key is {} bytes long, more than the {max} allowed",
                        composed.len()
                    ),
                ));
            }
        }
        if self.reject_whitespace_and_control {
            // Keys of printable ASCII (nearly all) pass in one byte scan; anything else (a
            // space, a control, DEL or a non-ASCII byte) takes the char rules. For ASCII,
            // whitespace or control is exactly "at most a space, or DEL".
            let printable_ascii = is_printable_ascii(composed.as_bytes());
            let bad = if printable_ascii {
                None
            } else if composed.is_ascii() {
                composed
                    .bytes()
                    .find(|b| *b <= b' ' || *b == 0x7f)
                    .map(char::from)
            } else {
                composed
                    .chars()
                    .find(|c| c.is_whitespace() || c.is_control() || is_invisible_format(*c))
            };
            if let Some(c) = bad {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "key holds whitespace, a control or an invisible character ({:?})",
                        c.escape_unicode().to_string()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `c` is an invisible format character (Unicode category Cf, the ones text uses):
/// it prints as nothing or changes how what follows is printed.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether every byte is printable ASCII (`!` to `~`): eight bytes at a time.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const DEL: u64 = u64::from_ne_bytes([0x7f; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        // A byte with its high bit set; a byte below 0x21 (its borrow only reaches bytes
        // above it once a byte below 0x21 exists, so "any" is exact); a byte equal to DEL.
        let below = x.wrapping_sub(ONES * 0x21) & !x & HIGH;
        let y = x ^ DEL;
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if (x & HIGH) | below | del != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| *b > b' ' && *b < 0x7f)
}

/// Builds composed keys for one prefix, version and namespace.
///
/// The head `"{prefix}:{version}:{namespace}"` is formatted once; composing a key is then one
/// allocation and one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyMaker {
    head: String,
}

impl KeyMaker {
    pub(crate) fn new(prefix: &str, version: i64, namespace: &str) -> Self {
        KeyMaker {
            head: format!("{prefix}:{version}:{namespace}"),
        }
    }

    pub(crate) fn head(&self) -> &str {
        &self.head
    }

    /// Composes and validates a key.
    pub(crate) fn make(&self, key: &str, policy: &KeyPolicy) -> Result<String> {
        if key.is_empty() {
            return Err(Error::new(ErrorKind::InvalidKey, "key is empty").with_key(key));
        }
        let mut composed = String::with_capacity(self.head.len() + key.len());
        composed.push_str(&self.head);
        composed.push_str(key);
        policy.check(&composed).map_err(|e| e.with_key(key))?;
        Ok(composed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_like_django() {
        let maker = KeyMaker::new("wheel_analyzer", 1, "alphavantage:");
        assert_eq!(
            maker.make("earnings:AAPL", &KeyPolicy::default()).unwrap(),
            "wheel_analyzer:1:alphavantage:earnings:AAPL"
        );
        assert_eq!(
            KeyMaker::new("", 1, "")
                .make("k", &KeyPolicy::default())
                .unwrap(),
            ":1:k"
        );
    }

    #[test]
    fn length_limit_counts_the_composed_key() {
        let maker = KeyMaker::new("p", 1, "");
        let ok = "a".repeat(250 - 4);
        let too_long = "a".repeat(251 - 4);
        assert!(maker.make(&ok, &KeyPolicy::default()).is_ok());
        let err = maker.make(&too_long, &KeyPolicy::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert_eq!(err.key(), Some(too_long.as_str()));
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_char_rules() {
        for b in 0u8..=127 {
            let c = char::from(b);
            let key = format!("p:1:a{c}b");
            let expected = c.is_whitespace() || c.is_control();
            assert_eq!(
                KeyPolicy::default().check(&key).is_err(),
                expected,
                "{b:#x}"
            );
        }
    }

    #[test]
    fn the_word_scan_agrees_with_the_byte_rule() {
        let byte_rule = |bytes: &[u8]| bytes.iter().all(|b| *b > b' ' && *b < 0x7f);
        for b in 0u8..=255 {
            for at in 0..17 {
                let mut key = [b'a'; 17];
                key[at] = b;
                for len in [at + 1, 17] {
                    assert_eq!(
                        is_printable_ascii(&key[..len]),
                        byte_rule(&key[..len]),
                        "{b:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_empty_whitespace_and_control() {
        let maker = KeyMaker::new("p", 1, "");
        for bad in ["", "a b", "a\tb", "a\nb", "a\u{7f}b", "a\u{1}b", "a\u{a0}b"] {
            let err = maker.make(bad, &KeyPolicy::default()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidKey, "{bad:?}");
        }
        assert!(maker.make("clé:日本", &KeyPolicy::default()).is_ok());
        assert!(maker.make("a b", &KeyPolicy::relaxed()).is_ok());
        assert!(maker.make("", &KeyPolicy::relaxed()).is_err());
    }
}
