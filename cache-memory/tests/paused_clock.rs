//! Expiry follows Tokio's clock: with paused time, advancing the clock expires entries,
//! without waiting (the example of docs/testing.md, run).

use std::time::Duration;

use cachette_api::{Expiry, KeyTtl, Ttl};
use cachette_memory::MemoryBackend;

#[tokio::test(start_paused = true)]
async fn entries_expire_when_the_paused_clock_advances() -> cachette_api::Result<()> {
    let cache = MemoryBackend::new().cache();
    cache
        .set_opts("quote:AAPL", &189.5, Duration::from_secs(45 * 60))
        .await?;
    cache.set_opts("forever", &1, Ttl::Never).await?;
    tokio::time::advance(Duration::from_secs(45 * 60 - 1)).await;
    assert_eq!(cache.get::<f64>("quote:AAPL").await?, Some(189.5));
    assert_eq!(
        cache.ttl("quote:AAPL").await?,
        KeyTtl::Expires(Duration::from_secs(1))
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(cache.get::<f64>("quote:AAPL").await?, None);
    assert!(!cache.has_key("quote:AAPL").await?);
    assert!(
        cache.add("quote:AAPL", &190.0).await?,
        "add writes over the expired entry"
    );
    assert_eq!(cache.get::<i32>("forever").await?, Some(1));
    let raw = cache.make_key("forever")?;
    let found = cache.backend().get_with_expiry(&raw).await?;
    assert_eq!(found.map(|(_, e)| e), Some(Expiry::Never));
    Ok(())
}

/// `clear` counts live entries only: one expired on Tokio's clock, which moka (on its own
/// clock) still holds, is removed but not counted.
#[tokio::test(start_paused = true)]
async fn clear_does_not_count_entries_expired_on_the_paused_clock() -> cachette_api::Result<()> {
    let cache = MemoryBackend::new().cache();
    cache
        .set_opts("expired", &1, Duration::from_secs(1))
        .await?;
    tokio::time::advance(Duration::from_secs(2)).await;
    cache.set("a", &1).await?;
    cache.set("b", &2).await?;
    assert_eq!(cache.clear().await?, 2);
    assert_eq!(cache.clear().await?, 0);
    Ok(())
}
