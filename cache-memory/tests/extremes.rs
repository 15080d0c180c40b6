//! Extreme values given to every option of the handle (TTLs, policy timeouts, lease, sizes):
//! no panic, no overflow, every call answers (bounded) with a value or a typed error.

use std::time::Duration;

use cachette_api::{Cache, FailSafe, KeyPolicy, Lease, LoadPolicy, Ttl};
use cachette_memory::MemoryBackend;
use proptest::prelude::*;

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::from_millis(u64::MAX)),
        (0u64..u64::MAX).prop_map(Duration::from_millis),
        (0u64..u64::MAX).prop_map(Duration::from_nanos),
    ]
}

async fn exercise(cache: &Cache, d: Duration) -> Result<(), String> {
    let bound = Duration::from_secs(10);
    let calls = async {
        let _ = cache.set_opts("k", &1, d).await;
        let _ = cache.add_opts("a", &1, d).await;
        let _ = cache.touch_opts("k", d).await;
        let _ = cache.set_many_opts([("m", 1)], d).await;
        let _ = cache.get_or_set_opts("g", 1, d).await;
        let _ = cache
            .get_or_set_with_opts("w", d, || async { Ok::<_, std::io::Error>(1) })
            .await;
        let policy = LoadPolicy::new()
            .with_ttl(d)
            .with_stale_while_revalidate(d)
            .with_fail_safe(FailSafe::new(d, d))
            .with_soft_timeout(d)
            .with_hard_timeout(d)
            .with_lease(Lease::new(d, d));
        let _ = cache
            .get_or_set_with_policy("p", &policy, || async { Ok::<_, std::io::Error>(1) })
            .await;
        let _ = cache.ttl("k").await;
        let _ = cache.incr("k", i64::MAX).await;
        let _ = cache.incr("k", i64::MIN).await;
        let _ = cache.decr("k", i64::MIN).await;
        let _ = cache.with_version(i64::MAX).incr_version("k").await;
        let _ = cache.with_version(i64::MIN).decr_version("k").await;
    };
    tokio::time::timeout(bound, calls)
        .await
        .map_err(|_| format!("calls with {d:?} did not answer within {bound:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn extreme_values_never_panic_and_always_answer(d in durations(), size in 0usize..4, max_len in 0usize..8) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        runtime.block_on(async {
            let store = MemoryBackend::new();
            let default_ttl = store.cache_builder().with_default_ttl(Ttl::After(d)).build();
            let tiny = store
                .cache_builder()
                .with_max_value_size(size)
                .with_key_policy(KeyPolicy::default().with_max_len(Some(max_len)))
                .build();
            for cache in [default_ttl, tiny].into_iter().flatten() {
                exercise(&cache, d).await.map_err(TestCaseError::fail)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
