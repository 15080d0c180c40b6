//! [`MemcachedBackend`]: the contract over memcached's meta protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use cachette_api::{
    parse_stored_integer, CacheBackend, Error, ErrorKind, Expiry, KeyTtl, Result, SetMode,
    SetOptions,
};
use futures::future::try_join_all;

use crate::config::MemcachedBackendBuilder;
use crate::connection::{Limits, Server};
use crate::error::{self, BACKEND};
use crate::expiry::{now_ms, Life, WireExpiry};
use crate::protocol::{self, stored_key, Reply, Status};
use crate::ring;

/// How many times a compare-and-swap step is retried when other writers keep changing the
/// item, before the call fails with [`ErrorKind::Backend`].
const CAS_ATTEMPTS: usize = 10_000;

/// How long `clear` waits between two tries when the server's key scan is busy with another.
const SCAN_RETRY: Duration = Duration::from_millis(5);

/// A cache backend over one or several memcached servers.
///
/// Keys are spread over the servers by rendezvous hashing; each server gets a small pool of
/// connections opened on first use. Every operation on one key is one request to one server
/// (two for the conditional writes, which read the item's CAS first); batches make one
/// pipelined request per server, run concurrently. Cloning is cheap and shares the pools.
///
/// See the crate documentation for how each part of the contract is met on memcached.
#[derive(Debug, Clone)]
pub struct MemcachedBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addresses: Vec<String>,
    servers: Vec<Server>,
    response_timeout: Duration,
}

/// The replies to one request, and what to say if one is unexpected.
struct Replies {
    command: &'static str,
    replies: std::vec::IntoIter<Reply>,
}

impl Replies {
    /// The next reply; error replies become errors.
    fn next(&mut self) -> Result<Reply> {
        let reply = self.replies.next().ok_or_else(|| {
            Error::new(ErrorKind::Backend, "fewer replies than commands").with_backend(BACKEND)
        })?;
        match &reply.status {
            Status::ClientError(line) | Status::ServerError(line) | Status::Unknown(line) => {
                Err(error::refused(self.command, line))
            }
            _ => Ok(reply),
        }
    }

    /// The next reply, as it is (error replies included).
    fn next_raw(&mut self) -> Result<Reply> {
        self.replies.next().ok_or_else(|| {
            Error::new(ErrorKind::Backend, "fewer replies than commands").with_backend(BACKEND)
        })
    }
}

fn unexpected(command: &str, reply: &Reply) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{command}: unexpected reply {:?}", reply.status),
    )
    .with_backend(BACKEND)
    .with_temporary(false)
}

fn is_too_large(reply: &Reply) -> bool {
    matches!(&reply.status, Status::ServerError(line) if line.contains("too large"))
}

fn not_found() -> Error {
    Error::new(ErrorKind::NotFound, "key does not exist").with_backend(BACKEND)
}

fn overflow() -> Error {
    Error::new(ErrorKind::Overflow, "increment would overflow i64").with_backend(BACKEND)
}

fn contended(op: &str) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!(
            "{op}: the item changed under every one of {CAS_ATTEMPTS} compare-and-swap attempts"
        ),
    )
    .with_backend(BACKEND)
}

impl MemcachedBackend {
    /// A builder, for servers, timeouts and the pool size.
    pub fn builder() -> MemcachedBackendBuilder {
        MemcachedBackendBuilder::new()
    }

    /// Connects to the servers of `url` (`memcached://host:port[,host2:port2]`) and checks
    /// that each answers.
    ///
    /// # Errors
    /// [`Config`](ErrorKind::Config) for a bad URL; [`Unavailable`](ErrorKind::Unavailable)
    /// or [`Timeout`](ErrorKind::Timeout) when a server does not answer.
    pub async fn connect(url: &str) -> Result<Self> {
        let backend = Self::builder().with_url(url).build()?;
        backend.ping().await?;
        Ok(backend)
    }

    /// Sends a no-op (`mn`) to every server and waits for each answer.
    ///
    /// # Errors
    /// As the operations: the first server that cannot be reached.
    pub async fn ping(&self) -> Result<()> {
        try_join_all(self.inner.servers.iter().map(|server| async move {
            server
                .exchange(b"mn\r\n", 1)
                .await
                .map_err(|e| e.with_operation("ping"))
        }))
        .await?;
        Ok(())
    }

