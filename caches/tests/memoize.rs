//! `#[cachette::cached]` in use: async and sync functions, the key from the arguments or an
//! expression, ttl, version, named caches, single flight, errors never cached, the resilient
//! options, and what a function does when its cache fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use cachette::{blocking, Cache, ErrorKind, FailSafe, MemoryBackend};

static CACHE: LazyLock<Cache> = LazyLock::new(|| MemoryBackend::new().cache());
static SYNC_CACHE: LazyLock<blocking::Cache> =
    LazyLock::new(|| MemoryBackend::new().cache().blocking().unwrap());

#[derive(Debug, PartialEq)]
struct UpstreamDown;

impl std::fmt::Display for UpstreamDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream down")
    }
}

impl std::error::Error for UpstreamDown {}

/// The error type of the memoized functions: their own failure, or the cache's.
#[derive(Debug)]
enum AppError {
    Upstream(UpstreamDown),
    Cache(cachette::Error),
}

impl From<cachette::Error> for AppError {
    fn from(err: cachette::Error) -> Self {
        AppError::Cache(err)
    }
}

static QUOTE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cachette::cached(cache = CACHE, ttl = Duration::from_secs(60))]
async fn quote(ticker: &str, day: u32) -> Result<f64, AppError> {
    QUOTE_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(f64::from(day) + ticker.len() as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_is_loaded_once_per_arguments_even_when_called_at_once() {
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(async { quote("AAPL", 1).await.unwrap() }))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 5.0);
    }
    assert_eq!(QUOTE_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(quote("AAPL", 2).await.unwrap(), 6.0);
    assert_eq!(quote("MSFT", 1).await.unwrap(), 5.0);
    assert_eq!(QUOTE_CALLS.load(Ordering::SeqCst), 3);
    // The default key: the function's path and its MessagePack-encoded arguments.
    let mut key = cachette::memoize::Key::new(concat!(module_path!(), "::quote"));
    key.push("AAPL").unwrap();
    key.push(&2_u32).unwrap();
    let key = key.finish();
    assert!(key.starts_with("memoize::quote:"), "{key}");
    assert_eq!(CACHE.get::<f64>(&key).await.unwrap(), Some(6.0));
    let ttl = CACHE.ttl(&key).await.unwrap().remaining().unwrap();
    assert!(ttl <= Duration::from_secs(60), "{ttl:?}");
}

static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cachette::cached(cache = CACHE, key = format!("flaky:{n}"))]
async fn flaky(n: u32) -> Result<u32, AppError> {
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(AppError::Upstream(UpstreamDown));
    }
    Ok(n * 2)
}

#[tokio::test]
async fn errors_are_returned_as_they_are_and_never_cached() {
    match flaky(21).await {
        Err(AppError::Upstream(err)) => assert_eq!(err, UpstreamDown),
        other => panic!("expected the function's own error, got {other:?}"),
    }
    assert!(!CACHE.has_key("flaky:21").await.unwrap());
    assert_eq!(flaky(21).await.unwrap(), 42);
    assert_eq!(CACHE.get::<u32>("flaky:21").await.unwrap(), Some(42));
    assert_eq!(flaky(21).await.unwrap(), 42);
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 2);
}

