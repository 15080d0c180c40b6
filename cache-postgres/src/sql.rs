//! The SQL of every operation, written once from the table's name.
//!
//! Expiry times are the server's (`now()`, the start of the statement), never the client's,
//! so that clocks that disagree do not shorten or lengthen entries. `NULL` in `expires_at`
//! means "never expires". A row is *live* when `expires_at IS NULL OR expires_at > now()`;
//! every statement that reads, counts or changes entries tests that.

use crate::error;

/// The condition that a row of the table is live.
const LIVE: &str = "(expires_at IS NULL OR expires_at > now())";

/// The expiry `expires_at` for a lifetime of `$n` milliseconds (`NULL`: never).
fn expires(param: usize) -> String {
    format!("now() + ${param}::int8 * interval '1 millisecond'")
}

/// A table name checked to be one or two plain SQL identifiers (`cache`, `app.cache`), and
/// its quoted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    /// As given: `app.cache`.
    plain: String,
    /// Quoted: `"app"."cache"`.
    quoted: String,
    /// The name of the table's index on `expires_at`, quoted, without the schema.
    expiry_index: String,
}

impl TableName {
    /// Checks `name`: one or two identifiers separated by a dot, each of ASCII letters,
    /// digits and `_`, not starting with a digit, at most 63 bytes (PostgreSQL's limit).
    pub(crate) fn parse(name: &str) -> cachette_api::Result<TableName> {
        let parts: Vec<&str> = name.split('.').collect();
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if parts.len() > 2 || !parts.iter().all(|p| valid(p)) {
            return Err(error::config(format!(
                "the table name {name:?} is not one or two SQL identifiers (letters, digits \
                 and `_`, not starting with a digit, at most 63 bytes each, as `cache` or \
                 `app.cache`)"
            )));
        }
        let quoted = parts
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(".");
        let table = parts.last().copied().unwrap_or(name);
        let stem: String = table.chars().take(63 - "_expires_at".len()).collect();
        Ok(TableName {
            plain: name.to_owned(),
            quoted,
            expiry_index: format!("\"{stem}_expires_at\""),
        })
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.plain
    }
}

/// The statements of one table.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) get: String,
    pub(crate) get_many: String,
    pub(crate) get_with_expiry: String,
    pub(crate) get_many_with_expiry: String,
    pub(crate) set: String,
    pub(crate) set_if_absent: String,
    pub(crate) set_if_present: String,
    pub(crate) add_or_get: String,
    pub(crate) set_many: String,
    pub(crate) delete: String,
    pub(crate) delete_many: String,
    pub(crate) delete_if_value: String,
    pub(crate) touch: String,
    pub(crate) has_key: String,
    pub(crate) incr: String,
    pub(crate) ttl: String,
    pub(crate) clear: String,
    pub(crate) cull_expired: String,
    pub(crate) count: String,
    pub(crate) cull_soonest: String,
    pub(crate) exists: String,
}

/// The milliseconds left before `expires_at`, rounded up; `NULL` for a row that never expires.
const MILLIS_LEFT: &str =
    "CEIL((EXTRACT(EPOCH FROM expires_at) - EXTRACT(EPOCH FROM now())) * 1000)::int8";

/// The integer a value holds when it is ASCII decimal `-?[0-9]{1,20}` (the form
/// `cachette_api::parse_stored_integer` reads), `NULL` otherwise. The `CASE` makes the test run
/// before the cast.
const STORED_INTEGER: &str = "CASE WHEN length(value) <= 21 \
     AND encode(value, 'escape') ~ '^-?[0-9]{1,20}$' \
     THEN encode(value, 'escape')::numeric END";

