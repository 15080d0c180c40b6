//! The one table of configuration options. It drives the parsing of a URL's query, of
//! `CACHE_*` environment variables and of TOML, the error texts (an unknown option names the
//! nearest known one), and the table of docs/configuration.md (a test checks they agree).

use cachette_api::{Error, ErrorKind, Result};

/// What an option's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The backend's URL.
    Url,
    /// Free text.
    Text,
    /// A signed integer.
    Integer,
    /// A whole number of at least 1.
    Count,
    /// A wait limit: seconds or a duration with units, at least 1 ms.
    Wait,
    /// An entry's lifetime: seconds or a duration with units, `0` or at least 1 ms, or
    /// `never`.
    Ttl,
    /// `true`/`false`, `1`/`0`, `yes`/`no`.
    Flag,
    /// A file's path.
    Path,
    /// A query parameter of the Redis URL itself, passed on to the `redis` crate.
    RedisUrl,
}

/// Which backends an option applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Any,
    Memory,
    Redis,
    Postgres,
    /// Built only with the `memcached` feature (its options are named in other scopes).
    #[cfg_attr(not(feature = "memcached"), allow(dead_code))]
    Memcached,
    /// The backends behind a network: Redis, PostgreSQL and memcached.
    Network,
    /// The in-process store and PostgreSQL (a bound on the entries held).
    MemoryOrPostgres,
    /// The backends with a connection pool: PostgreSQL and memcached.
    Pooled,
    /// The backends that speak TLS: Redis and PostgreSQL.
    RedisOrPostgres,
}

impl Scope {
    /// Whether an option of this scope applies to a backend of `backend` (`None`: a backend
    /// that takes only the options of every backend, as `dummy://`).
    pub(crate) fn covers(self, backend: Option<Scope>) -> bool {
        match (self, backend) {
            (Scope::Any, _) => true,
            (Scope::Network, Some(Scope::Redis | Scope::Postgres | Scope::Memcached)) => true,
            (Scope::MemoryOrPostgres, Some(Scope::Memory | Scope::Postgres)) => true,
            (Scope::Pooled, Some(Scope::Postgres | Scope::Memcached)) => true,
            (Scope::RedisOrPostgres, Some(Scope::Redis | Scope::Postgres)) => true,
            (scope, Some(backend)) => scope == backend,
            (_, None) => false,
        }
    }
}

/// One option. Its default and doc are read by the test that keeps docs/configuration.md
/// equal to this table.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct OptionSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) scope: Scope,
    pub(crate) default: &'static str,
    pub(crate) doc: &'static str,
}

const fn option(
    name: &'static str,
    kind: Kind,
    scope: Scope,
    default: &'static str,
    doc: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        kind,
        scope,
        default,
        doc,
    }
}

