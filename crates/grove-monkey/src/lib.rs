//! gevent's `monkey.patch_all()` for grove: blocking libc calls made inside a
//! greenlet — by `std::net`, `std::thread::sleep`, sync client crates, C
//! libraries — park the greenlet on the hub instead of blocking the thread.
//!
//! # The idea
//!
//! Rust has no modules to patch, but a binary can *interpose* libc: this
//! crate defines `read`, `write`, `recv`, `send`, `connect`, `accept4`,
//! `poll`, `nanosleep`, `getaddrinfo`, … with libc's own names and
//! signatures, so the binary's calls (and, through the dynamic symbol
//! table, its shared libraries' calls) reach them first — the technique of Tencent's
//! libco (`co_hook_sys_call.cpp`) and libgo (`hook.cpp`). Each hook checks
//! a flag and whether it runs in a greenlet; if not, it calls libc's
//! original (found with `dlsym(RTLD_NEXT)` before `main`) at once. In a
//! greenlet, on a socket the caller sees as blocking, it tries the call
//! without blocking (`MSG_DONTWAIT`), and on `EAGAIN` parks the greenlet
//! until grove's epoll reports the socket ready, then retries.
//!
//! ```no_run
//! use std::io::{Read, Write};
//!
//! // SAFETY: this program holds no std::sync::Mutex (and no thread-local
//! // scratch) across a blocking socket call or sleep made in a greenlet.
//! unsafe { grove_monkey::patch_all() };
//! let greenlets: Vec<_> = (0..100)
//!     .map(|_| grove::spawn(|| {
//!         // Plain std: cooperative inside a greenlet once patched.
//!         let mut s = std::net::TcpStream::connect("127.0.0.1:8080").unwrap();
//!         s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
//!         let mut reply = Vec::new();
//!         s.read_to_end(&mut reply).unwrap();
//!         std::thread::sleep(std::time::Duration::from_millis(10));
//!         reply.len()
//!     }))
//!     .collect();
//! grove::joinall(&greenlets);
//! ```
//!
//! # What is hooked
//!
//! | group | calls | turned on by |
//! |---|---|---|
//! | sockets | `read`, `write`, `readv`, `writev`, `recv`, `recvfrom`, `recvmsg`, `send`, `sendto`, `sendmsg`, `accept`, `accept4`, `connect` | [`patch_socket`] |
//! | readiness | `poll`, `ppoll`, `select` | [`patch_socket`] |
//! | bookkeeping | `socket`, `close`, `close_range`, `dup2`, `dup3`, `fcntl` (`F_SETFL`, `F_DUPFD*`), `ioctl` (`FIONBIO`), `setsockopt` (`SO_RCVTIMEO`, `SO_SNDTIMEO`) | [`patch_socket`] |
//! | `_FORTIFY_SOURCE` | `__read_chk`, `__recv_chk`, `__recvfrom_chk`, `__poll_chk`, `__ppoll_chk` | as their plain calls |
//! | sleeps | `nanosleep` (std's `thread::sleep` on glibc), `clock_nanosleep`, `usleep`, `sleep` | [`patch_sleep`] |
//! | names | `getaddrinfo` (std's `ToSocketAddrs`): libc's own, run on `grove::threadpool` | [`patch_dns`] |
//!
//! What std itself calls (rustc 1.95, glibc 2.36, read off the undefined
//! symbols of a std binary and confirmed with `strace`): `socket`,
//! `connect`, `accept4`, `read`/`readv` (stream reads), `send` (stream
//! writes, `MSG_NOSIGNAL`), `write`/`writev`, `recv` (peek), `poll`
//! (`connect_timeout`), `setsockopt` (timeouts), `ioctl(FIONBIO)`
//! (`set_nonblocking`), `fcntl`, `close`, `getaddrinfo` (`ToSocketAddrs`)
//! and `clock_nanosleep` (`thread::sleep`); all are hooked. Under the
//! hooks a std read in a greenlet is `recvfrom(fd, buf, n, MSG_DONTWAIT)`,
//! then an epoll wait.
//!
//! Blocking semantics are kept: `SO_RCVTIMEO` / `SO_SNDTIMEO` bound the
//! wait (then `EAGAIN`, or `EINPROGRESS` for `connect`, as Linux does); a
//! socket the caller made non-blocking still gets `EAGAIN`; `EPIPE` and
//! `SIGPIPE` are unchanged (no `MSG_NOSIGNAL` is added). The file
//! description's `O_NONBLOCK` is never flipped except for the duration of a
//! `connect` call (there is no per-call flag for connect), so other
//! threads and processes sharing a socket see the mode they set, and
//! `fcntl(F_GETFL)` / `ioctl(FIONBIO)` callers always see theirs. The
//! timeouts stay in the kernel (`getsockopt` needs no hook); the
//! `setsockopt` hook only notes which sockets have one, so that a wait on
//! the others costs no `getsockopt`.
//!
//! # Kills and timeouts never unwind through a hook
//!
//! A hook is an `extern "C"` frame; grove's cancellation unwinds. A kill or
//! `with_timeout` expiry that arrives while a greenlet is parked in a hook
//! makes the call fail with `ECANCELED` (`ETIMEDOUT` for a timeout; a sleep
//! returns early, successfully) — never `EINTR`, which std's `read_exact`
//! and `write_all` retry forever. The cancellation stays pending and
//! unwinds at the greenlet's next grove park (`grove::sleep`, a queue, a
//! join, a grove socket). A call that parked and was cancelled moved no
//! data: nothing is lost or sent twice. A greenlet that is killed while it
//! only ever blocks in hooks and never reaches a grove park keeps running
//! (its hooked calls fail at once): a loop around a hooked call should
//! stop on errors.
//!
//! # Which calls are caught
//!
//! * **The binary's own calls**: std, every Rust crate, C code compiled into
//!   the binary. A symbol defined in the executable wins over libc's at
//!   link time; nothing else is needed.
//! * **Calls from shared libraries** (libcurl, libpq, …, linked or
//!   `dlopen`ed) resolve through the dynamic symbol table, where the
//!   dynamic linker looks in the executable first. GNU ld (the default
//!   linker) puts an executable's definition of a symbol that a linked
//!   shared library also defines — libc.so defines all of these — into
//!   that table by itself, so no flag is needed: `tests/shared_library.rs`
//!   checks with `dlsym(RTLD_DEFAULT)` that `poll`, `connect`, `recv`, …
//!   resolve to the hooks, and shows libcurl's transfers overlapping. With
//!   another linker, check `nm -D your-binary | grep ' T poll'` and link
//!   with `-C link-arg=-Wl,--export-dynamic` (`-rdynamic`) if it is missing.
//! * **Not covered**: fully static and musl binaries (no `RTLD_NEXT`, no
//!   interposition of libc internals); grove inside a `cdylib` loaded by
//!   another program (the host's symbols win); calls libc makes internally
//!   (`fread` on a socket's `FILE*`, glibc's own DNS code — hence the
//!   `getaddrinfo` hook); io_uring and raw `syscall`s; `epoll_wait` and
//!   crates carrying their own runtime (the sync `postgres` crate runs a
//!   tokio runtime inside: call it through `grove::threadpool::spawn_blocking`,
//!   where the greenlet waits and the hub runs on); reads and writes of
//!   anything but a socket — regular files (never "not ready" to the
//!   kernel), pipes, ttys — which pass through and block as before (use
//!   `grove::threadpool`, or `grove::process` for a child's pipes; `poll`
//!   and `select` on them are cooperative).
//! * **Calls on a thread's own stack** (outside any greenlet) are not
//!   changed: they block the thread, hub and all, as before. A server's
//!   accept loop must therefore run in a greenlet too — std's
//!   `for stream in listener.incoming() { grove::spawn(..) }` inside
//!   `grove::spawn(..).join()` (shown by `tests/clients.rs`), or grove's
//!   own `TcpListener`/`StreamServer` handing each connection over with
//!   `into_std()`.
//!
//! # Costs
//!
//! Outside greenlets a hooked call costs a relaxed atomic load (before
//! patching) or a thread-local load more (after): see docs/BENCHMARKS.md.
//! In a greenlet, a call on a non-socket or non-blocking socket (grove's
//! own) costs one more table lookup; a blocking socket's wait costs one
//! `fstat` (grove validates its registration) and, the first time, one
//! `epoll_ctl`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod bookkeeping;
mod connect;
mod dns;
mod fdstate;
mod fortify;
mod poll;
mod sleep;
mod socket;
mod sys;
mod wait;