static FIB_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A sync function, infallible, on a blocking handle, at version 2.
#[cachette::cached(cache = SYNC_CACHE, key = format!("fib:{n}"), version = 2)]
fn fib(n: u64) -> u64 {
    FIB_CALLS.fetch_add(1, Ordering::SeqCst);
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn sync_fn_is_memoized_on_the_blocking_handle_at_its_version() {
    assert_eq!(fib(40), 102_334_155);
    assert_eq!(FIB_CALLS.load(Ordering::SeqCst), 41);
    assert_eq!(fib(40), 102_334_155);
    assert_eq!(FIB_CALLS.load(Ordering::SeqCst), 41);
    assert_eq!(
        SYNC_CACHE.with_version(2).get::<u64>("fib:40").unwrap(),
        Some(102_334_155)
    );
    assert_eq!(SYNC_CACHE.get::<u64>("fib:40").unwrap(), None);
}

static UNCACHEABLE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The key has a space: the cache refuses it.
#[cachette::cached(cache = SYNC_CACHE, key = "not a valid key")]
fn uncacheable() -> String {
    UNCACHEABLE_CALLS.fetch_add(1, Ordering::SeqCst);
    "computed".to_owned()
}

#[cachette::cached(cache = CACHE, key = format!("bad key {n}"))]
async fn uncacheable_result(n: u32) -> Result<u32, AppError> {
    Ok(n)
}

#[tokio::test]
async fn when_the_cache_fails_an_infallible_fn_runs_and_a_result_fn_says_why() {
    assert_eq!(uncacheable(), "computed");
    assert_eq!(uncacheable(), "computed");
    assert_eq!(UNCACHEABLE_CALLS.load(Ordering::SeqCst), 2);
    match uncacheable_result(1).await {
        Err(AppError::Cache(err)) => assert_eq!(err.kind(), ErrorKind::InvalidKey),
        other => panic!("expected the cache's error, got {other:?}"),
    }
}

static NAMED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cachette::cached(named = "memo", key = "greeting")]
fn greeting() -> Result<String, AppError> {
    NAMED_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok("hello".to_owned())
}

#[test]
fn named_cache_from_the_config() {
    let config = cachette::CachesConfig::from_toml_str(
        r#"
        [caches.memo]
        url = "memory://?prefix=memo"
        "#,
    )
    .unwrap();
    cachette::memoize::install(blocking::build(&config).unwrap()).unwrap();
    assert_eq!(greeting().unwrap(), "hello");
    assert_eq!(greeting().unwrap(), "hello");
    assert_eq!(NAMED_CALLS.load(Ordering::SeqCst), 1);
    let memo = cachette::memoize::named("memo")
        .unwrap()
        .blocking()
        .unwrap();
    assert_eq!(memo.make_key("greeting").unwrap(), "memo:1:greeting");
    assert_eq!(
        memo.get::<String>("greeting").unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(
        cachette::memoize::named("nope").unwrap_err().kind(),
        ErrorKind::Config
    );
}

static PRICE_FAILS: AtomicUsize = AtomicUsize::new(0);

#[cachette::cached(
    cache = CACHE,
    key = format!("price:{ticker}"),
    ttl = Duration::from_millis(100),
    fail_safe = FailSafe::new(Duration::from_secs(60), Duration::from_secs(1)),
    hard_timeout = Duration::from_secs(5)
)]
async fn price(ticker: String) -> Result<f64, cachette::Error> {
    if PRICE_FAILS.load(Ordering::SeqCst) > 0 {
        return Err(cachette::Error::new(
            ErrorKind::Unavailable,
            format!("no price for {ticker}"),
        ));
    }
    Ok(189.5)
}

#[tokio::test]
async fn fail_safe_serves_the_stale_value_when_the_function_fails() {
    assert_eq!(price("AAPL".into()).await.unwrap(), 189.5);
    PRICE_FAILS.store(1, Ordering::SeqCst);
    // Fresh for 100 ms, then stale: a failing function is answered with the stale value.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(price("AAPL".into()).await.unwrap(), 189.5);
    // Without a stale value, the failure is returned (and nothing is cached).
    let err = price("MSFT".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Loader);
    assert!(!CACHE.has_key("price:MSFT").await.unwrap());
}

static REPORT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cachette::cached(
    cache = SYNC_CACHE,
    stale_while_revalidate = Duration::from_secs(60),
    ttl = Duration::from_millis(100)
)]
fn report(id: u32) -> Result<String, cachette::Error> {
    let n = REPORT_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("report {id} #{n}"))
}

#[test]
fn sync_fn_with_stale_while_revalidate_serves_stale_and_refreshes() {
    assert_eq!(report(7).unwrap(), "report 7 #0");
    assert_eq!(report(7).unwrap(), "report 7 #0");
    std::thread::sleep(Duration::from_millis(150));
    // Stale: served at once, refreshed in the background.
    assert_eq!(report(7).unwrap(), "report 7 #0");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while report(7).unwrap() != "report 7 #1" {
        assert!(std::time::Instant::now() < deadline, "never refreshed");
        std::thread::sleep(Duration::from_millis(10));
    }
}
