//! The HTTP rows: "hello world" over keep-alive HTTP/1.1, measured with
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
//! whose kept run is still disturbed is flagged). In each of `rounds`
//! rounds every peer runs next to a fresh grove-http process, in
//! alternating order (grove-http first in odd rounds, the peer first in even
//! ones: see `noise::pair_order`); a cell's values are medians over its
//! processes, grove-http ÷ peer is taken per pair (two adjacent processes)
//! and judged by the one noise rule of `noise.rs`, and each server's best
//! round is compared too (the machine flips between a fast and a slow state
//! between processes: see [`Cell::best`]).
//!
//! Besides the peers, a kernel floor (`peers/c/http_floor.c`): an epoll server
//! that parses nothing and answers with a canned response of grove-http's
//! shape, so its CPU per request is what the kernel costs. A second table
//! repeats the rows with wrk pipelining [`HttpOptions::pipeline`] requests per
//! write (`peers/wrk/pipeline.lua`), each server first checked to answer one
//! such batch in full. The spread tables add the server's context switches
//! per request (`/proc/PID/task/*/status`).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::http_servers::BODY;
use crate::io_rows::{placement, Placement};
use crate::loadgen::{self, NOISE};
use crate::noise::{weakest, Better, Ratios, Verdict};
use crate::orchestrate::{say, Col, Options, Runner};
use crate::report;
use crate::server_process::{pick_port, wait_for_quiet, ServerProcess};

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
    /// The kernel-floor server (`peers/c/http_floor.c`, built by run.sh),
    /// or why it is not available.
    pub floor: Result<PathBuf, String>,
    /// Whether `--subjects` selected the floor (`floor`; default: yes).
    pub floor_selected: bool,
    /// Requests per write of the pipelined rows (0: no pipelined rows).
    pub pipeline: usize,
    /// Rounds of the pipelined rows (default: `rounds`).
    pub pipeline_rounds: Option<usize>,
    /// Length of the pipelined rows' timed wrk run, whole seconds (they
    /// run at several times the rate, so a shorter run counts as many
    /// requests; it keeps the whole HTTP section within about 15 minutes).
    pub pipeline_secs: u64,
    /// wrk's pipelining script (`peers/wrk/pipeline.lua`).
    pub pipeline_script: PathBuf,
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
            floor: Err(
                "n/a: not built (benches/run.sh builds peers/c/http_floor.c with cc -O2)"
                    .to_string(),
            ),
            floor_selected: true,
            pipeline: 16,
            pipeline_rounds: None,
            pipeline_secs: 3,
            pipeline_script: PathBuf::from("peers/wrk/pipeline.lua"),
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
    Floor,
}

const SUBJECTS: [Subject; 7] = [
    Subject::Grove1,
    Subject::Grove2,
    Subject::Hyper,
    Subject::MayMinihttp,
    Subject::Go,
    Subject::Gevent,
    Subject::Floor,
];

/// Index of a subject in [`SUBJECTS`] (and in every row of cells).
fn idx(subject: Subject) -> usize {
    SUBJECTS
        .iter()
        .position(|&s| s == subject)
        .expect("every subject is in SUBJECTS")
}

/// How wrk sends its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One request per write, the next after its answer (the targets' method).
    Plain,
    /// `depth` requests per write (`peers/wrk/pipeline.lua`), the next batch
    /// after all their answers: wrk's cost per request drops, so the server's
    /// one core becomes the bottleneck.
    Pipelined(usize),
}

impl Mode {
    pub(crate) fn name(self) -> String {
        match self {
            Mode::Plain => "non-pipelined".to_string(),
            Mode::Pipelined(d) => format!("pipelined, depth {d}"),
        }
    }

    /// Length of the timed wrk run, seconds.
    fn secs(self, http: &HttpOptions) -> u64 {
        match self {
            Mode::Plain => http.secs,
            Mode::Pipelined(_) => http.pipeline_secs,
        }
    }

    /// The 2-thread grove-http row shows 1 → 2 thread scaling under the
    /// targets' method only.
    fn runs(self, subject: Subject) -> bool {
        self == Mode::Plain || subject != Subject::Grove2
    }
}

impl Subject {
    fn title(self) -> &'static str {
        match self {
            Subject::Grove1 => "grove-http `hello_http --threads 1`",
            Subject::Grove2 => "grove-http `hello_http --threads 2` (shares CPU 0 with wrk)",
            Subject::Hyper => "hyper 1.x, tokio current-thread",
            Subject::MayMinihttp => "may_minihttp, 1 worker",
            Subject::Go => "Go net/http, GOMAXPROCS=1",
            Subject::Gevent => "gevent pywsgi",
            Subject::Floor => "C epoll, no parsing (kernel floor)",
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
            Subject::Floor => "floor",
        }
    }

    /// Whether `--subjects` selected this server (grove = both grove-http
    /// rows, tokio = hyper, may = may_minihttp, go, gevent, floor).
    fn selected(self, opts: &Options) -> bool {
        let col = match self {
            Subject::Grove1 | Subject::Grove2 => Col::Grove,
            Subject::Hyper => Col::Tokio,
            Subject::MayMinihttp => Col::May,
            Subject::Go => Col::Go,
            Subject::Gevent => Col::Gevent,
            Subject::Floor => return opts.http.floor_selected,
        };
        opts.subjects.contains(&col)
    }
}

