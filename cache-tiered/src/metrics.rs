//! [`record_metrics`]: the layer's counters through the `metrics` facade (feature `metrics`).

use crate::TieredLayer;

/// Publishes the counters of `layer` (see [`TieredStats`](crate::TieredStats)) under the label
/// `cache = name`, as cumulative counters: `cachette_tiered_l1_hits_total`,
/// `cachette_tiered_l1_misses_total`, `cachette_tiered_l1_rejected_total`,
/// `cachette_tiered_l1_fills_total`, `cachette_tiered_stale_hits_total`,
/// `cachette_tiered_unconfirmed_hits_total`, `cachette_tiered_invalidations_received_total`,
/// `cachette_tiered_invalidations_published_total`, `cachette_tiered_publish_failures_total`,
/// `cachette_tiered_disconnects_total`, `cachette_tiered_reconnects_total`; and the gauge
/// `cachette_tiered_channel_connected` (1 or 0).
///
/// Call it periodically (at each scrape, or every few seconds from a task): it only reads
/// atomics. Alert on `unconfirmed_hits` and `stale_hits` growing: L1 is then answering while
/// the invalidation channel cannot vouch for it.
pub fn record_metrics(name: &str, layer: &TieredLayer) {
    let stats = layer.stats();
    let labels = [("cache", name.to_owned())];
    for (metric, value) in [
        ("cachette_tiered_l1_hits_total", stats.l1_hits),
        ("cachette_tiered_l1_misses_total", stats.l1_misses),
        ("cachette_tiered_l1_rejected_total", stats.l1_rejected),
        ("cachette_tiered_l1_fills_total", stats.l1_fills),
        ("cachette_tiered_stale_hits_total", stats.stale_hits),
        (
            "cachette_tiered_unconfirmed_hits_total",
            stats.unconfirmed_hits,
        ),
        (
            "cachette_tiered_invalidations_received_total",
            stats.invalidations_received,
        ),
        (
            "cachette_tiered_invalidations_published_total",
            stats.invalidations_published,
        ),
        (
            "cachette_tiered_publish_failures_total",
            stats.publish_failures,
        ),
        ("cachette_tiered_disconnects_total", stats.disconnects),
        ("cachette_tiered_reconnects_total", stats.reconnects),
    ] {
        metrics::counter!(metric, &labels).absolute(value);
    }
    let connected = if layer.channel_connected() { 1.0 } else { 0.0 };
    metrics::gauge!("cachette_tiered_channel_connected", &labels).set(connected);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use cachette_api::{Bytes, CacheBackend, Expiry, SetOptions};
    use cachette_memory::MemoryBackend;
    use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata};
    use metrics::{Recorder, SharedString, Unit};

    use super::*;
    use crate::LocalInvalidation;

    /// The last value of each series, by metric name (the label is checked apart).
    #[derive(Debug, Default, Clone)]
    struct Last(Arc<Mutex<HashMap<String, f64>>>);

    struct Series(Last, String);

    impl CounterFn for Series {
        fn increment(&self, _: u64) {}
        fn absolute(&self, value: u64) {
            self.0
                 .0
                .lock()
                .unwrap()
                .insert(self.1.clone(), value as f64);
        }
    }

    impl GaugeFn for Series {
        fn increment(&self, _: f64) {}
        fn decrement(&self, _: f64) {}
        fn set(&self, value: f64) {
            self.0 .0.lock().unwrap().insert(self.1.clone(), value);
        }
    }

    fn series(last: &Last, key: &Key) -> Arc<Series> {
        assert!(
            key.labels()
                .any(|l| l.key() == "cache" && l.value() == "main"),
            "{key:?}"
        );
        Arc::new(Series(last.clone(), key.name().to_owned()))
    }

    impl Recorder for Last {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(series(self, key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(series(self, key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[tokio::test]
    async fn the_counters_reach_the_recorder() {
        let layer = TieredLayer::builder(MemoryBackend::new(), MemoryBackend::new())
            .with_invalidation(LocalInvalidation::new())
            .build()
            .await
            .unwrap();
        let minute = SetOptions::new(Expiry::After(std::time::Duration::from_secs(60)));
        layer
            .set("k", Bytes::from_static(b"v"), minute)
            .await
            .unwrap();
        layer.get("k").await.unwrap();
        layer.get("missing").await.unwrap();
        let last = Last::default();
        metrics::with_local_recorder(&last, || record_metrics("main", &layer));
        let values = last.0.lock().unwrap();
        assert_eq!(values["cachette_tiered_l1_hits_total"], 1.0, "{values:?}");
        assert_eq!(values["cachette_tiered_l1_misses_total"], 1.0, "{values:?}");
        assert_eq!(values["cachette_tiered_unconfirmed_hits_total"], 0.0);
        assert_eq!(values["cachette_tiered_channel_connected"], 1.0);
        assert_eq!(values.len(), 12, "{values:?}");
    }
}
