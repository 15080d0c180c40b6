//! The conformance suite every cache backend must pass.
//!
//! One documented `pub async fn` per behaviour lives in [`cases`]; the list of cases is
//! written once, in [`conformance_suite!`], which expands to one named `#[tokio::test]` per
//! case. A backend's test file is then a few lines:
//!
//! ```ignore
//! mod memory {
//!     cachette_conformance::conformance_suite!("memory", || async {
//!         std::sync::Arc::new(cachette_memory::MemoryBackend::new()) as cachette_api::DynCacheBackend
//!     });
//! }
//! ```
//!
//! Every case gets a [`Harness`] with a fresh random prefix, so cases run in parallel against
//! one shared store and never flush it. A third-party backend proves it conforms by depending
//! on this crate and instantiating the macro.
#![deny(missing_docs)]
// This crate is a test suite: a failed assertion (a panic) is how a case reports.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod cases;
mod handle;
mod harness;

pub use handle::Handle;
pub use harness::{expect_kind, Harness};

/// Re-exported for the macro.
#[doc(hidden)]
pub use tokio as __tokio;

/// Expands to one `#[tokio::test]` per conformance case, each run against a backend made by
/// `$make` (an async closure returning a [`cachette_api::DynCacheBackend`]) and named after the
/// case. `$name` is the name the backend must report (`"memory"`, `"redis"`).
///
/// Put it inside a module named after the backend, so that `cargo test -- --list` shows
/// `memory::cache_set_and_get`, `redis::cache_set_and_get`, ….
#[macro_export]
macro_rules! conformance_suite {
    ($name:expr, $make:expr) => {
        $crate::__handle_cases!(|harness| harness, $name, $make);
        $crate::__conformance_cases!(|harness| harness, $name, $make;
            // Cancelling a caller: a blocking call cannot be cancelled.
            get_or_set_with_cancelled_leader_frees_the_slot,
            // 20 callers at once as Tokio tasks: blocking calls take a worker each, so they
            // would not overlap; cache-api/tests/blocking.rs runs it with 20 threads.
            get_or_set_with_loader_error_is_shared_and_not_cached,
            // Resilient loading (get_or_set_with_policy, get_or_set_many).
            policy_lease_runs_loader_once_across_handles,
            policy_serves_stale_while_revalidating,
            policy_fail_safe_serves_stale_on_loader_error,
            policy_soft_timeout_serves_stale_and_fills_later,
            policy_hard_timeout_is_an_error_and_fills_later,
            policy_cancelled_caller_leaves_nothing_stuck,
            policy_reloads_undecodable_values_when_asked,
            get_or_set_many_loads_missing_keys_once,
            get_or_set_many_joins_running_loads_and_reports_failures,
            // First writer wins; followers take over.
            add_or_get_is_first_writer_wins,
            add_or_get_many_is_first_writer_wins_per_entry,
            get_with_expiry_answers_the_remaining_life,
            get_or_set_with_racing_writer_wins,
            every_loader_lets_a_racing_writer_win,
            get_or_set_many_takes_over_from_a_cancelled_leader,
            get_or_set_many_takes_over_from_a_panicking_leader,
            policy_panicking_loader_releases_its_lease,
            policy_follower_takes_over_after_the_lease,
        );
    };
}

/// [`conformance_suite!`]'s cases that drive the cache through a [`Handle`] (the seed's 13
/// and Django's), run against the [blocking handle](cachette_api::blocking::Cache) over the
/// backend made by `$make`: one `#[tokio::test]` per case, the handle called straight from
/// the test's Tokio task.
///
/// Put it inside a module named `blocking_<backend>`:
///
/// ```ignore
/// mod blocking_memory {
///     cachette_conformance::blocking_conformance_suite!("memory", || async {
///         std::sync::Arc::new(cachette_memory::MemoryBackend::new()) as cachette_api::DynCacheBackend
///     });
/// }
/// ```
#[macro_export]
macro_rules! blocking_conformance_suite {
    ($name:expr, $make:expr) => {
        $crate::__handle_cases!(|harness: $crate::Harness| harness.blocking(), $name, $make);
    };
}

