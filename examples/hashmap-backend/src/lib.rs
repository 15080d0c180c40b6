//! An example of a backend written outside this workspace's drivers: a `HashMap` behind a
//! mutex. It uses only the public contract of `cache-api`, and proves that it conforms with
//! the conformance suite (`tests/conformance.rs`, three lines).

use std::collections::HashMap;
use std::sync::Mutex;

use cachette_api::{
    async_trait, parse_stored_integer, Bytes, CacheBackend, Error, ErrorKind, Expiry, KeyTtl,
    Result, SetMode, SetOptions,
};
use tokio::time::Instant;

/// A value and the instant it expires (`None`: never).
type Entry = (Bytes, Option<Instant>);

/// Every entry under one lock: each operation is atomic.
#[derive(Debug, Default)]
pub struct HashMapBackend {
    entries: Mutex<HashMap<String, Entry>>,
}

impl HashMapBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the live entries (expired ones are removed first, for the keys `f` sees).
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.retain(|_, (_, at)| at.is_none_or(|at| at > now));
        f(&mut entries, now)
    }
}

fn deadline(expiry: Expiry, now: Instant) -> Option<Instant> {
    match expiry {
        Expiry::After(d) => now.checked_add(d),
        _ => None,
    }
}

#[async_trait]
impl CacheBackend for HashMapBackend {
    fn name(&self) -> &'static str {
        "hashmap"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.with(|m, _| m.get(key).map(|(v, _)| v.clone())))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Ok(self.with(|m, _| {
            keys.iter()
                .map(|k| m.get(k).map(|(v, _)| v.clone()))
                .collect()
        }))
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        Ok(self.with(|m, now| {
            let write = match options.mode {
                SetMode::IfAbsent => !m.contains_key(key),
                SetMode::IfPresent => m.contains_key(key),
                _ => true,
            };
            if write {
                m.insert(key.to_owned(), (value, deadline(options.expiry, now)));
            }
            write
        }))
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        self.with(|m, now| {
            for (key, value) in entries {
                m.insert(key.clone(), (value.clone(), deadline(expiry, now)));
            }
        });
        Ok(Vec::new())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.with(|m, _| m.remove(key).is_some()))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        Ok(self.with(|m, _| keys.iter().filter(|k| m.remove(*k).is_some()).count() as u64))
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        Ok(self.with(|m, _| match m.get(key) {
            Some((v, _)) if v == expected => m.remove(key).is_some(),
            _ => false,
        }))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        Ok(self.with(|m, now| match m.get_mut(key) {
            Some((_, at)) => {
                *at = deadline(expiry, now);
                true
            }
            None => false,
        }))
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        Ok(self.with(|m, _| m.contains_key(key)))
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.with(|m, _| {
            let Some((value, _)) = m.get_mut(key) else {
                return Err(Error::new(ErrorKind::NotFound, "key does not exist"));
            };
            let next = parse_stored_integer(value)?
                .checked_add(delta)
                .ok_or_else(|| Error::new(ErrorKind::Overflow, "increment would overflow i64"))?;
            *value = Bytes::from(next.to_string());
            Ok(next)
        })
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(self.with(|m, now| match m.get(key) {
            None => KeyTtl::Missing,
            Some((_, None)) => KeyTtl::Persistent,
            Some((_, Some(at))) => KeyTtl::Expires(at.saturating_duration_since(now)),
        }))
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        Ok(self.with(|m, _| {
            let before = m.len();
            m.retain(|k, _| !k.starts_with(prefix));
            (before - m.len()) as u64
        }))
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
