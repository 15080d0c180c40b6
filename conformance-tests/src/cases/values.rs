//! What values survive the codec: types, unicode, binary, size, evolution, failures.

use std::collections::{BTreeMap, HashMap};

use cachette_api::{ErrorKind, Result};
use serde::{Deserialize, Serialize, Serializer};

use crate::{expect_kind, Harness};

/// Strings, numbers, floats, booleans, sequences, maps, tuples, enums and unit values
/// round-trip with their type.
pub async fn data_types_round_trip(h: &Harness) -> Result<()> {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Signal {
        Buy { strike: f64 },
        Hold,
        Sell(u32),
    }
    let cache = h.handle();
    cache.set("string", "hello, world").await?;
    assert_eq!(
        cache.get::<String>("string").await?.as_deref(),
        Some("hello, world")
    );
    cache.set("int", &1234_i32).await?;
    assert_eq!(cache.get::<i32>("int").await?, Some(1234));
    cache.set("u64", &u64::MAX).await?;
    assert_eq!(cache.get::<u64>("u64").await?, Some(u64::MAX));
    cache.set("float", &-0.25_f64).await?;
    assert_eq!(cache.get::<f64>("float").await?, Some(-0.25));
    cache.set("bool", &false).await?;
    assert_eq!(cache.get::<bool>("bool").await?, Some(false));
    cache.set("list", &vec![1, 2, 3]).await?;
    assert_eq!(cache.get::<Vec<i32>>("list").await?, Some(vec![1, 2, 3]));
    let map = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
    cache.set("map", &map).await?;
    assert_eq!(cache.get::<BTreeMap<String, i32>>("map").await?, Some(map));
    let int_map = HashMap::from([(1_u8, "one".to_owned())]);
    cache.set("int_map", &int_map).await?;
    assert_eq!(
        cache.get::<HashMap<u8, String>>("int_map").await?,
        Some(int_map)
    );
    cache.set("tuple", &(1, "two", 3.0)).await?;
    assert_eq!(
        cache.get::<(i32, String, f64)>("tuple").await?,
        Some((1, "two".to_owned(), 3.0))
    );
    let signals = vec![Signal::Buy { strike: 145.0 }, Signal::Hold, Signal::Sell(3)];
    cache.set("enum", &signals).await?;
    assert_eq!(cache.get::<Vec<Signal>>("enum").await?, Some(signals));
    cache.set("unit", &()).await?;
    assert_eq!(cache.get::<()>("unit").await?, Some(()));
    cache.set("empty", "").await?;
    assert_eq!(cache.get::<String>("empty").await?.as_deref(), Some(""));
    Ok(())
}

/// The string `"2"` comes back as a string, `true` as a bool, `5` as an integer, whatever
/// the backend does to make `incr` work.
pub async fn integers_strings_and_bools_keep_their_type(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("s", "2").await?;
    cache.set("b", &true).await?;
    cache.set("i", &5).await?;
    assert_eq!(cache.get::<String>("s").await?.as_deref(), Some("2"));
    assert_eq!(cache.get::<bool>("b").await?, Some(true));
    assert_eq!(cache.get::<i64>("i").await?, Some(5));
    expect_kind(cache.get::<i64>("s").await, ErrorKind::Decode);
    expect_kind(cache.get::<String>("i").await, ErrorKind::Decode);
    expect_kind(cache.get::<i64>("b").await, ErrorKind::Decode);
    Ok(())
}

/// Unicode keys and values (Django's `test_unicode`).
pub async fn unicode_keys_and_values(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let pairs = [
        ("ascii", "ascii_value"),
        ("unicode_ascii", "Iñtërnâtiônàlizætiøn1"),
        ("Iñtërnâtiônàlizætiøn", "Iñtërnâtiônàlizætiøn2"),
        ("日本語:キー", "値"),
        ("emoji:🦀", "🚀"),
    ];
    for (key, value) in pairs {
        cache.set(key, value).await?;
        assert_eq!(cache.get::<String>(key).await?.as_deref(), Some(value));
        assert!(cache.delete(key).await?);
        assert!(cache.add(key, value).await?);
        assert!(cache.touch(key).await?);
    }
    let found: HashMap<String, String> = cache.get_many(&pairs.map(|(k, _)| k)).await?;
    assert_eq!(found.len(), pairs.len());
    Ok(())
}

