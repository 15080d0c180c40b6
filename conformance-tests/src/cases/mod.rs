//! The cases, one `pub async fn` per behaviour, grouped by theme.
//!
//! Each takes a [`Harness`](crate::Harness) and returns `Result`, so it can use `?`; a failed
//! assertion panics with the values it compared.

mod concurrency;
mod counters;
mod expiry;
mod first_writer;
mod get_or_set;
mod keys;
mod model;
mod namespaces;
mod reads_and_writes;
mod resilience;
mod seed;
mod shared;
mod takeover;
mod values;
mod versions;

pub use concurrency::*;
pub use counters::*;
pub use expiry::*;
pub use first_writer::*;
pub use get_or_set::*;
pub use keys::*;
pub use model::*;
pub use namespaces::*;
pub use reads_and_writes::*;
pub use resilience::*;
pub use seed::*;
pub use shared::*;
pub use takeover::*;
pub use values::*;
pub use versions::*;

/// Short expiry used by the cases that wait for an entry to expire.
pub(crate) const SHORT: std::time::Duration = std::time::Duration::from_millis(300);

/// Sleeps past [`SHORT`].
pub(crate) async fn sleep_past_short() {
    tokio::time::sleep(SHORT * 2).await;
}