use std::sync::atomic::{AtomicBool, Ordering};

static SOCKET: AtomicBool = AtomicBool::new(false);
static SLEEP: AtomicBool = AtomicBool::new(false);
static DNS: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn socket_patched() -> bool {
    SOCKET.load(Ordering::Relaxed)
}

#[inline(always)]
fn sleep_patched() -> bool {
    SLEEP.load(Ordering::Relaxed)
}

#[inline(always)]
fn dns_patched() -> bool {
    DNS.load(Ordering::Relaxed)
}

/// Resolves libc's originals before `main` (see `sys`).
#[used]
#[link_section = ".init_array"]
static RESOLVE_ORIGINALS: extern "C" fn() = resolve_originals;

extern "C" fn resolve_originals() {
    sys::resolve_all();
}

/// Makes sure the linker keeps every hook: a binary that calls a `patch_*`
/// function links the object that names them all.
#[inline(never)]
fn keep_hooks() {
    let hooks: [*const (); 36] = [
        socket::read as *const (),
        socket::write as *const (),
        socket::readv as *const (),
        socket::writev as *const (),
        socket::recv as *const (),
        socket::recvfrom as *const (),
        socket::recvmsg as *const (),
        socket::send as *const (),
        socket::sendto as *const (),
        socket::sendmsg as *const (),
        connect::accept as *const (),
        connect::accept4 as *const (),
        connect::connect as *const (),
        bookkeeping::socket as *const (),
        bookkeeping::setsockopt as *const (),
        bookkeeping::close as *const (),
        bookkeeping::dup2 as *const (),
        bookkeeping::dup3 as *const (),
        bookkeeping::close_range as *const (),
        bookkeeping::fcntl as *const (),
        bookkeeping::ioctl as *const (),
        poll::poll as *const (),
        poll::ppoll as *const (),
        poll::select as *const (),
        poll::__poll_chk as *const (),
        poll::__ppoll_chk as *const (),
        fortify::__read_chk as *const (),
        fortify::__recv_chk as *const (),
        fortify::__recvfrom_chk as *const (),
        sleep::nanosleep as *const (),
        sleep::clock_nanosleep as *const (),
        sleep::usleep as *const (),
        sleep::sleep as *const (),
        dns::getaddrinfo as *const (),
        resolve_originals as *const (),
        // The constructor's slot itself.
        (&raw const RESOLVE_ORIGINALS).cast(),
    ];
    std::hint::black_box(hooks);
}