    /// The servers, as `host:port`.
    pub fn servers(&self) -> &[String] {
        &self.inner.addresses
    }

    pub(crate) fn from_parts(addresses: Vec<String>, limits: Limits) -> Self {
        let servers = addresses
            .iter()
            .map(|a| Server::new(a.clone(), limits))
            .collect();
        MemcachedBackend {
            inner: Arc::new(Inner {
                addresses,
                servers,
                response_timeout: limits.response_timeout,
            }),
        }
    }

    fn server_index(&self, stored: &[u8]) -> usize {
        ring::pick(&self.inner.addresses, stored)
    }

    /// Sends a request about one stored key to its server.
    async fn request(
        &self,
        op: &'static str,
        stored: &[u8],
        request: Vec<u8>,
        count: usize,
    ) -> Result<Replies> {
        let index = self.server_index(stored);
        self.request_to(op, index, request, count).await
    }

    async fn request_to(
        &self,
        op: &'static str,
        index: usize,
        request: Vec<u8>,
        count: usize,
    ) -> Result<Replies> {
        let server = self
            .inner
            .servers
            .get(index)
            .ok_or_else(|| error::config("no memcached server is configured"))?;
        let replies = server
            .exchange(&request, count)
            .await
            .map_err(|e| e.with_operation(op))?;
        Ok(Replies {
            command: op,
            replies: replies.into_iter(),
        })
    }

