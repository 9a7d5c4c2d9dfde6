//! What the monitor prints: which greenlet holds the hub, for how long, in
//! which system call, with which backtrace.
//!
//! Everything here runs on the watcher thread: reading
//! `/proc/self/task/TID/{syscall,wchan}` (before the signal, which would
//! interrupt the call) and symbolising the captured addresses.

use std::fmt;
use std::time::Duration;

use super::sample::Sample;

/// At most this many frames are printed.
const MAX_PRINTED: usize = 48;

/// Where the hub thread was when the watcher looked.
#[derive(Debug)]
pub(crate) enum Kernel {
    /// Running user code (computing).
    Running,
    /// Inside system call `nr`, sleeping in kernel function `wchan`.
    Syscall {
        nr: libc::c_long,
        wchan: Option<String>,
    },
    /// `/proc` could not say.
    Unknown,
}

impl Kernel {
    /// Reads `/proc/self/task/<tid>/syscall` and `wchan`.
    pub(crate) fn of_thread(tid: libc::pid_t) -> Kernel {
        let dir = format!("/proc/self/task/{tid}");
        let Ok(syscall) = std::fs::read_to_string(format!("{dir}/syscall")) else {
            return Kernel::Unknown;
        };
        let first = syscall.split_whitespace().next().unwrap_or("");
        if first == "running" {
            return Kernel::Running;
        }
        match first.parse::<libc::c_long>() {
            Ok(nr) if nr >= 0 => {
                let wchan = std::fs::read_to_string(format!("{dir}/wchan"))
                    .ok()
                    .map(|w| w.trim().to_owned())
                    .filter(|w| !w.is_empty() && w != "0");
                Kernel::Syscall { nr, wchan }
            }
            _ => Kernel::Unknown,
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kernel::Running => f.write_str("none: the thread is running user code"),
            Kernel::Unknown => f.write_str("unknown (/proc/self/task/TID/syscall unreadable)"),
            Kernel::Syscall { nr, wchan } => {
                match syscall_name(*nr) {
                    Some(name) => write!(f, "{name} (#{nr})")?,
                    None => write!(f, "#{nr}")?,
                }
                f.write_str(": the thread is blocked in the kernel, not in grove")?;
                if let Some(wchan) = wchan {
                    write!(f, " (wchan {wchan})")?;
                }
                Ok(())
            }
        }
    }
}

/// Names of the system calls a thread commonly blocks in.
fn syscall_name(nr: libc::c_long) -> Option<&'static str> {
    #[rustfmt::skip]
    let common: &[(libc::c_long, &str)] = &[
        (libc::SYS_read, "read"), (libc::SYS_write, "write"), (libc::SYS_readv, "readv"),
        (libc::SYS_writev, "writev"), (libc::SYS_pread64, "pread64"), (libc::SYS_pwrite64, "pwrite64"),
        (libc::SYS_nanosleep, "nanosleep"), (libc::SYS_clock_nanosleep, "clock_nanosleep"),
        (libc::SYS_futex, "futex"), (libc::SYS_epoll_pwait, "epoll_pwait"), (libc::SYS_ppoll, "ppoll"),
        (libc::SYS_pselect6, "pselect6"), (libc::SYS_accept, "accept"), (libc::SYS_accept4, "accept4"),
        (libc::SYS_connect, "connect"), (libc::SYS_recvfrom, "recvfrom"), (libc::SYS_sendto, "sendto"),
        (libc::SYS_recvmsg, "recvmsg"), (libc::SYS_sendmsg, "sendmsg"), (libc::SYS_wait4, "wait4"),
        (libc::SYS_waitid, "waitid"), (libc::SYS_fsync, "fsync"), (libc::SYS_fdatasync, "fdatasync"),
        (libc::SYS_openat, "openat"), (libc::SYS_flock, "flock"), (libc::SYS_fcntl, "fcntl"),
    ];
    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    let arch: &[(libc::c_long, &str)] = &[
        (libc::SYS_poll, "poll"), (libc::SYS_select, "select"), (libc::SYS_epoll_wait, "epoll_wait"),
        (libc::SYS_open, "open"), (libc::SYS_pause, "pause"),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let arch: &[(libc::c_long, &str)] = &[];
    common
        .iter()
        .chain(arch)
        .find(|(n, _)| *n == nr)
        .map(|(_, name)| *name)
}

/// One symbolised frame: its functions, innermost (inlined) first.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) addr: usize,
    pub(crate) symbols: Vec<Symbol>,
}

/// A function at a frame's address, with its source location.
#[derive(Debug)]
pub(crate) struct Symbol {
    pub(crate) name: String,
    pub(crate) location: Option<(String, u32)>,
}

