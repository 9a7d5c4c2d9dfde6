//! Child pipes read and written cooperatively by concurrent greenlets.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use grove::process::{Command, Stdio};
use grove::GreenletError;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

#[test]
fn one_greenlet_feeds_cat_while_another_reads_it_back() {
    // 1 MiB: far more than a pipe holds, so writer and reader must interleave.
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let writer = {
        let data = data.clone();
        grove::spawn(move || {
            for chunk in data.chunks(10_000) {
                stdin.write_all(chunk)?;
            }
            std::io::Result::Ok(()) // dropping stdin closes the pipe
        })
    };
    let reader = grove::spawn(move || {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).map(|_| got)
    });
    let ticker = grove::spawn(|| {
        let mut ticks = 0u32;
        loop {
            grove::sleep(Duration::from_millis(1));
            ticks += 1;
            if ticks == 1_000_000 {
                return ticks;
            }
        }
    });
    writer.join().unwrap().unwrap();
    let got = reader.join().unwrap().unwrap();
    assert!(got == data, "cat echoed {} bytes back", got.len());
    assert!(child.wait().unwrap().success());
    ticker.kill();
}

#[test]
fn output_captures_large_stdout_and_stderr_without_deadlock() {
    let out = sh("head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; echo done >&2")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(out.stderr.len(), 200_005);
    assert!(out.stderr.ends_with(b"done\n"));
}

#[test]
fn a_reader_and_a_waiter_share_one_child() {
    let mut child = sh("for i in 1 2 3; do echo $i; sleep 0.05; done; exit 7")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = grove::spawn(move || {
        let mut lines = String::new();
        stdout.read_to_string(&mut lines).unwrap();
        lines
    });
    let waiter = grove::spawn(move || child.wait().unwrap().code());
    assert_eq!(waiter.join().unwrap(), Some(7));
    assert_eq!(reader.join().unwrap(), "1\n2\n3\n");
}

#[test]
fn writing_to_a_child_that_exited_is_a_broken_pipe_error() {
    let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    child.wait().unwrap();
    let err = stdin.write_all(&[0u8; 200_000]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

#[test]
fn a_reader_killed_mid_read_loses_no_data() {
    let mut child = sh("sleep 0.2; echo late")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::rc::Rc::new(std::cell::RefCell::new(child.stdout.take().unwrap()));
    let reader = {
        let stdout = stdout.clone();
        grove::spawn(move || {
            let mut buf = [0u8; 16];
            stdout.borrow_mut().read(&mut buf).unwrap()
        })
    };
    grove::sleep(Duration::from_millis(30));
    let start = Instant::now();
    reader.kill();
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(matches!(reader.join(), Err(GreenletError::Killed)));
    let mut rest = String::new();
    stdout.borrow_mut().read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "late\n");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_read_timed_out_by_with_timeout_can_be_retried() {
    let mut child = sh("sleep 0.15; echo slow")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 16];
    let r = grove::with_timeout(Duration::from_millis(20), || stdout.read(&mut buf));
    assert!(r.is_err());
    let n = stdout.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"slow\n");
    child.wait().unwrap();
}

#[test]
fn reading_in_a_drop_during_a_kill_returns_an_error_instead_of_hanging() {
    struct ReadOnDrop(
        Option<grove::process::ChildStdout>,
        std::rc::Rc<std::cell::Cell<Option<bool>>>,
    );
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            let mut buf = [0u8; 4];
            let r = self.0.as_mut().unwrap().read(&mut buf);
            self.1.set(Some(r.is_err()));
        }
    }
    let mut child = Command::new("sleep")
        .arg("5")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let guard = ReadOnDrop(child.stdout.take(), seen.clone());
    let g = grove::spawn(move || {
        let _guard = guard;
        grove::sleep(Duration::from_secs(60));
    });
    grove::yield_now();
    g.kill();
    assert_eq!(seen.get(), Some(true));
    child.kill().unwrap();
    child.wait().unwrap();
}
