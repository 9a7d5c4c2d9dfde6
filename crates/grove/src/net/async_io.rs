//! `futures-io` (and, with feature `tokio`, tokio's) `AsyncRead` and
//! `AsyncWrite` for grove's [`TcpStream`] and [`UnixStream`], polled on the
//! hub, so async protocol crates (TLS, HTTP/2, database wire protocols) can
//! run over grove sockets inside [`block_on`](crate::block_on).
//!
//! Every poll has the shape of the blocking calls (DESIGN.md practice 3):
//! try the non-blocking system call; on `WouldBlock` forget the direction's
//! readiness and register a wake-up for it; return `Pending`. The wake-up:
//!
//! * polled straight from `block_on` (the context's waker is `block_on`'s
//!   own, the common case): the greenlet's unparker joins the fd's waiters,
//!   as in a blocking read, and leaves them when the park ends — no
//!   allocation beyond `block_on`'s, no extra greenlet;
//! * any other waker (a combinator that wraps wakers, such as
//!   `FuturesUnordered`, or a future polled outside `block_on`): a helper
//!   greenlet waits for the readiness and wakes the waker. It keeps a handle
//!   on the socket while it waits, and gives up within a second once the
//!   user's handles are all dropped, so the fd is closed soon after.
//!
//! The sockets' read and write timeouts do not apply here; bound an async
//! operation with `grove::with_timeout` around the `block_on`, or with the
//! executor's timer.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net as stdnet;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::evented::{Evented, StdSocket};
use super::{TcpStream, UnixStream};
use crate::block_on::register_io;
use crate::hub::io::Direction;
use crate::hub::Hub;

/// How often a helper greenlet checks that its socket still has users.
const HELPER_CHECK: Duration = Duration::from_secs(1);

/// One non-blocking attempt of `op`; on `WouldBlock`, a wake-up for
/// `direction` is registered with `cx`'s waker and `Pending` returned.
fn poll_io<S: StdSocket + 'static, R>(
    evented: &Evented<S>,
    direction: Direction,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&S) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        match op(evented.get()) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                // The hub is single-threaded: readiness cannot change between
                // the failed call and this clear, so no event is lost.
                evented.registration().clear_ready(direction);
                wake_when_ready(evented, direction, cx.waker());
                return Poll::Pending;
            }
            done => return Poll::Ready(done),
        }
    }
}

fn wake_when_ready<S: StdSocket + 'static>(
    evented: &Evented<S>,
    direction: Direction,
    waker: &Waker,
) {
    let direct = register_io(waker, |unparker| {
        evented
            .registration()
            .push_waiter(direction, unparker.clone());
        Hub::get().io.note_waiting(true);
        let (socket, unparker) = (evented.share(), unparker.clone());
        Box::new(move || {
            socket.registration().remove_waiter(direction, &unparker);
            Hub::get().io.note_waiting(false);
        })
    });
    if direct {
        return;
    }
    let (socket, waker) = (evented.share(), waker.clone());
    crate::Builder::new()
        .name("grove::net async readiness".to_string())
        .spawn(move || {
            loop {
                let deadline = Hub::get().deadline_after(HELPER_CHECK);
                let ready = socket.registration().wait(direction, deadline).is_ok();
                // Ready, or no user handle left: nothing more to wait for.
                if ready || socket.handle_count() == 1 {
                    break;
                }
            }
            waker.wake();
        })
        .unwrap_or_else(|err| {
            panic!("grove: cannot start a greenlet to watch a socket for an async waker: {err}")
        });
}

macro_rules! async_stream {
    ($ty:ty, $std:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                poll_io(&self.inner, Direction::Read, cx, |s: &$std| {
                    let mut s = s;
                    s.read(buf)
                })
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                poll_io(&self.inner, Direction::Write, cx, |s: &$std| {
                    let mut s = s;
                    s.write(buf)
                })
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // The kernel's send buffer is the only buffer.
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner.get().shutdown(Shutdown::Write))
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let unfilled = buf.initialize_unfilled();
                let poll = poll_io(&self.inner, Direction::Read, cx, |s: &$std| {
                    let mut s = s;
                    s.read(unfilled)
                });
                poll.map_ok(|n| buf.advance(n))
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_flush(self, cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_close(self, cx)
            }
        }
    };
}

async_stream!(TcpStream, std::net::TcpStream);
async_stream!(UnixStream, stdnet::UnixStream);