/// A child made by `fork` runs with every hook off: it holds a copy of its
/// parent's hub, whose epoll instance it shares, and must not touch it (a
/// deregistration there would be the parent's). It normally execs at once;
/// a new program image starts unpatched anyway. (`posix_spawn`, which std's
/// `Command` prefers, runs no fork handlers and calls no hook.)
fn unpatch_forked_children() {
    extern "C" fn in_child() {
        SOCKET.store(false, Ordering::Relaxed);
        SLEEP.store(false, Ordering::Relaxed);
        DNS.store(false, Ordering::Relaxed);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a child handler that only stores to atomics
        // (async-signal-safe, as a fork handler must be).
        let r = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        assert_eq!(r, 0, "grove-monkey: pthread_atfork failed");
    });
}

/// Turns on every hook: [`patch_socket`], [`patch_sleep`], [`patch_dns`].
///
/// # Safety
///
/// From now on, a blocking libc call made inside a greenlet may run *other
/// greenlets of the same thread* before it returns. The program (every
/// crate it links) must tolerate that same-thread re-entry:
///
/// * a `std::sync::Mutex` (or `RwLock`, a spin lock) held across a hooked
///   call can deadlock the hub: another greenlet of the thread that takes
///   the same lock blocks the whole thread, and the holder never resumes.
///   Use `grove::lock::Mutex`, or do not hold the lock across I/O;
/// * thread-local scratch (a `thread_local!` buffer, a `RefCell` borrow)
///   held across a hooked call is seen, or borrowed again, by the other
///   greenlets of the thread: that is unsound where the code assumed no
///   re-entry;
/// * the binary links one copy of this crate (its `links` key makes cargo
///   refuse two) and is dynamically linked against glibc.
///
/// Calling it again, or from a greenlet, is harmless: patching is a set of
/// process-wide flags, and calls already in progress finish as they began.
/// A child made by `fork` runs unpatched until it patches again (it shares
/// its parent's epoll instance, which it must not touch).
pub unsafe fn patch_all() {
    // SAFETY: the caller's contract covers each part.
    unsafe {
        patch_socket();
        patch_sleep();
        patch_dns();
    }
}

/// Turns on the socket and readiness hooks (see the table in the crate docs).
///
/// # Safety
/// As [`patch_all`].
pub unsafe fn patch_socket() {
    keep_hooks();
    unpatch_forked_children();
    SOCKET.store(true, Ordering::SeqCst);
}

/// Turns on the sleep hooks: `std::thread::sleep` in a greenlet becomes
/// `grove::sleep`.
///
/// # Safety
/// As [`patch_all`].
pub unsafe fn patch_sleep() {
    keep_hooks();
    unpatch_forked_children();
    SLEEP.store(true, Ordering::SeqCst);
}

/// Turns on the `getaddrinfo` hook: name resolution in a greenlet runs on
/// grove's thread pool.
///
/// # Safety
/// As [`patch_all`].
pub unsafe fn patch_dns() {
    keep_hooks();
    unpatch_forked_children();
    DNS.store(true, Ordering::SeqCst);
}

/// Whether [`patch_socket`], [`patch_sleep`] and [`patch_dns`] have run, in
/// that order.
pub fn patched() -> (bool, bool, bool) {
    (socket_patched(), sleep_patched(), dns_patched())
}
