//! 200 child runs leave the open-fd count where it was and no child behind.
//! (Alone in its binary: other tests would open fds and children meanwhile.)

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use grove::process::{Command, Stdio};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Whether this process has any child at all, zombie or running (peeks
/// without reaping).
fn has_children() -> bool {
    // SAFETY: waitid writes into the zeroed siginfo we pass; WNOWAIT leaves
    // any child's state untouched.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
    }
}

#[test]
fn two_hundred_children_leak_no_fd_and_no_zombie() {
    // Warm up: the hub's epoll fd and waker, the default pool.
    Command::new("true").output().unwrap();
    let _ = grove::with_timeout(Duration::from_millis(10), || {
        Command::new("sleep").arg("10").output()
    });
    let start = Instant::now();
    while has_children() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = open_fds();
    for i in 0..200 {
        match i % 4 {
            0 => assert!(Command::new("true").status().unwrap().success()),
            1 => assert_eq!(
                Command::new("echo").arg("x").output().unwrap().stdout,
                b"x\n"
            ),
            2 => {
                let mut child = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(b"ping").unwrap();
                let mut got = String::new();
                child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut got)
                    .unwrap();
                assert_eq!(got, "ping");
                assert!(child.wait().unwrap().success());
            }
            _ => {
                // A child that never exits, cut off by a timeout.
                let r = grove::with_timeout(Duration::from_millis(5), || {
                    Command::new("sleep").arg("10").output()
                });
                assert!(r.is_err());
            }
        }
    }
    assert_eq!(open_fds(), before, "fds leaked");
    let start = Instant::now();
    while has_children() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a child was never reaped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
