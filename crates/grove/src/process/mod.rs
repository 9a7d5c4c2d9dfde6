//! Child processes that cooperate with the hub (gevent's `gevent.subprocess`).
//!
//! [`Command`] mirrors [`std::process::Command`] — same builder, same
//! defaults — but waiting is cooperative: [`Child::wait`],
//! [`Command::output`] and [`Command::status`] park only the calling
//! greenlet, and the child's stdin/stdout/stderr pipes are non-blocking fds
//! registered with the hub, so one greenlet can feed a child's stdin while
//! another reads its stdout. The child's exit is observed through a *pidfd*
//! (Linux 5.3+): it becomes readable when the child exits, and the hub's
//! poller wakes the waiter, which then reaps the child with a non-blocking
//! `waitpid`. Where `pidfd_open` is unavailable (old kernels, seccomp
//! filters), the waiter polls `waitpid(WNOHANG)` with a backoff from 1 ms to
//! 50 ms instead; no `SIGCHLD` handler is installed either way.
//!
//! ```
//! use std::time::Duration;
//! use grove::process::Command;
//!
//! // A greenlet keeps running while the child does.
//! let ticker = grove::spawn(|| {
//!     for _ in 0..3 {
//!         grove::sleep(Duration::from_millis(10));
//!     }
//! });
//! let out = Command::new("sh").args(["-c", "sleep 0.2; echo hello"]).output().unwrap();
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello\n");
//! assert!(ticker.is_dead());
//! ```

mod command;
mod pipe;

use std::fmt;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::resume_unwind;
use std::time::{Duration, Instant};

pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use crate::greenlet::{Greenlet, GreenletError};
use crate::hub::io::{Direction, Registration};
use crate::hub::Hub;

/// The longest pause between two `waitpid` polls when no pidfd is available.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running or exited child process, as [`std::process::Child`], whose
/// waits and pipes are cooperative.
///
/// Dropping a `Child` neither kills nor waits for the process, as with
/// `std`: a child that is never waited for stays a zombie until this process
/// exits. Call [`wait`](Child::wait) (or [`kill`](Child::kill) then `wait`).
///
/// A `Child` belongs to the hub of the thread that spawned it (its pidfd and
/// pipes are registered there), so it is not `Send`:
///
/// ```compile_fail
/// let child = grove::process::Command::new("true").spawn().unwrap();
/// std::thread::spawn(move || drop(child));
/// ```
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use grove::process::{Command, Stdio};
///
/// let mut child = Command::new("tr")
///     .args(["a-z", "A-Z"])
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()
///     .unwrap();
/// let mut stdin = child.stdin.take().unwrap();
/// let writer = grove::spawn(move || stdin.write_all(b"shout\n")); // closes stdin when done
/// let mut upper = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut upper).unwrap();
/// writer.join().unwrap().unwrap();
/// assert_eq!(upper, "SHOUT\n");
/// assert!(child.wait().unwrap().success());
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out in [`wait`](Child::wait) or
/// [`wait_timeout`](Child::wait_timeout) unwinds at once; the child keeps
/// running and the `Child` stays valid: [`kill`](Child::kill) it, or wait
/// again. Called while the current greenlet is unwinding (in a `Drop` during
/// a panic or kill), where grove cannot park, the waits return an error if
/// the child has not exited yet.
pub struct Child {
    /// The child's stdin, if it was configured with [`Stdio::piped`].
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was configured with [`Stdio::piped`].
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was configured with [`Stdio::piped`].
    pub stderr: Option<ChildStderr>,
    std: std::process::Child,
    exit: ExitWatch,
}

/// How the child's exit is noticed.
enum ExitWatch {
    /// A pidfd, readable once the child has exited. The registration is
    /// declared first: it is dropped (deregistered) before the fd is closed.
    Pidfd {
        registration: Registration,
        _fd: OwnedFd,
    },
    /// No pidfd: poll `waitpid(WNOHANG)` with a backoff.
    Poll,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field(
                "exit_watch",
                &match self.exit {
                    ExitWatch::Pidfd { .. } => "pidfd",
                    ExitWatch::Poll => "poll",
                },
            )
            .finish()
    }
}

