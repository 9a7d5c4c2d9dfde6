//! A child that never exits under with_timeout / kill of the waiting
//! greenlet: the wait unwinds cleanly, and nothing is left behind.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grove::process::Command;
use grove::GreenletError;

/// Whether `pid` is still a (possibly zombie) child of this process.
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ppid ...": comm may contain spaces; split after ')'.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
    ppid == std::process::id()
}

fn wait_gone(pid: u32) {
    let start = Instant::now();
    while is_our_child(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "child {pid} was never reaped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A shell that writes its pid to a file, then becomes `sleep 100`.
fn pid_reporting_sleeper(tag: &str) -> (Command, PathBuf) {
    let path = std::env::temp_dir().join(format!("grove-{tag}-{}.pid", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("echo $$ > {}; exec sleep 100", path.display()),
    ]);
    (cmd, path)
}

fn read_pid(path: &PathBuf) -> u32 {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                let _ = std::fs::remove_file(path);
                return s.trim().parse().unwrap();
            }
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no pid file");
        grove::sleep(Duration::from_millis(2)); // lets a spawning greenlet run
    }
}

#[test]
fn wait_under_with_timeout_unwinds_and_the_child_can_still_be_killed() {
    let mut child = Command::new("sleep").arg("100").spawn().unwrap();
    let start = Instant::now();
    let r = grove::with_timeout(Duration::from_millis(100), || child.wait());
    assert!(r.is_err(), "the timeout fired");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(95) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert_eq!(child.try_wait().unwrap(), None, "still running, still ours");
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!is_our_child(child.id()));
}

#[test]
fn a_killed_waiting_greenlet_leaves_the_child_running() {
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id();
    let waiter = grove::spawn(move || {
        let mut child = child;
        child.wait()
    });
    grove::sleep(Duration::from_millis(20));
    waiter.kill();
    assert!(matches!(waiter.join(), Err(GreenletError::Killed)));
    // Dropping a running Child neither kills nor reaps it, as with std.
    assert!(is_our_child(pid));
    // SAFETY: `pid` is our unreaped child (checked above), so it cannot be
    // another process; SIGKILL and waitpid touch nothing of ours.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
        let mut status = 0;
        assert_eq!(
            libc::waitpid(pid as libc::pid_t, &mut status, 0),
            pid as libc::pid_t
        );
    }
}

#[test]
fn output_under_with_timeout_kills_and_reaps_the_child() {
    let (mut cmd, path) = pid_reporting_sleeper("output");
    let start = Instant::now();
    let r = grove::with_timeout(Duration::from_millis(200), || cmd.output());
    assert!(r.is_err());
    assert!(start.elapsed() < Duration::from_secs(2));
    let pid = read_pid(&path);
    wait_gone(pid);
}

#[test]
fn status_in_a_killed_greenlet_kills_and_reaps_the_child() {
    let (mut cmd, path) = pid_reporting_sleeper("status");
    let g = grove::spawn(move || cmd.status());
    let pid = read_pid(&path);
    assert!(is_our_child(pid));
    g.kill();
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    wait_gone(pid);
}

#[test]
fn wait_in_a_drop_during_a_kill_returns_an_error_instead_of_hanging() {
    struct WaitOnDrop(
        grove::process::Child,
        std::rc::Rc<std::cell::Cell<Option<bool>>>,
    );
    impl Drop for WaitOnDrop {
        fn drop(&mut self) {
            self.1.set(Some(self.0.wait().is_err()));
            self.0.kill().unwrap();
        }
    }
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let guard = WaitOnDrop(
        Command::new("sleep").arg("100").spawn().unwrap(),
        seen.clone(),
    );
    let pid = guard.0.id();
    let g = grove::spawn(move || {
        let _guard = guard;
        grove::sleep(Duration::from_secs(60));
    });
    grove::yield_now();
    let start = Instant::now();
    g.kill();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(seen.get(), Some(true));
    // SAFETY: `pid` is our child, killed above and not yet reaped.
    unsafe {
        let mut status = 0;
        libc::waitpid(pid as libc::pid_t, &mut status, 0);
    }
}
