//! TLS (`rediss://`) against a real `redis-server --tls-port` with certificates made for the
//! test (a private CA): a subset of the conformance suite over TLS, and the ways a TLS
//! connection is refused (a CA that did not sign the server's certificate, a PEM that is not
//! one, TLS to a plain port, plain text to the TLS port), each a typed error within the
//! connect timeout, never a hang.
#![cfg(feature = "tls")]
// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_test_support::RedisServer;
use cachette_api::{DynCacheBackend, ErrorKind};
use cachette_redis::RedisBackend;

/// The connect timeout of the refused connections; each must fail well within the bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const BOUND: Duration = Duration::from_secs(3);

fn start_tls() -> RedisServer {
    match RedisServer::start_tls() {
        Ok(server) => server,
        Err(e) => panic!("redis-server could not listen with TLS: {e}"),
    }
}

/// One TLS server for the conformance cases of this process (killed by its watchdog when the
/// process exits); each case keeps to its own random prefix.
fn shared_tls_server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(start_tls)
}

async fn tls_backend() -> DynCacheBackend {
    let server = shared_tls_server();
    let backend = RedisBackend::builder()
        .with_url(format!("{}/0", server.tls_url().unwrap()))
        .with_tls_root_certificate(server.tls_ca_pem().unwrap())
        .build()
        .await
        .unwrap();
    Arc::new(backend)
}

/// One `#[tokio::test]` per conformance case, over TLS.
macro_rules! over_tls {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let harness = cachette_conformance::Harness::new(tls_backend().await, "redis");
            if let Err(err) = cachette_conformance::cases::$case(&harness).await {
                panic!("{} over TLS failed with {err}\n{err:?}", stringify!($case));
            }
        }
    )*};
}

mod conformance_over_tls {
    use super::tls_backend;

    over_tls!(
        cache_set_and_get,
        add_does_not_overwrite,
        incr_and_decr,
        incr_overflow_keeps_value,
        get_many_returns_found_keys_only,
        set_many_stores_all_and_reports_no_failures,
        delete_answers_whether_key_existed,
        cache_clear,
        namespace_clear_leaves_the_rest,
        clear_with_glob_characters_in_prefix,
        binary_values,
        large_value_round_trip,
        batches_of_100_keys,
        concurrent_add_has_one_winner,
    );
}

/// Builds a backend for `url` (with `ca`, if any) that must fail: returns the error's kind
/// and how long the failure took, after checking the bound.
async fn refused(what: &str, url: &str, ca: Option<&[u8]>) -> ErrorKind {
    let mut builder = RedisBackend::builder()
        .with_url(url)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_response_timeout(CONNECT_TIMEOUT);
    if let Some(ca) = ca {
        builder = builder.with_tls_root_certificate(ca);
    }
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), builder.build())
        .await
        .unwrap_or_else(|_| panic!("{what}: build hung for 10 s"));
    let took = started.elapsed();
    let err = match result {
        Ok(backend) => panic!("{what}: connected: {backend:?}"),
        Err(err) => err,
    };
    println!(
        "{what}: {} after {took:?} (temporary: {}): {err}",
        err.kind().as_str(),
        err.is_temporary()
    );
    assert!(took < BOUND, "{what}: took {took:?}");
    assert_eq!(err.operation(), Some("connect"), "{what}: {err:?}");
    err.kind()
}

#[tokio::test]
async fn refused_tls_connections_are_typed_errors_without_a_hang() {
    let server = start_tls();
    // A CA of its own, which did not sign `server`'s certificate.
    let stranger = start_tls();
    let tls_url = format!("{}/0", server.tls_url().unwrap());
    let plain_port = server.port();

    let kind = refused(
        "a CA that did not sign the certificate",
        &tls_url,
        stranger.tls_ca_pem(),
    )
    .await;
    assert!(
        matches!(kind, ErrorKind::Unavailable | ErrorKind::Config),
        "{kind:?}"
    );

    let kind = refused(
        "a PEM that holds no certificate",
        &tls_url,
        Some(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
    )
    .await;
    // Refused while building the client, before any I/O: configuration, never retried.
    assert_eq!(kind, ErrorKind::Config);

    let kind = refused(
        "rediss:// to the plain port",
        &format!("rediss://127.0.0.1:{plain_port}/0"),
        server.tls_ca_pem(),
    )
    .await;
    assert!(
        matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout),
        "{kind:?}"
    );

    let kind = refused(
        "redis:// (plain text) to the TLS port",
        &format!("redis://127.0.0.1:{}/0", server.tls_port().unwrap()),
        None,
    )
    .await;
    assert!(
        matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout),
        "{kind:?}"
    );

    // The right CA still works on the same server.
    let backend = RedisBackend::builder()
        .with_url(&tls_url)
        .with_tls_root_certificate(server.tls_ca_pem().unwrap())
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    cache.set("k", "v").await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("v")
    );
}
