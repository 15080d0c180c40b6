//! A plain `set` racing `incr` on one key is never lost: whatever the timing, the answers
//! and the final value are those of some order of the calls (the set takes its fast path,
//! moka's plain insert, only when no read-modify-write is under way on the key's stripe).

use std::sync::Arc;

use cachette_memory::MemoryBackend;

/// The value the racing `set` writes, far from anything the increments reach.
const BIG: i64 = 1_000_000;

/// Increments per round.
const INCRS: i64 = 40;

/// Checks one round: `answers` are the `incr` answers in order, `last` the value after it.
/// Some split `m` must exist: the first `m` increments saw the old counting (1..=m), the
/// others counted from `BIG`; and the final value is the last increment's answer, or `BIG`
/// when the set came after every increment.
fn explained(answers: &[i64], last: i64) -> bool {
    let m = answers
        .iter()
        .zip(1..)
        .take_while(|(a, i)| **a == *i)
        .count();
    let after_ok = answers[m..].iter().zip(1..).all(|(a, i)| *a == BIG + i);
    let last_ok = if m == answers.len() {
        last == BIG
    } else {
        last == answers[answers.len() - 1]
    };
    after_ok && last_ok
}

#[test]
fn the_oracle_refuses_a_lost_set() {
    assert!(explained(&[1, 2, BIG + 1, BIG + 2], BIG + 2));
    assert!(explained(&[1, 2, 3], BIG));
    assert!(explained(&[BIG + 1, BIG + 2], BIG + 2));
    // The set landed between an increment's read and its write: overwritten.
    assert!(!explained(&[1, 2, 3], 3));
    assert!(!explained(&[1, 2, BIG + 1, 4], 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_racing_incr_is_never_lost() -> cachette_api::Result<()> {
    let backend = MemoryBackend::new();
    let cache = Arc::new(backend.cache());
    for round in 0..6_000_u32 {
        let key = format!("counter{}", round % 7);
        cache.set(&key, &0_i64).await?;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let incrs = {
            let (cache, key, barrier) = (Arc::clone(&cache), key.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let mut answers = Vec::with_capacity(INCRS as usize);
                for _ in 0..INCRS {
                    answers.push(cache.incr(&key, 1).await?);
                }
                Ok::<_, cachette_api::Error>(answers)
            })
        };
        let setter = {
            let (cache, key, barrier) = (Arc::clone(&cache), key.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                // Land somewhere among the increments: a few yields, then a short spin.
                for _ in 0..(round % 7) {
                    tokio::task::yield_now().await;
                }
                for _ in 0..(round % 997) {
                    std::hint::spin_loop();
                }
                cache.set(&key, &BIG).await
            })
        };
        let answers = incrs.await.unwrap()?;
        setter.await.unwrap()?;
        let last = cache.get::<i64>(&key).await?.unwrap_or(-1);
        assert!(
            explained(&answers, last),
            "round {round}: no order of the calls gives incr answers {answers:?} and a final {last}"
        );
    }
    Ok(())
}
