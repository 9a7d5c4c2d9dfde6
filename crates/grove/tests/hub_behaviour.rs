//! The hub: cross-thread handles, "would block forever", hub-context rules,
//! idle sleeping, raw fd readiness, bad input.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use grove::GreenletError;

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn spawn_from_another_thread_through_a_handle() {
    let handle = grove::Handle::current();
    let remote = std::thread::spawn(move || {
        let gs: Vec<_> = (0..10)
            .map(|i| {
                handle
                    .spawn(move || (i, grove::current_id().is_some()))
                    .unwrap()
            })
            .collect();
        gs
    })
    .join()
    .unwrap();
    // The greenlets run on this thread's hub, driven by the joins below.
    for (i, g) in remote.into_iter().enumerate() {
        assert_eq!(g.join().unwrap(), (i, true));
    }
}

#[test]
fn remote_greenlet_joined_from_another_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let hub_thread = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        // Serve the hub for a while: sleeping drives it.
        grove::sleep(Duration::from_millis(300));
    });
    let handle = rx.recv().unwrap();
    let g = handle
        .spawn(|| {
            grove::sleep(Duration::from_millis(20));
            "done"
        })
        .unwrap();
    drop(handle);
    assert_eq!(g.join().unwrap(), "done");
    let panicky = std::thread::spawn(|| ()).join();
    assert!(panicky.is_ok());
    hub_thread.join().unwrap();
}

/// A second thread whose hub serves until [`OtherHub::stop`].
struct OtherHub {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl OtherHub {
    fn start() -> (grove::Handle, OtherHub) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tx.send(grove::Handle::current()).unwrap();
            while stop_rx.try_recv().is_err() {
                grove::sleep(Duration::from_millis(5));
            }
        });
        (rx.recv().unwrap(), OtherHub { stop, thread })
    }

    fn stop(self) {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[test]
fn remote_panics_and_kills_come_back() {
    let (handle, other) = OtherHub::start();
    let p = handle.spawn(|| -> u8 { panic!("remote boom") }).unwrap();
    assert!(matches!(p.join(), Err(GreenletError::Panicked(_))));
    let k = handle
        .spawn(|| grove::sleep(Duration::from_secs(3600)))
        .unwrap();
    assert!(!k.wait_timeout(Duration::from_millis(20)));
    k.kill();
    assert!(k.is_dead());
    assert!(matches!(k.join(), Err(GreenletError::Killed)));
    other.stop();
}

#[test]
fn an_interrupted_wait_on_a_remote_greenlet_leaves_it_running_and_joinable() {
    let (handle, other) = OtherHub::start();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let remote = handle
        .spawn(move || {
            // Ends only when told to, on its own hub.
            while go_rx.try_recv().is_err() {
                grove::sleep(Duration::from_millis(1));
            }
            "finished"
        })
        .unwrap();
    let remote = std::rc::Rc::new(remote);
    // A timeout of the waiting greenlet interrupts the wait...
    let r = remote.clone();
    let waited =
        grove::spawn(move || grove::with_timeout(Duration::from_millis(20), || r.wait()).is_err());
    assert!(waited.join().unwrap(), "the wait timed out");
    // ...and so does a kill, from another greenlet.
    let r = remote.clone();
    let killed = grove::spawn(move || r.wait());
    grove::sleep(Duration::from_millis(10));
    killed.kill();
    assert!(matches!(killed.join(), Err(GreenletError::Killed)));
    // The remote greenlet ran on and is joined later.
    assert!(!remote.is_dead());
    go_tx.send(()).unwrap();
    let remote = std::rc::Rc::into_inner(remote).expect("the waiters let go");
    assert_eq!(remote.join().unwrap(), "finished");
    other.stop();
}

#[test]
fn a_handle_outlives_its_hub_with_a_clear_error() {
    let handle = std::thread::spawn(grove::Handle::current).join().unwrap();
    let err = handle.spawn(|| 1).unwrap_err();
    assert_eq!(err, grove::HubGone);
    assert!(err.to_string().contains("thread has ended"));
    assert!(handle.call(|| ()).is_err());
}

#[test]
fn jobs_queued_on_a_dying_hub_report_killed() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        go_rx.recv().unwrap(); // never drives the hub
    });
    let handle = rx.recv().unwrap();
    let g = handle.spawn(|| 1).unwrap();
    go_tx.send(()).unwrap();
    t.join().unwrap();
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn would_block_forever_names_what_everyone_waits_on() {
    let stuck = grove::Builder::new()
        .name("stuck-worker")
        .spawn(|| grove::sleep(Duration::MAX))
        .unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| stuck.wait())).unwrap_err();
    let msg = panic_text(err);
    assert!(msg.contains("would block forever"), "{msg}");
    assert!(msg.contains("stuck-worker"), "{msg}");
    assert!(msg.contains("sleep(Duration::MAX)"), "{msg}");
    assert!(
        msg.contains(&format!("join of greenlet #{}", stuck.id())),
        "{msg}"
    );
    // The hub is still usable afterwards.
    stuck.kill();
    assert_eq!(grove::spawn(|| 3).join().unwrap(), 3);
}

#[test]
fn a_live_handle_means_no_false_deadlock_report() {
    let handle = grove::Handle::current();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.spawn(move || tx.send(7).unwrap()).unwrap();
    });
    // Nothing local can wake us, but the other thread's handle can.
    grove::sleep(Duration::from_millis(100));
    t.join().unwrap();
    assert_eq!(rx.recv().unwrap(), 7);
}