    /// Groups the positions of `stored` keys by server: one list per server, in order.
    fn by_server<'a>(&self, stored: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<usize>> {
        let mut groups = vec![Vec::new(); self.inner.servers.len()];
        for (position, key) in stored.enumerate() {
            if let Some(group) = groups.get_mut(self.server_index(key)) {
                group.push(position);
            }
        }
        groups
    }

    /// Runs one pipelined request per server that holds any of `stored`, concurrently:
    /// `write` appends the commands of one key (`per_key` of them); `read` is given the
    /// position of each key and its replies, in order.
    async fn per_server<T>(
        &self,
        op: &'static str,
        stored: &[Vec<u8>],
        per_key: usize,
        write: impl Fn(&mut Vec<u8>, usize),
        read: impl Fn(usize, &mut Replies) -> Result<T>,
    ) -> Result<Vec<(usize, T)>> {
        let groups = self.by_server(stored.iter().map(Vec::as_slice));
        let requests = groups
            .into_iter()
            .enumerate()
            .filter(|(_, group)| !group.is_empty())
            .map(|(index, group)| {
                let mut buf = Vec::new();
                for &position in &group {
                    write(&mut buf, position);
                }
                async move {
                    let replies = self
                        .request_to(op, index, buf, group.len() * per_key)
                        .await?;
                    Ok::<_, Error>((group, replies))
                }
            });
        let mut out = Vec::with_capacity(stored.len());
        for (group, mut replies) in try_join_all(requests).await? {
            for position in group {
                out.push((position, read(position, &mut replies)?));
            }
        }
        Ok(out)
    }

    /// Reads one item: `mg key v f t`.
    async fn read(&self, op: &'static str, key: &str) -> Result<Option<(Bytes, Life, u64)>> {
        let stored = stored_key(key);
        let mut buf = Vec::with_capacity(stored.len() + 16);
        protocol::meta_get(&mut buf, &stored, &["v", "f", "t"]);
        let reply = self.request(op, &stored, buf, 1).await?.next()?;
        let now = now_ms();
        Ok(live_value(op, reply, now)?.map(|(value, life, _)| (value, life, now)))
    }

    /// Reads an item's life and CAS (and its value when `with_value`): `mg key [v] f t c`.
    async fn read_for_cas(
        &self,
        op: &'static str,
        stored: &[u8],
        with_value: bool,
    ) -> Result<Reply> {
        let mut buf = Vec::new();
        let flags: &[&str] = if with_value {
            &["v", "f", "t", "c"]
        } else {
            &["f", "t", "c"]
        };
        protocol::meta_get(&mut buf, stored, flags);
        self.request(op, stored, buf, 1).await?.next()
    }

    /// `ms` with `flags`, answering the reply.
    async fn write(
        &self,
        op: &'static str,
        stored: &[u8],
        value: &[u8],
        flags: &[&str],
    ) -> Result<Reply> {
        let mut buf = Vec::new();
        protocol::meta_set(&mut buf, stored, value, flags);
        let reply = self.request(op, stored, buf, 1).await?.next_raw()?;
        if is_too_large(&reply) {
            self.forget(op, stored).await?;
            return Err(error::too_large(value.len()).with_operation(op));
        }
        if let Status::ClientError(line) | Status::ServerError(line) | Status::Unknown(line) =
            &reply.status
        {
            return Err(error::refused(op, line));
        }
        Ok(reply)
    }

    /// Deletes whatever is stored (after a refused write, as Django does).
    async fn forget(&self, op: &'static str, stored: &[u8]) -> Result<()> {
        let mut buf = Vec::new();
        protocol::meta_delete(&mut buf, stored, &[]);
        self.request(op, stored, buf, 1).await?.next()?;
        Ok(())
    }

    async fn set_if_absent(&self, stored: &[u8], value: &[u8], wire: &WireExpiry) -> Result<bool> {
        let op = "add";
        for _ in 0..CAS_ATTEMPTS {
            let added = self
                .write(
                    op,
                    stored,
                    value,
                    &[&wire.ttl_flag, &wire.deadline_flag, "ME"],
                )
                .await?;
            match added.status {
                Status::Done => return Ok(true),
                Status::NotStored => {}
                _ => return Err(unexpected(op, &added)),
            }
            // Something is there: alive, or past its deadline but not yet freed by the server.
            let current = self.read_for_cas(op, stored, false).await?;
            if !current.is_found() {
                continue;
            }
            if Life::read(current.client_flags, current.seconds_left, now_ms()).is_alive() {
                return Ok(false);
            }
            if self
                .replace_if_unchanged(op, stored, value, wire, &current)
                .await?
            {
                return Ok(true);
            }
        }
        Err(contended(op))
    }

    /// `ms key … C<cas>`: writes only if the item is the one `current` read.
    async fn replace_if_unchanged(
        &self,
        op: &'static str,
        stored: &[u8],
        value: &[u8],
        wire: &WireExpiry,
        current: &Reply,
    ) -> Result<bool> {
        let cas = format!("C{}", current.cas.unwrap_or(0));
        let reply = self
            .write(
                op,
                stored,
                value,
                &[&wire.ttl_flag, &wire.deadline_flag, &cas],
            )
            .await?;
        match reply.status {
            Status::Done => Ok(true),
            Status::Exists | Status::NotFound => Ok(false),
            _ => Err(unexpected(op, &reply)),
        }
    }

    /// `md key C<cas>`: deletes only if the item is the one `current` read.
    async fn delete_if_unchanged(
        &self,
        op: &'static str,
        stored: &[u8],
        current: &Reply,
    ) -> Result<Status> {
        let mut buf = Vec::new();
        let cas = format!("C{}", current.cas.unwrap_or(0));
        protocol::meta_delete(&mut buf, stored, &[&cas]);
        let reply = self.request(op, stored, buf, 1).await?.next()?;
        Ok(reply.status)
    }

    /// `incr` by compare-and-swap: for negative deltas and values (which memcached's
    /// unsigned `ma` refuses or clamps).
    async fn incr_by_cas(&self, stored: &[u8], delta: i64) -> Result<i64> {
        let op = "incr";
        for _ in 0..CAS_ATTEMPTS {
            let current = self.read_for_cas(op, stored, true).await?;
            let now = now_ms();
            let Some((value, life, _)) = live_value(op, current.clone(), now)? else {
                return Err(not_found());
            };
            let new = parse_stored_integer(&value)?
                .checked_add(delta)
                .ok_or_else(overflow)?;
            let wire = life.wire(now);
            if self
                .replace_if_unchanged(op, stored, new.to_string().as_bytes(), &wire, &current)
                .await?
            {
                return Ok(new);
            }
        }
        Err(contended(op))
    }

    /// Lists the stored keys of server `index` that start with `prefix`, waiting while
    /// another scan runs (up to the response timeout).
    async fn scan(&self, index: usize, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + self.inner.response_timeout;
        let mut by_hash = true;
        loop {
            let mut buf = Vec::new();
            protocol::metadump(&mut buf, by_hash);
            let reply = self.request_to("clear", index, buf, 1).await?.next_raw()?;
            match reply.status {
                // A server older than 1.6.10 has no hash-table walk.
                Status::ClientError(_) | Status::Unknown(_) if by_hash => by_hash = false,
                Status::Dump(keys) => {
                    return Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
                }
                Status::Busy if Instant::now() < deadline => tokio::time::sleep(SCAN_RETRY).await,
                Status::Busy => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        "clear: the server's key scan stayed busy with other scans",
                    )
                    .with_backend(BACKEND)
                    .with_operation("clear"))
                }
                _ => return Err(unexpected("clear", &reply)),
            }
        }
    }

    /// Deletes `keys` (stored form) with one pipeline per server; answers how many were alive.
    async fn delete_stored(&self, op: &'static str, keys: &[Vec<u8>]) -> Result<u64> {
        let deleted = self
            .per_server(
                op,
                keys,
                2,
                |buf, i| {
                    if let Some(key) = keys.get(i) {
                        protocol::meta_get(buf, key, &["f", "t"]);
                        protocol::meta_delete(buf, key, &[]);
                    }
                },
                |_, replies| {
                    let seen = replies.next()?;
                    let gone = replies.next()?;
                    let alive = seen.is_found()
                        && Life::read(seen.client_flags, seen.seconds_left, now_ms()).is_alive();
                    Ok(alive && gone.status == Status::Done)
                },
            )
            .await?;
        Ok(deleted.iter().filter(|(_, d)| *d).count() as u64)
    }
}

