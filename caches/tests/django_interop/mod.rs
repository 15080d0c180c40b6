//! One Redis cache shared with a real Django application, both ways, for each Django cache
//! configuration: Django's built-in `RedisCache` and django-redis with its pickle, JSON and
//! MessagePack serializers, with and without zlib, zstd and lz4 compression.
//!
//! Each test runs `interop.py` (beside this file) in a virtual environment with Django and
//! django-redis from PyPI (made once per machine by `cache_test_support::django_python`)
//! against a redis-server of the tests' own, one database per configuration: Django writes,
//! Rust reads and checks and writes, Django reads and checks, Rust clears its prefix, Django
//! checks another prefix survived. A missing Python fails the test, saying what to install.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use cache_test_support::{run_python, RedisServer};
use cachette::{Cache, ErrorKind, Ttl};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Position {
    ticker: String,
    shares: i64,
    price: f64,
    tags: Vec<String>,
    note: Option<String>,
}

const TEXT: &str = "héllo wörld ✓ 日本";
const RAW: &[u8] = b"\x00\x01\xffraw";

/// The port of the redis-server all the configurations share (one database each).
fn redis_port() -> u16 {
    static SERVER: OnceLock<Result<RedisServer, String>> = OnceLock::new();
    match SERVER.get_or_init(RedisServer::start) {
        Ok(server) => server.port(),
        Err(e) => panic!("cannot start the test Redis server: {e}"),
    }
}

fn django(config: &str, url: &str, phase: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/django_interop/interop.py");
    if let Err(e) = run_python(&script, &[config, url, phase], Duration::from_secs(120)) {
        panic!("the Django side of {config} failed in phase {phase}:\n{e}");
    }
}

/// Runs one Django configuration both ways; `options` is our cache's codec options.
async fn both_ways(config: &str, db: u32, options: &str, json_only: bool, hint: Option<&str>) {
    let url = format!("redis://127.0.0.1:{}/{db}", redis_port());
    django(config, &url, "write");
    let cache = cachette::from_url(&format!("{url}?prefix=wheel_analyzer&version=1&{options}"))
        .await
        .unwrap();
    rust_reads_what_django_wrote(&cache, json_only).await;
    if let Some(hint) = hint {
        default_options_name_the_right_one(db, hint).await;
    }
    rust_writes(&cache, json_only).await;
    django(config, &url, "check");
    assert_eq!(
        cache.get::<i64>("rs:counter").await.unwrap(),
        Some(101),
        "Django's incr"
    );
    for key in ["rs:del1", "rs:del2"] {
        assert_eq!(
            cache.get::<String>(key).await.unwrap(),
            None,
            "{key}: Django's delete_many"
        );
    }
    assert_eq!(cache.get::<String>("rs:moves").await.unwrap(), None);
    assert_eq!(
        cache
            .with_version(2)
            .get::<String>("rs:moves")
            .await
            .unwrap()
            .as_deref(),
        Some("moved by django")
    );
    assert!(cache.clear().await.unwrap() > 0);
    for key in ["dj:position", "dj:keep", "rs:position", "rs:counter"] {
        assert!(
            !cache.has_key(key).await.unwrap(),
            "{key} left after clear()"
        );
    }
    let other = cachette::from_url(&format!("{url}?prefix=other_app&{options}"))
        .await
        .unwrap();
    assert_eq!(
        other.get::<String>("dj:other").await.unwrap().as_deref(),
        Some("not ours"),
        "clear() of wheel_analyzer removed other_app's key"
    );
    django(config, &url, "cleared");
}

