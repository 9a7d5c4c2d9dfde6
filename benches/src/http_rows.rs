//! Issue 5's HTTP rows: "hello world" over keep-alive HTTP/1.1, measured with
//! `wrk`, grove-http against hyper, may_minihttp, Go's net/http and gevent's
//! pywsgi.
//!
//! Every measurement is a fresh server process pinned to the server CPU and
//! `wrk -t1 -cN --latency` pinned to the client CPU, against
//! `http://127.0.0.1:PORT/`. Before the first request the harness checks
//! that the server answers `GET /` with exactly [`BODY`], and notes how
//! many bytes its whole response takes. Per process: a warm-up run of wrk,
//! then one timed run; around the timed run the harness reads the server's
//! utime + stime from `/proc/PID/stat` (all its threads), the machine's
//! busy time from `/proc/stat`, the kernel's `ksoftirqd` threads and wrk's
//! own CPU time (`getrusage(RUSAGE_CHILDREN)`), so it knows what else ran.
//! A timed run in which other processes took ≥ [`NOISE`] of a CPU is
//! repeated (up to two more times, the least disturbed is kept, and a cell
//! whose kept run is still disturbed is flagged). A cell is `rounds` such
//! processes, run in rounds that take every subject in turn; its values are
//! the medians over the rounds.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::http_servers::BODY;
use crate::io_rows::{placement, Placement};
use crate::loadgen::{self, NOISE};
use crate::orchestrate::{say, Col, Options, Runner};
use crate::report;

/// Options of the HTTP rows.
#[derive(Debug)]
pub struct HttpOptions {
    /// Concurrent wrk connections, one row group each.
    pub conns: Vec<usize>,
    /// Fresh server processes per cell, in rounds over the subjects.
    pub rounds: usize,
    /// Length of the timed wrk run, whole seconds (wrk's `-d`).
    pub secs: u64,
    /// Length of the warm-up wrk run before it, whole seconds.
    pub warmup: u64,
    /// grove-http's `hello_http` example, or why it is not available.
    pub grove_http: Result<PathBuf, String>,
    /// The `wrk` to run.
    pub wrk: String,
    /// Where to write the medians as CSV (for `plot_http.py`).
    pub csv: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            conns: vec![64, 1024],
            rounds: 3,
            secs: 5,
            warmup: 1,
            grove_http: Err("n/a: not built (benches/run.sh builds \
                             `cargo build --release -p grove-http --example hello_http`)"
                .to_string()),
            wrk: "wrk".to_string(),
            csv: None,
        }
    }
}

/// The servers of the HTTP rows, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    Grove1,
    Grove2,
    Hyper,
    MayMinihttp,
    Go,
    Gevent,
}

const SUBJECTS: [Subject; 6] = [
    Subject::Grove1,
    Subject::Grove2,
    Subject::Hyper,
    Subject::MayMinihttp,
    Subject::Go,
    Subject::Gevent,
];

impl Subject {
    fn title(self) -> &'static str {
        match self {
            Subject::Grove1 => "grove-http `hello_http --threads 1`",
            Subject::Grove2 => "grove-http `hello_http --threads 2` (shares CPU 0 with wrk)",
            Subject::Hyper => "hyper 1.x, tokio current-thread",
            Subject::MayMinihttp => "may_minihttp, 1 worker",
            Subject::Go => "Go net/http, GOMAXPROCS=1",
            Subject::Gevent => "gevent pywsgi",
        }
    }

    /// Short name for the progress lines and the CSV.
    fn key(self) -> &'static str {
        match self {
            Subject::Grove1 => "grove-http",
            Subject::Grove2 => "grove-http x2",
            Subject::Hyper => "hyper",
            Subject::MayMinihttp => "may_minihttp",
            Subject::Go => "Go net/http",
            Subject::Gevent => "gevent pywsgi",
        }
    }

    /// The `--subjects` column that selects this server.
    fn col(self) -> Col {
        match self {
            Subject::Grove1 | Subject::Grove2 => Col::Grove,
            Subject::Hyper => Col::Tokio,
            Subject::MayMinihttp => Col::May,
            Subject::Go => Col::Go,
            Subject::Gevent => Col::Gevent,
        }
    }
}

