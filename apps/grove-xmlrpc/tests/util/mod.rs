//! Shared by the integration tests: the real `grove-xmlrpc` binary in a
//! child process, and Python.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `grove-xmlrpc serve --port 0 --mode MODE`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(mode: &str) -> Server {
        Server::start_args(&["--mode", mode])
    }

    /// `grove-xmlrpc serve --port 0 ARGS…`.
    pub fn start_args(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grove-xmlrpc"));
        // SAFETY: prctl is async-signal-safe and touches no memory of the
        // parent; it makes the server die with the test process even when
        // a test aborts before `Drop` runs.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start grove-xmlrpc");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/RPC2", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Open file descriptors of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Waits until `f` holds (polling), or panics after `limit`.
    pub fn settle(&self, limit: Duration, what: &str, mut f: impl FnMut(&Server) -> bool) {
        let start = Instant::now();
        while !f(self) {
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs `python3 args…`; panics with its output unless it succeeds.
pub fn python(args: &[&str]) -> Output {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 is needed by the interop tests");
    assert!(
        out.status.success(),
        "python3 {args:?} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
