//! `memcached://` URLs through the facade, against a private memcached server.
#![cfg(feature = "memcached")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cache_test_support::{shared_memcached_url, MemcachedServer};
use cachette::{CacheConfig, CachesConfig, ErrorKind};

#[tokio::test]
async fn a_memcached_url_builds_a_cache_with_its_options() {
    let url = format!(
        "{}?prefix=facade&response_timeout=2s&connect_timeout=1s&pool_size=2&default_timeout=45m",
        shared_memcached_url()
    );
    assert!(cachette::supported_schemes().contains(&"memcached://"));
    let cache = cachette::from_url(&url).await.unwrap();
    assert_eq!(cache.backend().name(), "memcached");
    cache.set("k", &41).await.unwrap();
    assert_eq!(cache.incr("k", 1).await.unwrap(), 42);
    let left = cache.ttl("k").await.unwrap().remaining().unwrap();
    assert!(left.as_secs() > 44 * 60, "{left:?}");
    assert_eq!(cache.clear().await.unwrap(), 1);
}

#[tokio::test]
async fn toml_and_several_servers() {
    let a = MemcachedServer::start().unwrap();
    let b = MemcachedServer::start().unwrap();
    let toml = format!(
        "[caches.default]\nurl = \"memcached://127.0.0.1:{},127.0.0.1:{}\"\nprefix = \"t\"\npool_size = 3\n",
        a.port(),
        b.port()
    );
    let caches = CachesConfig::from_toml_str(&toml)
        .unwrap()
        .build()
        .await
        .unwrap();
    let cache = caches.default_cache().unwrap();
    for i in 0..50 {
        cache.set(&format!("k{i}"), &i).await.unwrap();
    }
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let found = cache.get_many::<i32, _>(&keys).await.unwrap();
    assert_eq!(found.len(), 50);
    assert_eq!(cache.clear().await.unwrap(), 50);
}

#[tokio::test]
async fn a_server_down_fails_the_build_unless_fail_open() {
    let mut server = MemcachedServer::start().unwrap();
    let url = server.url();
    server.kill().unwrap();
    let err = cachette::from_url(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let cache = cachette::from_url(&format!("{url}?fail_open=true"))
        .await
        .unwrap();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
}

#[test]
fn memcached_options_are_refused_elsewhere_and_bad_urls_are_config_errors() {
    let mut config = CacheConfig::from_url("memory://?pool_size=2").unwrap();
    config.prefix = "x".to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime.block_on(config.backend()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("pool_size"), "{err}");
    for url in [
        "memcached://",
        "memcached://h:0",
        "memcached://h?pool_size=0",
    ] {
        let err = runtime
            .block_on(async { cachette::from_url(url).await })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
}
