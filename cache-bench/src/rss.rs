//! Resident memory per entry, measured in a child process per subject (`rss-probe`), so that
//! neither the benchmark's own allocations nor the other subject's count.

use std::process::Command;

use bytes::Bytes;

use crate::fixture::{Payload, RAW_PREFIX};
use crate::subject::{RawMoka, SubjectId};
use crate::Result;

/// The hidden subcommand the parent re-executes itself with.
pub(crate) const SUBCOMMAND: &str = "rss-probe";

/// The size of the values stored, in encoded bytes.
pub(crate) const VALUE_SIZE: usize = 100;

/// What a probe measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Probe {
    /// Entries stored.
    pub(crate) entries: u64,
    /// Resident memory after storing them, less the resident memory before.
    pub(crate) rss_delta: u64,
}

impl Probe {
    /// Resident bytes per entry.
    pub(crate) fn bytes_per_entry(&self) -> f64 {
        self.rss_delta as f64 / self.entries.max(1) as f64
    }

    fn to_line(self) -> String {
        format!("entries={} rss_delta={}", self.entries, self.rss_delta)
    }

    fn from_line(line: &str) -> Option<Probe> {
        let mut entries = None;
        let mut rss_delta = None;
        for field in line.split_whitespace() {
            match field.split_once('=') {
                Some(("entries", v)) => entries = v.parse().ok(),
                Some(("rss_delta", v)) => rss_delta = v.parse().ok(),
                _ => {}
            }
        }
        Some(Probe {
            entries: entries?,
            rss_delta: rss_delta?,
        })
    }
}

/// The subcommand's name for a subject.
fn probe_name(subject: SubjectId) -> Option<&'static str> {
    match subject {
        SubjectId::OursMemory => Some("ours"),
        SubjectId::BareMoka => Some("moka"),
        _ => None,
    }
}

/// Runs `cache-bench rss-probe ours|moka ENTRIES` and reads its answer.
pub(crate) fn measure(subject: SubjectId, entries: u64) -> Result<Probe> {
    let name = probe_name(subject).ok_or("only memory subjects have an RSS probe")?;
    let output = Command::new(std::env::current_exe()?)
        .args([SUBCOMMAND, name, &entries.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the {name} RSS probe failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    stdout
        .lines()
        .find_map(Probe::from_line)
        .ok_or_else(|| format!("the {name} RSS probe printed {stdout:?}").into())
}

/// The resident memory of this process, in bytes (`VmRSS` of `/proc/self/status`).
fn resident_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

/// The child's side: stores `entries` distinct 100-byte values under `k0`, `k1`, … and prints
/// the growth of its resident memory.
pub(crate) fn run_probe(args: &[String]) -> Result<()> {
    let name = args.first().map(String::as_str).unwrap_or_default();
    let entries: u64 = args.get(1).ok_or("rss-probe ours|moka ENTRIES")?.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (payload, encoded) = Payload::of_encoded_size(VALUE_SIZE)?;
    let probe = runtime.block_on(async {
        // Room for every entry, so that nothing is evicted.
        let bound = entries * 2;
        let before;
        let count = match name {
            "ours" => {
                let backend = cachette_memory::MemoryBackend::builder()
                    .with_max_entries(bound)
                    .build();
                let cache = backend
                    .cache_builder()
                    .with_prefix(crate::fixture::OURS_PREFIX)
                    .build()?;
                before = resident_bytes()?;
                for i in 0..entries {
                    // A fresh value per entry, as an application stores: encoded on `set`.
                    cache.set(&format!("k{i}"), &payload).await?;
                }
                backend.run_pending_tasks().await;
                backend.entry_count()
            }
            "moka" => {
                let raw = RawMoka::new(bound, &format!("{RAW_PREFIX}:1:"));
                before = resident_bytes()?;
                for i in 0..entries {
                    // A fresh copy of the same encoded bytes per entry.
                    raw.insert(&format!("k{i}"), Bytes::copy_from_slice(&encoded))
                        .await;
                }
                raw.run_pending_tasks().await;
                raw.entry_count()
            }
            other => return Err(format!("rss-probe: unknown subject {other:?}").into()),
        };
        if count != entries {
            return Err(format!("stored {count} entries, not {entries}").into());
        }
        let after = resident_bytes()?;
        Ok::<_, crate::BoxError>(Probe {
            entries,
            rss_delta: after.saturating_sub(before),
        })
    })?;
    println!("{}", probe.to_line());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_round_trip() {
        let probe = Probe {
            entries: 1_000_000,
            rss_delta: 250_000_000,
        };
        assert_eq!(Probe::from_line(&probe.to_line()), Some(probe));
        assert!((probe.bytes_per_entry() - 250.0).abs() < 1e-9);
        assert_eq!(Probe::from_line("nothing"), None);
    }

    #[test]
    fn resident_memory_is_readable() {
        assert!(resident_bytes().unwrap() > 0);
    }
}
