//! The table and its upkeep on a real server: creation (at start-up, or apart as Django's
//! `createcachetable`), `UNLOGGED`, schema-qualified names, culling of expired rows (bounded
//! per pass, in the background) and Django's `MAX_ENTRIES` / `CULL_FREQUENCY`, bad
//! configurations, and passwords kept out of errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cachette_api::{ErrorKind, Ttl};
use cachette_postgres::PostgresBackend;
use tokio_postgres::Client;

fn url() -> String {
    cache_test_support::shared_postgres_url()
}

/// A table name no other test uses.
fn fresh_table(stem: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{stem}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn raw() -> Client {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn rows(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

async fn backend_on(table: &str) -> PostgresBackend {
    PostgresBackend::builder()
        .with_url(url())
        .with_table(table)
        .with_cull_interval(None)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn build_creates_an_unlogged_table_and_keeps_its_rows_apart() {
    let table = fresh_table("created");
    let backend = backend_on(&table).await;
    assert_eq!(backend.table(), table);
    let client = raw().await;
    let persistence: i8 = client
        .query_one(
            "SELECT relpersistence FROM pg_class WHERE relname = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(persistence as u8, b'u', "UNLOGGED by default");
    let cache = backend.cache_builder().with_prefix("app").build().unwrap();
    cache.set("k", &1).await.unwrap();
    let key: Vec<u8> = client
        .query_one(&format!("SELECT key FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, b"app:1:k");
    // A second backend on the same table (another instance) finds it and shares it.
    let other = backend_on(&table)
        .await
        .cache_builder()
        .with_prefix("app")
        .build()
        .unwrap();
    assert_eq!(other.get::<i32>("k").await.unwrap(), Some(1));
}

#[tokio::test]
async fn logged_tables_and_schemas_on_request() {
    let client = raw().await;
    client
        .batch_execute("CREATE SCHEMA IF NOT EXISTS cachette_test")
        .await
        .unwrap();
    let table = format!("cachette_test.{}", fresh_table("logged"));
    let backend = PostgresBackend::builder()
        .with_url(url())
        .with_table(&table)
        .with_unlogged(false)
        .build()
        .await
        .unwrap();
    backend.cache().set("k", &1).await.unwrap();
    let persistence: i8 = client
        .query_one(
            "SELECT c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'cachette_test' AND c.relname = $1",
            &[&table.trim_start_matches("cachette_test.")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(persistence as u8, b'p');
    assert_eq!(rows(&client, &table).await, 1);
}

#[tokio::test]
async fn without_create_table_a_missing_table_is_a_config_error_until_created_apart() {
    let table = fresh_table("apart");
    let builder = PostgresBackend::builder()
        .with_url(url())
        .with_table(&table)
        .with_create_table(false);
    let err = builder.clone().build().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    assert!(err.message().contains("create_table"), "{err:#}");
    assert!(builder
        .create_table_sql()
        .unwrap()
        .contains("CREATE UNLOGGED TABLE IF NOT EXISTS"));
    builder.create_table().await.unwrap();
    builder.create_table().await.unwrap();
    let backend = builder.build().await.unwrap();
    backend.cache().set("k", &1).await.unwrap();
}

#[tokio::test]
async fn cull_deletes_expired_rows_bounded_per_pass() {
    let table = fresh_table("cull");
    let backend = PostgresBackend::builder()
        .with_url(url())
        .with_table(&table)
        .with_cull_interval(None)
        .with_cull_limit(4)
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    for i in 0..10 {
        cache
            .set_opts(&format!("short{i}"), &i, Ttl::millis(1))
            .await
            .unwrap();
    }
    for i in 0..5 {
        cache
            .set_opts(&format!("long{i}"), &i, Ttl::Never)
            .await
            .unwrap();
    }
    let client = raw().await;
    // Expired rows stay until culled, and are never answered.
    wait_for(|| async { !cache.has_key("short9").await.unwrap() }).await;
    assert_eq!(rows(&client, &table).await, 15);
    assert_eq!(backend.cull().await.unwrap(), 4);
    assert_eq!(backend.cull().await.unwrap(), 4);
    assert_eq!(backend.cull().await.unwrap(), 2);
    assert_eq!(backend.cull().await.unwrap(), 0);
    assert_eq!(rows(&client, &table).await, 5);
}

#[tokio::test]
async fn max_entries_culls_one_in_cull_frequency_soonest_to_expire_first() {
    let table = fresh_table("max");
    let backend = PostgresBackend::builder()
        .with_url(url())
        .with_table(&table)
        .with_cull_interval(None)
        .with_max_entries(Some(10))
        .with_cull_frequency(2)
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    for i in 0..20 {
        cache
            .set_opts(&format!("forever{i}"), &i, Ttl::Never)
            .await
            .unwrap();
    }
    for i in 0..5 {
        cache
            .set_opts(&format!("hour{i}"), &i, Ttl::secs(3600))
            .await
            .unwrap();
    }
    // 25 rows past 10: one pass deletes 25 / 2 = 12, the five that expire first among them.
    assert_eq!(backend.cull().await.unwrap(), 12);
    assert_eq!(rows(&raw().await, &table).await, 13);
    for i in 0..5 {
        assert!(!cache.has_key(&format!("hour{i}")).await.unwrap());
    }
    assert_eq!(backend.cull().await.unwrap(), 6);
    assert_eq!(backend.cull().await.unwrap(), 0, "7 rows: under the limit");
}

#[tokio::test]
async fn culling_runs_in_the_background() {
    let table = fresh_table("background");
    let backend = PostgresBackend::builder()
        .with_url(url())
        .with_table(&table)
        .with_cull_interval(Some(Duration::from_millis(50)))
        .build()
        .await
        .unwrap();
    let cache = backend.cache();
    for i in 0..10 {
        cache
            .set_opts(&format!("short{i}"), &i, Ttl::millis(1))
            .await
            .unwrap();
    }
    cache.set_opts("kept", &1, Ttl::Never).await.unwrap();
    let client = raw().await;
    wait_for(|| async { rows(&client, &table).await == 1 }).await;
    assert_eq!(cache.get::<i32>("kept").await.unwrap(), Some(1));
}

#[tokio::test]
async fn bad_configurations_are_config_errors_naming_no_password() {
    let secret = "hunter2";
    let cases = [
        PostgresBackend::builder().with_url(format!("mysql://u:{secret}@h/db")),
        PostgresBackend::builder().with_url(format!("postgres://u:{secret}@h/db?colour=blue")),
        PostgresBackend::builder()
            .with_url(url())
            .with_table("bad name"),
        PostgresBackend::builder()
            .with_url(url())
            .with_table("a.b.c"),
        PostgresBackend::builder().with_url(url()).with_pool_size(0),
        PostgresBackend::builder()
            .with_url(url())
            .with_cull_frequency(0),
        PostgresBackend::builder()
            .with_url(url())
            .with_cull_interval(Some(Duration::ZERO)),
        PostgresBackend::builder()
            .with_url(url())
            .with_response_timeout(Duration::ZERO),
        // Without the feature `tls`, TLS is refused; with it, an unreadable CA file is.
        PostgresBackend::builder()
            .with_url(format!("postgres://u:{secret}@h/db?sslmode=require"))
            .with_tls_ca_file("/no/such/ca.pem"),
        PostgresBackend::builder()
            .with_url(format!("host=h password={secret} sslmode=verify-full"))
            .with_tls_ca_file("/no/such/ca.pem"),
    ];
    for builder in cases {
        let shown = format!("{builder:?}");
        assert!(!shown.contains(secret), "{shown}");
        let err = builder.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err:#}");
        assert!(!format!("{err:#} {err:?}").contains(secret), "{err:?}");
    }
    // A wrong database: the server answers, and refuses.
    let missing = url()
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/no_such_db"))
        .unwrap();
    let err = PostgresBackend::connect(&missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:#}");
    // Nothing listens: unavailable, within the connect timeout.
    let started = Instant::now();
    let err = PostgresBackend::builder()
        .with_url(format!("postgres://u:{secret}@127.0.0.1:1/db"))
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:#}");
    assert!(err.is_temporary());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!format!("{err:#} {err:?}").contains(secret), "{err:?}");
}

#[tokio::test]
async fn lazy_backends_build_while_the_server_is_down() {
    let backend = PostgresBackend::builder()
        .with_url("postgres://postgres@127.0.0.1:1/postgres")
        .with_connect_timeout(Duration::from_millis(200))
        .with_lazy_connect(true)
        .build()
        .await
        .unwrap();
    let err = backend.cache().get::<i32>("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:#}");
}

/// Polls `check` until it holds, for at most 10 seconds.
async fn wait_for<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "the condition did not hold within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
