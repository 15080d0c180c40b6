//! The contract on Redis: each method is a command (or a script) handed to the driver, which
//! knows whether it talks to one server or to a cluster.

use std::time::Duration;

use cachette_api::{
    async_trait, Bytes, CacheBackend, Error, ErrorKind, Expiry, KeyTtl, Result, SetMode, SetOptions,
};
use redis::Value;

use crate::connection::OnReplace;
use crate::error::{self, BACKEND};
use crate::topology::Driver;
use crate::RedisBackend;

/// The longest expiry sent to Redis, in milliseconds (about 146 million years): Redis refuses
/// an expiry whose deadline does not fit in a signed 64-bit count of milliseconds, where the
/// memory backend keeps such an entry for good. Longer expiries are shortened to this one.
const MAX_EXPIRY_MS: u64 = 1 << 62;

/// The `PX` argument of an expiry, `None` for [`Expiry::Never`].
fn px(expiry: Expiry) -> Option<u64> {
    expiry.as_millis().map(|ms| ms.clamp(1, MAX_EXPIRY_MS))
}

/// `prefix`, with the glob characters of `SCAN MATCH` escaped, followed by `*`.
fn match_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Reads a reply that is 1 for yes and 0 for no.
fn flag(reply: i64) -> bool {
    reply > 0
}

/// `SET key value [PX ms]`, the options of `mode` still to add.
fn set_command(key: &str, value: &[u8], expiry: Expiry, flags: &[&str]) -> redis::Cmd {
    crate::topology::set_command(key, value, px(expiry), flags)
}

#[async_trait]
impl CacheBackend for RedisBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let cmd = redis::Cmd::get(key);
        self.inner
            .driver()
            .await?
            .read("GET", &[key.as_bytes()], &cmd)
            .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.inner.driver().await?.get_many(keys).await
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let flags: &[&str] = match options.mode {
            SetMode::IfAbsent => &["NX"],
            SetMode::IfPresent => &["XX"],
            _ => &[],
        };
        let cmd = set_command(key, &value, options.expiry, flags);
        let driver = self.inner.driver().await?;
        let written = driver.query("SET", OnReplace::Fail, &cmd).await;
        driver.wrote(&[key.as_bytes()]);
        match written? {
            Value::Nil => Ok(false),
            Value::Okay => Ok(true),
            other => Err(error::unexpected("SET", format!("{other:?}"))),
        }
    }

    /// One `SET key value NX GET [PX ms]` (Redis 7.0 or later): `nil` when written, the
    /// current value otherwise.
    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        let cmd = set_command(key, &value, expiry, &["NX", "GET"]);
        let driver = self.inner.driver().await?;
        let written = driver.query("SET NX GET", OnReplace::Fail, &cmd).await;
        driver.wrote(&[key.as_bytes()]);
        written
    }

    /// One pipeline of `SET … NX GET` per hash slot (one round trip on a single server).
    async fn add_or_get_many(
        &self,
        entries: &[(String, Bytes)],
        expiry: Expiry,
    ) -> Result<Vec<Result<Option<Bytes>>>> {
        let driver = self.inner.driver().await?;
        let written = driver.add_or_get_many(entries, px(expiry)).await;
        let keys: Vec<&[u8]> = entries.iter().map(|(key, _)| key.as_bytes()).collect();
        driver.wrote(&keys);
        written
    }

    /// One script call (`GET` and `PTTL`, atomically).
    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        self.inner.driver().await?.get_with_expiry(key).await
    }

    /// One script call per hash slot (one in all on a single server).
    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        self.inner.driver().await?.get_many_with_expiry(keys).await
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        let driver = self.inner.driver().await?;
        let written = driver.set_many(entries, px(expiry)).await;
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| k.as_bytes()).collect();
        driver.wrote(&keys);
        written
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let cmd = redis::Cmd::unlink(key);
        let driver = self.inner.driver().await?;
        let removed = driver.query("UNLINK", OnReplace::Fail, &cmd).await;
        driver.wrote(&[key.as_bytes()]);
        Ok(flag(removed?))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let driver = self.inner.driver().await?;
        let deleted = driver.delete_many(keys).await;
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        driver.wrote(&keys);
        deleted
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let driver = self.inner.driver().await?;
        let deleted = driver
            .script(
                &driver.scripts.delete_if_value,
                OnReplace::Fail,
                &[key.as_bytes()],
                &[expected],
            )
            .await;
        driver.wrote(&[key.as_bytes()]);
        Ok(flag(deleted?))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let driver = self.inner.driver().await?;
        let touched = touch_on(driver, key, expiry).await;
        driver.wrote(&[key.as_bytes()]);
        touched
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let cmd = redis::Cmd::exists(key);
        let exists: i64 = self
            .inner
            .driver()
            .await?
            .read("EXISTS", &[key.as_bytes()], &cmd)
            .await?;
        Ok(flag(exists))
    }

    /// One script call; a refusal of the write (`OOM`, `READONLY`…) is that error (kind
    /// [`Backend`](ErrorKind::Backend), temporary), never [`Overflow`](ErrorKind::Overflow).
    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let driver = self.inner.driver().await?;
        let result = incr_on(driver, key, delta).await;
        driver.wrote(&[key.as_bytes()]);
        result
    }
    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let cmd = redis::Cmd::pttl(key);
        let ms: i64 = self
            .inner
            .driver()
            .await?
            .read("PTTL", &[key.as_bytes()], &cmd)
            .await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => match u64::try_from(ms) {
                Ok(ms) => KeyTtl::Expires(Duration::from_millis(ms)),
                Err(_) => return Err(error::unexpected("PTTL", ms)),
            },
        })
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let driver = self.inner.driver().await?;
        let cleared = driver.clear(&match_pattern(prefix)).await;
        driver.wrote_everything();
        cleared
    }

    async fn close(&self) -> Result<()> {
        self.inner.close();
        Ok(())
    }
}

