//! Bad input, over a real Redis server and the memory backend: every input gets a clear,
//! typed error (or is accepted, where the table says so) and changes nothing.
//!
//! The table test prints each input and what each backend answered (`--nocapture`); the
//! property tests feed arbitrary strings as keys. Arbitrary bytes fed to the codec are
//! covered by `cache-api`'s own property test and by the `fuzz/` target.

// The helpers below are test code too: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::raw;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use cache_test_support::RedisServer;
use cachette_api::{
    Bytes, Cache, CacheBackend, DynCacheBackend, Error, ErrorKind, Expiry, KeyPolicy, SetOptions,
};
use cachette_memory::MemoryBackend;
use cachette_redis::RedisBackend;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::aio::MultiplexedConnection;

/// The largest encoded value the caches here accept.
const MAX_VALUE: usize = 1024;

fn start() -> RedisServer {
    match RedisServer::start() {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

// ----- the table ----------------------------------------------------------------------------------

/// What another client stored under one of our keys before the call.
#[derive(Debug, Clone)]
enum Setup {
    Nothing,
    /// Raw bytes, written through the backend under the composed key.
    Bytes(&'static str, Vec<u8>),
    /// A Redis list (`RPUSH`): only Redis can hold one.
    RedisList(&'static str),
}

/// The call under test; each reads into a fixed type.
#[derive(Debug, Clone)]
enum Call {
    Get(String),
    GetBytes(String),
    GetInts(String),
    GetMap(String),
    Set(String, String),
    SetMany(Vec<(String, String)>),
    GetMany(Vec<String>),
    Incr(String, i64),
    Decr(String, i64),
}

impl Call {
    fn describe(&self) -> String {
        let short = |s: &str| {
            if s.len() > 24 {
                format!("{:?}…({} bytes)", &s[..12], s.len())
            } else {
                format!("{s:?}")
            }
        };
        match self {
            Call::Get(k) => format!("get::<String>({})", short(k)),
            Call::GetBytes(k) => format!("get::<Vec<u8>>({})", short(k)),
            Call::GetInts(k) => format!("get::<Vec<i64>>({})", short(k)),
            Call::GetMap(k) => format!("get::<HashMap<String,i64>>({})", short(k)),
            Call::Set(k, v) => format!("set({}, {})", short(k), short(v)),
            Call::SetMany(e) => format!(
                "set_many([{}])",
                e.iter()
                    .map(|(k, v)| format!("{}: {}", short(k), short(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Call::GetMany(k) => format!(
                "get_many([{}])",
                k.iter().map(|k| short(k)).collect::<Vec<_>>().join(", ")
            ),
            Call::Incr(k, d) => format!("incr({}, {d})", short(k)),
            Call::Decr(k, d) => format!("decr({}, {d})", short(k)),
        }
    }

    /// The user keys the call names (what a refused call must leave alone).
    fn keys(&self) -> Vec<String> {
        match self {
            Call::Get(k)
            | Call::GetBytes(k)
            | Call::GetInts(k)
            | Call::GetMap(k)
            | Call::Set(k, _)
            | Call::Incr(k, _)
            | Call::Decr(k, _) => vec![k.clone()],
            Call::SetMany(e) => e.iter().map(|(k, _)| k.clone()).collect(),
            Call::GetMany(k) => k.clone(),
        }
    }

    /// The one key a failed single-key call must name in its error.
    fn single_key(&self) -> Option<&str> {
        match self {
            Call::SetMany(_) | Call::GetMany(_) => None,
            Call::Get(k)
            | Call::GetBytes(k)
            | Call::GetInts(k)
            | Call::GetMap(k)
            | Call::Set(k, _)
            | Call::Incr(k, _)
            | Call::Decr(k, _) => Some(k),
        }
    }

    async fn run(&self, cache: &Cache) -> Result<String, Error> {
        fn shown<T: Debug>(v: T) -> String {
            let s = format!("{v:?}");
            if s.len() > 40 {
                format!("{}…", &s[..40])
            } else {
                s
            }
        }
        match self {
            Call::Get(k) => cache.get::<String>(k).await.map(shown),
            Call::GetBytes(k) => cache.get::<Vec<u8>>(k).await.map(shown),
            Call::GetInts(k) => cache.get::<Vec<i64>>(k).await.map(shown),
            Call::GetMap(k) => cache.get::<HashMap<String, i64>>(k).await.map(shown),
            Call::Set(k, v) => cache.set(k, v).await.map(shown),
            Call::SetMany(e) => cache.set_many(e.clone()).await.map(shown),
            Call::GetMany(k) => cache.get_many::<String, _>(k).await.map(shown),
            Call::Incr(k, d) => cache.incr(k, *d).await.map(shown),
            Call::Decr(k, d) => cache.decr(k, *d).await.map(shown),
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    input: &'static str,
    setup: Setup,
    call: Call,
    /// `None`: accepted (`Ok`).
    expect: Option<ErrorKind>,
}

fn case(input: &'static str, setup: Setup, call: Call, expect: Option<ErrorKind>) -> Case {
    Case {
        input,
        setup,
        call,
        expect,
    }
}

/// Every case's prefix is 5 bytes (`badNN`), so its head `badNN:1:` is 8 bytes.
const HEAD_LEN: usize = 8;

/// A MessagePack header claiming 4 GiB, followed by one byte.
fn huge_header(marker: u8) -> Vec<u8> {
    vec![marker, 0xff, 0xff, 0xff, 0xff, 0x01]
}

fn cases() -> Vec<Case> {
    use Call::*;
    use ErrorKind::*;
    let s = |k: &str| k.to_owned();
    let set = |k: &str| Set(k.to_owned(), "v".to_owned());
    let len250 = "k".repeat(250 - HEAD_LEN);
    let len251 = "k".repeat(251 - HEAD_LEN);
    let big = "x".repeat(MAX_VALUE + 100);
    let enc = |v: &str| rmp_serde::to_vec(v).unwrap();
    let n = Setup::Nothing;
    vec![
        case("empty key", n.clone(), Get(s("")), Some(InvalidKey)),
        case("empty key", n.clone(), set(""), Some(InvalidKey)),
        case(
            "key of 250 bytes composed",
            n.clone(),
            Set(len250, s("v")),
            None,
        ),
        case(
            "key of 251 bytes composed",
            n.clone(),
            Set(len251.clone(), s("v")),
            Some(InvalidKey),
        ),
        case(
            "key of 251 bytes composed",
            n.clone(),
            Get(len251),
            Some(InvalidKey),
        ),
        case("space", n.clone(), set("has space"), Some(InvalidKey)),
        case("tab", n.clone(), set("tab\tkey"), Some(InvalidKey)),
        case("newline", n.clone(), set("new\nline"), Some(InvalidKey)),
        case(
            "carriage return",
            n.clone(),
            set("cr\rkey"),
            Some(InvalidKey),
        ),
        case("NUL", n.clone(), set("nul\0key"), Some(InvalidKey)),
        case(
            "control BEL (U+0007)",
            n.clone(),
            set("bell\u{7}key"),
            Some(InvalidKey),
        ),
        case(
            "control DEL (U+007F)",
            n.clone(),
            set("del\u{7f}key"),
            Some(InvalidKey),
        ),
        case(
            "no-break space (U+00A0)",
            n.clone(),
            set("nbsp\u{a0}key"),
            Some(InvalidKey),
        ),
        case(
            "line separator (U+2028)",
            n.clone(),
            set("line\u{2028}sep"),
            Some(InvalidKey),
        ),
        case(
            "zero-width space (U+200B)",
            n.clone(),
            set("zero\u{200b}width"),
            Some(InvalidKey),
        ),
        case(
            "unicode key",
            n.clone(),
            Set(s("clé:日本語:🎉"), s("ünïcödé")),
            None,
        ),
        case(
            "unicode key read back",
            Setup::Bytes("clé:日本語:🎉", enc("ünïcödé")),
            Get(s("clé:日本語:🎉")),
            None,
        ),
        case(
            "bad key among good ones",
            n.clone(),
            GetMany(vec![s("fine"), s("bad key")]),
            Some(InvalidKey),
        ),
        case(
            "bad key",
            n.clone(),
            Incr(s("bad key"), 1),
            Some(InvalidKey),
        ),
        case(
            "value over max size (1 KiB)",
            n.clone(),
            Set(s("big"), big.clone()),
            Some(TooLarge),
        ),
        case(
            "one value over max size in set_many",
            n.clone(),
            SetMany(vec![(s("fits"), s("small")), (s("big"), big)]),
            Some(TooLarge),
        ),
        case(
            "garbage bytes stored by another client",
            Setup::Bytes("garbage", b"\xc1\xff\x00junk".to_vec()),
            Get(s("garbage")),
            Some(Decode),
        ),
        case(
            "MessagePack str32 header claiming 4 GiB",
            Setup::Bytes("huge", huge_header(0xdb)),
            Get(s("huge")),
            Some(Decode),
        ),
        case(
            "MessagePack bin32 header claiming 4 GiB",
            Setup::Bytes("huge", huge_header(0xc6)),
            GetBytes(s("huge")),
            Some(Decode),
        ),
        case(
            "MessagePack array32 header claiming 4 G items",
            Setup::Bytes("huge", huge_header(0xdd)),
            GetInts(s("huge")),
            Some(Decode),
        ),
        case(
            "MessagePack map32 header claiming 4 G entries",
            Setup::Bytes("huge", huge_header(0xdf)),
            GetMap(s("huge")),
            Some(Decode),
        ),
        case(
            "Redis list at our key",
            Setup::RedisList("list"),
            Get(s("list")),
            Some(WrongType),
        ),
        case(
            "Redis list at our key",
            Setup::RedisList("list"),
            GetMany(vec![s("list")]),
            None,
        ),
        case(
            "Redis list at our key",
            Setup::RedisList("list"),
            Incr(s("list"), 1),
            Some(WrongType),
        ),
        case(
            "incr on a string",
            Setup::Bytes("text", enc("not a number")),
            Incr(s("text"), 1),
            Some(NotInteger),
        ),
        case(
            "incr on raw \"12abc\"",
            Setup::Bytes("text", b"12abc".to_vec()),
            Incr(s("text"), 1),
            Some(NotInteger),
        ),
        case(
            "incr past i64::MAX",
            Setup::Bytes("max", i64::MAX.to_string().into_bytes()),
            Incr(s("max"), 1),
            Some(Overflow),
        ),
        case(
            "decr past i64::MIN",
            Setup::Bytes("min", i64::MIN.to_string().into_bytes()),
            Decr(s("min"), 1),
            Some(Overflow),
        ),
        case(
            "decr by i64::MIN",
            Setup::Bytes("n", b"0".to_vec()),
            Decr(s("n"), i64::MIN),
            Some(Overflow),
        ),
        case(
            "incr on u64::MAX stored raw",
            Setup::Bytes("u", u64::MAX.to_string().into_bytes()),
            Incr(s("u"), 1),
            Some(Overflow),
        ),
        case(
            "incr on a missing key",
            n,
            Incr(s("missing"), 1),
            Some(NotFound),
        ),
    ]
}

/// The peak virtual memory of this process, in KiB (`VmPeak` of `/proc/self/status`): a
/// 4 GiB allocation, even untouched and freed at once, raises it by 4 GiB.
fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmPeak:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// A Redis database: key → (type, contents).
type Dump = BTreeMap<Vec<u8>, (String, Vec<Vec<u8>>)>;

/// What the backend holds under the keys a case names, and (on Redis) in the whole database.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    keys: Vec<(String, Result<Option<Bytes>, ErrorKind>)>,
    entries: Option<u64>,
    redis: Option<Dump>,
}

/// Every key of a Redis database with its type and contents (TTLs left out: they move).
async fn redis_dump(conn: &mut MultiplexedConnection) -> Dump {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query_async(conn).await.unwrap();
    let mut dump = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        let contents: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query_async(conn).await.unwrap()],
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(conn)
                .await
                .unwrap(),
            other => panic!("unexpected type {other}"),
        };
        dump.insert(key, (kind, contents));
    }
    dump
}

struct Target {
    name: &'static str,
    backend: DynCacheBackend,
    memory: Option<MemoryBackend>,
    redis: Option<MultiplexedConnection>,
}

impl Target {
    async fn snapshot(&mut self, prefix: &str, keys: &[String]) -> Snapshot {
        // A relaxed view reaches the keys the strict one refuses.
        let relaxed = Cache::builder(self.backend.clone())
            .with_prefix(prefix)
            .with_key_policy(KeyPolicy::relaxed())
            .build()
            .unwrap();
        let mut seen = Vec::new();
        for key in keys {
            let Ok(composed) = relaxed.make_key(key) else {
                continue;
            };
            let got = self.backend.get(&composed).await.map_err(|e| e.kind());
            seen.push((composed, got));
        }
        let entries = match &self.memory {
            Some(memory) => {
                memory.run_pending_tasks().await;
                Some(memory.entry_count())
            }
            None => None,
        };
        let redis = match self.redis.as_mut() {
            Some(conn) => Some(redis_dump(conn).await),
            None => None,
        };
        Snapshot {
            keys: seen,
            entries,
            redis,
        }
    }

    /// Runs one case on a fresh prefix and returns what the call answered, as shown in the
    /// table; fails the test when the answer is not the expected one or something changed.
    async fn run(&mut self, index: usize, case: &Case) -> String {
        let prefix = format!("bad{index:02}");
        let cache = Cache::builder(self.backend.clone())
            .with_prefix(&prefix)
            .with_max_value_size(MAX_VALUE)
            .build()
            .unwrap();
        match &case.setup {
            Setup::Nothing => {}
            Setup::Bytes(key, bytes) => {
                let composed = cache.make_key(key).unwrap();
                let options = SetOptions::new(Expiry::Never);
                self.backend
                    .set(&composed, Bytes::from(bytes.clone()), options)
                    .await
                    .unwrap();
            }
            Setup::RedisList(key) => {
                let Some(conn) = self.redis.as_mut() else {
                    return "n/a (no lists)".to_owned();
                };
                let composed = cache.make_key(key).unwrap();
                redis::cmd("RPUSH")
                    .arg(&composed)
                    .arg("a")
                    .arg("b")
                    .query_async::<()>(conn)
                    .await
                    .unwrap();
            }
        }
        let mut watched = case.call.keys();
        if let Setup::Bytes(key, _) | Setup::RedisList(key) = &case.setup {
            watched.push((*key).to_owned());
        }
        let before = self.snapshot(&prefix, &watched).await;
        let peak_before = vm_peak_kib();
        let result = case.call.run(&cache).await;
        let grown_mib = (vm_peak_kib() - peak_before) / 1024;
        let after = self.snapshot(&prefix, &watched).await;
        let context = format!("{} / {}: {}", self.name, case.input, case.call.describe());

        assert!(
            grown_mib < 256,
            "{context}: peak memory grew by {grown_mib} MiB"
        );
        let shown = match (&result, case.expect) {
            (Ok(value), None) => format!("Ok: {value}"),
            (Err(err), Some(kind)) => {
                assert_eq!(err.kind(), kind, "{context}: {err:?}");
                if let Some(key) = case.call.single_key() {
                    assert_eq!(err.key(), Some(key), "{context}: the error names no key");
                    assert!(
                        err.to_string().contains(&format!("{key:?}")),
                        "{context}: {err}"
                    );
                }
                assert_eq!(before, after, "{context}: a refused call changed something");
                format!("{} ({})", kind.as_str(), err.message())
            }
            (other, expected) => panic!("{context}: expected {expected:?}, got {other:?}"),
        };
        // An accepted write is readable.
        if let (Call::Set(key, value), Ok(_)) = (&case.call, &result) {
            let read = cache.get::<String>(key).await.unwrap();
            assert_eq!(read.as_deref(), Some(value.as_str()), "{context}");
        }
        shown
    }
}

/// A cell of the printed table: one line, at most 70 characters.
fn cell(text: &str) -> String {
    let line = text.replace('\n', " ").replace('|', "\\|");
    if line.chars().count() > 70 {
        format!("{}…", line.chars().take(70).collect::<String>())
    } else {
        line
    }
}

#[tokio::test]
async fn bad_input_table_redis_and_memory() {
    let server = start();
    let redis_backend = RedisBackend::connect(&server.url()).await.unwrap();
    let mut redis_target = Target {
        name: "redis",
        backend: Arc::new(redis_backend),
        memory: None,
        redis: Some(raw(&server.url()).await),
    };

    println!("| input | call | expected | redis | memory |");
    println!("|---|---|---|---|---|");
    for (index, case) in cases().iter().enumerate() {
        let on_redis = redis_target.run(index, case).await;
        // A fresh memory backend per case, so that its entry count is the case's alone.
        let memory = MemoryBackend::new();
        let mut memory_target = Target {
            name: "memory",
            backend: Arc::new(memory.clone()),
            memory: Some(memory),
            redis: None,
        };
        let on_memory = memory_target.run(index, case).await;
        let expected = case
            .expect
            .map_or("Ok".to_owned(), |k| k.as_str().to_owned());
        println!(
            "| {} | `{}` | {expected} | {} | {} |",
            case.input,
            cell(&case.call.describe()),
            cell(&on_redis),
            cell(&on_memory)
        );
    }
}

// ----- arbitrary keys ----------------------------------------------------------------------------

/// Keys of every kind: arbitrary Unicode (control characters included), near the length
/// limit, and made of the characters the policy is about.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect()),
        "[a-z:]{235,250}",
        "[ -~\t\n\r\u{0}\u{7f}\u{85}\u{a0}\u{2028}\u{200b}é日🎉]{0,12}",
    ]
}

/// One arbitrary key through get, set, add, has_key, delete and get_many: never a panic, and
/// every error is `InvalidKey`, given exactly when the key breaks the policy.
async fn check_key(cache: &Cache, key: &str) -> Result<(), TestCaseError> {
    let valid = cache.make_key(key).is_ok();
    let outcomes: [(&str, Result<(), Error>); 6] = [
        ("get", cache.get::<i64>(key).await.map(|_| ())),
        ("set", cache.set(key, &7).await),
        ("add", cache.add(key, &8).await.map(|_| ())),
        ("has_key", cache.has_key(key).await.map(|_| ())),
        (
            "get_many",
            cache.get_many::<i64, _>(&[key]).await.map(|_| ()),
        ),
        ("delete", cache.delete(key).await.map(|_| ())),
    ];
    for (op, outcome) in outcomes {
        match outcome {
            Ok(()) => prop_assert!(valid, "{op}({key:?}) accepted a key make_key refuses"),
            Err(e) => {
                prop_assert_eq!(
                    e.kind(),
                    ErrorKind::InvalidKey,
                    "{}({:?}): {:?}",
                    op,
                    key,
                    e
                );
                prop_assert!(!valid, "{op}({key:?}) refused a valid key: {e:?}");
            }
        }
    }
    if valid {
        // set wrote 7, add did not overwrite it, delete removed it.
        prop_assert!(!cache.has_key(key).await.unwrap());
    }
    Ok(())
}

fn run_key_property(cache: &Cache, runtime: &tokio::runtime::Runtime, cases: u32) {
    let config = Config {
        cases,
        // A failure prints its minimal input; nothing is written next to the sources.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&any_key(), |key| runtime.block_on(check_key(cache, &key)));
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn arbitrary_keys_on_memory_give_invalid_key_or_work() {
    let runtime = current_thread();
    let cache = MemoryBackend::new()
        .cache_builder()
        .with_prefix("prop")
        .build()
        .unwrap();
    run_key_property(&cache, &runtime, 2000);
}

#[test]
fn arbitrary_keys_on_redis_give_invalid_key_or_work() {
    let server = start();
    let runtime = current_thread();
    let cache = runtime
        .block_on(RedisBackend::connect(&server.url()))
        .unwrap()
        .cache_builder()
        .with_prefix("prop")
        .build()
        .unwrap();
    run_key_property(&cache, &runtime, 300);
}
