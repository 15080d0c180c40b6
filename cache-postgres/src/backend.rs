//! The contract on PostgreSQL: each method is one statement of `sql.rs`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cachette_api::{
    async_trait, parse_stored_integer, Bytes, CacheBackend, Error, ErrorKind, Expiry, KeyTtl,
    Result, SetMode, SetOptions,
};
use tokio_postgres::Row;

use crate::error::{self, BACKEND};
use crate::sql;
use crate::PostgresBackend;

/// The longest expiry written, in milliseconds (1000 years): `timestamptz` ends in the year
/// 294276, where the memory backend keeps such an entry for good. Longer expiries are shortened
/// to this one.
const MAX_EXPIRY_MS: u64 = 1000 * 365 * 24 * 3600 * 1000;

/// How many times `add_or_get` and `incr` run their statement again when a racing writer
/// changed the row in between.
const RACE_ATTEMPTS: usize = 8;

/// The milliseconds parameter of an expiry, `None` (SQL `NULL`) for [`Expiry::Never`].
fn millis(expiry: Expiry) -> Option<i64> {
    expiry
        .as_millis()
        .map(|ms| ms.clamp(1, MAX_EXPIRY_MS) as i64)
}

/// Column `index` of `row`, as `T`.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    statement: &str,
    row: &'a Row,
    index: usize,
) -> Result<T> {
    row.try_get(index)
        .map_err(|e| error::unexpected(statement, format!("column {index}")).with_source(e))
}

/// The expiry a row's "milliseconds left" column stands for (`NULL`: never).
fn expiry_of(millis_left: Option<i64>) -> Option<Expiry> {
    match millis_left {
        None => Some(Expiry::Never),
        Some(ms) => Expiry::after(Duration::from_millis(u64::try_from(ms).unwrap_or(0).max(1))),
    }
}

/// The keys as the `bytea` values they are stored as.
fn as_bytes(keys: &[String]) -> Vec<&[u8]> {
    keys.iter().map(String::as_bytes).collect()
}

