//! Connections to one server: a small pool, each connection used by one request at a time.
//!
//! A request is a batch of meta commands written at once (a pipeline) and the same number of
//! replies read back, the whole bounded by the response timeout. A connection goes back to
//! the pool only after a complete exchange: one that failed, timed out or whose caller was
//! cancelled mid-way is dropped, so that no reply is ever read by the wrong request. After a
//! socket error the idle connections of the server are dropped too (a restarted server has
//! closed them all).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use cachette_api::Result;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, TryAcquireError};

use crate::error;
use crate::protocol::{parse_head, Head, Reply, Status};

/// How one request talks to a server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) pool_size: usize,
}

/// One memcached server: its address and its pool.
#[derive(Debug)]
pub(crate) struct Server {
    address: String,
    limits: Limits,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    closed: AtomicBool,
}

impl Server {
    pub(crate) fn new(address: String, limits: Limits) -> Self {
        Server {
            address,
            permits: Semaphore::new(limits.pool_size),
            limits,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Sends `request` (`count` commands) and reads `count` replies.
    ///
    /// # Errors
    /// [`Unavailable`](cachette_api::ErrorKind::Unavailable) when the server cannot be reached
    /// or the connection drops, [`Timeout`](cachette_api::ErrorKind::Timeout) when the
    /// exchange (waiting for a pooled connection included) takes longer than the response
    /// timeout, [`Backend`](cachette_api::ErrorKind::Backend) for a reply outside the
    /// protocol.
    pub(crate) async fn exchange(&self, request: &[u8], count: usize) -> Result<Vec<Reply>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(error::closed());
        }
        let limit = self.limits.response_timeout;
        // A free connection is taken without arming a timer: only a wait for one is bounded
        // (each armed timer is a registration in the runtime's timer wheel, and this is the
        // path of every request).
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(error::closed()),
            Err(TryAcquireError::NoPermits) => tokio::time::timeout(limit, self.permits.acquire())
                .await
                .map_err(|_| error::timeout("waiting for a connection to", &self.address, limit))?
                .map_err(|_| error::closed())?,
        };
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let replies = match tokio::time::timeout(limit, talk(&mut conn, request, count)).await {
            Ok(Ok(replies)) => replies,
            Ok(Err(Failure::Io(e))) => {
                self.forget_idle();
                return Err(error::io("talking to", &self.address, e));
            }
            Ok(Err(Failure::Protocol(what))) => return Err(error::protocol(&self.address, what)),
            Err(_) => return Err(error::timeout("talking to", &self.address, limit)),
        };
        let in_step = !replies.iter().any(|r| r.status.may_desync());
        if in_step && !self.closed.load(Ordering::Acquire) {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
        }
        drop(permit);
        Ok(replies)
    }

    async fn connect(&self) -> Result<Connection> {
        let limit = self.limits.connect_timeout;
        let stream = tokio::time::timeout(limit, TcpStream::connect(&self.address))
            .await
            .map_err(|_| error::timeout("connecting to", &self.address, limit))?
            .map_err(|e| error::io("connecting to", &self.address, e))?;
        // Requests are written whole: no reason to wait for more bytes before sending.
        stream
            .set_nodelay(true)
            .map_err(|e| error::io("configuring the socket to", &self.address, e))?;
        Ok(Connection {
            stream: BufReader::new(stream),
            line: Vec::new(),
        })
    }

    fn forget_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Drops the idle connections; later requests fail.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.forget_idle();
    }
}

/// One open connection, and the buffer its reply lines are read into (kept between requests).
#[derive(Debug)]
struct Connection {
    stream: BufReader<TcpStream>,
    line: Vec<u8>,
}

enum Failure {
    Io(std::io::Error),
    Protocol(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

async fn talk(
    conn: &mut Connection,
    request: &[u8],
    count: usize,
) -> std::result::Result<Vec<Reply>, Failure> {
    let Connection { stream: conn, line } = conn;
    conn.get_mut().write_all(request).await?;
    let mut replies = Vec::with_capacity(count);
    while replies.len() < count {
        read_line(conn, line).await?;
        match parse_head(line).map_err(Failure::Protocol)? {
            Head::Complete(reply) => replies.push(reply),
            Head::Value(mut reply, len) => {
                let mut value = vec![0; len + 2];
                conn.read_exact(&mut value).await?;
                if !value.ends_with(b"\r\n") {
                    return Err(Failure::Protocol("a value not ended by CRLF".to_owned()));
                }
                value.truncate(len);
                reply.value = Some(Bytes::from(value));
                replies.push(reply);
            }
            Head::Dump(first) => {
                let mut keys = vec![first];
                loop {
                    read_line(conn, line).await?;
                    if line.as_slice() == b"END" {
                        break;
                    }
                    keys.push(crate::protocol::dump_key(line));
                }
                replies.push(Reply::from_status(Status::Dump(keys)));
            }
        }
    }
    if line.capacity() > MAX_KEPT_LINE {
        // A key scan's long lines: not kept for the next request.
        *line = Vec::new();
    }
    Ok(replies)
}

/// The largest line buffer a connection keeps between requests.
const MAX_KEPT_LINE: usize = 4096;

/// Reads one line into `line`, without its `\n` or `\r\n`.
async fn read_line(
    conn: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
) -> std::result::Result<(), Failure> {
    line.clear();
    let n = conn.read_until(b'\n', line).await?;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(Failure::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}
