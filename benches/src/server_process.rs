//! A measured server as a child process, shared by the echo rows and the
//! HTTP rows: a free port to give it, a quiet machine to start it on, and
//! the process itself (stdin piped, so that closing it ends the peers;
//! stderr collected, so that a server that died says why).

use std::io::{self, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::loadgen::{self, NOISE};
use crate::orchestrate::say;

/// A free port on 127.0.0.1, as the OS hands it out (the server binds it
/// right after; nothing else on this machine races for it in practice).
pub fn pick_port() -> io::Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

/// Waits (up to 3 s) for a quarter second in which other processes use
/// less than [`NOISE`] of a CPU, so that a server does not start while the
/// last one is still being torn down.
pub fn wait_for_quiet() {
    let deadline = Instant::now() + Duration::from_secs(3);
    let window = Duration::from_millis(250);
    loop {
        let before = loadgen::machine_busy_ticks();
        thread::sleep(window);
        let busy = loadgen::machine_busy_ticks().saturating_sub(before) as f64
            / (window.as_secs_f64() * loadgen::clock_ticks());
        if busy < NOISE {
            return;
        }
        if Instant::now() > deadline {
            say(&format!(
                "the machine stayed busy ({:.0}% of a CPU used by other processes); measuring anyway",
                busy * 100.0
            ));
            return;
        }
    }
}

/// A running server process.
pub struct ServerProcess {
    child: Child,
    stderr: thread::JoinHandle<String>,
}

impl ServerProcess {
    /// Starts `argv` with its stdout going to `stdout`.
    pub fn spawn(argv: &[String], stdout: Stdio) -> Result<ServerProcess, String> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped()) // closed when we are done: the server exits
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", argv[0]))?;
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
        Ok(ServerProcess { child, stderr })
    }

    /// Its stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs (a zombie does not).
    pub fn alive(&self) -> bool {
        // `try_wait` needs `&mut`; /proc tells as well without reaping.
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    }

    /// Ends the server. `Some(why)` if it had already exited by itself
    /// (which a server never should), with the tail of its stderr.
    pub fn stop(mut self) -> Option<String> {
        let early = match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        };
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self.stderr.join().unwrap_or_default();
        early.map(|status| {
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
            if tail.is_empty() {
                status
            } else {
                format!("{status}: {tail}")
            }
        })
    }
}