/// Every option, in the order the documentation lists them.
pub(crate) const OPTIONS: &[OptionSpec] = &[
    option("url", Kind::Url, Scope::Any, "`memory://`", "the backend and its address; `${VAR}` is replaced from the environment; an empty URL is an error; `memory://NAME`: caches with the same NAME share one store (Django's `LOCATION`), `memory://` alone is a store of its own"),
    option("prefix", Kind::Text, Scope::Any, "`\"\"`", "Django's `KEY_PREFIX`"),
    option("version", Kind::Integer, Scope::Any, "`1`", "Django's `VERSION`"),
    option("default_timeout", Kind::Ttl, Scope::Any, "`300`", "Django's `TIMEOUT`, the default TTL: seconds (`2700`, `2.5`), a duration (`500ms`, `45m`, `1h30m`, `7days`, `2w`), or `never`; `0` stores nothing"),
    option("connect_timeout", Kind::Wait, Scope::Network, "`5s`", "bound on (re)connecting (django-redis `SOCKET_CONNECT_TIMEOUT`); 1 ms to 1 day"),
    option("response_timeout", Kind::Wait, Scope::Network, "`5s`", "bound on each reply (django-redis `SOCKET_TIMEOUT`; PostgreSQL: also the session's `statement_timeout`); 1 ms to 1 day"),
    option("max_entries", Kind::Count, Scope::MemoryOrPostgres, "`100000` (memory), none (postgres)", "entries held before eviction (at least 1); postgres: Django's `MAX_ENTRIES`, enforced by each culling pass"),
    option("pool_size", Kind::Count, Scope::Pooled, "`8`", "postgres: the connections of the pool, all opened at start-up; memcached: connections per server (1 to 1024)"),
    option("max_bytes", Kind::Count, Scope::Memory, "none", "bytes held, instead of entries: each entry counts its key, its value and 448 bytes of bookkeeping, so the process grows by about this much (measured 0.98–1.00× with 10 B to 1 KB values)"),
    option("max_value_size", Kind::Count, Scope::Any, "512 MiB", "larger encoded values fail with `TooLarge`"),
    option("max_key_length", Kind::Count, Scope::Any, "`250`", "longest composed key, in bytes"),
    option("relaxed_keys", Kind::Flag, Scope::Any, "`false`", "accept any non-empty key"),
    option("codec", Kind::Text, Scope::Any, "`msgpack`", "how values are stored: `msgpack`, `json` (feature `json`, django-redis `JSONSerializer`) or `pickle` (feature `pickle`, Django's `RedisCache` and django-redis's default); see docs/django-interop.md"),
    option("compression", Kind::Text, Scope::Any, "`none`", "compress encoded values in django-redis's framing: `zlib`, `lz4` or `zstd` (features of the same names); inflating is bounded by `max_value_size`"),
    option("compress_min_size", Kind::Integer, Scope::Any, "`16`", "the smallest encoded value compressed, in bytes (django-redis compresses values longer than 15 bytes)"),
    option("fail_open", Kind::Flag, Scope::Any, "`false`", "answer backend outages as misses (django-redis `IGNORE_EXCEPTIONS`)"),
    option("tls_ca_file", Kind::Path, Scope::RedisOrPostgres, "none", "`rediss://`, and `postgres://` with `sslmode=require`/`verify-ca`/`verify-full` (feature `tls`): PEM file of a private CA to trust"),
    option("sentinel_password", Kind::Text, Scope::Redis, "none", "`redis+sentinel://`: the sentinels' own password (their `requirepass`; never shown); the URL's password is the data nodes'"),
    option("replicas", Kind::Text, Scope::Redis, "none", "`redis://` URLs of replicas of the URL's server, comma-separated (Django's `LOCATION` list): `get`, `get_many`, `has_key` and `ttl` go to them in turn; passwords in them are never shown"),
    option("replica_reads", Kind::Flag, Scope::Redis, "`false`", "`redis+sentinel://`: send those reads to the replicas the sentinels list"),
    option("read_your_writes", Kind::Wait, Scope::Redis, "none", "with replicas: the reads of a key this handle wrote within this time go to the primary (replication lag otherwise shows)"),
    option("l1_max_entries", Kind::Count, Scope::Redis, "none", "feature `tiered`: an in-process L1 of this many entries over Redis, coherent across instances by pub/sub invalidation (one Redis server, not a cluster)"),
    option("l1_max_ttl", Kind::Wait, Scope::Redis, "`60s`", "feature `tiered`: the longest an entry stays in L1 (never longer than in Redis)"),
    option("invalidation_channel", Kind::Text, Scope::Redis, "`{prefix}:invalidation`", "feature `tiered`: the pub/sub channel every instance over this Redis shares"),
    option("table", Kind::Text, Scope::Postgres, "`cachette_cache`", "the table (Django's `LOCATION`): an identifier or `schema.table`"),
    option("unlogged", Kind::Flag, Scope::Postgres, "`true`", "create the table `UNLOGGED` (fast; emptied after a crash)"),
    option("create_table", Kind::Flag, Scope::Postgres, "`true`", "create the table at start-up when missing; `false`: check it exists (Django's `createcachetable` done apart)"),
    option("cull_interval", Kind::Wait, Scope::Postgres, "`60s`", "how often expired rows are deleted in the background"),
    option("cull_limit", Kind::Count, Scope::Postgres, "`10000`", "the most rows one culling pass deletes"),
    option("cull_frequency", Kind::Count, Scope::Postgres, "`3`", "Django's `CULL_FREQUENCY`: past `max_entries`, a pass deletes 1/n of the rows, soonest to expire first"),
    option("db", Kind::RedisUrl, Scope::Redis, "`0`", "`unix://` URLs: the database number (in `redis://` URLs it is the path)"),
    option("user", Kind::RedisUrl, Scope::Redis, "none", "`unix://` URLs: the ACL user"),
    option("pass", Kind::RedisUrl, Scope::Redis, "none", "`unix://` URLs: the password (never shown)"),
    option("protocol", Kind::RedisUrl, Scope::Redis, "`resp2`", "`resp3` to speak RESP3"),
];

