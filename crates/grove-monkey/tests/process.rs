//! Whole-process edges: patching twice and from a greenlet, a patched
//! binary that forks and execs (`std::process::Command`, itself included),
//! and signals arriving while a greenlet is parked in a hooked call.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn patching_twice_and_from_a_greenlet_is_harmless() {
    let g = grove::spawn(|| {
        util::patch();
        util::patch();
    });
    g.join().unwrap();
    util::patch();
    assert_eq!(grove_monkey::patched(), (true, true, true));
    let delay = Duration::from_millis(20);
    util::std_requests_overlap(util::slow_echo_server(delay), 20, delay);
}

#[test]
fn a_patched_binary_forks_and_execs() {
    util::patch();
    let g = grove::spawn(|| {
        std::process::Command::new("sh")
            .args(["-c", "echo forked; read line; echo got $line"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(b"input\n")?;
                let mut out = String::new();
                child.stdout.take().unwrap().read_to_string(&mut out)?;
                child.wait()?;
                Ok(out)
            })
            .unwrap()
    });
    assert_eq!(g.join().unwrap(), "forked\ngot input\n");
}

/// Run in a child process by `the_patched_binary_runs_patched_in_a_child`.
#[test]
fn child_entry() {
    if std::env::var_os("GROVE_MONKEY_CHILD").is_none() {
        return;
    }
    util::patch();
    let addr = util::slow_echo_server(Duration::from_millis(100));
    let start = std::time::Instant::now();
    let greenlets: Vec<_> = (0..50)
        .map(|i| grove::spawn(move || util::std_request(addr, i)))
        .collect();
    grove::joinall(&greenlets);
    let overlap = util::overlap(50, Duration::from_millis(100), start.elapsed());
    println!("child overlap {overlap:.0}");
}

#[test]
fn the_patched_binary_runs_patched_in_a_child() {
    util::patch();
    let exe = std::env::current_exe().unwrap();
    let g = grove::spawn(move || {
        std::process::Command::new(exe)
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("GROVE_MONKEY_CHILD", "1")
            .output()
            .unwrap()
    });
    let out = g.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let overlap: f64 = stdout
        .lines()
        .find_map(|l| l.split_once("child overlap ").map(|(_, v)| v.trim()))
        .unwrap_or_else(|| panic!("no report from the child: {stdout}"))
        .parse()
        .unwrap();
    assert!(
        overlap > 10.0,
        "the child's requests did not overlap: {overlap}"
    );
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_signal_does_not_interrupt_a_parked_call() {
    util::patch();
    // SAFETY: installs a handler that only bumps an atomic; no SA_RESTART,
    // so a blocking system call it interrupted would fail with EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_signal as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()),
            0
        );
    }
    let (client, mut server) = util::tcp_pair();
    // SAFETY: pthread_self of the calling thread.
    let me = unsafe { libc::pthread_self() } as usize;
    let reader = grove::spawn(move || {
        let mut buf = [0u8; 5];
        (&client)
            .read_exact(&mut buf)
            .map(|()| buf)
            .map_err(|e| e.kind())
    });
    let signaller = std::thread::spawn(move || {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: the test thread outlives this one (it joins it below).
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR2) };
        }
    });
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(150));
        server.write_all(b"hello").unwrap();
        server
    });
    assert_eq!(reader.join().unwrap(), Ok(*b"hello"));
    signaller.join().unwrap();
    drop(writer.join().unwrap());
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 3);
}

#[test]
fn a_forked_child_runs_unpatched_and_leaves_the_parents_hub_alone() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let fd = client.as_raw_fd();
    // Parked in a hooked read: the fd is registered with this thread's hub.
    let reader = grove::spawn(move || {
        let mut buf = [0u8; 3];
        (&client)
            .read_exact(&mut buf)
            .map(|()| buf)
            .map_err(|e| e.kind())
    });
    let forker = grove::spawn(move || {
        grove::sleep(Duration::from_millis(20));
        // SAFETY: the child only makes hooked calls that must pass straight
        // through (close, a sleep) and then _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: in the child: closing its copy of the fd, a sleep, _exit.
            unsafe {
                libc::close(fd); // must not deregister the parent's fd
                std::thread::sleep(Duration::from_millis(10)); // a real sleep
                libc::_exit(7);
            }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WEXITSTATUS(status)
    });
    assert_eq!(forker.join().unwrap(), 7);
    server.write_all(b"abc").unwrap();
    let got = grove::with_timeout(Duration::from_secs(5), || reader.join().unwrap());
    assert_eq!(got, Ok(Ok(*b"abc")), "the parent's parked read was lost");
}