/// What one timed wrk run reported, and what ran beside it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sample {
    requests: u64,
    pub(crate) req_per_sec: f64,
    /// Server CPU time (user + system, all threads) per request, µs.
    pub(crate) cpu_us: f64,
    p99_us: f64,
    /// CPU time ÷ wall time of the server, wrk, ksoftirqd and the rest.
    pub(crate) server: f64,
    pub(crate) client: f64,
    softirqd: f64,
    pub(crate) other: f64,
    /// Socket errors and non-2xx responses wrk counted, if any.
    pub(crate) errors: Option<String>,
    /// The server's voluntary and involuntary context switches per request
    /// (all its threads): how often it slept in `epoll_wait` and had to be
    /// woken, and how often the scheduler took the CPU from it.
    voluntary: f64,
    involuntary: f64,
    /// The pair this sample belongs to (pairs it with grove-http's).
    pair: Pair,
}

/// A cell: every round's sample, or why there is none.
#[derive(Clone, Debug)]
pub(crate) enum Cell {
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
    /// The best round: the least of `f` (CPU/req), or with `highest` the
    /// most (req/s). This machine flips between a fast and a slow state
    /// that every server (the kernel floor too) sees, and flips between one
    /// process and the next, so a round's pair can straddle a flip; the
    /// noise only ever adds cost, so each server's best round estimates its
    /// cost in the fast state.
    fn best(&self, f: fn(&Sample) -> f64, highest: bool) -> Option<f64> {
        match self {
            Cell::Samples { rounds, .. } => {
                let values = rounds.iter().map(f);
                if highest {
                    values.max_by(f64::total_cmp)
                } else {
                    values.min_by(f64::total_cmp)
                }
            }
            _ => None,
        }
    }

