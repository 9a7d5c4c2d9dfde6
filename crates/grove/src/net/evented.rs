//! The one bridge from grove's sockets to the hub's poller.
//!
//! Every socket type wraps an [`Evented`]: a shared, reference-counted
//! record of one non-blocking `std` socket, its [`Registration`] with the
//! hub, and the per-socket settings that `std` keeps in the kernel
//! (read/write timeouts, blocking mode). Every blocking operation of every
//! socket goes through [`Evented::io`]: try the operation; on `WouldBlock`
//! forget the direction's readiness and park until the poller reports it
//! again (or the timeout passes); retry (DESIGN.md practice 3).
//!
//! `try_clone` clones the `Rc`, not the fd: the fd is registered once, and
//! the clones share its readiness, wait lists, timeouts and blocking mode —
//! as `std`'s clones share them through their common open file description.
//! The fd is closed when the last handle goes; the registration is dropped
//! (the fd deregistered) just before.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::io::{Direction, Registration};
use crate::hub::Hub;

/// What [`Evented`] needs from the `std` socket it wraps.
pub(crate) trait StdSocket: AsRawFd + Sized {
    /// The socket's `set_nonblocking` (the OS flag).
    fn set_os_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
    /// Duplicates the fd (`F_DUPFD_CLOEXEC`).
    fn dup(&self) -> io::Result<Self>;
}

macro_rules! std_socket {
    ($($ty:ty),*) => {$(
        impl StdSocket for $ty {
            fn set_os_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                self.set_nonblocking(nonblocking)
            }
            fn dup(&self) -> io::Result<Self> {
                self.try_clone()
            }
        }
    )*};
}

std_socket!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket,
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixDatagram
);

/// A registered non-blocking socket, shared by a handle and its `try_clone`s.
pub(crate) struct Evented<S> {
    shared: Rc<Shared<S>>,
}

/// Fields drop in declaration order: the registration (deregistering the
/// fd) goes before the socket closes it.
struct Shared<S> {
    registration: Registration,
    io: S,
    /// The user's blocking mode; the OS flag is always non-blocking.
    nonblocking: Cell<bool>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl<S: StdSocket> Evented<S> {
    /// Registers `io`, which must already be in non-blocking mode.
    pub(crate) fn new(io: S) -> io::Result<Self> {
        let registration = Registration::new(io.as_raw_fd())?;
        Ok(Evented {
            shared: Rc::new(Shared {
                registration,
                io,
                nonblocking: Cell::new(false),
                read_timeout: Cell::new(None),
                write_timeout: Cell::new(None),
            }),
        })
    }

    /// Puts a socket of any mode into non-blocking mode and registers it.
    pub(crate) fn from_std(io: S) -> io::Result<Self> {
        io.set_os_nonblocking(true)?;
        Self::new(io)
    }

    /// Like [`Evented::from_std`], for `From` impls that cannot return an error.
    #[track_caller]
    pub(crate) fn from_std_or_panic(io: S, what: &str) -> Self {
        Self::from_std(io).unwrap_or_else(|err| {
            panic!("grove: cannot register the {what} with this thread's hub: {err}")
        })
    }

    /// The wrapped `std` socket (non-blocking).
    pub(crate) fn get(&self) -> &S {
        &self.shared.io
    }

    /// The registration, for operations with their own loop (connect).
    pub(crate) fn registration(&self) -> &Registration {
        &self.shared.registration
    }

    /// How many handles share the socket (the user's `try_clone`s and
    /// internal [`share`](Self::share)s).
    pub(crate) fn handle_count(&self) -> usize {
        Rc::strong_count(&self.shared)
    }

    /// Another handle to the same socket and registration.
    pub(crate) fn share(&self) -> Self {
        Evented {
            shared: self.shared.clone(),
        }
    }

    /// The `std` socket in blocking mode, deregistered. When other handles
    /// (`try_clone`s) remain, a duplicate fd is returned instead and the
    /// shared file description stays non-blocking, so that the grove handles
    /// keep working; see the socket types' `into_std` docs.
    pub(crate) fn into_std(self) -> io::Result<S> {
        match Rc::try_unwrap(self.shared) {
            Ok(Shared {
                registration, io, ..
            }) => {
                drop(registration);
                io.set_os_nonblocking(false)?;
                Ok(io)
            }
            Err(shared) => shared.io.dup(),
        }
    }

    /// The socket deregistered but still non-blocking (for `IntoRawFd`);
    /// a duplicate when other handles remain.
    #[track_caller]
    pub(crate) fn into_deregistered(self) -> S {
        match Rc::try_unwrap(self.shared) {
            Ok(Shared {
                registration, io, ..
            }) => {
                drop(registration);
                io
            }
            Err(shared) => shared.io.dup().unwrap_or_else(|err| {
                panic!("grove: into_raw_fd of a socket with live try_clone handles must duplicate its fd, and that failed: {err}")
            }),
        }
    }

    /// Runs a read-side operation, honouring the read timeout.
    pub(crate) fn read<R>(&self, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Read, self.shared.read_timeout.get(), op)
    }

