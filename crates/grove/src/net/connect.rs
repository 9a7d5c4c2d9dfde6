//! Connection set-up shared by the stream sockets (TCP and Unix): taking a
//! connection off a listening socket, and waiting out a non-blocking
//! connect. Both are [`Evented`] operations; what differs between the
//! families (addresses, how a connect starts) stays with each type.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use socket2::{SockAddr, SockRef, Socket};

use super::evented::{Evented, StdSocket};
use crate::hub::io::Direction;

/// `accept4` flags: the new socket is born non-blocking and close-on-exec.
const ACCEPT_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

impl<S: StdSocket + AsFd> Evented<S> {
    /// Takes the next connection off this listening socket, parking while
    /// there is none (up to `timeout`): the new socket and its peer.
    pub(crate) fn accept(&self, timeout: Option<Duration>) -> io::Result<(Socket, SockAddr)> {
        self.io(Direction::Read, timeout, |listener| {
            SockRef::from(listener).accept4(ACCEPT_FLAGS)
        })
    }

    /// Parks until the connect in progress on this socket completes, or
    /// fails, or `deadline` passes (a `TimedOut` error naming `addr`).
    pub(crate) fn finish_connect(
        &self,
        deadline: Option<Instant>,
        addr: &dyn fmt::Display,
    ) -> io::Result<()> {
        let registration = self.registration();
        // Edge-triggered epoll reports the state at registration time with the
        // next poll, so the optimistic initial readiness can be dropped.
        registration.clear_ready(Direction::Write);
        loop {
            registration
                .wait(Direction::Write, deadline)
                .map_err(|err| match err.kind() {
                    io::ErrorKind::TimedOut => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("grove: connection to {addr} timed out"),
                    ),
                    _ => err,
                })?;
            if self.connected()? {
                return Ok(());
            }
            // A spurious wake-up: not connected yet.
            registration.clear_ready(Direction::Write);
        }
    }

    /// Whether the connect completed: its error if it failed, `false` if it
    /// is still in progress.
    fn connected(&self) -> io::Result<bool> {
        let socket = SockRef::from(self.get());
        if let Some(err) = socket.take_error()? {
            return Err(err);
        }
        match socket.peer_addr() {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(err) => Err(err),
        }
    }
}