#[test]
fn blocking_inside_a_link_callback_is_reported_not_fatal() {
    let g = grove::spawn(|| ());
    let ran = std::rc::Rc::new(std::cell::Cell::new(false));
    let ran2 = ran.clone();
    g.link(move || {
        ran2.set(true);
        grove::sleep(Duration::from_millis(1)); // panics in hub context; the hub reports it
        unreachable!();
    });
    g.wait();
    grove::sleep(Duration::from_millis(5));
    assert!(ran.get());
    assert_eq!(grove::spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn an_idle_hub_sleeps_instead_of_spinning() {
    let before = util::cpu_time();
    let start = Instant::now();
    grove::sleep(Duration::from_secs(1));
    let cpu = util::cpu_time() - before;
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(
        cpu < Duration::from_millis(50),
        "an idle 1 s sleep used {cpu:?} of CPU"
    );
}

#[test]
fn zero_and_huge_stack_sizes_are_errors() {
    let err = grove::Builder::new()
        .stack_size(0)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("too small"), "{err}");
    let err = grove::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let big = grove::Builder::new().stack_size(8 << 20).spawn(|| {
        // Use a good part of a big stack.
        let buf = [1u8; 4 << 20];
        std::hint::black_box(&buf)
            .iter()
            .map(|&b| b as usize)
            .sum::<usize>()
    });
    assert_eq!(big.unwrap().join().unwrap(), 4 << 20);
}

#[test]
fn grove_spawn_panics_at_the_caller_on_bad_config() {
    // grove::spawn cannot fail on default settings; Builder reports errors as values.
    let r = catch_unwind(|| grove::spawn_later(Duration::MAX, || ()));
    let g = r.unwrap();
    // A start time beyond the clock's range never comes; killing it is clean.
    g.kill();
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn wait_fd_parks_until_a_pipe_is_readable() {
    let (mut reader, mut writer) = std::io::pipe().unwrap();
    set_nonblocking(reader.as_raw_fd());
    let fd = reader.as_raw_fd();
    let g = grove::spawn(move || {
        grove::io::wait_fd(fd, grove::io::Direction::Read, Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 5];
        reader.read_exact(&mut buf).unwrap();
        buf
    });
    let w = grove::spawn(move || {
        grove::sleep(Duration::from_millis(20));
        writer.write_all(b"hello").unwrap();
    });
    assert_eq!(&g.join().unwrap(), b"hello");
    w.join().unwrap();
}

#[test]
fn wait_fd_times_out() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let start = Instant::now();
    let err = grove::io::wait_fd(
        reader.as_raw_fd(),
        grove::io::Direction::Read,
        Some(Duration::from_millis(30)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Runs one test of this binary in a child process and returns (status, stderr).
fn run_child(test: &str) -> (std::process::ExitStatus, String) {
    run_child_with(test, &[])
}

/// [`run_child`] with more environment variables.
fn run_child_with(test: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GROVE_TEST_CHILD", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn child_stack_overflow() {
    if std::env::var_os("GROVE_TEST_CHILD").is_none() {
        return;
    }
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let buf = [depth; 64];
        std::hint::black_box(&buf);
        recurse(depth + 1) + buf[3]
    }
    let g = grove::Builder::new()
        .name("deep-diver")
        .spawn(|| recurse(0))
        .unwrap();
    let _ = g.join();
}

#[test]
fn a_stack_overflow_names_the_greenlet_and_aborts() {
    // The report is written from the signal handler, before anything that
    // a backtrace setting could change.
    for backtrace in ["0", "1"] {
        let (status, stderr) =
            run_child_with("child_stack_overflow", &[("RUST_BACKTRACE", backtrace)]);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "RUST_BACKTRACE={backtrace}: status {status:?}, stderr: {stderr}"
        );
        assert!(stderr.contains("stack overflow in greenlet"), "{stderr}");
        assert!(stderr.contains("'deep-diver'"), "{stderr}");
        assert!(stderr.contains("stack size 61376 bytes"), "{stderr}");
    }
}

#[test]
fn child_unjoined_panic() {
    if std::env::var_os("GROVE_TEST_CHILD").is_none() {
        return;
    }
    drop(
        grove::Builder::new()
            .name("lonely")
            .spawn(|| panic!("nobody listens"))
            .unwrap(),
    );
    grove::sleep(Duration::from_millis(5));
}

#[test]
fn an_unjoined_panic_is_reported_once_with_the_name() {
    let (status, stderr) = run_child("child_unjoined_panic");
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("panicked and nobody joined it").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("'lonely'") && stderr.contains("nobody listens"),
        "{stderr}"
    );
}

#[test]
fn hubs_are_per_thread() {
    let here = grove::spawn(grove::current_id).join().unwrap().unwrap();
    let there = std::thread::spawn(|| grove::spawn(grove::current_id).join().unwrap().unwrap())
        .join()
        .unwrap();
    assert_ne!(here, there);
    // Many short-lived threads each with a hub: stacks are recycled process-wide.
    for _ in 0..50 {
        std::thread::spawn(|| {
            let gs: Vec<_> = (0..20).map(|i| grove::spawn(move || i)).collect();
            grove::joinall(&gs);
        })
        .join()
        .unwrap();
    }
}
