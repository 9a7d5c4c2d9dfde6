//! The process-wide part: the OS signal handler (one byte into a pipe),
//! dispositions, and the dispatcher thread that fans signals out to hubs.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use libc::c_int;

use super::{deliver, Signal};
use crate::hub::Handle;

/// The write end of the self-pipe; -1 until the dispatcher starts. Never
/// closed once set, so the handler can never write to a reused fd number.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The OS signal handler: async-signal-safe, it only writes one byte.
extern "C" fn on_signal(signo: c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // Checked at subscription: every handled signal fits a byte.
    let byte = signo as u8;
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for
    // the thread's life; `write(2)` is async-signal-safe and reads one byte
    // from a live local. The pipe is non-blocking: if it is full (signals
    // already pending), the byte is dropped, which only coalesces signals.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&raw const byte).cast(), 1);
        *errno = saved;
    }
}

struct Installed {
    /// The disposition to restore when the last subscription ends.
    previous: libc::sigaction,
    subscriptions: usize,
}

struct HubEntry {
    handle: Handle,
    /// Subscriptions of this hub, per signal number.
    counts: HashMap<c_int, usize>,
}

#[derive(Default)]
pub(super) struct Global {
    dispatcher_started: bool,
    installed: HashMap<c_int, Installed>,
    /// Keyed by the subscribing thread's `Local::key`.
    hubs: HashMap<u64, HubEntry>,
}

static GLOBAL: LazyLock<Mutex<Global>> = LazyLock::new(Mutex::default);

pub(super) fn global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

impl Global {
    fn start_dispatcher(&mut self) -> io::Result<()> {
        if self.dispatcher_started {
            return Ok(());
        }
        let (sender, receiver) = mio::unix::pipe::new()?;
        receiver.set_nonblocking(false)?;
        std::thread::Builder::new()
            .name("grove-signals".into())
            .spawn(move || dispatch(receiver))?;
        // Leaked on purpose: the write end lives as long as the process.
        PIPE_WRITE.store(sender.into_raw_fd(), Ordering::Relaxed);
        self.dispatcher_started = true;
        Ok(())
    }

    pub(super) fn subscribe(&mut self, hub_key: u64, signal: Signal) -> io::Result<()> {
        signal.check()?;
        self.start_dispatcher()?;
        let signo = signal.0;
        let installed = match self.installed.entry(signo) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Installed {
                previous: install(signo)?,
                subscriptions: 0,
            }),
        };
        installed.subscriptions += 1;
        let entry = self.hubs.entry(hub_key).or_insert_with(|| HubEntry {
            handle: Handle::current(),
            counts: HashMap::new(),
        });
        *entry.counts.entry(signo).or_default() += 1;
        Ok(())
    }

    pub(super) fn unsubscribe(&mut self, hub_key: u64, signal: Signal) {
        let signo = signal.0;
        if let Some(entry) = self.hubs.get_mut(&hub_key) {
            if let Some(count) = entry.counts.get_mut(&signo) {
                *count -= 1;
                if *count == 0 {
                    entry.counts.remove(&signo);
                }
            }
            if entry.counts.is_empty() {
                self.hubs.remove(&hub_key);
            }
        }
        if let Some(installed) = self.installed.get_mut(&signo) {
            installed.subscriptions -= 1;
            if installed.subscriptions == 0 {
                let installed = self.installed.remove(&signo).expect("present");
                restore(signo, &installed.previous);
            }
        }
    }
}

/// Installs `on_signal` for `signo`; returns the previous disposition.
fn install(signo: c_int) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, no flags,
    // empty mask); the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live `sigaction` values of ours (the
    // mask is a live `sigset_t`); the installed handler is async-signal-safe
    // (see `on_signal`), and `signo` was checked to be catchable.
    let r = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signo, &action, &mut previous)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

/// Puts back the disposition `install` replaced.
fn restore(signo: c_int, previous: &libc::sigaction) {
    // SAFETY: `previous` is the valid disposition the kernel handed us for
    // this same signal; the old-action pointer may be null.
    unsafe {
        libc::sigaction(signo, previous, std::ptr::null_mut());
    }
}

/// The dispatcher thread: reads signal numbers from the pipe and passes each
/// to the hubs that subscribed to it.
fn dispatch(receiver: mio::unix::pipe::Receiver) {
    let mut buf = [0u8; 256];
    loop {
        let n = match (&receiver).read(&mut buf) {
            Ok(0) => return, // the write end is never closed
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                eprintln!("grove: the signal dispatcher stopped: {err}");
                return;
            }
        };
        // In arrival order, each signal once per batch.
        let mut arrived: Vec<c_int> = Vec::with_capacity(n);
        for signo in buf[..n].iter().map(|&b| c_int::from(b)) {
            if !arrived.contains(&signo) {
                arrived.push(signo);
            }
        }
        let global = global();
        for signo in arrived {
            for entry in global.hubs.values() {
                if entry.counts.contains_key(&signo) {
                    // A hub whose thread ended unsubscribes when its thread-
                    // local state is dropped; until then `call` just fails.
                    let _ = entry.handle.call(move || deliver(signo));
                }
            }
        }
    }
}
