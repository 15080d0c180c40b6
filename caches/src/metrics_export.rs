//! Metrics through the [`metrics`] facade, to the dashboards an application already has
//! (Prometheus, StatsD, … through their `metrics` exporters).
//!
//! With the `metrics` feature every cache pushes, as they happen, with the label `backend`
//! (`memory`, `redis`, `tiered`):
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `cachette_calls_total` | counter | `backend`, `operation`, `outcome` | backend calls, `outcome` being `ok` or the error kind |
//! | `cachette_call_duration_seconds` | histogram | `backend`, `operation`, `outcome` | latency of each backend call |
//! | `cachette_hits_total`, `cachette_misses_total` | counter | `backend` | keys read and found / not found |
//! | `cachette_sets_total`, `cachette_deletes_total` | counter | `backend` | keys written / deleted |
//! | `cachette_errors_total`, `cachette_ignored_errors_total` | counter | `backend` | failed calls / outages answered as misses (fail-open) |
//! | `cachette_stale_served_total`, `cachette_fail_safe_served_total` | counter | `backend` | stale values served by a load policy |
//!
//! and [`record_metrics`] sets the gauge `cachette_hit_ratio` of a named cache.

use cachette_api::Cache;

/// Sets the gauge `cachette_hit_ratio` of `cache`, labelled `cache = name` and `backend`:
/// its hits over its reads since it was built. The counters need no call: they are pushed
/// as they change.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachette::Result<()> {
/// let cache = cachette::from_url("memory://").await?;
/// let _: Option<i32> = cache.get("k").await?;
/// cachette::record_metrics("default", &cache); // no recorder installed: a no-op
/// # Ok(()) }
/// ```
pub fn record_metrics(name: &str, cache: &Cache) {
    if let Some(ratio) = cache.stats().hit_rate() {
        let labels = [
            ("cache", name.to_owned()),
            ("backend", cache.backend().name().to_owned()),
        ];
        metrics::gauge!("cachette_hit_ratio", &labels).set(ratio);
    }
}

impl crate::Caches {
    /// Sets the hit-ratio gauge of every named cache; see [`record_metrics`].
    pub fn record_metrics(&self) {
        for name in self.names() {
            if let Ok(cache) = self.get(name) {
                record_metrics(name, cache);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
        Recorder, SharedString, Unit,
    };

    use super::*;

    type Values = Arc<Mutex<BTreeMap<String, f64>>>;

    #[derive(Debug, Default)]
    struct Capture(Values);

    struct Slot(Values, String);

    impl CounterFn for Slot {
        fn increment(&self, value: u64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
        }
        fn absolute(&self, value: u64) {
            self.0.lock().unwrap().insert(self.1.clone(), value as f64);
        }
    }

    impl HistogramFn for Slot {
        fn record(&self, _seconds: f64) {
            // A histogram's sample count, under its name.
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += 1.0;
        }
    }

    impl GaugeFn for Slot {
        fn increment(&self, value: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
        }
        fn decrement(&self, value: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
        }
        fn set(&self, value: f64) {
            self.0.lock().unwrap().insert(self.1.clone(), value);
        }
    }

    fn name(key: &Key) -> String {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Capture {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Slot(self.0.clone(), name(key))))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Slot(self.0.clone(), name(key))))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Slot(self.0.clone(), name(key))))
        }
    }

    #[test]
    fn counters_and_latencies_are_pushed_as_they_happen() {
        let recorder = Capture::default();
        let values = recorder.0.clone();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let cache = crate::from_url("memory://").await.unwrap();
                cache.set("a", &1).await.unwrap();
                let _: Option<i32> = cache.get("a").await.unwrap();
                let _: Option<i32> = cache.get("b").await.unwrap();
                let _ = cache.incr("missing", 1).await;
                record_metrics("default", &cache);
            });
        });
        let values = values.lock().unwrap();
        let backend = "{backend=memory}";
        assert_eq!(values[&format!("cachette_hits_total{backend}")], 1.0);
        assert_eq!(values[&format!("cachette_misses_total{backend}")], 1.0);
        assert_eq!(values[&format!("cachette_sets_total{backend}")], 1.0);
        assert_eq!(values[&format!("cachette_errors_total{backend}")], 1.0);
        let get = "{backend=memory,operation=get,outcome=ok}";
        assert_eq!(values[&format!("cachette_calls_total{get}")], 2.0);
        assert_eq!(values[&format!("cachette_call_duration_seconds{get}")], 2.0);
        let incr = "{backend=memory,operation=incr,outcome=not_found}";
        assert_eq!(values[&format!("cachette_calls_total{incr}")], 1.0);
        assert_eq!(
            values["cachette_hit_ratio{cache=default,backend=memory}"],
            0.5
        );
    }
}
