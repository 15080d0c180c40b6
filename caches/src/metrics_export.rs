//! Publishing a cache's counters through the [`metrics`] facade, to the dashboards an
//! application already has (Prometheus, StatsD, … through their `metrics` exporters).

use cache_api::Cache;

/// Publishes the counters of `cache` under the label `cache = name`.
///
/// Counters (cumulative): `cache_hits_total`, `cache_misses_total`, `cache_sets_total`,
/// `cache_deletes_total`, `cache_errors_total`, `cache_ignored_errors_total`; gauge:
/// `cache_hit_ratio`. Every series also carries `backend` (`memory`, `redis`). Call it
/// periodically (every scrape, or every few seconds from a task); it only reads atomics.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caches::Result<()> {
/// let cache = caches::from_url("memory://").await?;
/// let _: Option<i32> = cache.get("k").await?;
/// caches::record_metrics("default", &cache); // no recorder installed: a no-op
/// # Ok(()) }
/// ```
pub fn record_metrics(name: &str, cache: &Cache) {
    let stats = cache.stats();
    let labels = [
        ("cache", name.to_owned()),
        ("backend", cache.backend().name().to_owned()),
    ];
    metrics::counter!("cache_hits_total", &labels).absolute(stats.hits);
    metrics::counter!("cache_misses_total", &labels).absolute(stats.misses);
    metrics::counter!("cache_sets_total", &labels).absolute(stats.sets);
    metrics::counter!("cache_deletes_total", &labels).absolute(stats.deletes);
    metrics::counter!("cache_errors_total", &labels).absolute(stats.errors);
    metrics::counter!("cache_ignored_errors_total", &labels).absolute(stats.ignored_errors);
    if let Some(ratio) = stats.hit_rate() {
        metrics::gauge!("cache_hit_ratio", &labels).set(ratio);
    }
}

impl crate::Caches {
    /// Publishes the counters of every named cache; see [`record_metrics`].
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
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
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
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[tokio::test]
    async fn counters_reach_the_recorder_with_cache_and_backend_labels() {
        let cache = crate::from_url("memory://").await.unwrap();
        cache.set("a", &1).await.unwrap();
        let _: Option<i32> = cache.get("a").await.unwrap();
        let _: Option<i32> = cache.get("b").await.unwrap();
        let recorder = Capture::default();
        let values = recorder.0.clone();
        metrics::with_local_recorder(&recorder, || record_metrics("default", &cache));
        let values = values.lock().unwrap();
        let labels = "{cache=default,backend=memory}";
        assert_eq!(values[&format!("cache_hits_total{labels}")], 1.0);
        assert_eq!(values[&format!("cache_misses_total{labels}")], 1.0);
        assert_eq!(values[&format!("cache_sets_total{labels}")], 1.0);
        assert_eq!(values[&format!("cache_hit_ratio{labels}")], 0.5);
    }
}
