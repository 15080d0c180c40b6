//! Property test: whatever a password holds, and wherever it is written (the user
//! information of any scheme, raw or percent-encoded, a `pass=` or `sentinel_password=` query
//! parameter, a replica's URL), it never
//! appears in the `Debug` of the configuration or of the cache, in an error (`Display`,
//! `Debug`, the whole `source()` chain), or in the tracing output at TRACE level.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use cachette::CacheConfig;
use proptest::prelude::*;

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encode(password: &str) -> String {
    url::form_urlencoded::byte_serialize(password.as_bytes()).collect()
}

/// Every form a URL may carry `password` in; the server is never there (port 1).
fn urls(password: &str) -> Vec<String> {
    let enc = encode(password);
    vec![
        format!("redis://:{password}@127.0.0.1:1/0?connect_timeout=50ms"),
        format!("redis://app:{password}@127.0.0.1:1/0?prefix=p&connect_timeout=50ms"),
        format!("redis://:{enc}@127.0.0.1:1/0?connect_timeout=50ms"),
        format!("rediss://:{password}@127.0.0.1:1/0?connect_timeout=50ms"),
        format!("redis+cluster://:{password}@127.0.0.1:1,127.0.0.1:2?connect_timeout=50ms"),
        format!("unix:///nonexistent/redis.sock?pass={enc}&db=1"),
        format!("redis+sentinel://:{password}@127.0.0.1:1,127.0.0.1:2/mymaster/0?connect_timeout=50ms"),
        format!("redis+sentinel://127.0.0.1:1/mymaster/0?sentinel_password={enc}&connect_timeout=50ms"),
        format!("redis+sentinel://:{enc}@127.0.0.1:1/mymaster?sentinel_password={enc}&replica_reads=1&connect_timeout=50ms"),
        format!("redis://127.0.0.1:1/0?replicas={}&read_your_writes=1s&connect_timeout=50ms", encode(&format!("redis://:{enc}@127.0.0.1:2/0"))),
        format!("redis://:{password}@127.0.0.1:1/0?fail_open=ture"),
        format!("redis://:{password}@127.0.0.1:1/0?respone_timeout=1s"),
    ]
}

fn error_text(err: &cachette::Error) -> String {
    let mut out = format!("{err} | {err:#} | {err:?}");
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        out.push_str(&format!(" | {c} | {c:?}"));
        cause = c.source();
    }
    out
}

/// Whether connecting to `url` stays on this machine: a raw `/`, `?`, `#` or `\\` in a
/// password ends a URL's authority early, so that part of the password would be taken for a
/// host name and looked up. Those URLs are parsed and shown, never connected to.
fn stays_local(password: &str) -> bool {
    !password.contains(['/', '?', '#', '\\'])
}

fn everything_shown(url: &str, connect: bool) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut shown = String::new();
    match CacheConfig::from_url(url) {
        Err(err) => shown.push_str(&error_text(&err)),
        Ok(config) if !connect => shown.push_str(&format!("{config:?}")),
        Ok(config) => {
            shown.push_str(&format!("{config:?}"));
            match runtime.block_on(config.build()) {
                Ok(cache) => shown.push_str(&format!("{cache:?} {:?}", cache.backend())),
                Err(err) => shown.push_str(&error_text(&err)),
            }
        }
    }
    shown.push_str(&String::from_utf8_lossy(&captured.0.lock().unwrap()));
    shown
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_password_never_shows(tail in "[!-~]{5,16}") {
        // A marker no URL holds otherwise, then any printable characters.
        let password = format!("Zq9{tail}");
        for url in urls(&password) {
            let shown = everything_shown(&url, stays_local(&password));
            prop_assert!(!shown.contains(&password), "{url}: {shown}");
            let enc = encode(&password);
            prop_assert!(!shown.contains(&enc), "{url}: {shown}");
        }
    }
}