    /// A stream read into a buffer of `len` bytes. A read that returns fewer
    /// bytes than asked drained the socket's receive queue, so read readiness
    /// is cleared at once: the next read parks until new data arrives instead
    /// of making a `recv` that can only fail with `EAGAIN` (one system call
    /// per round trip saved, as tokio does). An end of file is never lost:
    /// the poller keeps a sticky read-closed bit that this does not clear.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.read(&mut op)?;
        if n > 0 && n < len && !self.shared.nonblocking.get() {
            self.shared.registration.clear_ready(Direction::Read);
        }
        Ok(n)
    }

    /// Runs a write-side operation, honouring the write timeout.
    pub(crate) fn write<R>(&self, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Write, self.shared.write_timeout.get(), op)
    }

    /// The one blocking loop: try `op`; on `WouldBlock` clear readiness in
    /// `direction`, park until it is ready again, retry. Gives up with
    /// `TimedOut` once `timeout` has passed since the first wait. In
    /// non-blocking mode `op` runs once and `WouldBlock` is returned as is.
    /// While the greenlet is unwinding, a wait fails at once with an
    /// `ErrorKind::Other` error instead of parking (not `Interrupted`, which
    /// std's `read_exact`/`write_all` would retry forever).
    pub(crate) fn io<R>(
        &self,
        direction: Direction,
        timeout: Option<Duration>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let shared = &*self.shared;
        if shared.nonblocking.get() {
            return op(&shared.io);
        }
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            if shared.registration.is_ready(direction) {
                match op(&shared.io) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        shared.registration.clear_ready(direction);
                    }
                    done => return done,
                }
            }
            let deadline =
                *deadline.get_or_insert_with(|| timeout.and_then(|t| Hub::get().deadline_after(t)));
            wait(&shared.registration, direction, deadline)?;
        }
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.shared.nonblocking.set(nonblocking);
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.shared.nonblocking.get()
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.shared.read_timeout.set(check_timeout(timeout)?);
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.shared.write_timeout.set(check_timeout(timeout)?);
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.shared.read_timeout.get()
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.shared.write_timeout.get()
    }
}

/// Parks on `direction` until it is ready or `deadline` passes, with an
/// error that says which side timed out.
pub(crate) fn wait(
    registration: &Registration,
    direction: Direction,
    deadline: Option<Instant>,
) -> io::Result<()> {
    registration
        .wait(direction, deadline)
        .map_err(|err| match err.kind() {
            io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                match direction {
                    Direction::Read => "grove: socket read timed out",
                    Direction::Write => "grove: socket write timed out",
                },
            ),
            _ => err,
        })
}

/// `std`'s rule: a zero timeout is an error, not "no timeout".
pub(crate) fn check_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(timeout)
}

impl<S: fmt::Debug> fmt::Debug for Evented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.io.fmt(f)
    }
}

/// The hidden setup of the socket macros' doc examples: a `socket` of type
/// `$ty`, whichever socket type the macro is expanded for, then a comment.
macro_rules! demo_socket {
    ($ty:ident, $($note:expr),+) => {
        concat!(
            " # trait Demo: Sized { fn demo() -> Self; }\n",
            " # impl Demo for grove::net::TcpListener { fn demo() -> Self { Self::bind(\"127.0.0.1:0\").unwrap() } }\n",
            " # impl Demo for grove::net::TcpStream { fn demo() -> Self {\n",
            " #     let l = Box::leak(Box::new(grove::net::TcpListener::bind(\"127.0.0.1:0\").unwrap()));\n",
            " #     Self::connect(l.local_addr().unwrap()).unwrap() } }\n",
            " # impl Demo for grove::net::UdpSocket { fn demo() -> Self { Self::bind(\"127.0.0.1:0\").unwrap() } }\n",
            " # impl Demo for grove::net::UnixListener { fn demo() -> Self {\n",
            " #     let p = std::env::temp_dir().join(format!(\"grove-doc-{}.sock\", std::process::id()));\n",
            " #     let l = Self::bind(&p).unwrap(); std::fs::remove_file(&p).unwrap(); l } }\n",
            " # impl Demo for grove::net::UnixStream { fn demo() -> Self { let (a, b) = Self::pair().unwrap(); std::mem::forget(b); a } }\n",
            " # impl Demo for grove::net::UnixDatagram { fn demo() -> Self { Self::unbound().unwrap() } }\n",
            " let socket = <grove::net::", stringify!($ty), " as Demo>::demo(); // ", $($note),+
        )
    };
}

