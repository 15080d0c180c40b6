//! `clear` against several real servers: the key scan sees every item, including items just
//! read (which memcached moves between its LRUs, where a walk of the LRUs misses them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use cache_test_support::MemcachedServer;
use cachette_api::{CacheBackend, Expiry};
use cachette_memcached::MemcachedBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_counts_every_key_of_every_server_even_just_read_ones() {
    let servers: Vec<MemcachedServer> = (0..3).map(|_| MemcachedServer::start().unwrap()).collect();
    let url = format!(
        "memcached://{}",
        servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let backend = MemcachedBackend::builder().with_url(url).build().unwrap();
    for round in 0..3 {
        let entries: Vec<(String, Bytes)> = (0..1000)
            .map(|i| (format!("c{round}:{i}"), Bytes::from_static(b"x")))
            .collect();
        let other: Vec<(String, Bytes)> = (0..100)
            .map(|i| (format!("other{round}:{i}"), Bytes::from_static(b"y")))
            .collect();
        let minute = Expiry::After(Duration::from_secs(60));
        assert!(backend.set_many(&entries, minute).await.unwrap().is_empty());
        assert!(backend.set_many(&other, minute).await.unwrap().is_empty());
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        for key in &keys {
            assert!(backend.get(key).await.unwrap().is_some());
        }
        assert_eq!(backend.clear(&format!("c{round}:")).await.unwrap(), 1000);
        assert!(backend
            .get_many(&keys)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none));
        let other_keys: Vec<String> = other.iter().map(|(k, _)| k.clone()).collect();
        let kept = backend.get_many(&other_keys).await.unwrap();
        assert!(
            kept.iter().all(Option::is_some),
            "another prefix was cleared"
        );
    }
}
