//! The name-resolution hook: `getaddrinfo` called in a greenlet runs libc's
//! own `getaddrinfo` on grove's thread pool (`grove::threadpool`) while the
//! greenlet parks, so `/etc/hosts`, `nsswitch.conf`, `resolv.conf` and every
//! answer stay exactly glibc's. (grove's own resolver returns addresses
//! only; an `addrinfo` list must be freed by libc's `freeaddrinfo`, so it
//! must come from libc.)
//!
//! The inputs are copied before the job starts: a kill or `with_timeout`
//! expiry returns `EAI_SYSTEM` with `errno` `ECANCELED` / `ETIMEDOUT` at
//! once, while the job may still be running; its list is then freed on the
//! pool thread when it finishes.

use std::ffi::{CStr, CString};

use grove::hooks;
use libc::{addrinfo, c_char, c_int};

use crate::sys;

/// An `addrinfo` list from libc, freed with libc's `freeaddrinfo` unless taken.
struct List(*mut addrinfo);

// SAFETY: the list is plain heap memory owned by this value alone; libc's
// freeaddrinfo may free it on any thread.
unsafe impl Send for List {}

impl List {
    fn take(mut self) -> *mut addrinfo {
        std::mem::replace(&mut self.0, std::ptr::null_mut())
    }
}

impl Drop for List {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a list getaddrinfo returned, freed once.
            unsafe { sys::freeaddrinfo(self.0) };
        }
    }
}

/// The fields of `hints` getaddrinfo reads.
#[derive(Clone, Copy)]
struct Hints {
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
}

fn copy(s: *const c_char) -> Option<CString> {
    // SAFETY: null or a NUL-terminated string (getaddrinfo's contract).
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_owned())
}

/// Hook of libc's `getaddrinfo`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if !crate::dns_patched() || !hooks::in_greenlet() || res.is_null() {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::getaddrinfo(node, service, hints, res) };
    }
    let (node, service) = (copy(node), copy(service));
    // SAFETY: null or the caller's hints (libc's contract).
    let hints = unsafe { hints.as_ref() }.map(|h| Hints {
        flags: h.ai_flags,
        family: h.ai_family,
        socktype: h.ai_socktype,
        protocol: h.ai_protocol,
    });
    let job = move || {
        // SAFETY: addrinfo is plain old data; all-zero is valid hints.
        let mut h: addrinfo = unsafe { std::mem::zeroed() };
        if let Some(hints) = hints {
            h.ai_flags = hints.flags;
            h.ai_family = hints.family;
            h.ai_socktype = hints.socktype;
            h.ai_protocol = hints.protocol;
        }
        let mut list = std::ptr::null_mut();
        let as_ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: owned copies of the inputs, a local result slot; on a pool
        // thread (not a greenlet) this is libc's call.
        let rc = unsafe {
            sys::getaddrinfo(
                as_ptr(&node),
                as_ptr(&service),
                hints.map_or(std::ptr::null(), |_| &h),
                &mut list,
            )
        };
        let errno = sys::errno();
        (rc, errno, List(list))
    };
    match hooks::run(|| grove::threadpool::spawn_blocking(job)) {
        Ok((rc, errno, list)) => {
            // SAFETY: `res` is the caller's non-null result slot.
            unsafe { *res = list.take() };
            if rc == libc::EAI_SYSTEM {
                sys::set_errno(errno);
            }
            rc
        }
        Err(why) => {
            sys::set_errno(crate::wait::errno_of(why));
            libc::EAI_SYSTEM
        }
    }
}