impl Frame {
    /// The innermost function's name.
    fn name(&self) -> Option<&str> {
        self.symbols.first().map(|s| s.name.as_str())
    }
}

/// Symbolises captured return addresses, dropping the signal handler's own
/// frames (everything up to and including the kernel's signal trampoline).
pub(crate) fn symbolise(sample: &Sample) -> Vec<Frame> {
    let mut frames: Vec<Frame> = sample
        .frames
        .iter()
        .map(|&addr| {
            let mut frame = Frame {
                addr,
                symbols: Vec::new(),
            };
            // A return address points after the call: look up the call itself.
            backtrace::resolve(addr.saturating_sub(1) as *mut std::ffi::c_void, |symbol| {
                let Some(name) = symbol.name() else { return };
                frame.symbols.push(Symbol {
                    name: format!("{name:#}"),
                    location: symbol
                        .filename()
                        .zip(symbol.lineno())
                        .map(|(file, line)| (file.display().to_string(), line)),
                });
            });
            frame
        })
        .collect();
    // The handler's frames (inlined into one another or not) come first.
    let handler = frames.iter().rposition(|f| {
        f.symbols
            .iter()
            .any(|s| s.name.contains("grove::monitor::sample::"))
    });
    if let Some(handler) = handler {
        frames.drain(..=handler);
        // The trampoline (`__restore_rt`), usually without a symbol.
        if frames
            .first()
            .is_some_and(|f| f.name().is_none_or(|n| n.contains("restore_rt")))
        {
            frames.remove(0);
        }
    }
    frames
}

/// One report: a task held a hub longer than the threshold.
#[derive(Debug)]
pub(crate) struct Stall {
    pub(crate) tid: libc::pid_t,
    pub(crate) thread_name: Option<String>,
    pub(crate) running_id: u64,
    pub(crate) main_id: u64,
    pub(crate) held: Duration,
    pub(crate) threshold: Duration,
    pub(crate) kernel: Kernel,
    /// `None` when the handler did not run in time.
    pub(crate) sample: Option<Captured>,
}

/// What the signal handler captured, symbolised.
#[derive(Debug)]
pub(crate) struct Captured {
    /// The running greenlet's id and name (empty: unnamed).
    pub(crate) task: Option<(u64, String)>,
    pub(crate) frames: Vec<Frame>,
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thread = self.thread_name.as_deref().unwrap_or("unnamed");
        f.write_str("grove monitor: ")?;
        let captured = self.sample.as_ref().and_then(|c| c.task.as_ref());
        match captured {
            _ if self.running_id == self.main_id => {
                write!(f, "the thread's own stack (#{})", self.main_id)?;
            }
            Some((id, name)) if !name.is_empty() => write!(f, "greenlet #{id} '{name}'")?,
            _ => write!(f, "greenlet #{}", self.running_id)?,
        }
        writeln!(
            f,
            " has held the hub of thread {} '{thread}' for {} ms (threshold {} ms): \
             no other greenlet of that hub runs meanwhile",
            self.tid,
            self.held.as_millis(),
            self.threshold.as_millis()
        )?;
        writeln!(f, "  system call: {}", self.kernel)?;
        let Some(Captured { frames, .. }) = &self.sample else {
            return writeln!(
                f,
                "  backtrace: not captured (the thread did not take the signal in time)"
            );
        };
        writeln!(f, "  backtrace (innermost first):")?;
        for (i, frame) in frames.iter().take(MAX_PRINTED).enumerate() {
            if frame.symbols.is_empty() {
                writeln!(f, "    {i:2}: <unknown> [{:#x}]", frame.addr)?;
            }
            for (j, symbol) in frame.symbols.iter().enumerate() {
                if j == 0 {
                    writeln!(f, "    {i:2}: {} [{:#x}]", symbol.name, frame.addr)?;
                } else {
                    writeln!(f, "        {} (inlined)", symbol.name)?;
                }
                if let Some((file, line)) = &symbol.location {
                    writeln!(f, "          at {file}:{line}")?;
                }
            }
        }
        if frames.len() > MAX_PRINTED {
            writeln!(f, "    ... {} more frames", frames.len() - MAX_PRINTED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_system_calls_have_names() {
        assert_eq!(syscall_name(libc::SYS_futex), Some("futex"));
        assert_eq!(
            syscall_name(libc::SYS_clock_nanosleep),
            Some("clock_nanosleep")
        );
        assert_eq!(syscall_name(-5), None);
    }

    #[test]
    fn own_syscall_file_parses() {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        // Reading our own syscall file: we are in `read`, or "running"
        // depending on the kernel; either way it parses.
        assert!(!matches!(Kernel::of_thread(tid), Kernel::Unknown));
    }
}