/// A count, as `u64`.
fn count(statement: &str, row: &Row) -> Result<u64> {
    let n: i64 = column(statement, row, 0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl CacheBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let sql = &self.inner.sql;
        let row = self
            .inner
            .query_opt("get", &sql.get, &[&key.as_bytes()])
            .await?;
        row.map(|row| column::<Vec<u8>>("get", &row, 0).map(Bytes::from))
            .transpose()
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = &self.inner.sql;
        let wanted = as_bytes(keys);
        let rows = self
            .inner
            .query("get_many", &sql.get_many, &[&wanted])
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: &[u8] = column("get_many", row, 0)?;
            let value: &[u8] = column("get_many", row, 1)?;
            found.insert(key, value);
        }
        Ok(keys
            .iter()
            .map(|k| found.get(k.as_bytes()).map(|v| Bytes::copy_from_slice(v)))
            .collect())
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let sql = &self.inner.sql;
        let statement = match options.mode {
            SetMode::IfAbsent => &sql.set_if_absent,
            SetMode::IfPresent => &sql.set_if_present,
            _ => &sql.set,
        };
        let ms = millis(options.expiry);
        let written = self
            .inner
            .execute("set", statement, &[&key.as_bytes(), &value.as_ref(), &ms])
            .await?;
        Ok(written > 0)
    }

    /// One `INSERT … ON CONFLICT … WHERE expired` that also reads the live value; run again
    /// when a racing writer committed the row after the statement began (it wrote nothing and
    /// saw nothing).
    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        let sql = &self.inner.sql;
        let ms = millis(expiry);
        for _ in 0..RACE_ATTEMPTS {
            let row = self
                .inner
                .query_one(
                    "add_or_get",
                    &sql.add_or_get,
                    &[&key.as_bytes(), &value.as_ref(), &ms],
                )
                .await?;
            if column::<bool>("add_or_get", &row, 0)? {
                return Ok(None);
            }
            if let Some(current) = column::<Option<Vec<u8>>>("add_or_get", &row, 1)? {
                return Ok(Some(Bytes::from(current)));
            }
        }
        Err(Error::new(
            ErrorKind::Backend,
            "the key was written and deleted by others on every attempt of add_or_get",
        )
        .with_backend(BACKEND))
    }

    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let sql = &self.inner.sql;
        let Some(row) = self
            .inner
            .query_opt("get_with_expiry", &sql.get_with_expiry, &[&key.as_bytes()])
            .await?
        else {
            return Ok(None);
        };
        let value: Vec<u8> = column("get_with_expiry", &row, 0)?;
        let left: Option<i64> = column("get_with_expiry", &row, 1)?;
        Ok(expiry_of(left).map(|e| (Bytes::from(value), e)))
    }

    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = &self.inner.sql;
        let statement = "get_many_with_expiry";
        let wanted = as_bytes(keys);
        let rows = self
            .inner
            .query(statement, &sql.get_many_with_expiry, &[&wanted])
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: &[u8] = column(statement, row, 0)?;
            let value: &[u8] = column(statement, row, 1)?;
            let left: Option<i64> = column(statement, row, 2)?;
            if let Some(expiry) = expiry_of(left) {
                found.insert(key, (value, expiry));
            }
        }
        Ok(keys
            .iter()
            .map(|k| {
                found
                    .get(k.as_bytes())
                    .map(|(v, e)| (Bytes::copy_from_slice(v), *e))
            })
            .collect())
    }

    /// One `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO UPDATE`. A key given twice is
    /// written once, with its last value; the rows are written in key order, so that batches
    /// running at once lock them in the same order and never deadlock.
    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let last: BTreeMap<&[u8], &[u8]> = entries
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_ref()))
            .collect();
        let keys: Vec<&[u8]> = last.keys().copied().collect();
        let values: Vec<&[u8]> = last.values().copied().collect();
        let ms = millis(expiry);
        let sql = &self.inner.sql;
        self.inner
            .execute("set_many", &sql.set_many, &[&keys, &values, &ms])
            .await?;
        Ok(Vec::new())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let sql = &self.inner.sql;
        let row = self
            .inner
            .query_one("delete", &sql.delete, &[&key.as_bytes()])
            .await?;
        Ok(count("delete", &row)? > 0)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut sorted = as_bytes(keys);
        sorted.sort_unstable();
        sorted.dedup();
        let sql = &self.inner.sql;
        let row = self
            .inner
            .query_one("delete_many", &sql.delete_many, &[&sorted])
            .await?;
        count("delete_many", &row)
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let sql = &self.inner.sql;
        let deleted = self
            .inner
            .execute(
                "delete_if_value",
                &sql.delete_if_value,
                &[&key.as_bytes(), &expected],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let sql = &self.inner.sql;
        let ms = millis(expiry);
        let touched = self
            .inner
            .execute("touch", &sql.touch, &[&key.as_bytes(), &ms])
            .await?;
        Ok(touched > 0)
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let sql = &self.inner.sql;
        let row = self
            .inner
            .query_one("has_key", &sql.has_key, &[&key.as_bytes()])
            .await?;
        column("has_key", &row, 0)
    }

    /// One `UPDATE` that writes only a valid sum; when it writes nothing, one `SELECT` says
    /// why (missing, not an integer, overflow), and the `UPDATE` runs again should the value
    /// have become a valid one meanwhile.
    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let sql = &self.inner.sql;
        for _ in 0..RACE_ATTEMPTS {
            if let Some(row) = self
                .inner
                .query_opt("incr", &sql.incr, &[&key.as_bytes(), &delta])
                .await?
            {
                return column("incr", &row, 0);
            }
            let Some(row) = self
                .inner
                .query_opt("incr", &sql.get, &[&key.as_bytes()])
                .await?
            else {
                return Err(
                    Error::new(ErrorKind::NotFound, "key does not exist").with_backend(BACKEND)
                );
            };
            let value: &[u8] = column("incr", &row, 0)?;
            let current = parse_stored_integer(value).map_err(|e| e.with_backend(BACKEND))?;
            if current.checked_add(delta).is_none() {
                return Err(Error::new(
                    ErrorKind::Overflow,
                    "the stored integer or the result is out of the i64 range",
                )
                .with_backend(BACKEND));
            }
        }
        Err(Error::new(
            ErrorKind::Backend,
            "the value changed under every attempt of incr",
        )
        .with_backend(BACKEND))
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let sql = &self.inner.sql;
        let Some(row) = self
            .inner
            .query_opt("ttl", &sql.ttl, &[&key.as_bytes()])
            .await?
        else {
            return Ok(KeyTtl::Missing);
        };
        let left: Option<i64> = column("ttl", &row, 0)?;
        Ok(match left {
            None => KeyTtl::Persistent,
            Some(ms) => {
                KeyTtl::Expires(Duration::from_millis(u64::try_from(ms).unwrap_or(0).max(1)))
            }
        })
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let start = prefix.as_bytes();
        let end = sql::prefix_end(start);
        let sql = &self.inner.sql;
        let row = self
            .inner
            .query_one("clear", &sql.clear, &[&start, &end])
            .await?;
        count("clear", &row)
    }

    async fn close(&self) -> Result<()> {
        self.inner.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_become_milliseconds_within_range() {
        assert_eq!(millis(Expiry::Never), None);
        assert_eq!(
            millis(Expiry::After(Duration::from_millis(1500))),
            Some(1500)
        );
        assert_eq!(
            millis(Expiry::After(Duration::MAX)),
            Some(MAX_EXPIRY_MS as i64)
        );
    }
}
