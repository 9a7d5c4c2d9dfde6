//! libc's own functions, behind the hooks that shadow them.
//!
//! Each original is found with `dlsym(RTLD_NEXT, name)`: the next
//! definition after this binary's, libc's. All of them are resolved once by
//! an ELF constructor ([`resolve_all`], run before `main`), so a hook never
//! calls the dynamic linker — which may allocate or take its lock — on its
//! way through. A hook that runs before the constructor (a shared library's
//! own constructor reading a file) resolves its original on the spot, once.
//!
//! # Invariant
//!
//! A slot holds 0 or the address `dlsym` returned for its name, which is a
//! function of exactly the C signature its wrapper below declares (libc's).

use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, c_ulong, c_void, clockid_t, fd_set, iovec, msghdr, nfds_t,
    pollfd, sigset_t, size_t, sockaddr, socklen_t, ssize_t, timespec, timeval, useconds_t,
};

/// One original function's address, resolved once.
pub(crate) struct Original {
    /// NUL-terminated symbol name.
    name: &'static str,
    addr: AtomicUsize,
}

impl Original {
    const fn new(name: &'static str) -> Original {
        Original {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address of libc's definition.
    #[inline(always)]
    pub(crate) fn get(&self) -> usize {
        match self.addr.load(Ordering::Relaxed) {
            0 => self.resolve(),
            addr => addr,
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> usize {
        // SAFETY: `name` is a NUL-terminated string literal (see `originals!`).
        let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr().cast()) };
        if addr.is_null() {
            die(self.name);
        }
        self.addr.store(addr as usize, Ordering::Relaxed);
        addr as usize
    }
}

/// No original: nothing sensible is left to call. Says so without
/// allocating and aborts.
#[cold]
fn die(name: &str) -> ! {
    let parts: [&[u8]; 3] = [
        b"grove-monkey: dlsym(RTLD_NEXT) found no libc definition of ",
        name.trim_end_matches('\0').as_bytes(),
        b"\n",
    ];
    for part in parts {
        // SAFETY: writes `part`, a valid buffer, to fd 2 with the raw system
        // call (libc's `write` is what we could not find).
        unsafe { libc::syscall(libc::SYS_write, 2, part.as_ptr(), part.len()) };
    }
    std::process::abort()
}

macro_rules! originals {
    ($( fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        mod slots {
            $(
                #[allow(non_upper_case_globals)]
                pub(crate) static $name: super::Original =
                    super::Original::new(concat!(stringify!($name), "\0"));
            )*
        }

        $(
            /// libc's own definition.
            ///
            /// # Safety
            /// libc's contract for this function.
            #[inline(always)]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                let f: unsafe extern "C" fn($($ty),*) -> $ret =
                    // SAFETY: slot invariant: the address is libc's function
                    // of exactly this signature.
                    unsafe { std::mem::transmute::<usize, _>(slots::$name.get()) };
                // SAFETY: the caller upholds libc's contract.
                unsafe { f($($arg),*) }
            }
        )*

        /// Resolves every original (see the module docs).
        pub(crate) fn resolve_all() {
            $( slots::$name.get(); )*
            variadic_slots::FCNTL.get();
            variadic_slots::IOCTL.get();
        }
    };
}

originals! {
    fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    fn recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    fn sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, addrlen: socklen_t) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn accept4(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t, flags: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, addrlen: socklen_t) -> c_int;
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: socklen_t) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int;
    fn ppoll(fds: *mut pollfd, nfds: nfds_t, timeout: *const timespec, sigmask: *const sigset_t) -> c_int;
    fn select(nfds: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, timeout: *mut timeval) -> c_int;
    fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    fn clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int;
    fn usleep(usec: useconds_t) -> c_int;
    fn sleep(secs: c_uint) -> c_uint;
    fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
    fn freeaddrinfo(res: *mut addrinfo) -> ();
    fn __read_chk(fd: c_int, buf: *mut c_void, count: size_t, buflen: size_t) -> ssize_t;
    fn __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
    fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    fn __ppoll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: *const timespec, sigmask: *const sigset_t, fdslen: size_t) -> c_int;
}

/// libc's `close_range` (glibc 2.34+), resolved on first use rather than
/// by the constructor, so that an older glibc without it does not abort
/// programs that never call it.
///
/// # Safety
/// libc's contract for `close_range`.
pub(crate) unsafe fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    static SLOT: Original = Original::new("close_range\0");
    let f: unsafe extern "C" fn(c_uint, c_uint, c_int) -> c_int =
        // SAFETY: slot invariant: libc's `close_range` has this signature.
        unsafe { std::mem::transmute::<usize, _>(SLOT.get()) };
    // SAFETY: the caller upholds libc's contract.
    unsafe { f(first, last, flags) }
}

mod variadic_slots {
    pub(crate) static FCNTL: super::Original = super::Original::new("fcntl\0");
    pub(crate) static IOCTL: super::Original = super::Original::new("ioctl\0");
}

/// libc's `fcntl`, with its optional argument always passed (as C callers
/// pass it: one integer or pointer-sized word).
///
/// # Safety
/// libc's contract for `fcntl` with `cmd` and `arg`.
#[inline(always)]
pub(crate) unsafe fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int =
        // SAFETY: slot invariant: libc's variadic `fcntl`.
        unsafe { std::mem::transmute::<usize, _>(variadic_slots::FCNTL.get()) };
    // SAFETY: the caller upholds libc's contract.
    unsafe { f(fd, cmd, arg) }
}

/// libc's `ioctl`, with its argument word.
///
/// # Safety
/// libc's contract for `ioctl` with `request` and `arg`.
#[inline(always)]
pub(crate) unsafe fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    let f: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int =
        // SAFETY: slot invariant: libc's variadic `ioctl`.
        unsafe { std::mem::transmute::<usize, _>(variadic_slots::IOCTL.get()) };
    // SAFETY: the caller upholds libc's contract.
    unsafe { f(fd, request, arg) }
}

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// `-1` with `errno` set: a failed libc call's return.
#[inline]
pub(crate) fn fail<T: From<i8>>(err: c_int) -> T {
    set_errno(err);
    T::from(-1)
}