/// Binary values, every byte value included (Django's `test_binary_string`).
pub async fn binary_values(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let all_bytes: Vec<u8> = (0..=255).collect();
    cache.set("binary", &all_bytes).await?;
    assert_eq!(
        cache.get::<Vec<u8>>("binary").await?,
        Some(all_bytes.clone())
    );
    assert!(cache.add("binary2", &all_bytes).await?);
    assert_eq!(cache.get::<Vec<u8>>("binary2").await?, Some(all_bytes));
    Ok(())
}

/// A 2 MiB value round-trips.
pub async fn large_value_round_trip(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let value = "x".repeat(2 * 1024 * 1024);
    cache.set("large", &value).await?;
    assert_eq!(cache.get::<String>("large").await?, Some(value));
    Ok(())
}

/// A value over the configured maximum is refused with `TooLarge`, and nothing is written.
pub async fn value_over_max_size_is_too_large(h: &Harness) -> Result<()> {
    let cache = h.handle_of(h.builder().with_max_value_size(1024).build()?);
    cache.set("k", "old").await?;
    let err = expect_kind(cache.set("k", &"x".repeat(2000)).await, ErrorKind::TooLarge);
    assert_eq!(err.key(), Some("k"));
    expect_kind(
        cache.add("new", &"x".repeat(2000)).await,
        ErrorKind::TooLarge,
    );
    expect_kind(
        cache.set_many([("a", "x".repeat(2000))]).await,
        ErrorKind::TooLarge,
    );
    assert_eq!(cache.get::<String>("k").await?.as_deref(), Some("old"));
    assert!(!cache.has_key("a").await?);
    Ok(())
}

/// A value that fails to encode is an `Encode` error from `set` and `add`, never "not
/// stored", and nothing is written (Django's `test_set_fail_on_pickleerror`).
pub async fn encode_failure_is_encode_error(h: &Harness) -> Result<()> {
    struct Unserializable;
    impl Serialize for Unserializable {
        fn serialize<S: Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(
                "this value refuses to be serialized",
            ))
        }
    }
    let cache = h.handle();
    let err = expect_kind(cache.set("k", &Unserializable).await, ErrorKind::Encode);
    assert_eq!(err.key(), Some("k"));
    expect_kind(cache.add("k", &Unserializable).await, ErrorKind::Encode);
    expect_kind(
        cache
            .set_many([("a", 1)].map(|(k, _)| (k, Unserializable)))
            .await,
        ErrorKind::Encode,
    );
    assert!(!cache.has_key("k").await?);
    assert!(!cache.has_key("a").await?);
    Ok(())
}

/// A value read as the wrong type is a `Decode` error naming the key, never a miss.
pub async fn wrong_type_is_decode_error_naming_key(h: &Harness) -> Result<()> {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Quote {
        ticker: String,
        price: f64,
    }
    let cache = h.handle();
    cache
        .set("earnings:AAPL", &vec!["not", "a", "quote"])
        .await?;
    let err = expect_kind(cache.get::<Quote>("earnings:AAPL").await, ErrorKind::Decode);
    assert_eq!(err.key(), Some("earnings:AAPL"));
    let err = expect_kind(
        cache.get_many::<Quote, _>(&["earnings:AAPL"]).await,
        ErrorKind::Decode,
    );
    assert_eq!(err.key(), Some("earnings:AAPL"));
    // Raw bytes written by someone else under our key.
    let raw = cache.make_key("garbage")?;
    h.backend()
        .set(
            &raw,
            cachette_api::Bytes::from_static(b"\xc1\xff\x00junk"),
            cachette_api::SetOptions::new(cachette_api::Expiry::After(
                std::time::Duration::from_secs(60),
            )),
        )
        .await?;
    let err = expect_kind(cache.get::<String>("garbage").await, ErrorKind::Decode);
    assert_eq!(err.key(), Some("garbage"));
    Ok(())
}

/// A value written by a struct reads back after the struct gains an optional field.
pub async fn struct_gains_optional_field(h: &Harness) -> Result<()> {
    #[derive(Serialize)]
    struct V1 {
        ticker: String,
        price: f64,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct V2 {
        ticker: String,
        price: f64,
        #[serde(default)]
        eps: Option<f64>,
    }
    let cache = h.handle();
    cache
        .set(
            "quote",
            &V1 {
                ticker: "AAPL".into(),
                price: 1.0,
            },
        )
        .await?;
    assert_eq!(
        cache.get::<V2>("quote").await?,
        Some(V2 {
            ticker: "AAPL".into(),
            price: 1.0,
            eps: None
        })
    );
    Ok(())
}