/// `touch` on the primary.
async fn touch_on(driver: &Driver, key: &str, expiry: Expiry) -> Result<bool> {
    match px(expiry) {
        Some(ms) => {
            let mut cmd = redis::cmd("PEXPIRE");
            cmd.arg(key).arg(ms);
            let existed: i64 = driver.query("PEXPIRE", OnReplace::Fail, &cmd).await?;
            Ok(flag(existed))
        }
        None => {
            let mut pipe = redis::pipe();
            pipe.cmd("PERSIST").arg(key).ignore();
            pipe.cmd("EXISTS").arg(key);
            let (exists,): (i64,) = driver
                .pipeline("PERSIST, EXISTS", OnReplace::Fail, &pipe)
                .await?;
            Ok(flag(exists))
        }
    }
}

/// `incr` on the primary: one script call.
async fn incr_on(driver: &Driver, key: &str, delta: i64) -> Result<i64> {
    let delta = delta.to_string();
    let reply: redis::Value = driver
        .script(
            &driver.scripts.incr,
            OnReplace::Fail,
            &[key.as_bytes()],
            &[delta.as_bytes()],
        )
        .await?;
    // The common case: the new value, as an integer reply.
    if let redis::Value::Int(value) = reply {
        return Ok(value);
    }
    let (status, detail): (i64, Vec<u8>) =
        redis::from_redis_value(reply).map_err(|e| error::unexpected("incr", e))?;
    let fail = |kind, message: &str| Err(Error::new(kind, message).with_backend(BACKEND));
    match status {
        0 => std::str::from_utf8(&detail)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                error::unexpected("incr", String::from_utf8_lossy(&detail).into_owned())
            }),
        1 => fail(ErrorKind::NotFound, "key does not exist"),
        2 => fail(ErrorKind::NotInteger, "the stored value is not an integer"),
        3 => fail(
            ErrorKind::Overflow,
            "the stored integer or the result is out of the i64 range",
        ),
        4 => fail(
            ErrorKind::WrongType,
            &format!(
                "the key holds a Redis {}, not a string",
                String::from_utf8_lossy(&detail)
            ),
        ),
        other => Err(error::unexpected("incr", format!("status {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(match_pattern("app:1:"), "app:1:*");
        assert_eq!(match_pattern("a*"), "a\\**");
        assert_eq!(match_pattern("a?[b]\\"), "a\\?\\[b\\]\\\\*");
        assert_eq!(match_pattern(""), "*");
    }

    #[test]
    fn expiries_become_px_within_redis_range() {
        assert_eq!(px(Expiry::Never), None);
        assert_eq!(px(Expiry::After(Duration::from_millis(1500))), Some(1500));
        assert_eq!(px(Expiry::After(Duration::MAX)), Some(MAX_EXPIRY_MS));
    }
}
