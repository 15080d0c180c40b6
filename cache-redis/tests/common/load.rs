//! A 64-task load on one `Cache` handle for the Sentinel and replica fault tests: each task
//! writes keys of its own (`t{task}:{n}`, the value `n`) and reads back an earlier one, and
//! every call is timed and tallied. The keys whose write was acknowledged are kept, to count
//! the acknowledged writes a failover loses.

// Test code: a failed unwrap (a panic) is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cachette_api::{Cache, ErrorKind};

/// How many tasks share the handle.
pub(crate) const TASKS: usize = 64;

/// What the load saw.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) calls: u64,
    /// Outcome (`ok`, or the error kind with `temporary`/`permanent`) → count.
    pub(crate) outcomes: BTreeMap<String, u64>,
    pub(crate) slowest: Duration,
    /// Errors that break the contract (not a temporary network error or `READONLY`).
    pub(crate) unexpected: Vec<String>,
    /// Start times of the calls that succeeded, for the time to recover.
    pub(crate) ok_starts: Vec<Instant>,
    /// Start times of the calls that failed.
    pub(crate) failed_starts: Vec<Instant>,
    /// The keys whose `set` was acknowledged, with their value.
    pub(crate) acknowledged: Vec<(String, u64)>,
}

impl Figures {
    pub(crate) fn failed(&self) -> u64 {
        self.calls - self.outcomes.get("ok").copied().unwrap_or(0)
    }

    /// The time from `fault` to the start of the first call that succeeded after the last
    /// failure (none failed: zero).
    pub(crate) fn recovery_after(&self, fault: Instant) -> Option<Duration> {
        let Some(last_failure) = self.failed_starts.iter().max() else {
            return Some(Duration::ZERO);
        };
        self.ok_starts
            .iter()
            .filter(|t| *t > last_failure)
            .min()
            .map(|t| t.saturating_duration_since(fault))
    }
}

/// The running load.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    figures: Arc<Mutex<Figures>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts [`TASKS`] tasks on `cache`; `reads_only` makes them read keys `r0`…`r99`
    /// (written beforehand by the test) instead.
    pub(crate) fn start(cache: Cache, reads_only: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let figures = Arc::new(Mutex::new(Figures::default()));
        let tasks = (0..TASKS)
            .map(|task| {
                let (cache, stop, figures) = (cache.clone(), stop.clone(), figures.clone());
                tokio::spawn(async move {
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = if reads_only {
                            format!("r{}", (task as u64 * 7 + n) % 100)
                        } else {
                            format!("t{task}:{n}")
                        };
                        let started = Instant::now();
                        let outcome = if reads_only || n.is_multiple_of(2) {
                            let earlier = if reads_only {
                                key.clone()
                            } else {
                                format!("t{task}:{}", n - 1)
                            };
                            cache.get::<u64>(&earlier).await.map(|_| ())
                        } else {
                            cache.set(&key, &n).await
                        };
                        let elapsed = started.elapsed();
                        {
                            let mut f = figures.lock().unwrap();
                            f.calls += 1;
                            f.slowest = f.slowest.max(elapsed);
                            match outcome {
                                Ok(()) => {
                                    *f.outcomes.entry("ok".to_owned()).or_default() += 1;
                                    f.ok_starts.push(started);
                                    if !reads_only && !n.is_multiple_of(2) {
                                        f.acknowledged.push((key, n));
                                    }
                                }
                                Err(e) => {
                                    let name = format!(
                                        "{} {}",
                                        e.kind().as_str(),
                                        if e.is_temporary() {
                                            "temporary"
                                        } else {
                                            "permanent"
                                        }
                                    );
                                    *f.outcomes.entry(name).or_default() += 1;
                                    f.failed_starts.push(started);
                                    let expected = e.is_temporary()
                                        && matches!(
                                            e.kind(),
                                            ErrorKind::Unavailable
                                                | ErrorKind::Timeout
                                                | ErrorKind::Backend
                                        );
                                    if !expected && f.unexpected.len() < 10 {
                                        f.unexpected.push(format!("{e:?}"));
                                    }
                                }
                            }
                        }
                        if elapsed < Duration::from_millis(1) {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            figures,
            tasks,
        }
    }

    /// Stops the tasks (each within `hang`: a call still running then fails the test).
    pub(crate) async fn stop(self, hang: Duration) -> Figures {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            tokio::time::timeout(hang, task)
                .await
                .expect("a call hung past the bound")
                .expect("a load task panicked");
        }
        std::mem::take(&mut *self.figures.lock().unwrap())
    }

    /// Waits until a call that started after `after` succeeded, or `timeout` passes.
    pub(crate) async fn wait_for_success_after(&self, after: Instant, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let ok = {
                let f = self.figures.lock().unwrap();
                f.ok_starts.iter().rev().take(256).any(|t| *t > after)
            };
            if ok {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}
