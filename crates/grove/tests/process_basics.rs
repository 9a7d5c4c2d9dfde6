//! grove::process: exit codes, builder settings, waits that keep the hub
//! running, kill, bad input.

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::process::{Command, Stdio};

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

#[test]
fn exit_codes_come_back() {
    assert!(Command::new("true").status().unwrap().success());
    assert_eq!(Command::new("false").status().unwrap().code(), Some(1));
    assert_eq!(sh("exit 3").status().unwrap().code(), Some(3));
    let out = sh("echo out; echo err >&2; exit 2").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
fn builder_settings_reach_the_child() {
    let out = Command::new("pwd").current_dir("/").output().unwrap();
    assert_eq!(out.stdout, b"/\n");
    let out = sh("echo $A-$B-${C:-unset}")
        .env("A", "1")
        .envs([("B", "2"), ("C", "3")])
        .env_remove("C")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"1-2-unset\n");
    let out = Command::new("/usr/bin/env")
        .env_clear()
        .env("ONLY", "me")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ONLY=me\n");
    let mut cmd = Command::new("echo");
    cmd.arg("a").args(["b", "c"]);
    assert_eq!(cmd.get_program(), "echo");
    assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(cmd.output().unwrap().stdout, b"a b c\n");
}

#[test]
fn output_gives_a_null_stdin_and_restores_spawn_defaults() {
    // `cat` with a null stdin ends at once.
    let mut cmd = Command::new("cat");
    assert_eq!(cmd.output().unwrap().stdout, b"");
    // After output(), spawn() again inherits: no pipes.
    let mut child = cmd.stdin(Stdio::null()).spawn().unwrap();
    assert!(child.stdout.is_none() && child.stderr.is_none());
    assert!(child.wait().unwrap().success());
    // Explicit settings win over output()'s defaults.
    let out = sh("echo hidden").stdout(Stdio::null()).output().unwrap();
    assert_eq!(out.stdout, b"");
}

#[test]
fn a_missing_program_is_an_error_not_a_panic() {
    let err = Command::new("/nonexistent/grove-no-such-program")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = Command::new("/").output().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let err = Command::new("true")
        .current_dir("/nonexistent-dir")
        .status()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn a_thread_stack_waiting_for_a_child_does_not_would_block_forever() {
    let start = Instant::now();
    let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(start.elapsed() >= Duration::from_millis(190));
}

#[test]
fn waiting_keeps_the_hub_running() {
    let ticks = Rc::new(Cell::new(0));
    let ticker = {
        let ticks = ticks.clone();
        grove::spawn(move || loop {
            grove::sleep(Duration::from_millis(10));
            ticks.set(ticks.get() + 1);
        })
    };
    let status = Command::new("sleep").arg("0.3").status().unwrap();
    assert!(status.success());
    assert!(ticks.get() >= 10, "ticks: {}", ticks.get());
    ticker.kill();
}

#[test]
fn many_children_wait_concurrently() {
    let start = Instant::now();
    let gs: Vec<_> = (0..20)
        .map(|i| {
            grove::spawn(move || {
                sh(&format!("sleep 0.2; exit {i}"))
                    .status()
                    .unwrap()
                    .code()
                    .unwrap()
            })
        })
        .collect();
    let codes: Vec<i32> = gs.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(codes, (0..20).collect::<Vec<_>>());
    assert!(
        start.elapsed() < Duration::from_millis(1800),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn try_wait_and_wait_timeout_report_a_running_child() {
    let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
    assert!(child.id() > 0);
    assert_eq!(child.try_wait().unwrap(), None);
    assert_eq!(child.wait_timeout(Duration::ZERO).unwrap(), None);
    let start = Instant::now();
    assert_eq!(child.wait_timeout(Duration::from_millis(30)).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(25));
    let status = child
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("exited");
    assert!(status.success());
    // Waiting again gives the same status.
    assert_eq!(child.wait().unwrap(), status);
    assert_eq!(child.try_wait().unwrap(), Some(status));
}

#[test]
fn kill_ends_a_child_with_sigkill() {
    let mut child = Command::new("sleep").arg("100").spawn().unwrap();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!status.success());
    // Killing a reaped child is not an error, as with std.
    assert!(child.kill().is_ok());
}

#[test]
fn a_pipe_can_feed_another_child() {
    let mut first = Command::new("echo")
        .arg("hello")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = first.stdout.take().unwrap();
    let out = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::from(pipe))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"HELLO\n");
    assert!(first.wait().unwrap().success());
}

#[test]
fn wait_with_output_reads_what_was_not_taken() {
    let mut child = sh("echo one; echo two >&2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"o");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"ne\n");
    assert_eq!(out.stderr, b"two\n");
}

#[test]
fn waiting_in_a_hub_callback_panics_with_a_clear_message() {
    let child = Rc::new(std::cell::RefCell::new(
        Command::new("sleep").arg("5").spawn().unwrap(),
    ));
    let seen = Rc::new(std::cell::RefCell::new(None));
    let g = grove::spawn(|| ());
    {
        let (child, seen) = (child.clone(), seen.clone());
        g.link(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child.borrow_mut().wait()
            }));
            *seen.borrow_mut() = Some(r.is_err());
        });
    }
    g.join().unwrap();
    grove::sleep(Duration::from_millis(1));
    assert_eq!(*seen.borrow(), Some(true));
    child.borrow_mut().kill().unwrap();
    child.borrow_mut().wait().unwrap();
}
