//! Security of the Redis backend against real `redis-server` processes: passwords never leak
//! (Debug, Display, errors and their sources, log lines), an ACL user restricted to the
//! cache's key pattern can do everything the cache does and nothing else, and one cache's
//! `clear` leaves every other prefix and namespace alone whatever characters they hold.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{raw, raw_cmd, start};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cachette_api::{Cache, ErrorKind, Ttl};
use cachette_redis::{RedisBackend, RedisBackendBuilder};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::aio::MultiplexedConnection;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;

/// Fails the test unless `url`, when it parses at all, names 127.0.0.1: every URL here is
/// checked before use, so that no test ever reaches (or looks up) another host, whatever a
/// password in it does to the parse.
fn assert_loopback(url: &str) {
    use redis::{ConnectionAddr, IntoConnectionInfo};
    if let Ok(info) = url.into_connection_info() {
        let host = match info.addr() {
            ConnectionAddr::Tcp(host, _) => host.as_str(),
            ConnectionAddr::TcpTls { host, .. } => host.as_str(),
            other => panic!("{other:?}"),
        };
        assert_eq!(host, "127.0.0.1", "a test URL names another host");
    }
}

/// A loopback port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ----- passwords ------------------------------------------------------------------------------------

/// Everything written by `tracing` while the test runs, as text.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Sends everything logged through `tracing` in this test process (TRACE level, span events
/// included) to one buffer. Global, not per thread: `tracing` caches per call site whether
/// anyone listens, and a thread-local subscriber misses events when tests run in parallel.
fn capture_logs() -> LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(FmtSpan::FULL)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

/// `Display` and `Debug` of an error and of every error in its `source()` chain.
fn error_texts(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        texts.push(format!("{e}"));
        texts.push(format!("{e:?}"));
        next = e.source();
    }
    texts
}

/// The password of the `default` user (`requirepass`).
const DEFAULT_PASSWORD: &str = "Def4ult-Secret-7Qx";
/// The password of the ACL user `app`: characters that must be percent-encoded in a URL.
const APP_PASSWORD: &str = "App@Secret/9#Zk?";
const APP_PASSWORD_ENCODED: &str = "App%40Secret%2F9%23Zk%3F";
/// Passwords that are wrong, which must not leak either.
const WRONG_PASSWORD: &str = "Wr0ng-Secret-4Kd";

/// Every form in which a password of this test could show.
fn secrets() -> Vec<&'static str> {
    vec![
        DEFAULT_PASSWORD,
        APP_PASSWORD,
        APP_PASSWORD_ENCODED,
        WRONG_PASSWORD,
        // Pieces of the app password, in case it is shown cut at a special character.
        "Secret/9",
        "9#Zk",
        "Secret%2F9",
    ]
}

