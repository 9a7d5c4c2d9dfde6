//! Running one measuring process (a child of this binary, the Go peer or the
//! gevent peer) with a time limit, and collecting its protocol records.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A `mem` record: task count and `VmRSS`/`VmPTE` before and after, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct MemRecord {
    pub n: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub pte_before_kb: u64,
    pub pte_after_kb: u64,
}

/// How a child process ended.
#[derive(Debug)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut(Duration),
    NotStarted(String),
}

/// Everything one child process reported.
#[derive(Debug)]
pub struct ChildRun {
    pub reps: BTreeMap<String, Vec<f64>>,
    /// `load` records (see `loadgen.rs`): their numbers, per metric.
    pub load: BTreeMap<String, Vec<f64>>,
    pub mem: Option<MemRecord>,
    pub progress: usize,
    pub errors: Vec<String>,
    pub outcome: Outcome,
    pub stderr_tail: Vec<String>,
}

impl ChildRun {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Exited(0)) && self.errors.is_empty()
    }

    /// One line saying why the run did not succeed.
    pub fn failure(&self) -> String {
        let how = match &self.outcome {
            Outcome::Exited(0) => String::new(),
            Outcome::Exited(code) => format!("exit status {code}"),
            Outcome::Signaled(9) => "killed by SIGKILL (out of memory?)".to_string(),
            Outcome::Signaled(sig) => format!("killed by signal {sig}"),
            Outcome::TimedOut(limit) => format!("timed out after {} s", limit.as_secs()),
            Outcome::NotStarted(why) => return format!("could not start: {why}"),
        };
        let why = self
            .errors
            .last()
            .cloned()
            .or_else(|| panic_line(&self.stderr_tail))
            .or_else(|| self.stderr_tail.last().cloned());
        match (why, how.is_empty()) {
            (Some(why), true) => why,
            (Some(why), false) => format!("{why} ({how})"),
            (None, _) => how,
        }
    }
}

/// The message line of a Rust panic report, if stderr holds one.
fn panic_line(lines: &[String]) -> Option<String> {
    let at = lines.iter().rposition(|l| l.contains("panicked at"))?;
    lines
        .get(at + 1)
        .cloned()
        .or_else(|| Some(lines[at].clone()))
}

/// Runs `argv` to completion (or until `timeout`), parsing its stdout records.
pub fn run(argv: &[String], timeout: Duration) -> ChildRun {
    let mut run = ChildRun {
        reps: BTreeMap::new(),
        load: BTreeMap::new(),
        mem: None,
        progress: 0,
        errors: Vec::new(),
        outcome: Outcome::Exited(0),
        stderr_tail: Vec::new(),
    };
    let mut child = match Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            run.outcome = Outcome::NotStarted(format!("{}: {e}", argv[0]));
            return run;
        }
    };

    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(line) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr_reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => parse_line(&line, &mut run),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait();
    let _ = reader.join();
    let stderr = stderr_reader.join().unwrap_or_default();
    let lines: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    run.stderr_tail = lines[lines.len().saturating_sub(8)..].to_vec();
    run.outcome = match status {
        _ if timed_out => Outcome::TimedOut(timeout),
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(sig)) => Outcome::Signaled(sig),
            (None, None) => Outcome::Exited(-1),
        },
        Err(e) => Outcome::NotStarted(format!("wait failed: {e}")),
    };
    run
}

fn parse_line(line: &str, run: &mut ChildRun) {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("rep") => {
            let metric = words.next();
            let value = words.next().and_then(|v| v.parse::<f64>().ok());
            if let (Some(metric), Some(value)) = (metric, value) {
                run.reps.entry(metric.to_string()).or_default().push(value);
            }
        }
        Some("load") => {
            let metric = words.next();
            let v: Vec<f64> = words.filter_map(|w| w.parse().ok()).collect();
            if let Some(metric) = metric {
                run.load.insert(metric.to_string(), v);
            }
        }
        Some("progress") => {
            if let Some(n) = words.next().and_then(|v| v.parse().ok()) {
                run.progress = n;
            }
        }
        Some("mem") => {
            let v: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
            if let [n, rss_before_kb, rss_after_kb, pte_before_kb, pte_after_kb] = v[..] {
                run.mem = Some(MemRecord {
                    n: n as usize,
                    rss_before_kb,
                    rss_after_kb,
                    pte_before_kb,
                    pte_after_kb,
                });
            }
        }
        Some("error") => run
            .errors
            .push(line.trim_start_matches("error").trim().to_string()),
        _ => {} // anything else is chatter
    }
}