/// What one timed wrk run reported, and what ran beside it.
#[derive(Clone, Debug, Default)]
struct Sample {
    requests: u64,
    req_per_sec: f64,
    /// Server CPU time (user + system, all threads) per request, µs.
    cpu_us: f64,
    p99_us: f64,
    /// CPU time ÷ wall time of the server, wrk, ksoftirqd and the rest.
    server: f64,
    client: f64,
    softirqd: f64,
    other: f64,
    /// Socket errors and non-2xx responses wrk counted, if any.
    errors: Option<String>,
}

/// A cell: every round's sample, or why there is none.
#[derive(Clone, Debug)]
enum Cell {
    Samples {
        rounds: Vec<Sample>,
        /// Timed runs made, including repeated disturbed ones.
        runs: usize,
    },
    Unavailable(String),
    Failed(String),
    Skipped,
}

impl Cell {
    fn median(&self, f: fn(&Sample) -> f64) -> Option<f64> {
        match self {
            Cell::Samples { rounds, .. } if !rounds.is_empty() => {
                let mut v: Vec<f64> = rounds.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                Some(v[v.len() / 2])
            }
            _ => None,
        }
    }
}

fn pinned(cpus: &[usize], argv: Vec<String>) -> Vec<String> {
    if cpus.is_empty() {
        return argv;
    }
    let mut list: Vec<usize> = cpus.to_vec();
    list.sort_unstable();
    list.dedup();
    let list: Vec<String> = list.iter().map(usize::to_string).collect();
    ["taskset".to_string(), "-c".to_string(), list.join(",")]
        .into_iter()
        .chain(argv)
        .collect()
}

/// The server's command line, or the cell to show instead.
fn server_argv(
    opts: &Options,
    place: &Placement,
    subject: Subject,
    port: u16,
    lifetime: u64,
) -> Result<Vec<String>, Cell> {
    let harness = || {
        let exe = std::env::current_exe().expect("path of this executable");
        vec![exe.display().to_string(), "serve-http".to_string()]
    };
    let external = |runner: Runner| match runner {
        Runner::External(mut prefix) => {
            prefix.push("serve-http".to_string());
            Ok(prefix)
        }
        Runner::Unavailable(why) => Err(Cell::Unavailable(why)),
        Runner::NotSelected => Err(Cell::Skipped),
        Runner::Child(_) => unreachable!("Go and gevent are external programs"),
    };
    let server_cpu: Vec<usize> = place.server.into_iter().collect();
    let (mut argv, cpus) = match subject {
        Subject::Grove1 | Subject::Grove2 => {
            let exe = opts
                .http
                .grove_http
                .as_ref()
                .map_err(|why| Cell::Unavailable(why.clone()))?;
            let threads = if subject == Subject::Grove2 { 2 } else { 1 };
            let argv = vec![
                exe.display().to_string(),
                "--port".to_string(),
                port.to_string(),
                "--threads".to_string(),
                threads.to_string(),
            ];
            // Two hub threads need two CPUs: the server's and wrk's.
            let cpus = if threads == 2 {
                place.server.into_iter().chain(place.client).collect()
            } else {
                server_cpu
            };
            return Ok(pinned(&cpus, argv));
        }
        Subject::Hyper => {
            let mut argv = harness();
            argv.push("hyper".to_string());
            (argv, server_cpu)
        }
        Subject::MayMinihttp => {
            let mut argv = harness();
            argv.push("may_minihttp".to_string());
            (argv, server_cpu)
        }
        Subject::Go => (external(opts.go.clone())?, server_cpu),
        Subject::Gevent => (external(opts.gevent.clone())?, server_cpu),
    };
    argv.extend([port.to_string(), lifetime.to_string()]);
    Ok(pinned(&cpus, argv))
}