/// Implementation detail of [`conformance_suite!`]: the cases written against [`Handle`].
#[doc(hidden)]
#[macro_export]
macro_rules! __handle_cases {
    ($($head:tt)*) => {
        $crate::__conformance_cases!($($head)*;
            // The 13 tests of the seed application, without their `test_` prefix.
            cache_backend_is_configured,
            cache_set_and_get,
            cache_ttl_constants_defined,
            cache_key_prefix_constants_defined,
            cache_delete,
            cache_expiration,
            cache_get_with_default,
            cache_get_or_set,
            cache_handles_complex_types,
            cache_clear,
            cache_get_handles_none_gracefully,
            cache_set_with_zero_timeout,
            cache_delete_nonexistent_key,
            // Django's BaseCacheTests, carried over.
            none_stored_is_a_hit,
            prefixes_do_not_collide,
            add_does_not_overwrite,
            add_over_expired_entry,
            add_with_zero_timeout_stores_nothing,
            get_many_returns_found_keys_only,
            get_many_includes_stored_none,
            batch_calls_accept_empty_input,
            delete_answers_whether_key_existed,
            delete_many_counts_deleted_keys,
            has_key_respects_expiry_and_none,
            incr_and_decr,
            incr_missing_key_is_not_found,
            incr_expired_key_is_not_found,
            incr_non_integer_is_not_integer,
            incr_keeps_expiry,
            incr_overflow_keeps_value,
            decr_by_min_is_overflow,
            data_types_round_trip,
            integers_strings_and_bools_keep_their_type,
            expiration_applies_to_every_write,
            unicode_keys_and_values,
            binary_values,
            large_value_round_trip,
            value_over_max_size_is_too_large,
            set_many_stores_all_and_reports_no_failures,
            set_many_with_zero_timeout_deletes,
            set_many_with_invalid_key_writes_nothing,
            long_timeout,
            never_timeout,
            sub_millisecond_timeout_is_not_zero,
            default_timeout_and_never_are_different,
            versions_isolate_entries,
            version_override_per_call,
            version_view,
            incr_version_moves_value_and_ttl,
            incr_version_keeps_stored_none,
            incr_version_missing_is_not_found,
            decr_version,
            invalid_keys_are_refused,
            key_length_limit_is_250_bytes,
            invisible_and_unicode_whitespace_keys_are_refused,
            relaxed_key_policy,
            get_or_set_stores_default_once,
            get_or_set_with_zero_timeout,
            get_or_set_with_runs_loader_once,
            get_or_set_with_cached_none,
            touch_extends_expiry,
            touch_missing_key,
            touch_default_resets_expiry,
            touch_never_makes_key_permanent,
            touch_zero_deletes,
            encode_failure_is_encode_error,
            wrong_type_is_decode_error_naming_key,
            get_shared_answers_what_get_answers,
            struct_gains_optional_field,
            ttl_reports_missing_persistent_and_expiring,
            namespace_composes_keys,
            namespace_clear_leaves_the_rest,
            clear_with_glob_characters_in_prefix,
            stats_count_hits_misses_and_writes,
            concurrent_incr_is_exact,
            concurrent_add_has_one_winner,
            batches_of_100_keys,
            delete_if_value_is_compare_and_delete,
            set_if_present_writes_only_over_a_live_entry,
            clear_counts_live_keys_only,
            model_based_random_operations,
        );
    };
}

/// Implementation detail of [`conformance_suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($harness:expr, $name:expr, $make:expr; $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let backend: ::cachette_api::DynCacheBackend = ($make)().await;
            let harness = ($harness)($crate::Harness::new(backend, $name));
            if let Err(err) = $crate::cases::$case(&harness).await {
                panic!("{} failed with {err}\n{err:?}", stringify!($case));
            }
        }
    )*};
}