    fn median(&self, f: fn(&Sample) -> f64) -> Option<f64> {
        match self {
            Cell::Samples { rounds, .. } => {
                crate::noise::median(&rounds.iter().map(f).collect::<Vec<_>>())
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
        Subject::Floor => {
            let exe = opts
                .http
                .floor
                .as_ref()
                .map_err(|why| Cell::Unavailable(why.clone()))?;
            (vec![exe.display().to_string()], server_cpu)
        }
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
    let mut modes = vec![(Mode::Plain, http.rounds)];
    if http.pipeline > 0 {
        modes.push((
            Mode::Pipelined(http.pipeline),
            http.pipeline_rounds.unwrap_or(http.rounds),
        ));
    }
    let mut response_bytes: Vec<Option<usize>> = vec![None; SUBJECTS.len()];
    let mut tables = Vec::new();
    for (mode, rounds) in modes {
        let cells = run_mode(opts, &place, wrk_ok, mode, rounds, &mut response_bytes);
        tables.push(Table {
            mode,
            rounds,
            cells,
        });
    }
    if let Some(path) = &http.csv {
        if let Err(e) = write_csv(path, &http.conns, &tables[0].cells) {
            say(&format!("could not write {}: {e}", path.display()));
        }
    }
    write_section(out, opts, &place, &tables, &response_bytes)
}

/// The cells of one mode: `[connections][subject]`.
struct Table {
    mode: Mode,
    rounds: usize,
    cells: Vec<Vec<Cell>>,
}

/// Runs every selected subject of one mode, in rounds: in each round every
/// peer runs next to a fresh grove-http (1 thread) process, in alternating
/// order (`noise::pair_order`: A B, then B A, …), so that grove-http ÷ peer
/// compares two adjacent processes. Without grove-http the peers run alone.
fn run_mode(
    opts: &Options,
    place: &Placement,
    wrk_ok: bool,
    mode: Mode,
    rounds: usize,
    response_bytes: &mut [Option<usize>],
) -> Vec<Vec<Cell>> {
    let http = &opts.http;
    let selected = |s: Subject| s.selected(opts) && mode.runs(s);
    let mut cells: Vec<Vec<Cell>> = vec![vec![Cell::Skipped; SUBJECTS.len()]; http.conns.len()];
    let mut runs = vec![vec![0usize; SUBJECTS.len()]; http.conns.len()];
    let mut samples: Vec<Vec<Vec<Sample>>> =
        vec![vec![Vec::new(); SUBJECTS.len()]; http.conns.len()];
    let grove = idx(Subject::Grove1);
    for (c, &conns) in http.conns.iter().enumerate() {
        for round in 0..rounds {
            for (peer, &subject) in SUBJECTS.iter().enumerate() {
                if peer == grove || !selected(subject) {
                    continue;
                }
                for i in crate::noise::pair_order(round, grove, peer) {
                    if !selected(SUBJECTS[i])
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
                    let pair = Pair { round, peer };
                    match measure(opts, place, SUBJECTS[i], conns, mode, pair) {
                        Ok((sample, n, bytes)) => {
                            samples[c][i].push(sample);
                            runs[c][i] += n;
                            response_bytes[i] = Some(bytes);
                        }
                        Err(cell) => cells[c][i] = cell,
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
    cells
}

/// Which pair a sample belongs to: its round and the peer's subject index
/// (grove-http's samples carry the peer they were paired with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pair {
    round: usize,
    peer: usize,
}

/// One server process of a pair, with its progress line.
fn measure(
    opts: &Options,
    place: &Placement,
    subject: Subject,
    conns: usize,
    mode: Mode,
    pair: Pair,
) -> Result<(Sample, usize, usize), Cell> {
    match run_once(opts, place, subject, conns, mode) {
        Ok((mut sample, n, bytes)) => {
            say(&format!(
                "http {} {} @ {conns}, round {} (pair with {}): {} req/s, {:.2} µs CPU/req, \
                 {:.3} + {:.3} cs/req, p99 {}{}",
                mode.name(),
                subject.key(),
                pair.round + 1,
                SUBJECTS[pair.peer].key(),
                report::per_sec(sample.req_per_sec),
                sample.cpu_us,
                sample.voluntary,
                sample.involuntary,
                latency(sample.p99_us),
                sample
                    .errors
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
            sample.pair = pair;
            Ok((sample, n, bytes))
        }
        Err(cell) => {
            let why = match &cell {
                Cell::Unavailable(w) | Cell::Failed(w) => w.clone(),
                _ => String::new(),
            };
            say(&format!(
                "http {} {} @ {conns}: {why}",
                mode.name(),
                subject.key()
            ));
            Err(cell)
        }
    }
}

/// One server process: start, check, warm up, one timed run (repeated while
/// disturbed). Returns the kept sample, the timed runs made and the bytes of
/// one response.
fn run_once(
    opts: &Options,
    place: &Placement,
    subject: Subject,
    conns: usize,
    mode: Mode,
) -> Result<(Sample, usize, usize), Cell> {
    run_server(opts, place, subject.key(), conns, mode, |port, lifetime| {
        server_argv(opts, place, subject, port, lifetime)
    })
}

/// One process of the server that `argv(port, lifetime_secs)` starts
/// (pinned by `argv` itself; shown as `key`), as [`run_once`].
pub(crate) fn run_server(
    opts: &Options,
    place: &Placement,
    key: &str,
    conns: usize,
    mode: Mode,
    argv: impl FnOnce(u16, u64) -> Result<Vec<String>, Cell>,
) -> Result<(Sample, usize, usize), Cell> {
    let http = &opts.http;
    let port = pick_port().map_err(|e| Cell::Failed(format!("could not pick a port: {e}")))?;
    let lifetime = http.warmup + 3 * (mode.secs(http) + 5) + 90;
    let argv = argv(port, lifetime)?;
    wait_for_quiet();
    let server = ServerProcess::spawn(&argv, Stdio::null()).map_err(Cell::Failed)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ready = wait_ready(&server, addr).and_then(|bytes| match mode {
        Mode::Plain => Ok(bytes),
        // The pipelined rows only count if every request of a batch is
        // answered, in order: check one batch before loading.
        Mode::Pipelined(depth) => probe_pipelined(addr, depth)
            .map(|()| bytes)
            .map_err(|e| format!("did not answer {depth} pipelined requests: {e}")),
    });
    let bytes = match ready {
        Ok(bytes) => bytes,
        Err(why) => {
            let tail = server.stop().unwrap_or_default();
            return Err(Cell::Failed(format!("{why} {tail}").trim().to_string()));
        }
    };
    let client: Vec<usize> = place.client.into_iter().collect();
    let result = (|| {
        wrk(http, &client, port, conns, mode, http.warmup, false)?;
        let mut best: Option<Sample> = None;
        let mut n = 0;
        for _ in 0..3 {
            let sample = timed(http, &client, port, conns, mode, server.pid())?;
            n += 1;
            let quiet = sample.other < NOISE;
            if best.as_ref().is_none_or(|b| sample.other < b.other) {
                best = Some(sample);
            }
            if quiet {
                break;
            }
            say(&format!(
                "http {key} @ {conns}: other processes took {:.0}% of a CPU; repeating",
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
    mode: Mode,
    server_pid: u32,
) -> Result<Sample, String> {
    let stat = format!("/proc/{server_pid}/stat");
    let (vol0, invol0) = context_switches(server_pid);
    let softirq = loadgen::softirq_threads();
    let softirq_ticks = || softirq.iter().map(|p| loadgen::cpu_ticks(p)).sum::<u64>();
    let (server0, busy0, soft0, wrk0) = (
        loadgen::cpu_ticks(&stat),
        loadgen::machine_busy_ticks(),
        softirq_ticks(),
        children_cpu(),
    );
    let start = Instant::now();
    let out = wrk(http, client, port, conns, mode, mode.secs(http), true)?;
    let wall = start.elapsed().as_secs_f64();
    let (vol1, invol1) = context_switches(server_pid);
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
    sample.voluntary = vol1.saturating_sub(vol0) as f64 / sample.requests as f64;
    sample.involuntary = invol1.saturating_sub(invol0) as f64 / sample.requests as f64;
    Ok(sample)
}

/// The voluntary and involuntary context switches of all of `pid`'s
/// threads so far (`/proc/PID/task/*/status`).
fn context_switches(pid: u32) -> (u64, u64) {
    let (mut vol, mut invol) = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            let value = |rest: &str| rest.trim().parse::<u64>().unwrap_or(0);
            if let Some(rest) = line.strip_prefix("voluntary_ctxt_switches:") {
                vol += value(rest);
            } else if let Some(rest) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
                invol += value(rest);
            }
        }
    }
    (vol, invol)
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
    mode: Mode,
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
    if let Mode::Pipelined(_) = mode {
        argv.push("-s".to_string());
        argv.push(http.pipeline_script.display().to_string());
    }
    argv.push(format!("http://127.0.0.1:{port}/"));
    if let Mode::Pipelined(depth) = mode {
        argv.push("--".to_string());
        argv.push(depth.to_string());
    }
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

pub(crate) fn latency(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Waits (up to 30 s) until `server` answers `GET /` with [`BODY`];
/// returns the size of its whole response.
fn wait_ready(server: &ServerProcess, addr: SocketAddr) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if !server.alive() {
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

/// Sends `depth` `GET /` requests in one write and checks that `depth`
/// answers come back, each 200 with body [`BODY`], on a connection that
/// stays open.
fn probe_pipelined(addr: SocketAddr, depth: usize) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let one = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    s.write_all(&one.repeat(depth))?;
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut answered = 0;
    while answered < depth {
        // Consume every whole response at the front of `buf`.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(bad(format!(
                    "answer {} was {:?}",
                    answered + 1,
                    head.lines().next()
                )));
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad(format!("answer {} had no Content-Length", answered + 1)))?;
            if buf.len() < end + 4 + len {
                break;
            }
            if &buf[end + 4..end + 4 + len] != BODY {
                return Err(bad(format!("answer {} had another body", answered + 1)));
            }
            buf.drain(..end + 4 + len);
            answered += 1;
        }
        if answered == depth {
            break;
        }
        let n = s
            .read(&mut chunk)
            .map_err(|e| io::Error::new(e.kind(), format!("after {answered} answers: {e}")))?;
        if n == 0 {
            return Err(bad(format!(
                "closed the connection after {answered} answers"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if !buf.is_empty() {
        return Err(bad(format!(
            "sent {} bytes more than {depth} answers",
            buf.len()
        )));
    }
    Ok(())
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
    tables: &[Table],
    response_bytes: &[Option<usize>],
) -> io::Result<()> {
    let http = &opts.http;
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    writeln!(out, "## HTTP: hello world over keep-alive HTTP/1.1\n")?;
    writeln!(out, "{}\n", report::machine())?;
    writeln!(
        out,
        "Every cell: a fresh server process pinned to {} (grove-http's 2-thread row: pinned to \
         both CPUs, sharing wrk's), checked to answer `GET /` with `Hello world!\\r\\n`, then \
         `wrk -t1 -cN` pinned to {}: a {} s warm-up, then a timed `-d{}s --latency` run. \
         Server CPU/req is the server's utime + stime (all threads, /proc/PID/stat) over the \
         timed run ÷ the requests wrk completed; on loopback it includes the kernel's work of \
         delivering the server's replies. A timed run during which other processes took ≥ {:.0}% \
         of a CPU is repeated (at most 3 runs, the least disturbed kept). In every round each peer \
         runs next to a fresh grove-http process, in alternating order (grove-http first in odd \
         rounds, the peer first in even ones), so grove-http ÷ peer compares two adjacent \
         processes; each value is the median over a server's processes (an even count: the mean \
         of the middle two). Peer cells show `value (grove-http ÷ \
         peer)` against the 1-thread grove-http row: for req/s above 1× means grove-http is ahead, \
         for CPU/req and p99 below 1× means grove-http is ahead. The kernel-floor row is a \
         C epoll server (`peers/c/http_floor.c`) that parses nothing: it counts request heads \
         and answers each with a canned response of grove-http's length and shape, so its \
         CPU/req is the kernel's cost per request and its req/s the most wrk can drive.\n",
        cpu(place.server),
        cpu(place.client),
        http.warmup,
        http.secs,
        NOISE * 100.0,
    )?;
    for (t, table) in tables.iter().enumerate() {
        if t > 0 {
            writeln!(
                out,
                "\n### HTTP {}: wrk sends {} requests per write (`peers/wrk/pipeline.lua`)\n",
                table.mode.name(),
                match table.mode {
                    Mode::Pipelined(d) => d,
                    Mode::Plain => 1,
                }
            )?;
            writeln!(
                out,
                "wrk writes the next batch once every answer of the last one has arrived, so \
                 its cost per request drops (one write per batch; it still parses every \
                 answer). Whether the server's one core then set the rate, or wrk still did, \
                 shows in the \"who set the rate\" lines below. Before \
                 loading, each server was checked to answer one batch completely and in order; \
                 a ⚠ marks a cell where wrk still counted socket errors, timeouts or non-2xx \
                 answers. No p99: wrk's percentiles are broken when it pipelines (its 99% line \
                 reads 0) and would be per batch. Every server runs with its defaults, as in the \
                 table above: hyper's `pipeline_flush` is off, so it writes each pipelined \
                 answer on its own. Timed runs of {} s (`-d{}s`), {} round(s) of pairs.\n",
                table.mode.secs(http),
                table.mode.secs(http),
                table.rounds
            )?;
        } else {
            writeln!(out, "Non-pipelined, {} round(s) of pairs:\n", table.rounds)?;
        }
        write_main_table(out, http, table)?;
        if t == 0 {
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
        }
        write_paired_table(out, http, table)?;
        write_best_table(out, http, table)?;
        write_spread_table(out, http, table)?;
    }
    out.flush()
}

/// Subjects that have a row in `table` (the pipelined table has no
/// 2-thread row).
fn rows_of(table: &Table) -> impl Iterator<Item = (usize, Subject)> + '_ {
    SUBJECTS
        .iter()
        .copied()
        .enumerate()
        .filter(move |&(_, s)| table.mode.runs(s))
}

fn write_main_table(out: &mut impl Write, http: &HttpOptions, table: &Table) -> io::Result<()> {
    // wrk's percentiles are broken when it pipelines (its 99% line reads
    // 0.00us while the 50% line is sane), and its latencies are per batch
    // anyway: the pipelined table has no p99 columns.
    let with_p99 = table.mode == Mode::Plain;
    let mut header = String::from("| server |");
    let mut rule = String::from("|---|");
    for &n in &http.conns {
        let n = report::count(n);
        let _ = write!(header, " req/s @ {n} | µs CPU/req @ {n} |");
        rule.push_str("---:|---:|");
        if with_p99 {
            let _ = write!(header, " p99 @ {n} |");
            rule.push_str("---:|");
        }
    }
    writeln!(out, "{header}\n{rule}")?;
    let mut footnotes: Vec<String> = Vec::new();
    let grove_i = idx(Subject::Grove1);
    for (i, subject) in rows_of(table) {
        let mut line = format!("| {} |", subject.title());
        for (c, _) in http.conns.iter().enumerate() {
            let cell = &table.cells[c][i];
            let grove = &table.cells[c][grove_i];
            let peer = !matches!(subject, Subject::Grove1 | Subject::Grove2);
            match cell {
                Cell::Samples { rounds, .. } => {
                    let rel = |f: fn(&Sample) -> f64, show: &dyn Fn(f64) -> String| {
                        let v = cell.median(f).expect("samples");
                        match grove.median(f) {
                            Some(g) if peer => format!("{} ({:.2}×)", show(v), g / v),
                            _ => show(v),
                        }
                    };
                    // A server that left requests unanswered (wrk's socket
                    // errors, timeouts) or answered non-2xx is flagged in
                    // its cell, not only below the table.
                    let flag = if rounds.iter().any(|s| s.errors.is_some()) {
                        " ⚠"
                    } else {
                        ""
                    };
                    let _ = write!(
                        line,
                        " {}{flag} | {} |",
                        rel(|s| s.req_per_sec, &|v| report::per_sec(v)),
                        rel(|s| s.cpu_us, &|v| format!("{v:.2}")),
                    );
                    if with_p99 {
                        let _ = write!(line, " {} |", rel(|s| s.p99_us, &latency));
                    }
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
                            "⚠ {} @ {}: wrk reported {s}: not every request was answered \
                             with 2xx.",
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
                    let _ = write!(line, " {short} | |{}", if with_p99 { " |" } else { "" });
                    let note = format!("{}: {}", subject.key(), full.replace('|', "/"));
                    if short != full && !footnotes.contains(&note) {
                        footnotes.push(note);
                    }
                }
                Cell::Skipped => line.push_str(if with_p99 {
                    " — | — | — |"
                } else {
                    " — | — |"
                }),
            }
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    for note in &footnotes {
        writeln!(out, "- {note}")?;
    }
    for line in verdicts(http, table) {
        writeln!(out, "- {line}")?;
    }
    writeln!(out, "- {}", crate::noise::RULE)?;
    Ok(())
}

/// grove-http ÷ `peer` per pair (the two processes ran adjacent, in
/// alternating order), as [`Ratios`]; `None` without a common pair.
fn paired(grove: &Cell, peer: &Cell, f: fn(&Sample) -> f64) -> Option<Ratios> {
    let (Cell::Samples { rounds: g, .. }, Cell::Samples { rounds: p, .. }) = (grove, peer) else {
        return None;
    };
    let ratios: Vec<f64> = g
        .iter()
        .filter_map(|gs| {
            p.iter()
                .find(|ps| ps.pair == gs.pair)
                .map(|ps| f(gs) / f(ps))
        })
        .collect();
    Ratios::paired(&ratios)
}

fn show_paired(r: Ratios) -> String {
    r.to_string()
}

/// The head of a table with a first column and two columns per level.
fn write_two_column_head(
    out: &mut impl Write,
    http: &HttpOptions,
    first: &str,
    [a, b]: [&str; 2],
) -> io::Result<()> {
    let mut header = format!("| {first} |");
    let mut rule = String::from("|---|");
    for &n in &http.conns {
        let n = report::count(n);
        let _ = write!(header, " {a} @ {n} | {b} @ {n} |");
        rule.push_str("---:|---:|");
    }
    writeln!(out, "{header}\n{rule}")
}

fn write_paired_table(out: &mut impl Write, http: &HttpOptions, table: &Table) -> io::Result<()> {
    writeln!(
        out,
        "\n#### HTTP {}: paired ratios, grove-http (1 thread) ÷ peer per round: median \
         (min–max) over the rounds\n",
        table.mode.name()
    )?;
    write_two_column_head(out, http, "peer", ["req/s", "CPU/req"])?;
    let grove_i = idx(Subject::Grove1);
    for (i, subject) in rows_of(table).filter(|&(_, s)| s != Subject::Grove1) {
        let mut line = format!("| {} |", subject.key());
        let mut any = false;
        for row in &table.cells {
            for f in [
                (|s: &Sample| s.req_per_sec) as fn(&Sample) -> f64,
                |s: &Sample| s.cpu_us,
            ] {
                match paired(&row[grove_i], &row[i], f) {
                    Some(r) => {
                        any = true;
                        let _ = write!(line, " {} |", show_paired(r));
                    }
                    None => line.push_str(" — |"),
                }
            }
        }
        if any {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(
        out,
        "\nreq/s above 1× and CPU/req below 1× mean grove-http is ahead; a range that \
         straddles 1× means the rounds disagree."
    )?;
    Ok(())
}

/// Each server's best round (most req/s, least CPU/req), with grove-http
/// (1 thread) ÷ that; see [`Cell::best`] for why.
fn write_best_table(out: &mut impl Write, http: &HttpOptions, table: &Table) -> io::Result<()> {
    writeln!(
        out,
        "\n#### HTTP {}: each server's best round (most req/s, least CPU/req), and \
         grove-http's best ÷ the peer's best\n",
        table.mode.name()
    )?;
    write_two_column_head(out, http, "server", ["best req/s", "best µs CPU/req"])?;
    let grove_i = idx(Subject::Grove1);
    for (i, subject) in rows_of(table) {
        let mut line = format!("| {} |", subject.key());
        let mut any = false;
        for row in &table.cells {
            let rps = row[i].best(|s| s.req_per_sec, true);
            let cpu = row[i].best(|s| s.cpu_us, false);
            let g_rps = row[grove_i].best(|s| s.req_per_sec, true);
            let g_cpu = row[grove_i].best(|s| s.cpu_us, false);
            match (rps, g_rps) {
                (Some(v), Some(g)) if i != grove_i => {
                    let _ = write!(line, " {} ({:.2}×) |", report::per_sec(v), g / v);
                }
                (Some(v), _) => {
                    let _ = write!(line, " {} |", report::per_sec(v));
                }
                _ => line.push_str(" — |"),
            }
            match (cpu, g_cpu) {
                (Some(v), Some(g)) if i != grove_i => {
                    let _ = write!(line, " {v:.2} ({:.2}×) |", g / v);
                }
                (Some(v), _) => {
                    let _ = write!(line, " {v:.2} |");
                }
                _ => line.push_str(" — |"),
            }
            any |= rps.is_some();
        }
        if any {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(
        out,
        "\nThe machine flips between a fast and a slow state that every server sees (the \
         kernel floor's CPU/req too) and that can change between two processes of one round; \
         the flips only add cost, so the best round compares each server in the fast state."
    )?;
    Ok(())
}

fn write_spread_table(out: &mut impl Write, http: &HttpOptions, table: &Table) -> io::Result<()> {
    writeln!(
        out,
        "\n#### HTTP {} spread: req/s of each round, CPU shares of the kept runs (server / wrk / \
         ksoftirqd / other processes, fractions of one CPU, mean over rounds), and the server's \
         voluntary + involuntary context switches per request (all threads, \
         /proc/PID/task/*/status, mean over rounds)\n",
        table.mode.name()
    )?;
    let mut header = String::from("| server |");
    let mut rule = String::from("|---|");
    for &n in &http.conns {
        let _ = write!(header, " @ {} |", report::count(n));
        rule.push_str("---|");
    }
    writeln!(out, "{header}\n{rule}")?;
    for (i, subject) in rows_of(table) {
        let mut line = format!("| {} |", subject.key());
        for row in &table.cells {
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
                        " {} ({} timed runs); CPU {:.2} / {:.2} / {:.2} / {:.2}; \
                         {:.3} + {:.3} cs/req |",
                        v.join(", "),
                        runs,
                        mean(|s| s.server),
                        mean(|s| s.client),
                        mean(|s| s.softirqd),
                        mean(|s| s.other),
                        mean(|s| s.voluntary),
                        mean(|s| s.involuntary),
                    );
                }
                _ => line.push_str(" — |"),
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// wrk's CPU share (mean over rounds) from which its own CPU, not the
/// server, is taken to set the request rate.
const WRK_BOUND: f64 = 0.95;

/// Whether something other than the server set the cell's request rate
/// (means over its runs): wrk at ≥ [`WRK_BOUND`] of its CPU, or other
/// processes taking more CPU than the server (the machine's load).
fn rate_set_elsewhere(cell: &Cell) -> bool {
    match cell {
        Cell::Samples { rounds, .. } if !rounds.is_empty() => {
            let n = rounds.len() as f64;
            let mean = |f: fn(&Sample) -> f64| rounds.iter().map(f).sum::<f64>() / n;
            mean(|s| s.client) >= WRK_BOUND || mean(|s| s.other) > mean(|s| s.server)
        }
        _ => false,
    }
}

/// The req/s verdict: not demonstrable where neither server set its own
/// rate (see [`rate_set_elsewhere`]).
fn rate_verdict(grove: &Cell, peer: &Cell, r: Ratios, bound: f64) -> Verdict {
    if rate_set_elsewhere(grove) && rate_set_elsewhere(peer) {
        Verdict::NotDemonstrable(
            "wrk's ceiling or the machine's load, not the servers, set both rates".to_string(),
        )
    } else {
        r.verdict(bound, Better::Higher)
    }
}

/// The targets, checked per level of `table`'s mode: grove-http
/// (1 thread) ahead of hyper and may_minihttp in req/s and CPU/req, and
/// ≥ 20× gevent's; plus the 1 → 2 thread scaling, and the kernel floor's
/// CPU/req against grove-http's and gevent's.
fn verdicts(http: &HttpOptions, table: &Table) -> Vec<String> {
    let mut lines = Vec::new();
    let mode = table.mode.name();
    for (c, &n) in http.conns.iter().enumerate() {
        let at = report::count(n);
        let row = &table.cells[c];
        let grove = &row[idx(Subject::Grove1)];
        let cell_rps = |s: Subject| row[idx(s)].median(|x| x.req_per_sec);
        let cell_cpu = |s: Subject| row[idx(s)].median(|x| x.cpu_us);
        let mut parts = Vec::new();
        for s in [Subject::Hyper, Subject::MayMinihttp] {
            let peer = &row[idx(s)];
            if let (Some(r), Some(u)) = (
                paired(grove, peer, |x| x.req_per_sec),
                paired(grove, peer, |x| x.cpu_us),
            ) {
                // req/s names the target, but where neither server set its
                // own rate it cannot rank them: not demonstrable here.
                let rps = rate_verdict(grove, peer, r, 1.0);
                let cpu = u.verdict(1.0, Better::Lower);
                parts.push(format!(
                    "vs {}: req/s {r} — {rps}; CPU/req {u} — {cpu}: {}",
                    s.key(),
                    weakest(&rps, &cpu).target_word()
                ));
            }
        }
        let gevent = &row[idx(Subject::Gevent)];
        if let (Some(r), Some(u)) = (
            paired(grove, gevent, |x| x.req_per_sec),
            paired(grove, gevent, |x| x.cpu_us),
        ) {
            let rps = rate_verdict(grove, gevent, r, 20.0);
            let cpu = u.verdict(1.0 / 20.0, Better::Lower);
            parts.push(format!(
                "vs gevent pywsgi (target ≥ 20×): req/s {r} — {}; CPU/req {u} (≤ 0.05× \
                 wanted) — {}",
                rps.target_word(),
                cpu.target_word()
            ));
        }
        if let Some(r) = paired(grove, &row[idx(Subject::Grove2)], |x| x.req_per_sec) {
            parts.push(format!(
                "1 → 2 threads: req/s {}× (paired: {r})",
                report::ratio(1.0 / r.median).trim_end_matches('×')
            ));
        }
        if !parts.is_empty() {
            lines.push(format!(
                "Target @ {at}, {mode} (grove-http, 1 thread; paired ratios, median (min–max) \
                 over the pairs): {}.",
                parts.join("; ")
            ));
        }
        // Who set the rate: wrk at (nearly) a whole CPU means req/s shows
        // wrk's limit, and only CPU/req ranks those servers.
        let mean_share = |i: usize, f: fn(&Sample) -> f64| match &row[i] {
            Cell::Samples { rounds, .. } => {
                Some(rounds.iter().map(f).sum::<f64>() / rounds.len() as f64)
            }
            _ => None,
        };
        let shares: Vec<(Subject, f64, f64)> = SUBJECTS
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| {
                Some((
                    s,
                    mean_share(i, |x| x.client)?,
                    mean_share(i, |x| x.server)?,
                ))
            })
            .collect();
        if !shares.is_empty() {
            let bound: Vec<&str> = shares
                .iter()
                .filter(|(_, wrk, _)| *wrk >= WRK_BOUND)
                .map(|(s, ..)| s.key())
                .collect();
            let list: Vec<String> = shares
                .iter()
                .map(|(s, wrk, server)| format!("{} {wrk:.2} / {server:.2}", s.key()))
                .collect();
            lines.push(format!(
                "Who set the rate @ {at}, {mode}: wrk / server CPU shares {}. {}",
                list.join(", "),
                if bound.is_empty() {
                    "No server ran with wrk at ≥ 0.95 of its CPU.".to_string()
                } else {
                    format!(
                        "wrk was at ≥ {WRK_BOUND:.2} of its CPU for {}: their req/s is wrk's \
                         limit, and only CPU/req ranks them.",
                        bound.join(", ")
                    )
                }
            ));
        }
        let Some(f_cpu) = cell_cpu(Subject::Floor) else {
            continue;
        };
        let mut floor = vec![format!("{f_cpu:.2} µs CPU/req")];
        if let (Some(g_cpu), Some(p)) = (
            cell_cpu(Subject::Grove1),
            paired(grove, &row[idx(Subject::Floor)], |x| x.cpu_us),
        ) {
            floor.push(format!(
                "{:.0}% of grove-http's {g_cpu:.2} µs (grove-http ÷ floor {}; grove-http's own \
                 work above the kernel's: {:.2} µs)",
                100.0 * f_cpu / g_cpu,
                show_paired(p),
                g_cpu - f_cpu
            ));
        }
        if let Some(u) = cell_cpu(Subject::Gevent) {
            floor.push(format!(
                "gevent's CPU/req ÷ the floor's = {:.1}×: the largest CPU/req ratio to gevent \
                 any server could reach {mode}",
                u / f_cpu
            ));
        }
        if let (Some(f_rps), Some(r)) = (cell_rps(Subject::Floor), cell_rps(Subject::Gevent)) {
            let wrk = match &row[idx(Subject::Floor)] {
                Cell::Samples { rounds, .. } => {
                    rounds.iter().map(|s| s.client).sum::<f64>() / rounds.len() as f64
                }
                _ => 0.0,
            };
            floor.push(format!(
                "its {} req/s (wrk at {wrk:.2} of a CPU) is {:.1}× gevent's: the largest req/s \
                 ratio to gevent that wrk can show {mode}",
                report::per_sec(f_rps),
                f_rps / r
            ));
        }
        lines.push(format!(
            "Kernel floor @ {at}, {mode} (C epoll, no parsing): {}.",
            floor.join("; ")
        ));
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

    fn cell(values: &[(usize, f64)]) -> Cell {
        Cell::Samples {
            rounds: values
                .iter()
                .map(|&(round, req_per_sec)| Sample {
                    pair: Pair { round, peer: 2 },
                    req_per_sec,
                    ..Sample::default()
                })
                .collect(),
            runs: values.len(),
        }
    }

    #[test]
    fn pairs_rounds() {
        // Rounds pair by index, not by position: the peer lost round 1.
        let grove = cell(&[(0, 100.0), (1, 90.0), (2, 120.0)]);
        let peer = cell(&[(0, 50.0), (2, 100.0)]);
        let r = paired(&grove, &peer, |s| s.req_per_sec).unwrap();
        assert!((r.min - 1.2).abs() < 1e-9 && (r.max - 2.0).abs() < 1e-9);
        // Two pairs: the median is the mean of both.
        assert!((r.median - 1.6).abs() < 1e-9);
        let r = paired(&grove, &grove, |s| s.req_per_sec).unwrap();
        assert!((r.median - 1.0).abs() < 1e-9);
        assert!(paired(&grove, &Cell::Skipped, |s| s.req_per_sec).is_none());
        assert!(paired(&grove, &cell(&[(5, 1.0)]), |s| s.req_per_sec).is_none());
    }

    #[test]
    fn best_round_is_the_extreme_one() {
        let c = cell(&[(0, 100.0), (1, 130.0), (2, 90.0)]);
        assert_eq!(c.best(|s| s.req_per_sec, true), Some(130.0));
        assert_eq!(c.best(|s| s.req_per_sec, false), Some(90.0));
        assert_eq!(Cell::Skipped.best(|s| s.req_per_sec, true), None);
        assert_eq!(cell(&[]).best(|s| s.req_per_sec, true), None);
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("540.00us"), Some(540.0));
        assert_eq!(parse_time("2.00s"), Some(2e6));
        assert_eq!(parse_time("1.5m"), Some(90e6));
        assert_eq!(parse_time("x"), None);
    }
}
