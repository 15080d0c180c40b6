//! `get_or_set_many` of 100 missing keys against 100 `get_or_set_with` calls, on our `Cache`
//! over each backend: what one batch loader call and one pipelined write-back save.

use std::collections::HashMap;
use std::time::Instant;

use cachette_api::Cache;

use crate::runner::percentile;
use crate::Result;

/// Keys per batch.
const KEYS: usize = 100;

/// The figures of one backend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchLoading {
    /// The backend's name.
    pub(crate) backend: &'static str,
    /// Batches timed per variant.
    pub(crate) batches: usize,
    /// p50 of one `get_or_set_many` of 100 missing keys, nanoseconds.
    pub(crate) many_p50_ns: u32,
    /// p50 of 100 sequential `get_or_set_with` of missing keys, nanoseconds.
    pub(crate) singles_p50_ns: u32,
    /// The same two on keys that are all there (hits).
    pub(crate) many_hit_p50_ns: u32,
    /// 100 sequential `get_or_set_with` hits.
    pub(crate) singles_hit_p50_ns: u32,
}

impl BatchLoading {
    /// How many times faster the batch is on misses.
    pub(crate) fn speedup(&self) -> f64 {
        f64::from(self.singles_p50_ns) / f64::from(self.many_p50_ns.max(1))
    }

    /// How many times faster the batch is on hits.
    pub(crate) fn hit_speedup(&self) -> f64 {
        f64::from(self.singles_hit_p50_ns) / f64::from(self.many_hit_p50_ns.max(1))
    }
}

/// Times both variants, alternating, `batches` times each, on fresh keys every batch.
pub(crate) async fn measure(cache: &Cache, batches: usize) -> Result<BatchLoading> {
    let cache = cache.namespace("batch_loading");
    let mut many = Vec::with_capacity(batches);
    let mut singles = Vec::with_capacity(batches);
    let mut many_hit = Vec::with_capacity(batches);
    let mut singles_hit = Vec::with_capacity(batches);
    for batch in 0..batches {
        let keys: Vec<String> = (0..KEYS).map(|i| format!("b{batch}:k{i}")).collect();
        let other: Vec<String> = (0..KEYS).map(|i| format!("s{batch}:k{i}")).collect();

        let start = Instant::now();
        let results = cache
            .get_or_set_many(&keys, |missing: Vec<String>| async move {
                let values: HashMap<String, u64> = missing.into_iter().map(|k| (k, 42)).collect();
                Ok::<_, std::io::Error>(values)
            })
            .await?;
        many.push(elapsed_ns(start));
        if let Some((key, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
            return Err(format!("get_or_set_many failed for {key}: {e}").into());
        }

        let start = Instant::now();
        for key in &other {
            cache
                .get_or_set_with(key, || async { Ok::<_, std::io::Error>(42_u64) })
                .await?;
        }
        singles.push(elapsed_ns(start));

        let start = Instant::now();
        cache
            .get_or_set_many(&keys, |_missing: Vec<String>| async {
                Ok::<_, std::io::Error>(HashMap::<String, u64>::new())
            })
            .await?;
        many_hit.push(elapsed_ns(start));

        let start = Instant::now();
        for key in &other {
            cache
                .get_or_set_with(key, || async { Ok::<_, std::io::Error>(0_u64) })
                .await?;
        }
        singles_hit.push(elapsed_ns(start));

        cache.delete_many(&keys).await?;
        cache.delete_many(&other).await?;
    }
    Ok(BatchLoading {
        backend: cache.backend().name(),
        batches,
        many_p50_ns: p50(many),
        singles_p50_ns: p50(singles),
        many_hit_p50_ns: p50(many_hit),
        singles_hit_p50_ns: p50(singles_hit),
    })
}

fn elapsed_ns(start: Instant) -> u32 {
    u32::try_from(start.elapsed().as_nanos()).unwrap_or(u32::MAX)
}

fn p50(mut samples: Vec<u32>) -> u32 {
    samples.sort_unstable();
    percentile(&samples, 50.0)
}

/// The Markdown section.
pub(crate) fn markdown(figures: &[BatchLoading]) -> String {
    let mut md = String::from("## Batch loading: `get_or_set_many` against single calls\n\n");
    md.push_str(
        "One `get_or_set_many` of 100 keys (one read, one batch loader call, one pipelined \
         write-back) against 100 sequential `get_or_set_with` calls, on our `Cache`, 1 task, \
         p50 per batch of 100 keys.\n\n",
    );
    md.push_str("| backend | batches | misses: many | misses: 100 singles | speed-up | hits: many | hits: 100 singles | speed-up |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for f in figures {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1}x | {} | {} | {:.1}x |\n",
            f.backend,
            f.batches,
            crate::report::duration_ns(f64::from(f.many_p50_ns)),
            crate::report::duration_ns(f64::from(f.singles_p50_ns)),
            f.speedup(),
            crate::report::duration_ns(f64::from(f.many_hit_p50_ns)),
            crate::report::duration_ns(f64::from(f.singles_hit_p50_ns)),
            f.hit_speedup(),
        ));
    }
    md.push('\n');
    md
}

/// How many batches a plan times.
pub(crate) fn batches(quick: bool) -> usize {
    if quick {
        5
    } else {
        40
    }
}