#[cfg(test)]
thread_local! {
    /// Makes children of this thread use the polling fallback (tests).
    static FORCE_POLL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    #[cfg(test)]
    if FORCE_POLL.with(std::cell::Cell::get) {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: pidfd_open(2) takes a pid and flags by value and touches no
    // memory of ours; it returns a new fd (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("fd out of range"))?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl ExitWatch {
    fn new(pid: u32) -> ExitWatch {
        // The child is ours and not yet reaped, so its pid cannot have been
        // reused: the pidfd refers to it.
        let Ok(fd) = pidfd_open(pid) else {
            return ExitWatch::Poll;
        };
        match Registration::new(fd.as_raw_fd()) {
            Ok(registration) => ExitWatch::Pidfd {
                registration,
                _fd: fd,
            },
            Err(_) => ExitWatch::Poll,
        }
    }
}

pub(super) fn unwinding_error(what: &str) -> io::Error {
    // Not `Interrupted`: `read_to_end`, `write_all` and friends retry those.
    io::Error::other(format!(
        "grove: cannot wait for {what} while the greenlet is unwinding"
    ))
}

impl Child {
    /// Takes over a child started by `std` (its pipes become cooperative,
    /// its exit is watched through a pidfd). On error the child is killed
    /// and reaped.
    pub(super) fn from_std(mut std: std::process::Child) -> io::Result<Child> {
        let pipes = (|| {
            let stdin = std.stdin.take().map(ChildStdin::new).transpose()?;
            let stdout = std.stdout.take().map(ChildStdout::new).transpose()?;
            let stderr = std.stderr.take().map(ChildStderr::new).transpose()?;
            io::Result::Ok((stdin, stdout, stderr))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => Ok(Child {
                stdin,
                stdout,
                stderr,
                exit: ExitWatch::new(std.id()),
                std,
            }),
            Err(err) => {
                kill_and_reap(std);
                Err(err)
            }
        }
    }

    /// The child's process id.
    ///
    /// ```
    /// let mut child = grove::process::Command::new("true").spawn().unwrap();
    /// assert!(child.id() > 0);
    /// child.wait().unwrap();
    /// ```
    pub fn id(&self) -> u32 {
        self.std.id()
    }

    /// Sends `SIGKILL` to the child (does not wait for it to die: call
    /// [`wait`](Child::wait) next). As with `std`, killing a child that has
    /// already exited is not an error.
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// let mut child = grove::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// child.kill().unwrap();
    /// let status = child.wait().unwrap(); // reap it
    /// assert_eq!(status.signal(), Some(libc::SIGKILL));
    /// ```
    ///
    /// # Errors
    /// As [`std::process::Child::kill`].
    pub fn kill(&mut self) -> io::Result<()> {
        self.std.kill()
    }

    /// Returns the exit status if the child has exited, without waiting
    /// (`waitpid` with `WNOHANG`). Reaps the child if so.
    ///
    /// ```
    /// let mut child = grove::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// assert_eq!(child.try_wait().unwrap(), None); // still running
    /// child.kill().unwrap();
    /// child.wait().unwrap();
    /// assert!(child.try_wait().unwrap().is_some());
    /// ```
    ///
    /// # Errors
    /// As [`std::process::Child::try_wait`].
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.std.try_wait()
    }

    /// Waits until the child exits and returns its status; the calling
    /// greenlet parks, the hub keeps running. Closes [`stdin`](Child::stdin)
    /// first (so a child reading it sees end of file), as `std` does.
    /// Waiting again after it returned gives the same status.
    ///
    /// On a thread's own stack this runs the hub until the child exits; the
    /// hub never reports "would block forever" while waiting for a child.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut children: Vec<_> = (0..3)
    ///     .map(|_| grove::process::Command::new("sleep").arg("0.1").spawn().unwrap())
    ///     .collect();
    /// let started = std::time::Instant::now();
    /// let waiters: Vec<_> = children
    ///     .drain(..)
    ///     .map(|mut child| grove::spawn(move || child.wait().unwrap()))
    ///     .collect();
    /// for w in waiters {
    ///     assert!(w.join().unwrap().success());
    /// }
    /// assert!(started.elapsed() < Duration::from_secs(2)); // waited for side by side
    /// ```
    ///
    /// # Errors
    /// As [`std::process::Child::wait`]; or, when called while the greenlet
    /// is unwinding and the child has not exited, an error saying so.
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) if the
    /// child has not exited: hub callbacks must not block.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.wait_until(None)? {
                return Ok(status);
            }
        }
    }

    /// Waits at most `timeout` for the child to exit; `Ok(None)` if it is
    /// still running then. Unlike [`wait`](Child::wait), it leaves
    /// [`stdin`](Child::stdin) open, as [`try_wait`](Child::try_wait) does.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut child = grove::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// assert_eq!(child.wait_timeout(Duration::from_millis(10)).unwrap(), None);
    /// child.kill().unwrap();
    /// assert!(child.wait_timeout(Duration::from_secs(5)).unwrap().is_some());
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Child::wait).
    ///
    /// # Panics
    /// As [`wait`](Child::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Hub::get().deadline_after(timeout);
        self.wait_until(deadline)
    }

    /// Waits until the child exits or `deadline` passes (`Ok(None)`).
    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        let mut interval = Duration::from_millis(1);
        loop {
            if let Some(status) = self.std.try_wait()? {
                return Ok(Some(status));
            }
            if std::thread::panicking() {
                return Err(unwinding_error("a child process"));
            }
            let now = Hub::get().refresh_now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            match &self.exit {
                ExitWatch::Pidfd { registration, .. } => {
                    // Edge-triggered: the pidfd's one readiness event is
                    // queued for the next poll if the child exits any time
                    // after this clear (single-threaded hub).
                    registration.clear_ready(Direction::Read);
                    match registration.wait(Direction::Read, deadline) {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::TimedOut => {}
                        Err(_) => return Err(unwinding_error("a child process")),
                    }
                }
                ExitWatch::Poll => {
                    let left = deadline.map(|d| d.saturating_duration_since(now));
                    let nap = left.map_or(interval, |left| interval.min(left));
                    crate::sleep(nap.max(Duration::from_micros(100)));
                    interval = (interval * 2).min(MAX_POLL_INTERVAL);
                }
            }
        }
    }

    /// Closes stdin, reads stdout and stderr to their ends (concurrently),
    /// waits for the child and returns everything, as
    /// [`std::process::Child::wait_with_output`]. Streams that were not
    /// piped come back empty.
    ///
    /// ```
    /// use grove::process::{Command, Stdio};
    ///
    /// let child = Command::new("sh")
    ///     .args(["-c", "echo out; echo err >&2; exit 3"])
    ///     .stdout(Stdio::piped())
    ///     .stderr(Stdio::piped())
    ///     .spawn()
    ///     .unwrap();
    /// let output = child.wait_with_output().unwrap();
    /// assert_eq!(output.status.code(), Some(3));
    /// assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// ```
    ///
    /// # Errors
    /// Any I/O error reading the pipes, or as [`wait`](Child::wait).
    ///
    /// # Kill and timeout safety
    /// A kill or `with_timeout` expiry (or an error) unwinds or returns at
    /// once, and the child — consumed by this call, so nothing else could
    /// reach it — is killed (`SIGKILL`) and reaped by a default-pool thread.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let mut guard = KillOnCancel(Some(self));
        let (stdout, stderr) = read_both(stdout, stderr)?;
        let status = guard.child().wait()?;
        guard.0 = None;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Kills and reaps a child that the caller can no longer reach, unless it