async fn rust_reads_what_django_wrote(cache: &Cache, json_only: bool) {
    let position = Position {
        ticker: "AAPL".into(),
        shares: 100,
        price: 189.5,
        tags: vec!["wheel".into(), "tech".into()],
        note: None,
    };
    assert_eq!(
        cache.get::<Position>("dj:position").await.unwrap(),
        Some(position)
    );
    let as_map = cache
        .get::<BTreeMap<String, Value>>("dj:position")
        .await
        .unwrap();
    let want: BTreeMap<String, Value> = serde_json::from_value(json!({
        "ticker": "AAPL", "shares": 100, "price": 189.5, "tags": ["wheel", "tech"], "note": null
    }))
    .unwrap();
    assert_eq!(as_map, Some(want));
    assert_eq!(
        cache.get::<Value>("dj:nested").await.unwrap(),
        Some(json!([[1, 2], [3, [4, 5]], []]))
    );
    assert_eq!(
        cache.get::<String>("dj:text").await.unwrap().as_deref(),
        Some(TEXT)
    );
    if !json_only {
        assert_eq!(
            cache
                .get::<ByteBuf>("dj:bytes")
                .await
                .unwrap()
                .as_deref()
                .map(|b| &b[..]),
            Some(RAW)
        );
    }
    assert_eq!(cache.get::<f64>("dj:float").await.unwrap(), Some(1.0625e-3));
    assert_eq!(
        cache.get::<Option<i32>>("dj:none").await.unwrap(),
        Some(None)
    );
    assert_eq!(cache.get::<bool>("dj:bool").await.unwrap(), Some(true));
    assert_eq!(cache.get::<i64>("dj:big0").await.unwrap(), Some(1 << 62));
    assert_eq!(cache.get::<i64>("dj:big1").await.unwrap(), Some(i64::MIN));
    assert_eq!(cache.get::<u64>("dj:big2").await.unwrap(), Some(u64::MAX));
    assert_eq!(
        cache.get::<i64>("dj:counter").await.unwrap(),
        Some(11),
        "Django's incr"
    );
    assert_eq!(cache.incr("dj:counter", 5).await.unwrap(), 16);
    let ttl = cache.ttl("dj:ttl").await.unwrap();
    assert!(
        matches!(ttl, cachette::KeyTtl::Expires(d) if d > Duration::from_secs(60) && d <= Duration::from_secs(120)),
        "ttl of Django's 120 s key: {ttl:?}"
    );
    assert_eq!(cache.delete_many(&["dj:del1", "dj:del2"]).await.unwrap(), 2);
    assert_eq!(
        cache.get::<String>("dj:keep").await.unwrap().as_deref(),
        Some("kept")
    );
    assert_eq!(cache.get::<String>("dj:moved").await.unwrap(), None);
    assert_eq!(
        cache
            .with_version(2)
            .get::<String>("dj:moved")
            .await
            .unwrap()
            .as_deref(),
        Some("by django")
    );
    cache.incr_version("dj:rust_moves").await.unwrap();
}

async fn rust_writes(cache: &Cache, json_only: bool) {
    let position = Position {
        ticker: "MSFT".into(),
        shares: 100,
        price: 189.5,
        tags: vec!["rust".into()],
        note: None,
    };
    cache.set("rs:position", &position).await.unwrap();
    cache
        .set("rs:nested", &json!([[1, 2], [3, [4, 5]], []]))
        .await
        .unwrap();
    cache.set("rs:text", TEXT).await.unwrap();
    if !json_only {
        cache.set("rs:bytes", &ByteBuf::from(RAW)).await.unwrap();
    }
    cache.set("rs:float", &2.5).await.unwrap();
    cache.set("rs:none", &None::<i32>).await.unwrap();
    cache.set("rs:bool", &false).await.unwrap();
    cache.set("rs:big0", &(1i64 << 62)).await.unwrap();
    cache.set("rs:big1", &i64::MIN).await.unwrap();
    cache.set("rs:big2", &u64::MAX).await.unwrap();
    cache.set("rs:counter", &100).await.unwrap();
    cache
        .set_opts("rs:ttl", "expires", Ttl::secs(90))
        .await
        .unwrap();
    cache.set("rs:del1", &1).await.unwrap();
    cache.set("rs:del2", "two").await.unwrap();
    cache.set("rs:moves", "moved by django").await.unwrap();
}

/// A cache with the default options reading this configuration's values says which option
/// reads them.
async fn default_options_name_the_right_one(db: u32, wanted: &str) {
    let url = format!(
        "redis://127.0.0.1:{}/{db}?prefix=wheel_analyzer",
        redis_port()
    );
    let cache = cachette::from_url(&url).await.unwrap();
    let err = cache.get::<Position>("dj:position").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains(wanted), "{err}");
}

macro_rules! django_config {
    ($name:ident, $db:expr, $options:expr, json_only = $json:expr, default_reads_as = $hint:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
        async fn $name() {
            both_ways(stringify!($name), $db, $options, $json, $hint).await;
        }
    };
}

django_config!(
    builtin_redis,
    1,
    "codec=pickle",
    json_only = false,
    default_reads_as = Some("`codec=pickle`")
);
django_config!(
    django_redis_pickle,
    2,
    "codec=pickle",
    json_only = false,
    default_reads_as = Some("`codec=pickle`")
);
django_config!(
    django_redis_json,
    3,
    "codec=json",
    json_only = true,
    default_reads_as = Some("`codec=json`")
);
django_config!(
    django_redis_msgpack,
    4,
    "codec=msgpack",
    json_only = false,
    default_reads_as = None::<&str>
);
django_config!(
    django_redis_pickle_zlib,
    5,
    "codec=pickle&compression=zlib",
    json_only = false,
    default_reads_as = Some("`compression=zlib`")
);
django_config!(
    django_redis_pickle_zstd,
    6,
    "codec=pickle&compression=zstd",
    json_only = false,
    default_reads_as = Some("`compression=zstd`")
);
django_config!(
    django_redis_pickle_lz4,
    7,
    "codec=pickle&compression=lz4",
    json_only = false,
    default_reads_as = Some("`compression=lz4`")
);
django_config!(
    django_redis_msgpack_zlib,
    8,
    "compression=zlib",
    json_only = false,
    default_reads_as = Some("`compression=zlib`")
);
django_config!(
    django_redis_json_zstd,
    9,
    "codec=json&compression=zstd",
    json_only = true,
    default_reads_as = Some("`compression=zstd`")
);
