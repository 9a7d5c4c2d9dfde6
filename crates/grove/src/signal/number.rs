//! [`Signal`]: a signal number, its name, and whether grove can handle it.

use std::fmt;
use std::io;

use libc::c_int;

/// A Unix signal number.
///
/// The common signals are associated constants; any other number can be
/// made with [`from_raw`](Signal::from_raw) (it is checked when used).
/// Displays as its name (`SIGUSR1`, `SIGRTMIN+2`, or `signal 99`).
///
/// ```
/// use grove::signal::Signal;
///
/// assert_eq!(Signal::TERM.as_raw(), libc::SIGTERM);
/// assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
/// assert_eq!(Signal::rt(2).to_string(), "SIGRTMIN+2");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(pub(super) c_int);

impl Signal {
    /// Hangup; by convention, "reload your configuration".
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// Interrupt from the keyboard (Ctrl-C).
    pub const INT: Signal = Signal(libc::SIGINT);
    /// Quit from the keyboard (Ctrl-\\).
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// Abort.
    pub const ABRT: Signal = Signal(libc::SIGABRT);
    /// User-defined signal 1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// User-defined signal 2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// Write to a pipe with no reader.
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// Timer (`alarm(2)`).
    pub const ALRM: Signal = Signal(libc::SIGALRM);
    /// Termination request.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// A child stopped or exited.
    pub const CHLD: Signal = Signal(libc::SIGCHLD);
    /// Continue if stopped.
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// Stop typed at the terminal (Ctrl-Z).
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    /// Terminal window size changed.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);
    /// Urgent data on a socket.
    pub const URG: Signal = Signal(libc::SIGURG);
    /// Virtual timer expired.
    pub const VTALRM: Signal = Signal(libc::SIGVTALRM);
    /// Profiling timer expired.
    pub const PROF: Signal = Signal(libc::SIGPROF);
    /// CPU time limit exceeded.
    pub const XCPU: Signal = Signal(libc::SIGXCPU);
    /// File size limit exceeded.
    pub const XFSZ: Signal = Signal(libc::SIGXFSZ);

    /// The signal with this number (not checked until it is used).
    ///
    /// ```
    /// use grove::signal::Signal;
    ///
    /// assert_eq!(Signal::from_raw(libc::SIGHUP), Signal::HUP);
    /// assert_eq!(Signal::from_raw(99).to_string(), "signal 99");
    /// ```
    pub const fn from_raw(signo: c_int) -> Signal {
        Signal(signo)
    }

    /// The signal's number.
    ///
    /// ```
    /// assert_eq!(grove::signal::Signal::INT.as_raw(), libc::SIGINT);
    /// ```
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// `SIGRTMIN + n`, the `n`-th real-time signal available to programs.
    ///
    /// ```
    /// let sig = grove::signal::Signal::rt(1);
    /// assert_eq!(sig.as_raw(), libc::SIGRTMIN() + 1);
    /// ```
    pub fn rt(n: c_int) -> Signal {
        Signal(libc::SIGRTMIN() + n)
    }

    /// The name of a standard signal.
    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGILL => "SIGILL",
            libc::SIGTRAP => "SIGTRAP",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGTERM => "SIGTERM",
            libc::SIGSTKFLT => "SIGSTKFLT",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGCONT => "SIGCONT",
            libc::SIGSTOP => "SIGSTOP",
            libc::SIGTSTP => "SIGTSTP",
            libc::SIGTTIN => "SIGTTIN",
            libc::SIGTTOU => "SIGTTOU",
            libc::SIGURG => "SIGURG",
            libc::SIGXCPU => "SIGXCPU",
            libc::SIGXFSZ => "SIGXFSZ",
            libc::SIGVTALRM => "SIGVTALRM",
            libc::SIGPROF => "SIGPROF",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGIO => "SIGIO",
            libc::SIGPWR => "SIGPWR",
            libc::SIGSYS => "SIGSYS",
            _ => return None,
        })
    }

    /// Whether grove can deliver this signal to greenlets; why not otherwise.
    pub(super) fn check(self) -> io::Result<()> {
        let n = self.0;
        let refuse = |why: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("grove::signal: cannot handle {self}: {why}"),
            ))
        };
        if n <= 0 || n > libc::SIGRTMAX() || n > c_int::from(u8::MAX) {
            return refuse("not a signal number");
        }
        match n {
            libc::SIGKILL | libc::SIGSTOP => refuse("it cannot be caught"),
            libc::SIGSEGV
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGTRAP
            | libc::SIGSYS => refuse(
                "it reports a synchronous fault, which a deferred handler cannot fix \
                 (the instruction would fault again at once)",
            ),
            _ if n > 31 && n < libc::SIGRTMIN() => {
                refuse("this real-time signal is reserved by the C library")
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            return f.write_str(name);
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if (min..=max).contains(&self.0) {
            write!(f, "SIGRTMIN+{}", self.0 - min)
        } else {
            write!(f, "signal {}", self.0)
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({self})")
    }
}

impl From<Signal> for c_int {
    fn from(signal: Signal) -> c_int {
        signal.0
    }
}