/// was disarmed (set to `None`) after a normal end.
pub(super) struct KillOnCancel(pub(super) Option<Child>);

impl KillOnCancel {
    pub(super) fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("armed")
    }
}

impl Drop for KillOnCancel {
    fn drop(&mut self) {
        if let Some(Child { std, .. }) = self.0.take() {
            kill_and_reap(std);
        }
    }
}

/// `SIGKILL`s a child and reaps it, on a default-pool thread if it has not
/// died yet (never blocking the hub on a process that takes its time to die).
fn kill_and_reap(mut std: std::process::Child) {
    if let Ok(Some(_)) = std.try_wait() {
        return;
    }
    let _ = std.kill();
    if let Ok(Some(_)) = std.try_wait() {
        return;
    }
    let reap = Box::new(move || {
        let _ = std.wait();
    });
    if let Err(reap) = crate::threadpool::default_pool().try_execute(reap) {
        // No thread to be had: a killed process dies promptly, wait here.
        reap();
    }
}

/// Kills a helper greenlet that is still running when its owner unwinds.
struct KillOnDrop<T>(Option<Greenlet<T>>);

impl<T> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        if let Some(greenlet) = self.0.take() {
            greenlet.kill_nowait();
        }
    }
}

fn read_all(reader: Option<impl Read>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut reader) = reader {
        reader.read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Reads both streams to their ends, concurrently when both are there.
fn read_both(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (stdout, stderr) = match (stdout, stderr) {
        (Some(stdout), Some(stderr)) => (stdout, stderr),
        (stdout, stderr) => return Ok((read_all(stdout)?, read_all(stderr)?)),
    };
    // stderr in a helper greenlet, so that a child filling one pipe while
    // we read the other cannot deadlock; killed if we unwind or fail first.
    let mut helper = KillOnDrop(Some(crate::spawn(move || read_all(Some(stderr)))));
    let out = read_all(Some(stdout))?;
    let err = match helper.0.take().expect("armed").join() {
        Ok(result) => result?,
        Err(GreenletError::Panicked(payload)) => resume_unwind(payload),
        Err(GreenletError::Killed) => {
            return Err(io::Error::other(
                "the greenlet reading the child's stderr was killed",
            ))
        }
    };
    Ok((out, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn pidfd_watches_the_exit_where_the_kernel_has_it() {
        let mut child = Command::new("true").spawn().unwrap();
        let has_pidfd = pidfd_open(std::process::id()).is_ok();
        assert_eq!(matches!(child.exit, ExitWatch::Pidfd { .. }), has_pidfd);
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn the_polling_fallback_observes_exit_and_honours_deadlines() {
        FORCE_POLL.with(|f| f.set(true));
        let mut child = Command::new("sh")
            .args(["-c", "sleep 0.05; exit 4"])
            .spawn()
            .unwrap();
        assert!(matches!(child.exit, ExitWatch::Poll));
        assert_eq!(child.wait().unwrap().code(), Some(4));

        let mut sleeper = Command::new("sleep").arg("10").spawn().unwrap();
        let start = Instant::now();
        assert_eq!(
            sleeper.wait_timeout(Duration::from_millis(50)).unwrap(),
            None
        );
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(45) && waited < Duration::from_secs(2));
        sleeper.kill().unwrap();
        assert_eq!(sleeper.wait().unwrap().signal(), Some(libc::SIGKILL));
        FORCE_POLL.with(|f| f.set(false));
    }

    #[test]
    fn a_killed_output_reaps_its_child() {
        let start = Instant::now();
        let r = crate::with_timeout(Duration::from_millis(50), || {
            Command::new("sleep").arg("10").output()
        });
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
