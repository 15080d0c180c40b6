//! TLS against a real PostgreSQL server that accepts TCP connections with TLS only
//! ([`PostgresServer::start_tls`]): `sslmode=require` with its CA works, a wrong CA and a
//! plain connection fail with clear errors that show no password. Without the `tls` feature,
//! `sslmode=require` is a configuration error naming the feature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cachette_api::{CacheBackend, ErrorKind};
use cachette_postgres::PostgresBackend;

/// The password put in every URL here (the server trusts its users: it is never checked),
/// which no error may show.
const SECRET: &str = "tls-s3cret-pw";

/// Generous for a loaded 2-core machine; every connection attempt is bounded by it.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `postgres://postgres:SECRET@127.0.0.1:{port}/postgres?{query}`.
fn url(port: u16, query: &str) -> String {
    format!("postgres://postgres:{SECRET}@127.0.0.1:{port}/postgres?{query}")
}

fn builder(url: String) -> cachette_postgres::PostgresBackendBuilder {
    PostgresBackend::builder()
        .with_url(url)
        .with_pool_size(2)
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
        .with_cull_interval(None)
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_right_ca_works_and_the_wrong_one_or_none_fails_clearly() {
    use cache_test_support::PostgresServer;

    let server = PostgresServer::start_tls().unwrap();
    let port = server.port();
    let ca = server.tls_ca_file().unwrap();
    let untrusted = server.tls_untrusted_ca_file().unwrap();

    // The right CA, given to the builder (as the facade's `tls_ca_file`) or in the URL.
    let ca_in_url = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    for backend in [
        builder(url(port, "sslmode=require")).with_tls_ca_file(&ca),
        builder(url(port, &ca_in_url)),
        builder(url(port, "sslmode=verify-ca")).with_tls_ca_file(&ca),
        // `require` without a CA: encrypted, the certificate unchecked (as libpq).
        builder(url(port, "sslmode=require")),
        // `prefer` takes TLS when the server offers it.
        builder(url(port, "sslmode=prefer")),
    ] {
        let shown = format!("{backend:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        let backend = backend
            .build()
            .await
            .unwrap_or_else(|e| panic!("{shown}: {e:#}"));
        let cache = backend.cache_builder().with_prefix("tls").build().unwrap();
        cache.set("k", &7).await.unwrap();
        assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(7), "{shown}");
        CacheBackend::close(&backend).await.unwrap();
    }

    // A host name the certificate is not for (the address given apart): `verify-ca` checks
    // the chain only and connects, `verify-full` refuses.
    let other_name = |mode: &str| {
        format!(
            "postgres://postgres:{SECRET}@not-the-server.invalid:{port}/postgres\
             ?hostaddr=127.0.0.1&sslmode={mode}"
        )
    };
    let backend = builder(other_name("verify-ca"))
        .with_tls_ca_file(&ca)
        .build()
        .await
        .unwrap_or_else(|e| panic!("verify-ca, another host name: {e:#}"));
    CacheBackend::close(&backend).await.unwrap();
    let err = builder(other_name("verify-full"))
        .with_tls_ca_file(&ca)
        .build()
        .await
        .unwrap_err();
    eprintln!("verify-full, another host name: {err:#}");
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");

    // A CA that did not sign the server's certificate: refused, saying why, as a
    // configuration error (waiting will not fix it).
    for backend in [
        builder(url(port, "sslmode=require")).with_tls_ca_file(&untrusted),
        builder(url(port, "sslmode=verify-full")).with_tls_ca_file(&untrusted),
    ] {
        let err = backend.build().await.unwrap_err();
        let text = format!("{err:#} {err:?}");
        eprintln!("wrong CA: {err:#}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("certificate"), "{text}");
        assert_eq!(err.kind(), ErrorKind::Config, "{text}");
        assert!(!err.is_temporary(), "{text}");
    }

    // Plain TCP to a server that accepts TLS only: the server's refusal, as a config error.
    let err = builder(url(port, "sslmode=disable"))
        .build()
        .await
        .unwrap_err();
    let text = format!("{err:#} {err:?}");
    eprintln!("plain to a TLS-only server: {err:#}");
    assert!(!text.contains(SECRET), "{text}");
    assert_eq!(err.kind(), ErrorKind::Config, "{text}");
    assert!(text.contains("no encryption"), "{text}");

    // A CA file that cannot be read: a config error naming it, before any connection.
    let err = builder(url(port, "sslmode=verify-full"))
        .with_tls_ca_file("/no/such/ca.pem")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    assert!(format!("{err:#}").contains("/no/such/ca.pem"), "{err:#}");
}

/// Without the `tls` feature, asking for TLS is refused before any connection (port 1:
/// nothing listens there), naming the feature; `prefer` and `disable` still build.
#[cfg(not(feature = "tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_required_tls_is_a_config_error_naming_it() {
    for query in [
        "sslmode=require",
        "sslmode=verify-ca",
        "sslmode=verify-full",
        "sslrootcert=/etc/ca.pem",
    ] {
        let err = builder(url(1, query)).build().await.unwrap_err();
        let text = format!("{err:#} {err:?}");
        assert_eq!(err.kind(), ErrorKind::Config, "{query}: {text}");
        assert!(text.contains("feature `tls`"), "{query}: {text}");
        assert!(!text.contains(SECRET), "{text}");
    }
    let url = cache_test_support::shared_postgres_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let backend = builder(format!("{url}{sep}sslmode=prefer"))
        .build()
        .await
        .unwrap();
    CacheBackend::close(&backend).await.unwrap();
}