/// Runs the HTTP rows selected by `opts` and writes their section.
pub fn run(opts: &Options, out: &mut impl Write) -> io::Result<()> {
    let http = &opts.http;
    if let Err(e) = loadgen::raise_nofile() {
        say(&format!("could not raise RLIMIT_NOFILE for wrk: {e}"));
    }
    let place = placement(&opts.io);
    let wrk_ok = Command::new(&http.wrk)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let selected = |s: Subject| opts.subjects.contains(&s.col());
    let mut cells: Vec<Vec<Cell>> = vec![vec![Cell::Skipped; SUBJECTS.len()]; http.conns.len()];
    let mut runs = vec![vec![0usize; SUBJECTS.len()]; http.conns.len()];
    let mut samples: Vec<Vec<Vec<Sample>>> =
        vec![vec![Vec::new(); SUBJECTS.len()]; http.conns.len()];
    let mut response_bytes: Vec<Option<usize>> = vec![None; SUBJECTS.len()];
    for (c, &conns) in http.conns.iter().enumerate() {
        for round in 0..http.rounds {
            for (i, &subject) in SUBJECTS.iter().enumerate() {
                if !selected(subject)
                    || matches!(cells[c][i], Cell::Failed(_) | Cell::Unavailable(_))
                {
                    continue;
                }
                if !wrk_ok {
                    cells[c][i] = Cell::Unavailable(format!(
                        "not available: `{}` could not be run (apt-get install wrk)",
                        http.wrk
                    ));
                    continue;
                }
                match run_once(opts, &place, subject, conns) {
                    Ok((sample, n, bytes)) => {
                        say(&format!(
                            "http {} @ {conns}, round {}: {} req/s, {:.2} µs CPU/req, p99 {}{}",
                            subject.key(),
                            round + 1,
                            report::per_sec(sample.req_per_sec),
                            sample.cpu_us,
                            latency(sample.p99_us),
                            sample
                                .errors
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        ));
                        samples[c][i].push(sample);
                        runs[c][i] += n;
                        response_bytes[i] = Some(bytes);
                    }
                    Err(cell) => {
                        let why = match &cell {
                            Cell::Unavailable(w) | Cell::Failed(w) => w.clone(),
                            _ => String::new(),
                        };
                        say(&format!("http {} @ {conns}: {why}", subject.key()));
                        cells[c][i] = cell;
                    }
                }
            }
        }
        for i in 0..SUBJECTS.len() {
            if matches!(cells[c][i], Cell::Skipped) && !samples[c][i].is_empty() {
                cells[c][i] = Cell::Samples {
                    rounds: std::mem::take(&mut samples[c][i]),
                    runs: runs[c][i],
                };
            }
        }
    }
    if let Some(path) = &http.csv {
        if let Err(e) = write_csv(path, &http.conns, &cells) {
            say(&format!("could not write {}: {e}", path.display()));
        }
    }
    write_section(out, opts, &place, &cells, &response_bytes)
}

/// One server process: start, check, warm up, one timed run (repeated while
/// disturbed). Returns the kept sample, the timed runs made and the bytes of
/// one response.
fn run_once(
    opts: &Options,
    place: &Placement,
    subject: Subject,
    conns: usize,
) -> Result<(Sample, usize, usize), Cell> {
    let http = &opts.http;
    let port = pick_port().map_err(|e| Cell::Failed(format!("could not pick a port: {e}")))?;
    let lifetime = http.warmup + 3 * (http.secs + 5) + 90;
    let argv = server_argv(opts, place, subject, port, lifetime)?;
    wait_for_quiet();
    let server = Server::start(&argv).map_err(Cell::Failed)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bytes = match server.wait_ready(addr) {
        Ok(bytes) => bytes,
        Err(why) => {
            let tail = server.stop().unwrap_or_default();
            return Err(Cell::Failed(format!("{why} {tail}").trim().to_string()));
        }
    };
    let client: Vec<usize> = place.client.into_iter().collect();
    let result = (|| {
        wrk(http, &client, port, conns, http.warmup, false)?;
        let mut best: Option<Sample> = None;
        let mut n = 0;
        for _ in 0..3 {
            let sample = timed(http, &client, port, conns, server.pid())?;
            n += 1;
            let quiet = sample.other < NOISE;
            if best.as_ref().is_none_or(|b| sample.other < b.other) {
                best = Some(sample);
            }
            if quiet {
                break;
            }
            say(&format!(
                "http {} @ {conns}: other processes took {:.0}% of a CPU; repeating",
                subject.key(),
                best.as_ref().map_or(0.0, |b| b.other) * 100.0
            ));
        }
        Ok::<_, String>((best.expect("at least one run"), n))
    })();
    let exited = server.stop();
    match (result, exited) {
        (Ok((sample, n)), None) => Ok((sample, n, bytes)),
        (_, Some(why)) => Err(Cell::Failed(format!("the server exited: {why}"))),
        (Err(why), None) => Err(Cell::Failed(why)),
    }
}

