//! One timed run of the load client, `grove-xmlrpc bench --json`,
//! with the CPU accounting around it: while the client runs, the server's
//! and the client's utime + stime (`/proc/PID/stat`, all threads), the
//! machine's busy time (`/proc/stat`) and the `ksoftirqd` threads are
//! sampled every [`SAMPLE`]. The client's timed window is taken to be the
//! last `seconds` (its own figure) before it was seen to exit, and each
//! counter is interpolated linearly to the window's ends; the client's own
//! `client_cpu_s` beside the sampled share checks that alignment.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::io_rows::{pinned, Placement};
use crate::loadgen;
use crate::xmlrpc_rows::{Sample, Work, XmlrpcOptions};

/// How often the CPU counters are sampled while the load client runs.
const SAMPLE: Duration = Duration::from_millis(50);

/// The CPU counters at one moment.
#[derive(Clone, Copy)]
struct Tick {
    at: Instant,
    server: u64,
    client: u64,
    busy: u64,
    softirqd: u64,
}

/// `f` of the samples, linearly interpolated at `t` (clamped to the ends).
fn at(ticks: &[Tick], t: Instant, f: fn(&Tick) -> u64) -> f64 {
    let after = ticks
        .iter()
        .position(|k| k.at >= t)
        .unwrap_or(ticks.len() - 1);
    if after == 0 {
        return f(&ticks[0]) as f64;
    }
    let (a, b) = (&ticks[after - 1], &ticks[after]);
    let span = b.at.duration_since(a.at).as_secs_f64();
    let frac = if span > 0.0 {
        t.saturating_duration_since(a.at).as_secs_f64() / span
    } else {
        1.0
    };
    f(a) as f64 + (f(b) as f64 - f(a) as f64) * frac.min(1.0)
}

/// One run of `grove-xmlrpc bench --json` with the CPU sampling around it.
pub fn run(
    x: &XmlrpcOptions,
    place: &Placement,
    client: &Path,
    port: u16,
    conns: usize,
    work: Work,
    server_pid: u32,
) -> Result<Sample, String> {
    let argv: Vec<String> = [
        client.display().to_string(),
        "bench".into(),
        "--url".into(),
        format!("http://127.0.0.1:{port}/RPC2"),
        "--concurrency".into(),
        conns.to_string(),
        "--duration".into(),
        x.secs.to_string(),
        "--warmup".into(),
        x.warmup.to_string(),
        "--call".into(),
        work.call.to_string(),
        "--gzip".into(),
        (if work.gzip { "on" } else { "off" }).to_string(),
        "--json".into(),
    ]
    .into();
    let argv = pinned(place.client, argv);
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the load client: {e}"))?;
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let softirq = loadgen::softirq_threads();
    let (server_stat, client_stat) = (
        format!("/proc/{server_pid}/stat"),
        format!("/proc/{}/stat", child.id()),
    );
    let limit = Duration::from_secs_f64(x.warmup + x.secs + 60.0);
    let start = Instant::now();
    let mut ticks = Vec::new();
    let status = loop {
        ticks.push(Tick {
            at: Instant::now(),
            server: loadgen::cpu_ticks(&server_stat),
            client: loadgen::cpu_ticks(&client_stat),
            busy: loadgen::machine_busy_ticks(),
            softirqd: softirq.iter().map(|p| loadgen::cpu_ticks(p)).sum(),
        });
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the load client did not finish within {} s",
                limit.as_secs()
            ));
        }
        thread::sleep(SAMPLE);
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(2).collect();
        return Err(format!(
            "the load client failed ({status}): {}",
            tail.join(" / ")
        ));
    }
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    let field = |k: &str| {
        json_number(json, k).ok_or_else(|| format!("no {k:?} in the load client's output {json:?}"))
    };
    let seconds = field("seconds")?;
    let mut s = Sample {
        calls: field("calls")? as u64,
        errors: field("errors")? as u64,
        calls_per_sec: field("calls_per_sec")?,
        p50_us: field("p50_us")?,
        p99_us: field("p99_us")?,
        client_own: field("client_cpu_s")? / seconds,
        ..Sample::default()
    };
    let end = ticks.last().expect("sampled at least once").at;
    let begin = end
        .checked_sub(Duration::from_secs_f64(seconds))
        .unwrap_or(start);
    let hz = loadgen::clock_ticks();
    let over = |f: fn(&Tick) -> u64| (at(&ticks, end, f) - at(&ticks, begin, f)).max(0.0) / hz;
    let (server_s, client_s, busy_s, soft_s) = (
        over(|k| k.server),
        over(|k| k.client),
        over(|k| k.busy),
        over(|k| k.softirqd),
    );
    s.cpu_us = if s.calls > 0 {
        server_s * 1e6 / s.calls as f64
    } else {
        f64::NAN
    };
    s.server = server_s / seconds;
    s.client = client_s / seconds;
    s.softirqd = soft_s / seconds;
    s.other = ((busy_s - server_s - client_s - soft_s) / seconds).max(0.0);
    Ok(s)
}

/// The number after `"key":` in a flat JSON object.
fn json_number(json: &str, key: &str) -> Option<f64> {
    let rest = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_clients_json() {
        let j = r#"{"calls":1234,"errors":0,"seconds":5.001,"calls_per_sec":246.7,"p50_us":3.5e2,"p99_us":-1}"#;
        assert_eq!(json_number(j, "calls"), Some(1234.0));
        assert_eq!(json_number(j, "calls_per_sec"), Some(246.7));
        assert_eq!(json_number(j, "p50_us"), Some(350.0));
        assert_eq!(json_number(j, "p99_us"), Some(-1.0));
        assert_eq!(json_number(j, "max_us"), None);
    }

    #[test]
    fn interpolates_ticks() {
        let t0 = Instant::now();
        let tick = |ms: u64, server: u64| Tick {
            at: t0 + Duration::from_millis(ms),
            server,
            client: 0,
            busy: 0,
            softirqd: 0,
        };
        let ticks = [tick(0, 0), tick(100, 10), tick(200, 30)];
        let v = |ms: u64| at(&ticks, t0 + Duration::from_millis(ms), |k| k.server);
        assert!((v(50) - 5.0).abs() < 1e-9);
        assert!((v(150) - 20.0).abs() < 1e-9);
        assert!((v(500) - 30.0).abs() < 1e-9);
        assert!((v(0)).abs() < 1e-9);
    }
}
