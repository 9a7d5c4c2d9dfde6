//! A process that runs out of memory mappings while spawning reports it and
//! exits, whatever `RUST_BACKTRACE` says.
//!
//! At the ceiling (`vm.max_map_count`) printing a backtrace needs mappings
//! the kernel refuses; the allocation that fails there used to deadlock
//! std's out-of-memory report against the backtrace lock the panic held.
//! Each case runs in a child process that is killed if it does not finish.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a child may take before it counts as hung: it needs well under a
/// second; the margin is for a loaded machine.
const HANG: Duration = Duration::from_secs(60);

/// Makes `madvise(MADV_GUARD_INSTALL)` fail with `EINVAL` on this thread, as
/// on kernels before 6.13, so grove guards its stacks with `mprotect`: two
/// mappings per stack, the case where programs reach the ceiling.
fn refuse_guard_install() {
    const MADV_GUARD_INSTALL: u32 = 102;
    // seccomp_data: nr at offset 0, args[i] at 16 + 8 i (low half first).
    let filter = [
        bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(libc::SYS_madvise as u32, 0, 3),
        bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 32),
        jump(MADV_GUARD_INSTALL, 0, 1),
        bpf(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32,
        ),
        bpf(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with the documented arguments; the filter outlives the call
    // (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let rc = libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program);
        assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

fn bpf(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

const PAGE: usize = 4096;

fn protect(base: usize, page: usize, prot: libc::c_int) -> bool {
    // SAFETY: a page of the mapping made by `exhaust_mappings`, used by nothing else.
    unsafe { libc::mprotect((base + page * PAGE) as *mut _, PAGE, prot) == 0 }
}

/// Splits a private mapping page by page until the kernel refuses another
/// mapping, then gives exactly one back; returns the mapping so the caller
/// can release the room.
///
/// One free mapping is the ceiling as a program meets it: too few for the
/// two a stack guard costs, enough for the first mapping the panic's
/// backtrace asks for.
fn exhaust_mappings() -> (usize, usize) {
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pages = 2 * max + 8;
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let base = base as usize;
    // Every other page made inaccessible: each costs two more mappings.
    let refused = (1..pages - 1)
        .step_by(2)
        .find(|&page| !protect(base, page, libc::PROT_NONE))
        .expect("the kernel never refused a mapping");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOMEM)
    );
    // None or one mapping is left; the last page split off takes one more.
    protect(base, pages - 1, libc::PROT_NONE);
    // Unmapping one inaccessible page between two readable ones frees one.
    // SAFETY: a page of our mapping that nothing uses.
    let rc = unsafe { libc::munmap((base + (refused - 2) * PAGE) as *mut _, PAGE) };
    assert_eq!(rc, 0);
    (base, pages * PAGE)
}

fn release(mapping: (usize, usize)) {
    // SAFETY: the mapping made by `exhaust_mappings`, no longer used.
    unsafe { libc::munmap(mapping.0 as *mut _, mapping.1) };
}

/// Spawns idle greenlets until grove cannot make another stack.
fn spawn_until_refused() {
    let mut idle = Vec::new();
    loop {
        idle.push(grove::spawn(|| grove::sleep(Duration::from_secs(3600))));
    }
}

#[test]
fn child_spawn_at_the_map_ceiling() {
    if std::env::var_os("GROVE_TEST_CHILD").is_none() {
        return;
    }
    refuse_guard_install();
    // The hub and the greenlet that spawns from inside exist before the
    // mappings run out.
    let go = grove::event::Event::new();
    let in_greenlet = grove::spawn({
        let go = go.clone();
        move || {
            go.wait();
            spawn_until_refused();
        }
    });
    grove::yield_now();
    let mapping = exhaust_mappings();
    // On a thread's own stack: std's report, through grove's hook.
    let on_thread = std::panic::catch_unwind(spawn_until_refused);
    // In a greenlet: grove's own report.
    go.set();
    let in_greenlet = in_greenlet.join();
    release(mapping);
    assert!(on_thread.is_err());
    assert!(in_greenlet.is_err());
    println!("child done");
}

/// Runs the child with `RUST_BACKTRACE=backtrace`; kills it if it hangs.
fn run_child(backtrace: &str) -> (String, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_spawn_at_the_map_ceiling", "--nocapture"])
        .args(["--test-threads=1"])
        .env("GROVE_TEST_CHILD", "1")
        .env("RUST_BACKTRACE", backtrace)
        // One heap grown with brk for every thread, as a program whose
        // greenlets all run on its main thread has: it cannot grow at the
        // ceiling, so the allocations a backtrace makes fail.
        .env("MALLOC_ARENA_MAX", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HANG {
            child.kill().unwrap();
            child.wait().unwrap();
            let stderr = stderr.join().unwrap();
            panic!("RUST_BACKTRACE={backtrace}: the child hung; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "RUST_BACKTRACE={backtrace}: {status:?}\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn spawning_at_the_map_ceiling_reports_and_does_not_hang() {
    for backtrace in ["0", "1", "full"] {
        let (stdout, stderr) = run_child(backtrace);
        assert!(stdout.contains("child done"), "{stdout}\n{stderr}");
        let reports = stderr.matches("grove::spawn: cannot").count();
        assert_eq!(reports, 2, "RUST_BACKTRACE={backtrace}:\n{stderr}");
    }
}
