//! `dummy://` and `postgres://` through the facade: URLs, TOML and the environment, the
//! options of the one table, and misplaced options refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cachette::{CachesConfig, ErrorKind};

#[tokio::test]
async fn dummy_urls_build_a_cache_that_stores_nothing() {
    for url in ["dummy://", "dummy://?prefix=dev&default_timeout=1m"] {
        let cache = cachette::from_url(url).await.unwrap();
        assert_eq!(cache.backend().name(), "dummy");
        cache.set("k", &1).await.unwrap();
        assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
        assert!(cache.add("k", &1).await.unwrap());
        assert_eq!(
            cache.incr("k", 1).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
    let config = CachesConfig::from_toml_str("[caches.default]\nurl = \"dummy://\"\n").unwrap();
    let caches = config.build().await.unwrap();
    assert_eq!(caches.default_cache().unwrap().backend().name(), "dummy");
    let config =
        CachesConfig::from_vars([("CACHE_URL".to_owned(), "dummy://".to_owned())]).unwrap();
    assert_eq!(config.caches["default"].url, "dummy://");
}

#[tokio::test]
async fn dummy_refuses_the_options_of_other_backends_and_an_address() {
    for url in [
        "dummy://?max_entries=10",
        "dummy://?response_timeout=1s",
        "dummy://somewhere",
    ] {
        let err = cachette::from_url(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use cachette::CacheConfig;

    /// `tls_ca_file` reaches the PostgreSQL builder: `sslmode=require` with the server's CA
    /// works, with a CA that did not sign its certificate it fails.
    #[cfg(feature = "tls")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_ca_file_is_the_ca_trusted_for_sslmode() {
        let server = cache_test_support::PostgresServer::start_tls().unwrap();
        let ca = server.tls_ca_file().unwrap();
        let untrusted = server.tls_untrusted_ca_file().unwrap();
        let url = |mode: &str, ca: &std::path::Path| {
            format!(
                "{}?sslmode={mode}&tls_ca_file={}&pool_size=1",
                server.url(),
                ca.display()
            )
        };
        for mode in ["require", "verify-full"] {
            let cache = cachette::from_url(&url(mode, &ca)).await.unwrap();
            cache.set("k", &1).await.unwrap();
            assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));
            let err = cachette::from_url(&url(mode, &untrusted))
                .await
                .unwrap_err();
            assert!(format!("{err:#}").contains("certificate"), "{err:#}");
        }
    }

    /// A table of this test's own, so that the shared server's other users are not touched.
    fn url(query: &str) -> String {
        format!(
            "{}?table=facade_test&{query}",
            cache_test_support::shared_postgres_url()
        )
    }

    #[tokio::test]
    async fn postgres_and_postgresql_urls_build_with_the_tables_options() {
        let base = cache_test_support::shared_postgres_url();
        let other_scheme = base.replacen("postgres://", "postgresql://", 1);
        for url in [
            url("prefix=pg&max_entries=1000&cull_interval=1m&cull_limit=500&cull_frequency=4&pool_size=4&response_timeout=2s&connect_timeout=2s&application_name=facade"),
            format!("{other_scheme}?table=facade_test&unlogged=false&create_table=true&sslmode=disable"),
        ] {
            let cache = cachette::from_url(&url).await.unwrap();
            assert_eq!(cache.backend().name(), "postgres");
            cache.set("k", &"v").await.unwrap();
            assert_eq!(cache.get::<String>("k").await.unwrap().as_deref(), Some("v"));
            assert!(cache.delete("k").await.unwrap());
        }
    }

    #[tokio::test]
    async fn postgres_from_toml_and_environment() {
        let base = cache_test_support::shared_postgres_url();
        let toml = format!(
            "[caches.db]\nurl = \"{base}\"\ntable = \"facade_test\"\nprefix = \"toml\"\ncull_interval = \"30s\"\n"
        );
        let caches = CachesConfig::from_toml_str(&toml)
            .unwrap()
            .build()
            .await
            .unwrap();
        let cache = caches.get("db").unwrap();
        cache.set("n", &1).await.unwrap();
        assert_eq!(cache.incr("n", 2).await.unwrap(), 3);
        let config = CachesConfig::from_vars([
            ("CACHE_URL".to_owned(), base.clone()),
            ("CACHE_TABLE".to_owned(), "facade_test".to_owned()),
            ("CACHE_POOL_SIZE".to_owned(), "2".to_owned()),
        ])
        .unwrap();
        assert_eq!(
            config.caches["default"].table.as_deref(),
            Some("facade_test")
        );
        assert_eq!(config.caches["default"].pool_size, Some(2));
        config.build().await.unwrap();
    }

    #[tokio::test]
    async fn misplaced_and_bad_options_are_config_errors() {
        for (url, why) in [
            (url("l1_max_entries=10"), "a Redis option"),
            (url("max_bytes=10"), "a memory option"),
            (url("unknown_option=1"), "tokio-postgres refuses it"),
            (
                url("sslmode=verify-full&tls_ca_file=/no/such/ca.pem"),
                "no TLS in this build, or no such CA file",
            ),
            (url("table=bad%20name"), "not an identifier"),
            (url("pool_size=0"), "at least 1"),
        ] {
            let err = match CacheConfig::from_url(&url) {
                Ok(config) => config.build().await.unwrap_err(),
                Err(err) => err,
            };
            assert_eq!(err.kind(), ErrorKind::Config, "{url} ({why}): {err}");
        }
        let err = cachette::from_url("redis://127.0.0.1:1/0?table=t")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }

    #[tokio::test]
    async fn passwords_stay_out_of_errors_and_debug() {
        let url = "postgres://app:hunter2@127.0.0.1:1/db?connect_timeout=200ms&table=facade_test";
        let config = CacheConfig::from_url(url).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        let err = config.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:#}");
        assert!(!format!("{err:#} {err:?}").contains("hunter2"), "{err:?}");
    }
}
