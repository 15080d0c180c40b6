//! [`Runtime`]: where the futures of a blocking handle find their I/O driver and timers, and
//! [`Runtime::block_on`], which waits for one of them on the calling thread.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crate::{Error, ErrorKind, Result};

/// The process-wide runtime of [`Runtime::shared`]: built once, never dropped (dropping a
/// Tokio runtime from async code panics, and a handle may be dropped anywhere).
static SHARED: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The Tokio runtime a [blocking `Cache`](super::Cache) runs its backend on.
///
/// A call of the blocking handle polls the async handle's future **on the calling thread**
/// (so it may borrow the caller's keys, values and loaders), with this runtime entered so
/// that timers, sockets and spawned tasks belong to it. The runtime's own thread drives the
/// I/O and the timers meanwhile. So a call blocks only its caller: it neither needs nor
/// disturbs the caller's executor, whether that is none (a plain thread), a Tokio runtime or
/// another executor.
///
/// The backend's connections live on the runtime they were opened in: build the backend
/// inside [`Runtime::block_on`] (as `cachette::blocking::from_url` does) so that they live on
/// this one.
///
/// ```
/// # fn main() -> cachette_api::Result<()> {
/// use cachette_api::blocking::Runtime;
///
/// let runtime = Runtime::shared()?;
/// let answer = runtime.block_on(async { 40 + 2 });
/// assert_eq!(answer, 42);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    handle: tokio::runtime::Handle,
}

impl Runtime {
    /// The process-wide runtime shared by every blocking handle that was given none: a
    /// multi-threaded Tokio runtime with one worker thread (`cachette-blocking`), started on
    /// first use and kept until the process exits.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the runtime cannot be started (the OS refused a thread);
    /// every later call answers the same.
    pub fn shared() -> Result<Runtime> {
        let runtime = SHARED.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cachette-blocking")
                .enable_all()
                .build()
                .map_err(|err| err.to_string())
        });
        match runtime {
            Ok(runtime) => Ok(Runtime {
                handle: runtime.handle().clone(),
            }),
            Err(reason) => Err(Error::new(
                ErrorKind::Config,
                format!("cannot start the runtime of the blocking cache: {reason}"),
            )),
        }
    }

    /// Borrows a runtime the application already has.
    ///
    /// Some thread must drive it while blocking calls wait: a multi-threaded runtime does so
    /// by itself; a current-thread runtime only while another thread is inside its
    /// `block_on`. Calling a blocking handle from the only thread of the current-thread
    /// runtime it borrows waits forever: use [`Runtime::shared`] there.
    pub fn from_handle(handle: tokio::runtime::Handle) -> Runtime {
        Runtime { handle }
    }

    /// The Tokio handle of this runtime.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `future` to completion on the calling thread, with this runtime entered, and
    /// returns its output.
    ///
    /// Unlike Tokio's `block_on`, this may be called from inside a Tokio runtime or another
    /// executor (it does not nest an executor: it parks the calling thread until the future
    /// wakes it). It then blocks that executor's thread for the call's duration, like any
    /// blocking call: inside async code, prefer the async handle, or move the call to
    /// `tokio::task::spawn_blocking`.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = self.handle.enter();
        // Unconstrained: called from a Tokio task, the future would otherwise share that
        // task's cooperative budget, which is refilled only when the task yields; it never
        // yields while blocked here, so the future would be told "pending" forever.
        park_until_ready(tokio::task::unconstrained(future))
    }
}

/// Wakes the thread that waits for a future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking it between polls until a wake-up.
///
/// A spurious unpark only costs one more poll. Nesting is fine: an inner call's wake-ups
/// unpark the same thread.
fn park_until_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
