//! Namespaces, clear, and counters.

use cachette_api::{Cache, Result};

use crate::{Handle, Harness};

/// `namespace` composes `{prefix}:{version}:{namespace}:{key}` and nests.
pub async fn namespace_composes_keys(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let scanner = cache.namespace("scanner");
    let sma = scanner.namespace("sma");
    assert_eq!(
        sma.make_key("AAPL")?,
        format!("{}:1:scanner:sma:AAPL", h.prefix())
    );
    sma.set("AAPL", &[190.1, 188.4]).await?;
    assert_eq!(
        cache.get::<Vec<f64>>("scanner:sma:AAPL").await?,
        Some(vec![190.1, 188.4])
    );
    assert_eq!(
        scanner.get::<Vec<f64>>("sma:AAPL").await?,
        Some(vec![190.1, 188.4])
    );
    assert!(format!("{sma:?}").contains(r#"namespace: "scanner:sma:""#));
    Ok(())
}

/// `clear` on a namespace view removes that namespace only.
pub async fn namespace_clear_leaves_the_rest(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let scanner = cache.namespace("scanner");
    let alphavantage = cache.namespace("alphavantage");
    scanner.set("last_run", "now").await?;
    scanner.namespace("sma").set("AAPL", &1.0).await?;
    alphavantage.set("earnings:AAPL", &1.5).await?;
    cache.set("scannerless", &1).await?;
    assert_eq!(scanner.clear().await?, 2);
    assert!(!scanner.has_key("last_run").await?);
    assert!(alphavantage.has_key("earnings:AAPL").await?);
    assert!(cache.has_key("scannerless").await?);
    Ok(())
}

/// Prefixes holding `*`, `?`, `[`, `]` or `\` are matched literally by `clear`: a cache
/// never clears another one's keys.
pub async fn clear_with_glob_characters_in_prefix(h: &Harness) -> Result<()> {
    let stem = h.other_prefix("g");
    let make = |p: String| -> Result<Handle> {
        Ok(h.handle_of(Cache::builder(h.backend().clone()).with_prefix(p).build()?))
    };
    let star = make(format!("{stem}*"))?;
    let question = make(format!("{stem}?"))?;
    let bracket = make(format!("{stem}[ab]"))?;
    let backslash = make(format!("{stem}\\"))?;
    let plain_a = make(format!("{stem}a"))?;
    let plain_ab = make(format!("{stem}ab"))?;
    let all = [&star, &question, &bracket, &backslash, &plain_a, &plain_ab];
    for cache in all {
        cache.set("k", cache.prefix()).await?;
    }
    assert_eq!(star.clear().await?, 1);
    assert_eq!(question.clear().await?, 1);
    assert_eq!(bracket.clear().await?, 1);
    assert_eq!(backslash.clear().await?, 1);
    for cache in [&plain_a, &plain_ab] {
        assert_eq!(
            cache.get::<String>("k").await?.as_deref(),
            Some(cache.prefix()),
            "{} was cleared by another cache",
            cache.prefix()
        );
        cache.clear().await?;
    }
    Ok(())
}

/// Hits, misses, writes and deletes are counted, and shared by every view of a cache.
pub async fn stats_count_hits_misses_and_writes(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("a", &1).await?;
    cache.namespace("ns").set("b", &2).await?;
    cache.set_many([("c", 3), ("d", 4)]).await?;
    let _: Option<i32> = cache.get("a").await?;
    let _: Option<i32> = cache.get("missing").await?;
    let _ = cache.get_many::<i32, _>(&["c", "d", "e"]).await?;
    cache.delete("a").await?;
    let _ = cache.get::<String>("c").await;
    let stats = cache.stats();
    assert_eq!(stats.sets, 4);
    assert_eq!(stats.hits, 4);
    assert_eq!(stats.misses, 2);
    assert_eq!(stats.deletes, 1);
    assert_eq!(stats.errors, 1);
    assert_eq!(stats.hit_rate(), Some(4.0 / 6.0));
    Ok(())
}
