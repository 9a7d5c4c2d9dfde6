//! The parent's ends of a child's stdio pipes: non-blocking fds registered
//! with the hub, read and written through one try / wait-for-readiness /
//! retry loop ([`Pipe::io`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use mio::unix::pipe::{Receiver, Sender};

use super::{unwinding_error, Stdio};
use crate::hub::io::{Direction, Registration};

/// A non-blocking pipe end registered with the hub. `registration` is
/// declared first: it is dropped (deregistered) before the fd is closed.
struct Pipe<P> {
    registration: Registration,
    end: P,
}

impl<P: AsRawFd> Pipe<P> {
    fn new(end: P, set_nonblocking: impl FnOnce(&P) -> io::Result<()>) -> io::Result<Pipe<P>> {
        set_nonblocking(&end)?;
        let registration = Registration::new(end.as_raw_fd())?;
        Ok(Pipe { registration, end })
    }

    /// The one I/O loop: try; on `WouldBlock` forget the readiness, park
    /// until the poller reports it again, retry.
    fn io<R>(
        &self,
        direction: Direction,
        mut op: impl FnMut(&P) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            if self.registration.is_ready(direction) {
                match op(&self.end) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        self.registration.clear_ready(direction);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    result => return result,
                }
            }
            if self.registration.wait(direction, None).is_err() {
                return Err(unwinding_error("a child's pipe"));
            }
        }
    }
}

impl<P: AsRawFd> fmt::Debug for Pipe<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe")
            .field("fd", &self.end.as_raw_fd())
            .finish()
    }
}

/// The parent's end of a child's stdin: a cooperative [`Write`]r.
///
/// Dropping it closes the pipe, so the child reads end of file.
///
/// ```
/// use std::io::Write;
/// use grove::process::{Command, Stdio};
///
/// let mut child = Command::new("wc").arg("-l").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
/// let mut stdin = child.stdin.take().unwrap();
/// stdin.write_all(b"one\ntwo\nthree\n").unwrap();
/// drop(stdin); // end of file for `wc`
/// let out = child.wait_with_output().unwrap();
/// assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "3");
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while blocked in a write unwinds at once;
/// bytes already accepted by the pipe stay written, the rest of that buffer
/// is not (as with any partial write). Called while the greenlet is
/// unwinding, a write that would block returns an error instead.
#[derive(Debug)]
pub struct ChildStdin {
    pipe: Pipe<Sender>,
}

/// The parent's end of a child's stdout: a cooperative [`Read`]er.
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use grove::process::{Command, Stdio};
///
/// let mut child = Command::new("seq").arg("3").stdout(Stdio::piped()).spawn().unwrap();
/// let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
///     .lines()
///     .map(Result::unwrap)
///     .collect(); // reads park this greenlet only
/// assert_eq!(lines, ["1", "2", "3"]);
/// child.wait().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while blocked in a read unwinds at once
/// and no data is lost: nothing was read. Called while the greenlet is
/// unwinding, a read that would block returns an error instead.
#[derive(Debug)]
pub struct ChildStdout {
    pipe: Pipe<Receiver>,
}

/// The parent's end of a child's stderr: a cooperative [`Read`]er.
///
/// ```
/// use std::io::Read;
/// use grove::process::{Command, Stdio};
///
/// let mut child = Command::new("ls").arg("/no/such/dir").stderr(Stdio::piped()).spawn().unwrap();
/// let mut err = String::new();
/// child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
/// assert!(err.contains("/no/such/dir"));
/// assert!(!child.wait().unwrap().success());
/// ```
///
/// # Kill and timeout safety
///
/// As [`ChildStdout`].
#[derive(Debug)]
pub struct ChildStderr {
    pipe: Pipe<Receiver>,
}

impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pipe.io(Direction::Write, |mut end| end.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.pipe
            .io(Direction::Write, |mut end| end.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.pipe.io(Direction::Read, |mut end| end.read(buf))
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.pipe.io(Direction::Read, |mut end| end.read(buf))
    }
}

/// Hands a pipe end to another child (a shell pipeline, `a | b`): the fd is
/// deregistered from the hub and made blocking again, as children expect.
fn into_stdio<P: AsRawFd + Into<OwnedFd>>(
    pipe: Pipe<P>,
    set_blocking: impl FnOnce(&P) -> io::Result<()>,
) -> Stdio {
    let Pipe { registration, end } = pipe;
    drop(registration);
    // F_SETFL on an fd we own cannot fail.
    let _ = set_blocking(&end);
    Stdio::from(end.into())
}

// What the three pipe ends share: made from std's end (registered,
// non-blocking), handed on to another child as a `Stdio`, their fd lent out.
macro_rules! pipe_ends {
    ($($ty:ident($std:ty, $end:ident)),*) => {$(
        impl $ty {
            pub(super) fn new(std: $std) -> io::Result<$ty> {
                let pipe = Pipe::new($end::from(std), |end| end.set_nonblocking(true))?;
                Ok($ty { pipe })
            }
        }

        impl From<$ty> for Stdio {
            fn from(end: $ty) -> Stdio {
                into_stdio(end.pipe, |end| end.set_nonblocking(false))
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.end.as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.end.as_raw_fd()
            }
        }
    )*};
}

pipe_ends!(
    ChildStdin(std::process::ChildStdin, Sender),
    ChildStdout(std::process::ChildStdout, Receiver),
    ChildStderr(std::process::ChildStderr, Receiver)
);