/// The parts every socket type shares: `std` and raw-fd conversions,
/// `try_clone`, blocking mode, `take_error`, `Debug`.
macro_rules! socket_common {
    ($ty:ident, $std:ty, $what:literal) => {
        impl $ty {
            /// Registers a `std` socket with this thread's hub, switching its
            /// file description to non-blocking mode (grove's blocking calls
            /// park the greenlet instead).
            ///
            /// ```
            /// # use std::os::fd::AsRawFd;
            #[doc = $crate::net::evented::demo_socket!($ty, $what, " (setup hidden)")]
            /// let std_socket = socket.into_std().unwrap(); // blocking std again
            #[doc = concat!(" let socket = grove::net::", stringify!($ty), "::from_std(std_socket).unwrap(); // cooperative again")]
            /// assert!(socket.take_error().unwrap().is_none());
            /// ```
            ///
            /// # Errors
            /// The errors of `fcntl` and `epoll_ctl`.
            pub fn from_std(socket: $std) -> ::std::io::Result<$ty> {
                Ok($ty {
                    inner: $crate::net::evented::Evented::from_std(socket)?,
                })
            }

            /// Deregisters the socket and returns the `std` socket in blocking mode.
            ///
            /// If [`try_clone`](Self::try_clone) handles of this socket are
            /// still alive, it stays registered for them and a duplicate fd
            /// (`std`'s `try_clone`) is returned instead; their shared file
            /// description then stays **non-blocking**, so that the grove
            /// handles never block the hub: call `set_nonblocking(false)` on
            /// the `std` socket once they are gone.
            ///
            /// ```
            /// # use std::os::fd::AsRawFd;
            #[doc = $crate::net::evented::demo_socket!($ty, $what, " (setup hidden)")]
            /// let fd = socket.as_raw_fd();
            /// let std_socket = socket.into_std().unwrap(); // for a library that wants std
            /// assert_eq!(std_socket.as_raw_fd(), fd); // the same fd, deregistered
            /// ```
            ///
            /// # Errors
            /// The errors of `fcntl` (or `dup`, see above).
            pub fn into_std(self) -> ::std::io::Result<$std> {
                self.inner.into_std()
            }

            /// Another handle to the same socket, as `std`'s `try_clone`.
            ///
            /// The handles share the fd, its registration with the hub, the
            /// timeouts and the blocking mode (`std`'s clones share the
            /// latter through their common file description too). The socket
            /// is closed when the last handle is dropped. One handle may read
            /// while another writes. Never fails; the `Result` is `std`'s
            /// signature.
            ///
            /// ```
            /// # use std::os::fd::AsRawFd;
            #[doc = $crate::net::evented::demo_socket!($ty, $what, " (setup hidden)")]
            /// let other = socket.try_clone().unwrap(); // say, for a writer greenlet
            /// assert_eq!(other.as_raw_fd(), socket.as_raw_fd()); // one fd, one registration
            /// drop(socket);
            /// assert!(other.take_error().is_ok()); // still open
            /// ```
            pub fn try_clone(&self) -> ::std::io::Result<$ty> {
                Ok($ty {
                    inner: self.inner.share(),
                })
            }

            /// Moves the socket into or out of non-blocking mode. In
            /// non-blocking mode an operation that would wait returns
            /// `io::ErrorKind::WouldBlock` instead of parking the greenlet,
            /// as `std`'s does. Shared with `try_clone` handles.
            ///
            /// Never fails; the `Result` is `std`'s signature.
            ///
            /// ```
            /// # use std::os::fd::AsRawFd;
            #[doc = $crate::net::evented::demo_socket!($ty, $what, " (setup hidden)")]
            /// socket.set_nonblocking(true).unwrap(); // `WouldBlock` instead of parking
            /// socket.set_nonblocking(false).unwrap(); // park again (the default)
            /// ```
            pub fn set_nonblocking(&self, nonblocking: bool) -> ::std::io::Result<()> {
                self.inner.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Takes the pending error of the socket (`SO_ERROR`), if any.
            ///
            /// ```
            /// # use std::os::fd::AsRawFd;
            #[doc = $crate::net::evented::demo_socket!($ty, $what, " (setup hidden)")]
            /// assert!(socket.take_error().unwrap().is_none()); // no pending error
            /// ```
            pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
                self.inner.get().take_error()
            }
        }

        impl From<$std> for $ty {
            /// Same as [`from_std`](Self::from_std).
            ///
            /// # Panics
            /// If the socket cannot be made non-blocking or registered with
            /// the hub (a closed fd, or the system's epoll watch limit); use
            /// `from_std` to get the error instead.
            #[track_caller]
            fn from(socket: $std) -> $ty {
                $ty {
                    inner: $crate::net::evented::Evented::from_std_or_panic(socket, $what),
                }
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.inner.get().as_raw_fd()
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                self.inner.get().as_fd()
            }
        }

        impl ::std::os::fd::FromRawFd for $ty {
            /// Takes ownership of `fd`, makes it non-blocking and registers it.
            ///
            /// # Safety
            /// As for `std`'s `from_raw_fd`: `fd` must be an open socket of
            /// the right kind that nothing else owns.
            ///
            /// # Panics
            /// If it cannot be registered with the hub (see `From`).
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller's contract is `std`'s, passed on.
                let socket = unsafe { <$std as ::std::os::fd::FromRawFd>::from_raw_fd(fd) };
                $ty::from(socket)
            }
        }

        impl ::std::os::fd::IntoRawFd for $ty {
            /// Deregisters the socket and gives up its fd, still in
            /// non-blocking mode. With live `try_clone` handles, a duplicate
            /// fd is returned (panics if `dup` fails).
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                self.inner.into_deregistered().into_raw_fd()
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}

/// Read/write timeouts, for the connected and datagram socket types.
macro_rules! socket_timeouts {
    ($ty:ident) => {
        impl $ty {
            /// Bounds every later blocking read-side operation (`read`,
            /// `recv`, `peek`, …): one that waits longer fails with
            /// `io::ErrorKind::TimedOut` (`std` on Linux reports
            /// `WouldBlock`; both are allowed by its docs). `None` waits
            /// forever. Shared with `try_clone` handles.
            ///
            /// ```
            /// # use std::time::Duration;
            #[doc = $crate::net::evented::demo_socket!($ty, "setup hidden")]
            /// socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap(); // a silent peer fails a read
            /// assert_eq!(socket.read_timeout().unwrap(), Some(Duration::from_secs(30)));
            /// let zero = socket.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
            /// assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput); // as std
            /// ```
            ///
            /// # Errors
            /// `InvalidInput` for a zero duration, as `std`.
            pub fn set_read_timeout(
                &self,
                timeout: Option<::std::time::Duration>,
            ) -> ::std::io::Result<()> {
                self.inner.set_read_timeout(timeout)
            }

            /// Bounds every later blocking write-side operation, like
            /// [`set_read_timeout`](Self::set_read_timeout) does reads.
            ///
            /// ```
            /// # use std::time::Duration;
            #[doc = $crate::net::evented::demo_socket!($ty, "setup hidden")]
            /// socket.set_write_timeout(Some(Duration::from_secs(10))).unwrap(); // a stalled peer fails a write
            /// assert_eq!(socket.write_timeout().unwrap(), Some(Duration::from_secs(10)));
            /// ```
            ///
            /// # Errors
            /// `InvalidInput` for a zero duration, as `std`.
            pub fn set_write_timeout(
                &self,
                timeout: Option<::std::time::Duration>,
            ) -> ::std::io::Result<()> {
                self.inner.set_write_timeout(timeout)
            }

            /// The read timeout (`None`: none).
            ///
            /// ```
            /// # use std::time::Duration;
            #[doc = $crate::net::evented::demo_socket!($ty, "setup hidden")]
            /// assert_eq!(socket.read_timeout().unwrap(), None); // wait forever by default
            /// ```
            pub fn read_timeout(&self) -> ::std::io::Result<Option<::std::time::Duration>> {
                Ok(self.inner.read_timeout())
            }

            /// The write timeout (`None`: none).
            ///
            /// ```
            /// # use std::time::Duration;
            #[doc = $crate::net::evented::demo_socket!($ty, "setup hidden")]
            /// socket.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
            /// let clone = socket.try_clone().unwrap();
            /// assert_eq!(clone.write_timeout().unwrap(), Some(Duration::from_millis(500))); // shared
            /// ```
            pub fn write_timeout(&self) -> ::std::io::Result<Option<::std::time::Duration>> {
                Ok(self.inner.write_timeout())
            }
        }
    };
}

/// `Read` and `Write` on `T` and `&T`, for the stream types.
macro_rules! stream_read_write {
    ($ty:ident) => {
        impl ::std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                let len = buf.len();
                self.inner
                    .read_stream(len, |mut s| ::std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.inner
                    .read_stream(len, |mut s| ::std::io::Read::read_vectored(&mut s, bufs))
            }
        }

        impl ::std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.inner
                    .write(|mut s| ::std::io::Write::write(&mut s, buf))
            }

            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                self.inner
                    .write(|mut s| ::std::io::Write::write_vectored(&mut s, bufs))
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }

        impl ::std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl ::std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use {demo_socket, socket_common, socket_timeouts, stream_read_write};