/// The value of a `mg … v f t` reply when the item is alive: `None` for a miss or an item
/// past its deadline.
fn live_value(op: &str, reply: Reply, now: u64) -> Result<Option<(Bytes, Life, u64)>> {
    match reply.status {
        Status::Miss => Ok(None),
        Status::Value => {
            let life = Life::read(reply.client_flags, reply.seconds_left, now);
            if !life.is_alive() {
                return Ok(None);
            }
            Ok(reply.value.map(|v| (v, life, reply.cas.unwrap_or(0))))
        }
        _ => Err(unexpected(op, &reply)),
    }
}

/// The life of a `mg … f t` reply: `None` for a miss or an item past its deadline.
fn live(op: &str, reply: &Reply, now: u64) -> Result<Option<Life>> {
    match reply.status {
        Status::Miss => Ok(None),
        Status::Done | Status::Value => {
            let life = Life::read(reply.client_flags, reply.seconds_left, now);
            Ok(life.is_alive().then_some(life))
        }
        _ => Err(unexpected(op, reply)),
    }
}

#[async_trait]
impl CacheBackend for MemcachedBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.read("get", key).await?.map(|(value, _, _)| value))
    }

    async fn get_with_expiry(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        Ok(self
            .read("get", key)
            .await?
            .and_then(|(value, life, now)| life.expiry(now).map(|e| (value, e))))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Ok(self
            .get_many_with_expiry(keys)
            .await?
            .into_iter()
            .map(|slot| slot.map(|(value, _)| value))
            .collect())
    }

    async fn get_many_with_expiry(&self, keys: &[String]) -> Result<Vec<Option<(Bytes, Expiry)>>> {
        let stored: Vec<Vec<u8>> = keys.iter().map(|k| stored_key(k).into_owned()).collect();
        let found = self
            .per_server(
                "get_many",
                &stored,
                1,
                |buf, i| {
                    if let Some(key) = stored.get(i) {
                        protocol::meta_get(buf, key, &["v", "f", "t"]);
                    }
                },
                |_, replies| {
                    let now = now_ms();
                    Ok(live_value("get_many", replies.next()?, now)?
                        .and_then(|(value, life, _)| life.expiry(now).map(|e| (value, e))))
                },
            )
            .await?;
        let mut out = vec![None; keys.len()];
        for (position, slot) in found {
            if let Some(out) = out.get_mut(position) {
                *out = slot;
            }
        }
        Ok(out)
    }

    async fn set(&self, key: &str, value: Bytes, options: SetOptions) -> Result<bool> {
        let stored = stored_key(key);
        let now = now_ms();
        let wire = WireExpiry::new(options.expiry, now);
        match options.mode {
            SetMode::IfAbsent => self.set_if_absent(&stored, &value, &wire).await,
            SetMode::IfPresent => {
                let op = "set";
                for _ in 0..CAS_ATTEMPTS {
                    let current = self.read_for_cas(op, &stored, false).await?;
                    if live(op, &current, now_ms())?.is_none() {
                        return Ok(false);
                    }
                    if self
                        .replace_if_unchanged(op, &stored, &value, &wire, &current)
                        .await?
                    {
                        return Ok(true);
                    }
                }
                Err(contended(op))
            }
            _ => {
                let reply = self
                    .write(
                        "set",
                        &stored,
                        &value,
                        &[&wire.ttl_flag, &wire.deadline_flag],
                    )
                    .await?;
                match reply.status {
                    Status::Done => Ok(true),
                    _ => Err(unexpected("set", &reply)),
                }
            }
        }
    }

    async fn add_or_get(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<Option<Bytes>> {
        let op = "add_or_get";
        let stored = stored_key(key);
        let wire = WireExpiry::new(expiry, now_ms());
        for _ in 0..CAS_ATTEMPTS {
            // The add and, should it find the key taken, the read of the winner: one round trip.
            let mut buf = Vec::new();
            protocol::meta_set(
                &mut buf,
                &stored,
                &value,
                &[&wire.ttl_flag, &wire.deadline_flag, "ME"],
            );
            protocol::meta_get(&mut buf, &stored, &["v", "f", "t", "c"]);
            let mut replies = self.request(op, &stored, buf, 2).await?;
            let added = replies.next_raw()?;
            let current = replies.next()?;
            if is_too_large(&added) {
                self.forget(op, &stored).await?;
                return Err(error::too_large(value.len()).with_operation(op));
            }
            match added.status {
                Status::Done => return Ok(None),
                Status::NotStored => {}
                _ => return Err(unexpected(op, &added)),
            }
            if current.status == Status::Miss {
                continue;
            }
            if let Some((winner, _, _)) = live_value(op, current.clone(), now_ms())? {
                return Ok(Some(winner));
            }
            if self
                .replace_if_unchanged(op, &stored, &value, &wire, &current)
                .await?
            {
                return Ok(None);
            }
        }
        Err(contended(op))
    }

    async fn set_many(&self, entries: &[(String, Bytes)], expiry: Expiry) -> Result<Vec<usize>> {
        let stored: Vec<Vec<u8>> = entries
            .iter()
            .map(|(k, _)| stored_key(k).into_owned())
            .collect();
        let wire = WireExpiry::new(expiry, now_ms());
        let results = self
            .per_server(
                "set_many",
                &stored,
                1,
                |buf, i| {
                    if let (Some(key), Some((_, value))) = (stored.get(i), entries.get(i)) {
                        protocol::meta_set(buf, key, value, &[&wire.ttl_flag, &wire.deadline_flag]);
                    }
                },
                |_, replies| {
                    let reply = replies.next_raw()?;
                    if is_too_large(&reply) {
                        return Ok(false);
                    }
                    match replies_status(&reply) {
                        Ok(Status::Done) => Ok(true),
                        Ok(_) => Err(unexpected("set_many", &reply)),
                        Err(line) => Err(error::refused("set_many", &line)),
                    }
                },
            )
            .await?;
        let mut failed: Vec<usize> = results
            .into_iter()
            .filter(|(_, written)| !written)
            .map(|(position, _)| position)
            .collect();
        failed.sort_unstable();
        // As Django does: a value the server refused does not leave the old one behind.
        let refused: Vec<Vec<u8>> = failed
            .iter()
            .filter_map(|&i| stored.get(i).cloned())
            .collect();
        if !refused.is_empty() {
            self.delete_stored("set_many", &refused).await?;
        }
        Ok(failed)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let op = "delete";
        let stored = stored_key(key);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.read_for_cas(op, &stored, false).await?;
            if current.status == Status::Miss {
                return Ok(false);
            }
            let alive = live(op, &current, now_ms())?.is_some();
            match self.delete_if_unchanged(op, &stored, &current).await? {
                Status::Done => return Ok(alive),
                Status::NotFound => return Ok(false),
                Status::Exists => {}
                other => return Err(unexpected(op, &Reply::from_status(other))),
            }
        }
        Err(contended(op))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let stored: Vec<Vec<u8>> = keys.iter().map(|k| stored_key(k).into_owned()).collect();
        self.delete_stored("delete_many", &stored).await
    }

    async fn delete_if_value(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let op = "delete_if_value";
        let stored = stored_key(key);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.read_for_cas(op, &stored, true).await?;
            let Some((value, _, _)) = live_value(op, current.clone(), now_ms())? else {
                return Ok(false);
            };
            if value.as_ref() != expected {
                return Ok(false);
            }
            match self.delete_if_unchanged(op, &stored, &current).await? {
                Status::Done => return Ok(true),
                Status::NotFound => return Ok(false),
                Status::Exists => {}
                other => return Err(unexpected(op, &Reply::from_status(other))),
            }
        }
        Err(contended(op))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let op = "touch";
        let stored = stored_key(key);
        for _ in 0..CAS_ATTEMPTS {
            // The deadline lives in the client flags, which only a write changes: the value is
            // written back, unchanged, over the item read (compare-and-swap).
            let current = self.read_for_cas(op, &stored, true).await?;
            let now = now_ms();
            let Some((value, _, _)) = live_value(op, current.clone(), now)? else {
                return Ok(false);
            };
            let wire = WireExpiry::new(expiry, now);
            match self
                .replace_if_unchanged(op, &stored, &value, &wire, &current)
                .await
            {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        Err(contended(op))
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        Ok(!matches!(self.ttl(key).await?, KeyTtl::Missing))
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let op = "incr";
        let stored = stored_key(key);
        let Ok(up) = u64::try_from(delta) else {
            // memcached's decrement stops at zero: a negative delta goes by compare-and-swap.
            return self.incr_by_cas(&stored, delta).await;
        };
        // The item's life, and the increment itself, in one round trip. `ma` keeps the item's
        // flags and expiry.
        let mut buf = Vec::new();
        protocol::meta_get(&mut buf, &stored, &["f", "t"]);
        let step = format!("D{up}");
        protocol::meta_arithmetic(&mut buf, &stored, &[&step, "v", "c"]);
        let mut replies = self.request(op, &stored, buf, 2).await?;
        let seen = replies.next()?;
        let counted = replies.next_raw()?;
        match &counted.status {
            Status::NotFound => return Err(not_found()),
            // Not an unsigned decimal: a negative number (counted by compare-and-swap) or not
            // a number at all (which compare-and-swap reports as such).
            Status::ClientError(_) => return self.incr_by_cas(&stored, delta).await,
            Status::Value => {}
            _ => return Err(unexpected(op, &counted)),
        }
        let total = counted
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| unexpected(op, &counted))?;
        if seen.is_found() && live(op, &seen, now_ms())?.is_none() {
            // The item was past its deadline: the increment counted a dead value. It is gone
            // for every reader already; free it, unless someone wrote it since.
            let _ = self.delete_if_unchanged(op, &stored, &counted).await;
            return Err(not_found());
        }
        if total > i64::MAX as u64 || total < up {
            // Past i64 (or wrapped past u64): put the value back as it was.
            let mut buf = Vec::new();
            protocol::meta_arithmetic(&mut buf, &stored, &["MD", &step]);
            self.request(op, &stored, buf, 1).await?.next()?;
            return Err(overflow());
        }
        i64::try_from(total).map_err(|_| overflow())
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let stored = stored_key(key);
        let mut buf = Vec::new();
        protocol::meta_get(&mut buf, &stored, &["f", "t"]);
        let reply = self.request("ttl", &stored, buf, 1).await?.next()?;
        let now = now_ms();
        Ok(match live("ttl", &reply, now)? {
            Some(life) => life.key_ttl(now),
            None => KeyTtl::Missing,
        })
    }

    async fn clear(&self, prefix: &str) -> Result<u64> {
        let scans = (0..self.inner.servers.len()).map(|index| self.scan(index, prefix.as_bytes()));
        let keys: Vec<Vec<u8>> = try_join_all(scans).await?.into_iter().flatten().collect();
        if keys.is_empty() {
            return Ok(0);
        }
        self.delete_stored("clear", &keys).await
    }

    async fn close(&self) -> Result<()> {
        for server in &self.inner.servers {
            server.close();
        }
        Ok(())
    }
}

/// The status of a reply, or the line of an error reply.
fn replies_status(reply: &Reply) -> std::result::Result<Status, String> {
    match &reply.status {
        Status::ClientError(line) | Status::ServerError(line) | Status::Unknown(line) => {
            Err(line.clone())
        }
        other => Ok(other.clone()),
    }
}
