//! `get_shared`: the read that may hand out one decoded value to every caller answers exactly
//! what `get` answers, whatever wrote the entry and whichever handle decoded it first.

use std::fmt::Debug;

use cachette_api::{Bytes, Codec, Compression, ErrorKind, Expiry, Result, SetOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{expect_kind, Handle, Harness};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
}

/// The ticker alone: decodes from a stored `Quote` too (serde skips the other field).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Ticker {
    ticker: String,
}

/// Reads `key` with `get`, then twice with `get_shared` (the second read may be answered from
/// the value the first one decoded), checks that the three answers agree — the value, the
/// miss, or the error's kind and key — and that each `get_shared` moved the handle's counters
/// as the `get` did; answers what `get` answered.
async fn agree<T>(cache: &Handle, key: &str) -> Result<Option<T>>
where
    T: DeserializeOwned + PartialEq + Debug + Send + Sync + 'static,
{
    let before = cache.stats();
    let plain = cache.get::<T>(key).await;
    let after_get = cache.stats();
    for read in 1..=2 {
        let shared = cache.get_shared::<T>(key).await;
        match (&plain, &shared) {
            (Ok(expected), Ok(found)) => {
                assert_eq!(found.as_deref(), expected.as_ref(), "{key}, read {read}");
            }
            (Err(expected), Err(found)) => {
                assert_eq!(found.kind(), expected.kind(), "{key}, read {read}: {found}");
                assert_eq!(found.key(), expected.key(), "{key}, read {read}: {found}");
            }
            _ => panic!("{key}, read {read}: get answered {plain:?}, get_shared {shared:?}"),
        }
    }
    let after = cache.stats();
    for (what, before, after_get, after) in [
        ("hits", before.hits, after_get.hits, after.hits),
        ("misses", before.misses, after_get.misses, after.misses),
        ("errors", before.errors, after_get.errors, after.errors),
    ] {
        assert_eq!(after - after_get, 2 * (after_get - before), "{key}: {what}");
    }
    plain
}

/// `get_shared` answers what `get` answers: a miss, a hit, the new value after every kind of
/// write (through the handle or beneath it, `set`, `set_many`, `incr`) and after `touch` and
/// `delete`, a stored `None`, a `Decode` error naming the key for a wrong type (before and
/// after the right type was read), another type that decodes from the same bytes, and, when
/// this build has zlib or JSON, handles that decode differently reading the same entry.
pub async fn get_shared_answers_what_get_answers(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let aapl = Quote {
        ticker: "AAPL".to_owned(),
        price: 189.5,
    };
    let msft = Quote {
        ticker: "MSFT".to_owned(),
        price: 410.25,
    };
    assert_eq!(agree::<Quote>(&cache, "quote").await?, None);

    cache.set("quote", &aapl).await?;
    assert_eq!(agree(&cache, "quote").await?, Some(aapl.clone()));
    cache.set("quote", &msft).await?;
    assert_eq!(agree(&cache, "quote").await?, Some(msft.clone()));
    cache.set_many([("quote", &aapl)]).await?;
    assert_eq!(agree(&cache, "quote").await?, Some(aapl.clone()));
    // Written beneath the handle, as another program would.
    let raw = cache.make_key("quote")?;
    let encoded = rmp_serde::to_vec_named(&msft).expect("a Quote encodes");
    h.backend()
        .set(
            &raw,
            Bytes::from(encoded),
            SetOptions::new(Expiry::After(std::time::Duration::from_secs(60))),
        )
        .await?;
    assert_eq!(agree(&cache, "quote").await?, Some(msft.clone()));
    assert!(cache.touch("quote").await?);
    assert_eq!(agree(&cache, "quote").await?, Some(msft.clone()));

    // Another type from the same bytes, then a wrong one, then the first again.
    let ticker = Ticker {
        ticker: "MSFT".to_owned(),
    };
    assert_eq!(agree(&cache, "quote").await?, Some(ticker));
    let err = expect_kind(agree::<Vec<u32>>(&cache, "quote").await, ErrorKind::Decode);
    assert_eq!(err.key(), Some("quote"));
    assert_eq!(agree(&cache, "quote").await?, Some(msft));

    cache.set("count", &1_i64).await?;
    assert_eq!(agree(&cache, "count").await?, Some(1_i64));
    cache.incr("count", 5).await?;
    assert_eq!(agree(&cache, "count").await?, Some(6_i64));

    cache.set("nothing", &None::<Quote>).await?;
    assert_eq!(agree(&cache, "nothing").await?, Some(None::<Quote>));

    assert!(cache.delete("quote").await?);
    assert_eq!(agree::<Quote>(&cache, "quote").await?, None);

    if Compression::Zlib.is_available() {
        let zlib = h.handle_of(h.builder().with_compression(Compression::Zlib).build()?);
        let long = "compressible ".repeat(100);
        zlib.set("long", &long).await?;
        assert_eq!(agree(&zlib, "long").await?, Some(long));
        // The same entry through a handle without compression, and through one whose size
        // limit the value inflates past: errors, as their `get` answers, not the value the
        // zlib handle decoded.
        expect_kind(agree::<String>(&cache, "long").await, ErrorKind::Decode);
        let small = h.handle_of(
            h.builder()
                .with_compression(Compression::Zlib)
                .with_max_value_size(100)
                .build()?,
        );
        expect_kind(agree::<String>(&small, "long").await, ErrorKind::TooLarge);
    }
    if Codec::Json.is_available() {
        let json = h.handle_of(h.builder().with_codec(Codec::Json).build()?);
        cache.set("quote", &aapl).await?;
        assert_eq!(agree(&cache, "quote").await?, Some(aapl));
        expect_kind(agree::<Quote>(&json, "quote").await, ErrorKind::Decode);
    }
    Ok(())
}