/// One timed wrk run with the CPU accounting around it.
fn timed(
    http: &HttpOptions,
    client: &[usize],
    port: u16,
    conns: usize,
    server_pid: u32,
) -> Result<Sample, String> {
    let stat = format!("/proc/{server_pid}/stat");
    let softirq = loadgen::softirq_threads();
    let softirq_ticks = || softirq.iter().map(|p| loadgen::cpu_ticks(p)).sum::<u64>();
    let (server0, busy0, soft0, wrk0) = (
        loadgen::cpu_ticks(&stat),
        loadgen::machine_busy_ticks(),
        softirq_ticks(),
        children_cpu(),
    );
    let start = Instant::now();
    let out = wrk(http, client, port, conns, http.secs, true)?;
    let wall = start.elapsed().as_secs_f64();
    let (server1, busy1, soft1, wrk1) = (
        loadgen::cpu_ticks(&stat),
        loadgen::machine_busy_ticks(),
        softirq_ticks(),
        children_cpu(),
    );
    let hz = loadgen::clock_ticks();
    let server_s = server1.saturating_sub(server0) as f64 / hz;
    let soft_s = soft1.saturating_sub(soft0) as f64 / hz;
    let busy_s = busy1.saturating_sub(busy0) as f64 / hz;
    let wrk_s = (wrk1 - wrk0).max(0.0);
    let mut sample = parse_wrk(&out)?;
    if sample.requests == 0 {
        return Err(format!("wrk completed no request: {}", out.trim()));
    }
    sample.cpu_us = server_s * 1e6 / sample.requests as f64;
    sample.server = server_s / wall;
    sample.client = wrk_s / wall;
    sample.softirqd = soft_s / wall;
    sample.other = ((busy_s - server_s - wrk_s - soft_s) / wall).max(0.0);
    Ok(sample)
}