impl Statements {
    pub(crate) fn new(table: &TableName) -> Statements {
        let t = &table.quoted;
        let upsert = "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                      expires_at = EXCLUDED.expires_at";
        let expired = format!("{t}.expires_at IS NOT NULL AND {t}.expires_at <= now()");
        Statements {
            get: format!("SELECT value FROM {t} WHERE key = $1 AND {LIVE}"),
            get_many: format!("SELECT key, value FROM {t} WHERE key = ANY($1) AND {LIVE}"),
            get_with_expiry: format!(
                "SELECT value, {MILLIS_LEFT} FROM {t} WHERE key = $1 AND {LIVE}"
            ),
            get_many_with_expiry: format!(
                "SELECT key, value, {MILLIS_LEFT} FROM {t} WHERE key = ANY($1) AND {LIVE}"
            ),
            set: format!(
                "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, {}) {upsert}",
                expires(3)
            ),
            set_if_absent: format!(
                "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, {}) {upsert} \
                 WHERE {expired}",
                expires(3)
            ),
            set_if_present: format!(
                "UPDATE {t} SET value = $2, expires_at = {} WHERE key = $1 AND {LIVE}",
                expires(3)
            ),
            // Whether this statement wrote, and the live value otherwise. The second column
            // reads the statement's snapshot: a row a racing writer committed after it began is
            // not in it (the caller runs the statement again when it wrote nothing and read
            // nothing).
            add_or_get: format!(
                "WITH written AS (INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, {}) \
                 {upsert} WHERE {expired} RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM written), \
                 (SELECT value FROM {t} WHERE key = $1 AND {LIVE})",
                expires(3)
            ),
            set_many: format!(
                "INSERT INTO {t} (key, value, expires_at) \
                 SELECT k, v, {} FROM UNNEST($1::bytea[], $2::bytea[]) AS u(k, v) {upsert}",
                expires(3)
            ),
            delete: format!(
                "WITH gone AS (DELETE FROM {t} WHERE key = $1 RETURNING expires_at) \
                 SELECT count(*) FROM gone WHERE {LIVE}"
            ),
            delete_many: format!(
                "WITH gone AS (DELETE FROM {t} WHERE key = ANY($1) RETURNING expires_at) \
                 SELECT count(*) FROM gone WHERE {LIVE}"
            ),
            delete_if_value: format!("DELETE FROM {t} WHERE key = $1 AND value = $2 AND {LIVE}"),
            touch: format!(
                "UPDATE {t} SET expires_at = {} WHERE key = $1 AND {LIVE}",
                expires(2)
            ),
            has_key: format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE key = $1 AND {LIVE})"),
            // Writes only when the value is an integer and the sum fits in i64; the row's own
            // value is read under its row lock, so concurrent calls never lose an update.
            incr: format!(
                "UPDATE {t} SET value = convert_to(({STORED_INTEGER} + $2::int8)::int8::text, 'UTF8') \
                 WHERE key = $1 AND {LIVE} \
                 AND ({STORED_INTEGER}) BETWEEN -9223372036854775808 AND 9223372036854775807 \
                 AND ({STORED_INTEGER}) + $2::int8 BETWEEN -9223372036854775808 AND 9223372036854775807 \
                 RETURNING convert_from(value, 'UTF8')::int8"
            ),
            ttl: format!("SELECT {MILLIS_LEFT} FROM {t} WHERE key = $1 AND {LIVE}"),
            clear: format!(
                "WITH gone AS (DELETE FROM {t} WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) \
                 RETURNING expires_at) SELECT count(*) FROM gone WHERE {LIVE}"
            ),
            // The outer test is checked again on a row a writer renewed meanwhile: a live
            // row is never culled.
            cull_expired: format!(
                "DELETE FROM {t} WHERE key = ANY (ARRAY(SELECT key FROM {t} \
                 WHERE expires_at <= now() LIMIT $1)) AND expires_at <= now()"
            ),
            count: format!("SELECT count(*) FROM {t}"),
            // The entries that expire soonest first, those that never expire last.
            cull_soonest: format!(
                "DELETE FROM {t} WHERE key = ANY (ARRAY(SELECT key FROM {t} \
                 ORDER BY expires_at ASC NULLS LAST, key LIMIT $1))"
            ),
            exists: format!("SELECT 1 FROM {t} LIMIT 0"),
        }
    }
}

/// The statements that create the table and its index, if missing.
pub(crate) fn create_table(table: &TableName, unlogged: bool) -> String {
    let t = &table.quoted;
    let unlogged = if unlogged { "UNLOGGED " } else { "" };
    let index = &table.expiry_index;
    format!(
        "CREATE {unlogged}TABLE IF NOT EXISTS {t} (\
           key bytea PRIMARY KEY, \
           value bytea NOT NULL, \
           expires_at timestamptz\
         ); \
         CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at)"
    )
}

/// The end of the range of the keys that start with `prefix`: the first byte string after
/// all of them (`prefix` with its last byte below `0xff` raised by one, the bytes after it
/// dropped), `None` when there is none (an empty prefix, or only `0xff` bytes). Keys are
/// `bytea`, compared byte by byte, so the keys that start with `prefix` are exactly those in
/// `prefix .. end`: no character of the prefix is a wildcard.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b < 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_end_after_every_key_of_the_prefix() {
        assert_eq!(prefix_end(b"app:1:").as_deref(), Some(&b"app:1;"[..]));
        assert_eq!(prefix_end(b"a%\xff\xff").as_deref(), Some(&b"a&"[..]));
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"\xff"), None);
    }

    #[test]
    fn table_names_are_checked_and_quoted() {
        assert_eq!(TableName::parse("cache").unwrap().quoted, "\"cache\"");
        assert_eq!(
            TableName::parse("app.cache_2").unwrap().quoted,
            "\"app\".\"cache_2\""
        );
        for bad in [
            "",
            "a.b.c",
            "1cache",
            "cache; DROP TABLE x",
            "ca\"che",
            "a.",
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }
}
