//! Atomicity under concurrent tasks.

use cachette_api::Result;

use crate::Harness;

/// 64 tasks × 1,000 `incr` on one key give exactly 64,000.
pub async fn concurrent_incr_is_exact(h: &Harness) -> Result<()> {
    let cache = h.handle();
    cache.set("counter", &0).await?;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..1_000 {
                cache.incr("counter", 1).await?;
            }
            Ok::<_, cachette_api::Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("task panicked")?;
    }
    assert_eq!(cache.get::<i64>("counter").await?, Some(64_000));
    Ok(())
}

/// 64 tasks `add` the same key: exactly one is told it stored, and its value is there.
pub async fn concurrent_add_has_one_winner(h: &Harness) -> Result<()> {
    let cache = h.handle();
    let mut tasks = Vec::new();
    for i in 0..64_u32 {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .add("lock", &i)
                .await
                .map(|stored| stored.then_some(i))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(i) = task.await.expect("task panicked")? {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(cache.get::<u32>("lock").await?, Some(winners[0]));
    Ok(())
}