/// CPU time (user + system) of this process's reaped children, seconds.
fn children_cpu() -> f64 {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a pointer to a live `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs wrk and returns its output.
fn wrk(
    http: &HttpOptions,
    client: &[usize],
    port: u16,
    conns: usize,
    secs: u64,
    latency: bool,
) -> Result<String, String> {
    let mut argv = vec![
        http.wrk.clone(),
        "-t1".to_string(),
        format!("-c{conns}"),
        format!("-d{}s", secs.max(1)),
        "--timeout".to_string(),
        "10s".to_string(),
    ];
    if latency {
        argv.push("--latency".to_string());
    }
    argv.push(format!("http://127.0.0.1:{port}/"));
    let argv = pinned(client, argv);
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", argv[0]))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {} {}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(stdout)
}

/// Reads a wrk report: requests, req/s, p99, errors.
fn parse_wrk(out: &str) -> Result<Sample, String> {
    let mut sample = Sample::default();
    let mut errors = Vec::new();
    let mut p99 = None;
    for line in out.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            sample.req_per_sec = rest.trim().parse().unwrap_or(0.0);
        } else if line.contains(" requests in ") {
            sample.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = parse_time(rest.trim());
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            errors.push(format!("socket errors:{rest}"));
        } else if line.starts_with("Non-2xx or 3xx responses:") {
            errors.push(line.to_string());
        }
    }
    sample.p99_us = p99.ok_or_else(|| format!("no 99% latency in wrk's output: {out}"))?;
    if sample.req_per_sec <= 0.0 {
        return Err(format!("no Requests/sec in wrk's output: {out}"));
    }
    sample.errors = (!errors.is_empty()).then(|| errors.join("; "));
    Ok(sample)
}

/// wrk's time format (`540.00us`, `1.10ms`, `2.00s`, `1.00m`) in µs.
fn parse_time(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(v * scale)
}

fn latency(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// A free port on 127.0.0.1, as the OS hands it out.
fn pick_port() -> io::Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

/// Waits (up to 3 s) for less than [`NOISE`] of a CPU to be busy.
fn wait_for_quiet() {
    let deadline = Instant::now() + Duration::from_secs(3);
    let window = Duration::from_millis(250);
    loop {
        let before = loadgen::machine_busy_ticks();
        thread::sleep(window);
        let busy = loadgen::machine_busy_ticks().saturating_sub(before) as f64
            / (window.as_secs_f64() * loadgen::clock_ticks());
        if busy < NOISE || Instant::now() > deadline {
            return;
        }
    }
}

/// A running HTTP server process.
struct Server {
    child: Child,
    stderr: thread::JoinHandle<String>,
}

impl Server {
    fn start(argv: &[String]) -> Result<Server, String> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped()) // closed when we are done: the peers exit
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", argv[0]))?;
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
        Ok(Server { child, stderr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (up to 30 s) until the server answers `GET /` with [`BODY`];
    /// returns the size of its whole response.
    fn wait_ready(&self, addr: SocketAddr) -> Result<usize, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if !self.alive() {
                return Err("exited before answering".to_string());
            }
            match probe(addr) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(e.to_string()),
                Err(e) => last = e.to_string(),
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("did not answer GET / within 30 s ({last})"))
    }

    fn alive(&self) -> bool {
        // `try_wait` needs `&mut`; /proc tells as well without reaping.
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    }

    /// Ends the server. `Some(why)` if it had already exited by itself.
    fn stop(mut self) -> Option<String> {
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
            format!("{status}: {tail}")
        })
    }
}

/// Sends one `GET /` and checks the answer is 200 with body [`BODY`] and
/// the connection stays open (keep-alive). Returns the response's size.
fn probe(addr: SocketAddr) -> io::Result<usize> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad(format!(
                "closed the connection after {:?}",
                String::from_utf8_lossy(&buf)
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(bad(format!("answered {:?}", head.lines().next())));
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad(format!("answered without Content-Length: {head:?}")))?;
        if buf.len() < end + 4 + len {
            continue;
        }
        let body = &buf[end + 4..end + 4 + len];
        if body != BODY {
            return Err(bad(format!(
                "answered {:?}, not {:?}",
                String::from_utf8_lossy(body),
                String::from_utf8_lossy(BODY)
            )));
        }
        return Ok(end + 4 + len);
    }
}

fn write_csv(path: &PathBuf, conns: &[usize], cells: &[Vec<Cell>]) -> io::Result<()> {
    let mut text = String::from("subject,connections,req_per_sec,cpu_us_per_req,p99_us\n");
    for (c, &n) in conns.iter().enumerate() {
        for (i, subject) in SUBJECTS.iter().enumerate() {
            let cell = &cells[c][i];
            if let (Some(r), Some(u), Some(p)) = (
                cell.median(|s| s.req_per_sec),
                cell.median(|s| s.cpu_us),
                cell.median(|s| s.p99_us),
            ) {
                let _ = writeln!(text, "{},{n},{r:.0},{u:.3},{p:.0}", subject.key());
            }
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

fn write_section(
    out: &mut impl Write,
    opts: &Options,
    place: &Placement,
    cells: &[Vec<Cell>],
    response_bytes: &[Option<usize>],
) -> io::Result<()> {
    let http = &opts.http;
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    writeln!(
        out,
        "## HTTP: hello world over keep-alive HTTP/1.1 (issue 5)\n"
    )?;
    writeln!(out, "{}\n", report::machine())?;
    writeln!(
        out,
        "Every cell: a fresh server process pinned to {} (grove-http's 2-thread row: pinned to \
         both CPUs, sharing wrk's), checked to answer `GET /` with `Hello world!\\r\\n`, then \
         `wrk -t1 -cN` pinned to {}: a {} s warm-up, then a timed `-d{}s --latency` run. \
         Server CPU/req is the server's utime + stime (all threads, /proc/PID/stat) over the \
         timed run ÷ the requests wrk completed; on loopback it includes the kernel's work of \
         delivering the server's replies. A timed run during which other processes took ≥ {:.0}% \
         of a CPU is repeated (at most 3 runs, the least disturbed kept). Each value is the median \
         over {} round(s) that take every server in turn. Peer cells show `value (grove-http ÷ \
         peer)` against the 1-thread grove-http row: for req/s above 1× means grove-http is ahead, \
         for CPU/req and p99 below 1× means grove-http is ahead.\n",
        cpu(place.server),
        cpu(place.client),
        http.warmup,
        http.secs,
        NOISE * 100.0,
        http.rounds,
    )?;
    let mut header = String::from("| server |");
    let mut rule = String::from("|---|");
    for &n in &http.conns {
        let n = report::count(n);
        let _ = write!(header, " req/s @ {n} | µs CPU/req @ {n} | p99 @ {n} |");
        rule.push_str("---:|---:|---:|");
    }
    writeln!(out, "{header}\n{rule}")?;
    let mut footnotes: Vec<String> = Vec::new();
    for (i, subject) in SUBJECTS.iter().enumerate() {
        let mut line = format!("| {} |", subject.title());
        for (c, _) in http.conns.iter().enumerate() {
            let cell = &cells[c][i];
            let grove = &cells[c][0];
            match cell {
                Cell::Samples { rounds, .. } => {
                    let rel = |f: fn(&Sample) -> f64, show: &dyn Fn(f64) -> String| {
                        let v = cell.median(f).expect("samples");
                        match grove.median(f) {
                            Some(g) if i >= 2 => format!("{} ({:.2}×)", show(v), g / v),
                            _ => show(v),
                        }
                    };
                    let _ = write!(
                        line,
                        " {} | {} | {} |",
                        rel(|s| s.req_per_sec, &|v| report::per_sec(v)),
                        rel(|s| s.cpu_us, &|v| format!("{v:.2}")),
                        rel(|s| s.p99_us, &latency),
                    );
                    if rounds.iter().any(|s| s.other >= NOISE) {
                        footnotes.push(format!(
                            "{} @ {}: noisy: other processes took up to {:.0}% of a CPU in a kept run.",
                            subject.key(),
                            report::count(http.conns[c]),
                            rounds.iter().map(|s| s.other).fold(0.0, f64::max) * 100.0
                        ));
                    }
                    for s in rounds.iter().filter_map(|s| s.errors.as_ref()) {
                        footnotes.push(format!(
                            "{} @ {}: wrk reported {s}.",
                            subject.key(),
                            report::count(http.conns[c])
                        ));
                    }
                }
                Cell::Unavailable(why) | Cell::Failed(why) => {
                    // The cell keeps the gist (up to a parenthesis); the
                    // whole reason goes below the table, once.
                    let full = if matches!(cell, Cell::Failed(_)) {
                        format!("failed: {why}")
                    } else {
                        why.clone()
                    };
                    let short = full.split(" (").next().unwrap_or(&full).replace('|', "/");
                    let _ = write!(line, " {short} | | |");
                    let note = format!("{}: {}", subject.key(), full.replace('|', "/"));
                    if short != full && !footnotes.contains(&note) {
                        footnotes.push(note);
                    }
                }
                Cell::Skipped => line.push_str(" — | — | — |"),
            }
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    for note in &footnotes {
        writeln!(out, "- {note}")?;
    }
    for line in verdicts(http, cells) {
        writeln!(out, "- {line}")?;
    }
    let sizes: Vec<String> = SUBJECTS
        .iter()
        .zip(response_bytes)
        .filter_map(|(s, b)| b.map(|b| format!("{} {b} B", s.key())))
        .collect();
    if !sizes.is_empty() {
        writeln!(
            out,
            "- Bytes of one whole response (status line + headers + 14 B body): {}.",
            sizes.join(", ")
        )?;
    }

    writeln!(
        out,
        "\n### HTTP spread: req/s of each round (min–max), and CPU shares of the kept runs \
         (server / wrk / ksoftirqd / other processes, fractions of one CPU, mean over rounds)\n"
    )?;
    let mut header = String::from("| server |");
    let mut rule = String::from("|---|");
    for &n in &http.conns {
        let _ = write!(header, " @ {} |", report::count(n));
        rule.push_str("---|");
    }
    writeln!(out, "{header}\n{rule}")?;
    for (i, subject) in SUBJECTS.iter().enumerate() {
        let mut line = format!("| {} |", subject.key());
        for row in cells {
            match &row[i] {
                Cell::Samples { rounds, runs } => {
                    let v: Vec<String> = rounds
                        .iter()
                        .map(|s| report::per_sec(s.req_per_sec))
                        .collect();
                    let n = rounds.len() as f64;
                    let mean = |f: fn(&Sample) -> f64| rounds.iter().map(f).sum::<f64>() / n;
                    let _ = write!(
                        line,
                        " {} ({} timed runs); CPU {:.2} / {:.2} / {:.2} / {:.2} |",
                        v.join(", "),
                        runs,
                        mean(|s| s.server),
                        mean(|s| s.client),
                        mean(|s| s.softirqd),
                        mean(|s| s.other),
                    );
                }
                _ => line.push_str(" — |"),
            }
        }
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// The targets, checked: grove-http (1 thread) ahead of hyper and
/// may_minihttp in req/s and CPU/req, and ≥ 20× gevent's req/s; plus the
/// 1 → 2 thread scaling.
fn verdicts(http: &HttpOptions, cells: &[Vec<Cell>]) -> Vec<String> {
    let mut lines = Vec::new();
    for (c, &n) in http.conns.iter().enumerate() {
        let at = report::count(n);
        let row = &cells[c];
        let (Some(g_rps), Some(g_cpu)) = (
            row[0].median(|s| s.req_per_sec),
            row[0].median(|s| s.cpu_us),
        ) else {
            continue;
        };
        let mut parts = Vec::new();
        for (i, name) in [(2, "hyper"), (3, "may_minihttp")] {
            if let (Some(r), Some(u)) = (
                row[i].median(|s| s.req_per_sec),
                row[i].median(|s| s.cpu_us),
            ) {
                let ok = g_rps > r && g_cpu < u;
                parts.push(format!(
                    "vs {name}: {:.2}× req/s, {:.2}× CPU/req — {}",
                    g_rps / r,
                    g_cpu / u,
                    if ok { "met" } else { "NOT met" }
                ));
            }
        }
        if let Some(r) = row[5].median(|s| s.req_per_sec) {
            parts.push(format!(
                "vs gevent pywsgi: {:.1}× req/s (target ≥ 20×) — {}",
                g_rps / r,
                if g_rps >= 20.0 * r { "met" } else { "NOT met" }
            ));
        }
        if let Some(r2) = row[1].median(|s| s.req_per_sec) {
            parts.push(format!("1 → 2 threads: {:.2}× req/s", r2 / g_rps));
        }
        if !parts.is_empty() {
            lines.push(format!(
                "Target @ {at} (grove-http, 1 thread): {}.",
                parts.join("; ")
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 5s test @ http://127.0.0.1:3000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.52us  110.08us   3.96ms   91.02%
    Req/Sec   104.71k     3.21k  108.68k    88.00%
  Latency Distribution
     50%  598.00us
     75%  637.00us
     90%  690.00us
     99%    1.10ms
  520992 requests in 5.00s, 62.11MB read
  Non-2xx or 3xx responses: 3
Requests/sec: 104187.31
Transfer/sec:     12.42MB
";

    #[test]
    fn parses_wrk() {
        let s = parse_wrk(WRK).unwrap();
        assert_eq!(s.requests, 520_992);
        assert!((s.req_per_sec - 104_187.31).abs() < 1e-6);
        assert!((s.p99_us - 1100.0).abs() < 1e-6);
        assert_eq!(s.errors.as_deref(), Some("Non-2xx or 3xx responses: 3"));
        assert!(parse_wrk("garbage").is_err());
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("540.00us"), Some(540.0));
        assert_eq!(parse_time("2.00s"), Some(2e6));
        assert_eq!(parse_time("1.5m"), Some(90e6));
        assert_eq!(parse_time("x"), None);
    }
}
