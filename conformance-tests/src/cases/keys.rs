//! Key validation, the same on every backend.

use cachette_api::{ErrorKind, KeyPolicy, Result};

use crate::{expect_kind, Harness};

/// Empty keys and keys with whitespace or control characters are refused with
/// `InvalidKey`, by every operation, and nothing is written.
pub async fn invalid_keys_are_refused(h: &Harness) -> Result<()> {
    let cache = h.handle();
    for key in [
        "",
        "key with spaces",
        "tab\tkey",
        "new\nline",
        "bell\u{7}",
        "del\u{7f}",
        "nbsp\u{a0}",
    ] {
        let err = expect_kind(cache.set(key, "value").await, ErrorKind::InvalidKey);
        assert_eq!(err.key(), Some(key));
        expect_kind(cache.get::<String>(key).await, ErrorKind::InvalidKey);
        expect_kind(cache.add(key, "value").await, ErrorKind::InvalidKey);
        expect_kind(cache.delete(key).await, ErrorKind::InvalidKey);
        expect_kind(cache.has_key(key).await, ErrorKind::InvalidKey);
        expect_kind(cache.incr(key, 1).await, ErrorKind::InvalidKey);
        expect_kind(cache.touch(key).await, ErrorKind::InvalidKey);
        expect_kind(
            cache.get_many::<String, _>(&["ok", key]).await,
            ErrorKind::InvalidKey,
        );
        expect_kind(cache.delete_many(&[key]).await, ErrorKind::InvalidKey);
        expect_kind(cache.get_or_set(key, 1).await, ErrorKind::InvalidKey);
    }
    assert_eq!(cache.stats().sets, 0);
    Ok(())
}

/// The composed key may be 250 bytes, not 251.
pub async fn key_length_limit_is_250_bytes(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let head = cache.make_key("x")?.len() - 1;
    let ok = "k".repeat(250 - head);
    let too_long = "k".repeat(251 - head);
    cache.set(&ok, "value").await?;
    assert_eq!(cache.get::<String>(&ok).await?.as_deref(), Some("value"));
    let err = expect_kind(cache.set(&too_long, "value").await, ErrorKind::InvalidKey);
    assert_eq!(err.key(), Some(too_long.as_str()));
    // Multi-byte characters count in bytes.
    let wide = "é".repeat((251 - head).div_ceil(2));
    expect_kind(cache.set(&wide, "value").await, ErrorKind::InvalidKey);
    Ok(())
}

/// A relaxed policy accepts long keys and spaces; the empty key stays refused.
pub async fn relaxed_key_policy(h: &Harness) -> Result<()> {
    let cache = h.handle_of(h.builder().with_key_policy(KeyPolicy::relaxed()).build()?);
    let long = "k".repeat(400);
    cache.set(&long, "value").await?;
    assert_eq!(cache.get::<String>(&long).await?.as_deref(), Some("value"));
    cache.set("with space", "value").await?;
    assert!(cache.has_key("with space").await?);
    expect_kind(cache.set("", "value").await, ErrorKind::InvalidKey);
    Ok(())
}

/// Unicode whitespace (U+00A0, U+3000, U+2028) and invisible format characters (zero-width
/// space, byte-order mark, bidirectional overrides, soft hyphen) are refused like ASCII
/// whitespace: a key holding one cannot be told apart from one without it. Visible non-ASCII
/// keys are fine.
pub async fn invisible_and_unicode_whitespace_keys_are_refused(h: &Harness) -> Result<()> {
    let cache = h.handle();
    for key in [
        "ideographic\u{3000}space",
        "line\u{2028}separator",
        "zero\u{200B}width",
        "bom\u{FEFF}",
        "rtl\u{202E}override",
        "soft\u{AD}hyphen",
        "joiner\u{2060}",
    ] {
        let err = expect_kind(cache.set(key, "value").await, ErrorKind::InvalidKey);
        assert_eq!(err.key(), Some(key));
        expect_kind(cache.get::<String>(key).await, ErrorKind::InvalidKey);
    }
    for key in ["clé:日本", "emoji:🦀", "ticker:ÆØÅ"] {
        cache.set(key, "value").await?;
        assert_eq!(cache.get::<String>(key).await?.as_deref(), Some("value"));
    }
    assert_eq!(cache.stats().sets, 3);
    Ok(())
}