/// The option called `name`.
pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The error for an unknown option, naming the nearest known one.
pub(crate) fn unknown(name: &str, place: &str) -> Error {
    let nearest = OPTIONS
        .iter()
        .map(|o| (edit_distance(name, o.name), o.name))
        .min()
        .filter(|(d, _)| *d <= name.len().max(3) / 2 + 1);
    let hint = match nearest {
        Some((_, near)) => format!("; did you mean `{near}`?"),
        None => format!(
            "; options are: {}",
            OPTIONS
                .iter()
                .map(|o| o.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Error::new(
        ErrorKind::Config,
        format!("unknown option `{name}` in {place}{hint}"),
    )
}

/// The number of one-character edits (insert, delete, substitute, swap two neighbours) from
/// `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![(0..=b.len()).collect::<Vec<_>>(); a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// A boolean as written in configuration: `true`/`false`, `1`/`0`, `yes`/`no`, any case.
pub(crate) fn parse_flag(option: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            option,
            "is not a boolean (write true/false, 1/0 or yes/no)",
        )),
    }
}

/// A whole number of at least 1.
pub(crate) fn parse_count(option: &str, value: &str) -> Result<u64> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err(invalid(option, "must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(invalid(option, "is not a whole number")),
    }
}

/// A signed integer.
pub(crate) fn parse_integer(option: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(option, "is not an integer"))
}

/// The error for a bad value: it names the option, never quotes the value (which may be a
/// secret).
pub(crate) fn invalid(option: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Config,
        format!("option `{option}`: the value {why}"),
    )
}

/// The option table as Markdown, as docs/configuration.md holds it.
#[cfg(test)]
pub(crate) fn markdown_table() -> String {
    let mut out = String::from(
        "| option | applies to | default | URL query | TOML | environment | meaning |\n|---|---|---|---|---|---|---|\n",
    );
    for o in OPTIONS {
        let scope = match o.scope {
            Scope::Any => "every backend",
            Scope::Memory => "memory",
            Scope::Redis => "redis",
            Scope::Postgres => "postgres",
            Scope::Memcached => "memcached",
            Scope::Network => "redis, postgres, memcached",
            Scope::MemoryOrPostgres => "memory, postgres",
            Scope::Pooled => "postgres, memcached",
            Scope::RedisOrPostgres => "redis, postgres",
        };
        let (query, toml, env) = match o.kind {
            Kind::Url => (
                "the URL itself".to_owned(),
                "`url`".to_owned(),
                "`CACHE_URL`, `CACHE_<NAME>_URL`".to_owned(),
            ),
            Kind::RedisUrl => (
                format!("`{}=`", o.name),
                "in `url`".to_owned(),
                "in the URL".to_owned(),
            ),
            _ => (
                format!("`{}=`", o.name),
                format!("`{}`", o.name),
                format!(
                    "`CACHE_{}`, `CACHE_<NAME>_{}`",
                    o.name.to_ascii_uppercase(),
                    o.name.to_ascii_uppercase()
                ),
            ),
        };
        out.push_str(&format!(
            "| `{}` | {scope} | {} | {query} | {toml} | {env} | {} |\n",
            o.name, o.default, o.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_name_the_nearest_option() {
        for (typo, meant) in [
            ("prefx", "prefix"),
            ("defualt_timeout", "default_timeout"),
            ("respone_timeout", "response_timeout"),
            ("fail_opne", "fail_open"),
            ("urll", "url"),
            ("max_entires", "max_entries"),
        ] {
            let err = unknown(typo, "the URL");
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.message().contains(&format!("did you mean `{meant}`")),
                "{typo}: {err}"
            );
        }
        assert!(unknown("qqqqqqqqqqqq", "the URL")
            .message()
            .contains("options are"));
    }

    #[test]
    fn flags_are_strict() {
        for yes in ["true", "TRUE", "1", "yes"] {
            assert!(parse_flag("f", yes).unwrap());
        }
        for no in ["false", "0", "No"] {
            assert!(!parse_flag("f", no).unwrap());
        }
        for bad in ["ture", "2", "", "on", "y"] {
            assert_eq!(
                parse_flag("f", bad).unwrap_err().kind(),
                ErrorKind::Config,
                "{bad}"
            );
        }
    }

    /// Run with `CACHES_BLESS_DOCS=1` to write the table into the page after changing it.
    #[test]
    fn the_configuration_page_shows_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let page = std::fs::read_to_string(path).unwrap();
        let table = markdown_table();
        if std::env::var_os("CACHES_BLESS_DOCS").is_some() {
            let start = page.find("| option | applies to |").unwrap();
            let end = start + page[start..].find("\n\n").unwrap() + 1;
            std::fs::write(path, format!("{}{table}{}", &page[..start], &page[end..])).unwrap();
            return;
        }
        assert!(
            page.contains(&table),
            "docs/configuration.md must hold the table of caches/src/options.rs \
             (CACHES_BLESS_DOCS=1 cargo test -p cachette --lib writes it); it is:\n{table}"
        );
    }
}