/// The password appears in no `Debug` or `Display` of a builder, backend, cache or error, nor
/// in any error's source chain, nor in any line logged through `tracing` (TRACE level, spans
/// included), whether the password is right, wrong, for an unreachable server, in a URL that
/// does not parse, or met while fail-open hides an outage.
#[tokio::test]
async fn passwords_never_appear_in_debug_display_errors_or_logs() {
    let logs = capture_logs();

    let mut server = start(&["--requirepass", DEFAULT_PASSWORD]);
    let port = server.port();
    let mut admin = raw(&format!("redis://:{DEFAULT_PASSWORD}@127.0.0.1:{port}/0")).await;
    raw_cmd::<()>(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "app",
            "on",
            &format!(">{APP_PASSWORD}"),
            "~*",
            "+@all",
        ],
    )
    .await;

    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |what: &str, text: String| shown.push((what.to_owned(), text));

    // Good passwords: both URL forms, and the builder's `with_password` (which replaces the
    // URL's, here a wrong one); every view of the handle; some traffic to log.
    let timeouts = |builder: RedisBackendBuilder| {
        builder
            .with_connect_timeout(Duration::from_millis(500))
            .with_response_timeout(Duration::from_millis(500))
    };
    let urls = [
        format!("redis://:{DEFAULT_PASSWORD}@127.0.0.1:{port}/0"),
        format!("redis://app:{APP_PASSWORD_ENCODED}@127.0.0.1:{port}/0"),
        format!("redis://app@127.0.0.1:{port}/0"),
        format!("redis://app:{WRONG_PASSWORD}@127.0.0.1:{port}/0"),
    ];
    urls.iter().for_each(|url| assert_loopback(url));
    let good = [
        RedisBackend::builder().with_url(&urls[0]),
        RedisBackend::builder().with_url(&urls[1]),
        RedisBackend::builder()
            .with_url(&urls[2])
            .with_password(APP_PASSWORD),
        RedisBackend::builder()
            .with_url(&urls[3])
            .with_password(APP_PASSWORD),
    ];
    for builder in good {
        let builder = timeouts(builder);
        show("builder Debug", format!("{builder:?}"));
        let backend = builder.build().await.unwrap();
        show("backend Debug", format!("{backend:?}"));
        let cache = backend
            .cache_builder()
            .with_prefix("sec")
            .with_fail_open(true)
            .build()
            .unwrap();
        show("cache Debug", format!("{cache:?}"));
        show("namespace Debug", format!("{:?}", cache.namespace("ns")));
        cache.set("k", "v").await.unwrap();
        cache.get::<String>("k").await.unwrap();
        cache.set_many([("a", 1), ("b", 2)]).await.unwrap();
        cache.incr("a", 1).await.unwrap();
        let err = cache.incr("k", 1).await.unwrap_err();
        error_texts(&err)
            .into_iter()
            .for_each(|t| show("incr error", t));
        cache.clear().await.unwrap();
    }

    // Wrong passwords, a missing one, a wrong user.
    for url in [
        format!("redis://:{WRONG_PASSWORD}@127.0.0.1:{port}/0"),
        format!("redis://app:{WRONG_PASSWORD}@127.0.0.1:{port}/0"),
        format!("redis://nobody:{APP_PASSWORD_ENCODED}@127.0.0.1:{port}/0"),
        format!("redis://127.0.0.1:{port}/0"),
    ] {
        assert_loopback(&url);
        let err = RedisBackend::connect(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        error_texts(&err)
            .into_iter()
            .for_each(|t| show("auth error", t));
    }

    // A wrong password through the builder, and one for an unreachable server.
    let closed = closed_port();
    for (builder, kind) in [
        (
            RedisBackend::builder()
                .with_url(&urls[2])
                .with_password(WRONG_PASSWORD),
            ErrorKind::Config,
        ),
        (
            RedisBackend::builder()
                .with_url(format!("redis://app@127.0.0.1:{closed}/0"))
                .with_password(APP_PASSWORD),
            ErrorKind::Unavailable,
        ),
    ] {
        let builder = timeouts(builder);
        show("builder Debug", format!("{builder:?}"));
        let err = builder.build().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
        error_texts(&err)
            .into_iter()
            .for_each(|t| show("with_password error", t));
    }

    // An unreachable server, and URLs that do not parse, each holding a password.
    for (url, kind) in [
        (
            format!("redis://app:{APP_PASSWORD_ENCODED}@127.0.0.1:{closed}/0"),
            ErrorKind::Unavailable,
        ),
        (
            format!("redis://:{DEFAULT_PASSWORD}@127.0.0.1:{closed}/0"),
            ErrorKind::Unavailable,
        ),
        (
            format!("redis://:{DEFAULT_PASSWORD}@127.0.0.1:{port}/notadb"),
            ErrorKind::Config,
        ),
        (
            format!("http://:{DEFAULT_PASSWORD}@127.0.0.1:{port}"),
            ErrorKind::Config,
        ),
        (format!("{DEFAULT_PASSWORD}@127.0.0.1"), ErrorKind::Config),
    ] {
        assert_loopback(&url);
        let builder = RedisBackend::builder()
            .with_url(&url)
            .with_connect_timeout(Duration::from_millis(500));
        show("builder Debug", format!("{builder:?}"));
        let err = builder.build().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
        error_texts(&err)
            .into_iter()
            .for_each(|t| show("connect error", t));
    }

    // An outage met by a handle holding a password (the builder's): errors, and fail-open's
    // WARN lines.
    let backend = timeouts(
        RedisBackend::builder()
            .with_url(&urls[2])
            .with_password(APP_PASSWORD),
    )
    .build()
    .await
    .unwrap();
    let strict = backend.cache_builder().with_prefix("sec").build().unwrap();
    let open = backend
        .cache_builder()
        .with_prefix("sec")
        .with_fail_open(true)
        .build()
        .unwrap();
    server.kill().unwrap();
    let err = strict.get::<String>("k").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err:?}"
    );
    error_texts(&err)
        .into_iter()
        .for_each(|t| show("outage error", t));
    assert_eq!(open.get::<String>("k").await.unwrap(), None);
    open.set("k", "v").await.unwrap();
    show("backend Debug after the outage", format!("{backend:?}"));

    let logs = logs.text();
    assert!(
        logs.contains("fail-open") && logs.contains("cache operation failed"),
        "the log capture saw nothing: {logs}"
    );
    let mut leaks = Vec::new();
    for secret in secrets() {
        for (what, text) in &shown {
            if text.contains(secret) {
                leaks.push(format!("{what} shows {secret:?}: {text}"));
            }
        }
        for line in logs.lines().filter(|line| line.contains(secret)) {
            leaks.push(format!("a log line shows {secret:?}: {line}"));
        }
    }
    println!(
        "checked {} Debug/Display/error texts and {} log lines: {} leaks",
        shown.len(),
        logs.lines().count(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

// ----- ACL ------------------------------------------------------------------------------------------

/// The fewest commands the cache needs, as ACL rules: every call of `Cache` (`clear`'s SCAN
/// and UNLINK, `incr`'s script and the commands it runs, `touch`'s PERSIST) and the PING of
/// `build`.
const CACHE_COMMANDS: &[&str] = &[
    "+ping",
    "+get",
    "+mget",
    "+set",
    "+unlink",
    "+exists",
    "+pexpire",
    "+persist",
    "+pttl",
    "+scan",
    "+type",
    "+incrby",
    "+evalsha",
    "+eval",
    "+script|load",
];

/// An ACL user limited to `~wheel_analyzer:*` and to [`CACHE_COMMANDS`] can do everything the
/// cache does, `clear` included; a cache with another prefix gets a typed error (`Config`,
/// not temporary: the configuration names the wrong user), and other keys are left alone.
#[tokio::test]
async fn acl_user_limited_to_the_cache_key_pattern() {
    capture_logs();
    let server = start(&[]);
    let mut admin = raw(&server.url()).await;
    let mut setuser = vec![
        "ACL",
        "SETUSER",
        "cacheuser",
        "reset",
        "on",
        ">pw",
        "~wheel_analyzer:*",
    ];
    setuser.extend_from_slice(CACHE_COMMANDS);
    raw_cmd::<()>(&mut admin, &setuser).await;
    raw_cmd::<()>(&mut admin, &["SET", "other:1:k", "\u{a5}x"]).await;
    raw_cmd::<()>(&mut admin, &["SET", "secret", "top"]).await;
    println!(
        "ACL SETUSER cacheuser reset on >pw ~wheel_analyzer:* {}",
        CACHE_COMMANDS.join(" ")
    );

    let url = format!("redis://cacheuser:pw@127.0.0.1:{}/0", server.port());
    let backend = RedisBackend::connect(&url).await.unwrap();
    let cache = backend
        .cache_builder()
        .with_prefix("wheel_analyzer")
        .build()
        .unwrap();

    // Every operation of the handle.
    cache.set("s", "text").await.unwrap();
    assert_eq!(
        cache.get::<String>("s").await.unwrap().as_deref(),
        Some("text")
    );
    assert!(cache.add("n", &1).await.unwrap());
    assert!(!cache.add("n", &2).await.unwrap());
    assert_eq!(cache.incr("n", 41).await.unwrap(), 42);
    assert_eq!(cache.decr("n", 2).await.unwrap(), 40);
    assert!(cache
        .set_many([("m1", 1), ("m2", 2)])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        cache
            .get_many::<i64, _>(&["m1", "m2", "none"])
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(cache.has_key("m1").await.unwrap());
    assert!(cache.touch("m1").await.unwrap());
    assert!(cache.touch_opts("m1", Ttl::Never).await.unwrap());
    cache.ttl("m1").await.unwrap();
    assert_eq!(cache.incr_version("m2").await.unwrap(), 2);
    assert_eq!(cache.get_or_set("g", 5).await.unwrap(), 5);
    assert!(cache.delete("s").await.unwrap());
    assert_eq!(cache.delete_many(&["m1", "none"]).await.unwrap(), 1);
    cache.namespace("ns").set("k", &1).await.unwrap();
    assert_eq!(cache.namespace("ns").clear().await.unwrap(), 1);
    // n, g, and m2 at version 2.
    assert_eq!(cache.clear().await.unwrap(), 3);

    // Another prefix: every call is refused with a typed error, and nothing else is touched.
    let other = backend
        .cache_builder()
        .with_prefix("other")
        .build()
        .unwrap();
    let refused: Vec<(&str, cachette_api::Error)> = vec![
        ("get", other.get::<String>("k").await.unwrap_err()),
        ("set", other.set("k", "v").await.unwrap_err()),
        ("incr", other.incr("k", 1).await.unwrap_err()),
        ("delete", other.delete("k").await.unwrap_err()),
        ("clear", other.clear().await.unwrap_err()),
    ];
    for (op, err) in &refused {
        println!(
            "other prefix: {op} → {} ({})",
            err.kind().as_str(),
            err.message()
        );
        assert_eq!(err.kind(), ErrorKind::Config, "{op}: {err:?}");
        assert!(!err.is_temporary(), "{op}: {err:?}");
    }
    let left: String = raw_cmd(&mut admin, &["GET", "other:1:k"]).await;
    assert_eq!(left, "\u{a5}x");
    let left: String = raw_cmd(&mut admin, &["GET", "secret"]).await;
    assert_eq!(left, "top");
    // And the handle still works.
    cache.set("after", &1).await.unwrap();
}

// ----- clear and namespaces ---------------------------------------------------------------------------

/// A prefix or namespace name: glob characters, colons, backslashes, Unicode.
fn name() -> impl Strategy<Value = String> {
    "[a-c*?\\[\\]\\\\^:!{}é日-]{0,6}"
}

/// A second name, often a near miss of the first: glob characters swapped for what they
/// match, one character more, or an escaped form.
fn near(first: String) -> impl Strategy<Value = (String, String)> {
    let f = first.clone();
    prop_oneof![
        name(),
        "[a-c*?\\[\\]\\\\:]".prop_map(move |c| format!("{f}{c}")),
        Just(first.replace(['*', '?'], "a")),
        Just(first.replace('[', "\\[")),
        Just(format!("\\{first}")),
    ]
    .prop_map(move |second| (first.clone(), second))
}

/// Whether clearing `a` may, by design, remove `b`'s keys: `{a}:` is a prefix of every key of
/// `b` when `b` starts with `{a}:` (the key format `{prefix}:{version}:{key}` cannot tell
/// prefix `x` with key `1:y` from prefix `x:1` with key `y`).
fn nested(a: &str, b: &str) -> bool {
    b.starts_with(&format!("{a}:"))
}

async fn read(cache: &Cache, key: &str) -> Option<String> {
    cache.get::<String>(key).await.unwrap()
}

async fn prefix_case(
    backend: &RedisBackend,
    admin: &mut MultiplexedConnection,
    (pa, pb): (String, String),
    (na, nb): (String, String),
) -> Result<(), TestCaseError> {
    prop_assume!(pa != pb && !nested(&pa, &pb) && !nested(&pb, &pa));
    raw_cmd::<()>(admin, &["FLUSHDB"]).await;
    let build = |prefix: &str| backend.cache_builder().with_prefix(prefix).build();
    let (a, b) = match (build(&pa), build(&pb)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            for err in [a.err(), b.err()].into_iter().flatten() {
                prop_assert_eq!(err.kind(), ErrorKind::Config);
            }
            return Err(TestCaseError::reject("prefix refused by the key policy"));
        }
    };
    async fn fill(cache: &Cache, tag: &str) {
        cache.set("k", tag).await.unwrap();
        cache.with_version(2).set("k", tag).await.unwrap();
        cache.namespace("ns").set("k", tag).await.unwrap();
    }
    CHECKED.fetch_add(1, Ordering::Relaxed);
    *EXAMPLE.lock().unwrap() = vec![pa.clone(), pb.clone(), na.clone(), nb.clone()];
    fill(&a, "a").await;
    fill(&b, "b").await;
    let b_tag = Some("b".to_owned());
    prop_assert_eq!(
        a.clear().await.unwrap(),
        3,
        "{:?} cleared more or less than its own",
        pa
    );
    prop_assert_eq!(read(&b, "k").await, b_tag.clone());
    prop_assert_eq!(read(&b.with_version(2), "k").await, b_tag.clone());
    prop_assert_eq!(read(&b.namespace("ns"), "k").await, b_tag.clone());
    prop_assert_eq!(b.clear().await.unwrap(), 3);

    // Namespaces of one prefix.
    if na != nb && !nested(&na, &nb) && !nested(&nb, &na) && !na.is_empty() && !nb.is_empty() {
        let (va, vb) = (b.namespace(&na), b.namespace(&nb));
        va.set("k", "a").await.unwrap();
        vb.set("k", "b").await.unwrap();
        b.set("root", "r").await.unwrap();
        prop_assert_eq!(va.clear().await.unwrap(), 1, "namespace {:?}", na);
        prop_assert_eq!(read(&vb, "k").await, b_tag);
        prop_assert_eq!(read(&b, "root").await, Some("r".to_owned()));
    }
    Ok(())
}

/// ~50 random pairs of prefixes (and of namespaces), often near misses of each other: clearing
/// one never removes a key of the other.
#[test]
fn clear_never_crosses_prefixes_or_namespaces() {
    capture_logs();
    let server = start(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (backend, admin) = runtime.block_on(async {
        (
            RedisBackend::connect(&server.url()).await.unwrap(),
            raw(&server.url()).await,
        )
    });
    let config = Config {
        cases: 50,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let pairs = (name().prop_flat_map(near), name().prop_flat_map(near));
    let outcome = runner.run(&pairs, |(prefixes, namespaces)| {
        let mut admin = admin.clone();
        runtime.block_on(prefix_case(&backend, &mut admin, prefixes, namespaces))
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let ran = CHECKED.load(Ordering::Relaxed);
    println!(
        "clear: {ran} pairs of prefixes checked, e.g. {:?}",
        EXAMPLE.lock().unwrap()
    );
    assert!(ran >= 50, "only {ran} cases ran");
}

/// How many cases reached their checks, and the last pair seen.
static CHECKED: AtomicUsize = AtomicUsize::new(0);
static EXAMPLE: Mutex<Vec<String>> = Mutex::new(Vec::new());
