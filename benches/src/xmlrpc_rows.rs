//! The XML-RPC rows: the gevent writing's comparison — Python's
//! `SimpleXMLRPCServer` plain, with `ThreadingMixIn`, and the threaded one
//! under gevent's `monkey.patch_all()` — with grove-xmlrpc's modes and dxr's
//! own axum server beside them, all driven by one load client.
//!
//! Every cell is a fresh server process pinned to the server CPU, checked to
//! answer `add(3, 5)` with 8, then `grove-xmlrpc bench --json` pinned to the
//! client CPU: N greenlets, each calling on its own keep-alive connection
//! (reconnecting when the server closes it, as Python's HTTP/1.0 answers
//! do), a warm-up and a timed window, both counted by the client. While it
//! runs the harness samples the server's and the client's utime + stime
//! (`/proc/PID/stat`, all threads), the machine's busy time (`/proc/stat`)
//! and the `ksoftirqd` threads every 50 ms (`xmlrpc_load.rs`); the timed window is the last
//! `seconds` (as the client reports them) before the client exited, and
//! every CPU figure is interpolated to its ends. A run in which other
//! processes took ≥ [`NOISE`] of a CPU is repeated once (the quieter kept).
//! Cells run in rounds; in each, every other server runs next to a fresh
//! grove-xmlrpc (greenlets), in alternating order, and the targets are
//! judged on those pairs by the noise rule of `noise.rs`; values are medians
//! over a server's runs. Section and CSV are written by `xmlrpc_report.rs`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use crate::io_rows::{pinned, placement, Placement};
use crate::loadgen::{self, NOISE};
use crate::noise::Ratios;
use crate::orchestrate::{say, Col, Options, Runner};
use crate::server_process::{pick_port, wait_for_quiet, ServerProcess};
use crate::xmlrpc_load;
use crate::xmlrpc_report;

/// Options of the XML-RPC rows.
#[derive(Debug)]
pub struct XmlrpcOptions {
    /// Concurrent connections of the load client, one column group each.
    pub conns: Vec<usize>,
    /// The workloads, by key (`add`, `gen`, `gen-nogzip`).
    pub works: Vec<String>,
    /// Fresh server processes per cell, in rounds over the subjects.
    pub rounds: usize,
    /// The client's timed window and its warm-up before it, seconds.
    pub secs: f64,
    pub warmup: f64,
    /// The grove-xmlrpc binary (server and load client), or why there is none.
    pub grove_xmlrpc: Result<PathBuf, String>,
    /// grove-xmlrpc built with its `monkey` feature, for `--mode monkey`
    /// (grove-monkey's libc hooks, linked into that mode's server only).
    pub grove_xmlrpc_monkey: Option<PathBuf>,
    /// The Python peers' script (`peers/xmlrpc/server.py`).
    pub script: PathBuf,
    /// Where to write the medians as CSV (for `plot_xmlrpc.py`).
    pub csv: Option<PathBuf>,
}

impl XmlrpcOptions {
    pub fn new(benches_dir: &Path) -> XmlrpcOptions {
        let built = benches_dir.join("../target/release/grove-xmlrpc");
        XmlrpcOptions {
            conns: vec![1, 64, 1024],
            works: WORKS.iter().map(|w| w.key.to_string()).collect(),
            rounds: 1,
            secs: 5.0,
            warmup: 1.0,
            grove_xmlrpc: if built.exists() {
                Ok(built)
            } else {
                Err("not built (run.sh builds `cargo build --release -p grove-xmlrpc`)".into())
            },
            grove_xmlrpc_monkey: None,
            script: benches_dir.join("peers/xmlrpc/server.py"),
            csv: None,
        }
    }
}

/// The servers, in table order. grove-xmlrpc's modes are its `serve --mode`
/// values; a mode the binary rejects shows as n/a with its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Grove(&'static str),
    Python(&'static str),
    DxrAxum,
}

pub const SUBJECTS: [Subject; 8] = [
    Subject::Grove("greenlets"),
    Subject::Grove("threads"),
    Subject::Grove("single"),
    Subject::Grove("monkey"),
    Subject::Python("plain"),
    Subject::Python("threaded"),
    Subject::Python("gevent"),
    Subject::DxrAxum,
];

/// The subject the targets are about, and its two references.
pub const GROVE: Subject = Subject::Grove("greenlets");
pub const PY_THREADED: Subject = Subject::Python("threaded");

impl Subject {
    pub fn key(self) -> String {
        match self {
            Subject::Grove(mode) => format!("grove {mode}"),
            Subject::Python(mode) => format!("Python {mode}"),
            Subject::DxrAxum => "dxr-axum".to_string(),
        }
    }

    pub fn title(self) -> String {
        match self {
            Subject::Grove(mode) => format!("grove-xmlrpc `--mode {mode}`"),
            Subject::Python("plain") => "Python `SimpleXMLRPCServer`".to_string(),
            Subject::Python("threaded") => "Python `ThreadingMixIn`".to_string(),
            Subject::Python("gevent") => "Python threaded + gevent `patch_all()`".to_string(),
            Subject::Python(mode) => format!("Python {mode}"),
            Subject::DxrAxum => "dxr_server 0.9 on axum, tokio current-thread".to_string(),
        }
    }

    /// `--subjects`: grove = grove-xmlrpc's modes, gevent = the Python
    /// peers (they come from the gevent venv), tokio = dxr-axum.
    fn selected(self, opts: &Options) -> bool {
        let col = match self {
            Subject::Grove(_) => Col::Grove,
            Subject::Python(_) => Col::Gevent,
            Subject::DxrAxum => Col::Tokio,
        };
        opts.subjects.contains(&col)
    }
}

/// A workload: the call every greenlet of the load client makes.
#[derive(Clone, Copy, Debug)]
pub struct Work {
    pub key: &'static str,
    pub call: &'static str,
    /// Whether the client accepts gzip (Python's client does by default).
    pub gzip: bool,
}

pub const WORKS: [Work; 3] = [
    Work {
        key: "add",
        call: "add(3,5)",
        gzip: true,
    },
    Work {
        key: "gen",
        call: "gen(2048)",
        gzip: true,
    },
    Work {
        key: "gen-nogzip",
        call: "gen(2048)",
        gzip: false,
    },
];

impl Work {
    pub fn name(self) -> String {
        let gzip = if self.gzip { "gzip on" } else { "gzip off" };
        format!("`{}`, {gzip}", self.call)
    }
}

/// One timed run of the load client, and what ran beside it.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub calls: u64,
    pub errors: u64,
    pub calls_per_sec: f64,
    /// Server CPU time (user + system, all threads) per call, µs.
    pub cpu_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// CPU time ÷ wall time of the server, the load client, ksoftirqd and
    /// the rest of the machine over the timed window.
    pub server: f64,
    pub client: f64,
    pub softirqd: f64,
    pub other: f64,
    /// The client's CPU share by its own count (`client_cpu_s` ÷ `seconds`
    /// of its JSON): beside `client`, a check of the window's alignment.
    pub client_own: f64,
    /// (round, peer index): the pair this run belongs to; grove-xmlrpc's
    /// runs carry the peer they ran next to.
    pub pair: (usize, usize),
}

/// A cell: every round's sample, or why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    Samples(Vec<Sample>),
    Unavailable(String),
    Failed(String),
    Skipped,
}

impl Cell {
    pub fn median(&self, f: fn(&Sample) -> f64) -> Option<f64> {
        match self {
            Cell::Samples(rounds) => {
                crate::noise::median(&rounds.iter().map(f).collect::<Vec<_>>())
            }
            _ => None,
        }
    }

    /// grove-xmlrpc (greenlets) ÷ `peer` per pair of adjacent runs.
    pub fn paired(grove: &Cell, peer: &Cell, f: fn(&Sample) -> f64) -> Option<Ratios> {
        let (Cell::Samples(g), Cell::Samples(p)) = (grove, peer) else {
            return None;
        };
        let r: Vec<f64> = g
            .iter()
            .filter_map(|gs| {
                p.iter()
                    .find(|ps| ps.pair == gs.pair)
                    .map(|ps| f(gs) / f(ps))
            })
            .collect();
        Ratios::paired(&r)
    }
}

/// Everything measured: `cells[work][conns][subject]`, and each subject's
/// bytes of one `gen(2048)` answer with and without gzip accepted.
pub struct Results {
    pub works: Vec<Work>,
    pub cells: Vec<Vec<Vec<Cell>>>,
    pub gen_bytes: Vec<Option<(usize, usize)>>,
}

/// Runs the XML-RPC rows selected by `opts` and writes their section.
pub fn run(opts: &Options, out: &mut impl Write) -> io::Result<()> {
    let x = &opts.xmlrpc;
    if let Err(e) = loadgen::raise_nofile() {
        say(&format!("could not raise RLIMIT_NOFILE: {e}"));
    }
    let place = placement(&opts.io);
    let works: Vec<Work> = WORKS
        .into_iter()
        .filter(|w| x.works.iter().any(|k| k == w.key))
        .collect();
    let n = SUBJECTS.len();
    let mut results = Results {
        cells: vec![vec![vec![Cell::Skipped; n]; x.conns.len()]; works.len()],
        gen_bytes: vec![None; n],
        works,
    };
    // A server that never started (a mode the binary rejects, a missing
    // peer) is n/a everywhere, without being retried in every cell.
    let mut absent: Vec<Option<String>> = vec![None; n];
    for (w, work) in results.works.clone().into_iter().enumerate() {
        for (c, &conns) in x.conns.iter().enumerate() {
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); n];
            // Every other server runs next to a fresh grove-xmlrpc
            // (greenlets), in alternating order (`noise::pair_order`), so that
            // the target ratios compare adjacent processes.
            let grove = SUBJECTS.iter().position(|&s| s == GROVE).unwrap_or(0);
            for round in 0..x.rounds {
                for peer in (0..n).filter(|&p| p != grove) {
                    if !SUBJECTS[peer].selected(opts) {
                        continue;
                    }
                    for i in crate::noise::pair_order(round, grove, peer) {
                        let subject = SUBJECTS[i];
                        let cell = &mut results.cells[w][c][i];
                        if !subject.selected(opts) || matches!(cell, Cell::Failed(_)) {
                            continue;
                        }
                        if let Some(why) = &absent[i] {
                            *cell = Cell::Unavailable(why.clone());
                            continue;
                        }
                        let label = format!("xmlrpc {} {} @ {conns}", work.name(), subject.key());
                        match run_cell(
                            opts,
                            &place,
                            subject,
                            work,
                            conns,
                            &mut results.gen_bytes[i],
                        ) {
                            Ok(mut s) => {
                                say(&format!(
                                    "{label}, round {} (pair with {}): {:.0} calls/s, {:.1} µs \
                                     CPU/call, p50 {:.0} µs, p99 {:.0} µs, {} errors, client {:.2} \
                                     (by its own count {:.2}) / server {:.2} CPU",
                                    round + 1,
                                    SUBJECTS[peer].key(),
                                    s.calls_per_sec,
                                    s.cpu_us,
                                    s.p50_us,
                                    s.p99_us,
                                    s.errors,
                                    s.client,
                                    s.client_own,
                                    s.server
                                ));
                                s.pair = (round, peer);
                                samples[i].push(s);
                            }
                            Err(Start::Never(why)) => {
                                say(&format!("{label}: {why}"));
                                absent[i] = Some(why.clone());
                                *cell = Cell::Unavailable(why);
                            }
                            Err(Start::Failed(why)) => {
                                say(&format!("{label}: {why}"));
                                *cell = Cell::Failed(why);
                            }
                        }
                    }
                }
            }
            for (i, s) in samples.into_iter().enumerate() {
                let cell = &mut results.cells[w][c][i];
                if matches!(cell, Cell::Skipped) && !s.is_empty() {
                    *cell = Cell::Samples(s);
                }
            }
        }
    }
    if let Some(path) = &x.csv {
        if let Err(e) = xmlrpc_report::write_csv(path, &x.conns, &results) {
            say(&format!("could not write {}: {e}", path.display()));
        }
    }
    xmlrpc_report::write_section(out, opts, &place, &results)
}

/// Why a cell has no sample: the server never came up (n/a for the rest of
/// the run), or this cell failed.
enum Start {
    Never(String),
    Failed(String),
}

/// The server's command line, or why it cannot run.
fn server_argv(
    opts: &Options,
    subject: Subject,
    port: u16,
    lifetime: u64,
) -> Result<Vec<String>, String> {
    let x = &opts.xmlrpc;
    let grove = || {
        x.grove_xmlrpc
            .as_ref()
            .map(|p| p.display().to_string())
            .map_err(|why| format!("n/a: grove-xmlrpc {why}"))
    };
    Ok(match subject {
        Subject::Grove(mode) => [
            match (mode, &x.grove_xmlrpc_monkey) {
                ("monkey", Some(exe)) => exe.display().to_string(),
                _ => grove()?,
            }
            .as_str(),
            "serve",
            "--listen",
            "127.0.0.1",
            "--port",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([port.to_string(), "--mode".into(), mode.into()])
        .collect(),
        Subject::Python(mode) => {
            let python = match &opts.gevent {
                Runner::External(argv) => argv[0].clone(),
                Runner::Unavailable(why) => return Err(why.clone()),
                _ => return Err("not selected".into()),
            };
            let script = x.script.display().to_string();
            let args = [
                "--mode",
                mode,
                "--port",
                &port.to_string(),
                "--lifetime",
                &lifetime.to_string(),
            ];
            [python, script]
                .into_iter()
                .chain(args.map(str::to_string))
                .collect()
        }
        Subject::DxrAxum => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let args = [
                "serve-http",
                "dxr-axum",
                &port.to_string(),
                &lifetime.to_string(),
            ];
            std::iter::once(exe.display().to_string())
                .chain(args.map(str::to_string))
                .collect()
        }
    })
}

/// One cell: start the server, check it, run the load client (again once
/// if disturbed), stop the server.
fn run_cell(
    opts: &Options,
    place: &Placement,
    subject: Subject,
    work: Work,
    conns: usize,
    gen_bytes: &mut Option<(usize, usize)>,
) -> Result<Sample, Start> {
    let x = &opts.xmlrpc;
    let client = x
        .grove_xmlrpc
        .as_ref()
        .map_err(|why| Start::Never(format!("n/a: no load client: grove-xmlrpc {why}")))?;
    let port = pick_port().map_err(|e| Start::Failed(format!("could not pick a port: {e}")))?;
    let lifetime = (2.0 * (x.warmup + x.secs) + 120.0) as u64;
    let argv = server_argv(opts, subject, port, lifetime).map_err(Start::Never)?;
    wait_for_quiet();
    let server =
        ServerProcess::spawn(&pinned(place.server, argv), Stdio::null()).map_err(Start::Never)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(why) = wait_ready(&server, addr) {
        let exited = server.stop();
        let why = format!("{why} {}", exited.as_deref().unwrap_or_default());
        // A server that exited before answering (e.g. a rejected `--mode`)
        // will not start in the next cell either.
        return Err(match exited {
            Some(_) => Start::Never(format!("n/a: did not start: {}", why.trim())),
            None => Start::Failed(why.trim().to_string()),
        });
    }
    if gen_bytes.is_none() {
        *gen_bytes = answer_bytes(addr, true)
            .ok()
            .zip(answer_bytes(addr, false).ok());
    }
    let mut kept: Option<Sample> = None;
    let mut result = Ok(());
    for _ in 0..2 {
        match xmlrpc_load::run(x, place, client, port, conns, work, server.pid()) {
            Ok(s) => {
                let quiet = s.other < NOISE;
                if kept.as_ref().is_none_or(|k| s.other < k.other) {
                    kept = Some(s);
                }
                if quiet {
                    break;
                }
                say(&format!(
                    "{} @ {conns}: other processes were busy; repeating",
                    subject.key()
                ));
            }
            Err(why) => {
                result = Err(why);
                break;
            }
        }
    }
    let exited = server.stop();
    match (kept, result, exited) {
        (_, _, Some(why)) => Err(Start::Failed(format!("the server exited: {why}"))),
        (Some(s), Ok(()), None) => Ok(s),
        (_, Err(why), None) => Err(Start::Failed(why)),
        (None, Ok(()), None) => unreachable!("a run either samples or fails"),
    }
}

/// One XML-RPC call as an HTTP/1.1 request that asks for `Connection: close`.
fn request(method: &str, arg_xml: &str, gzip: bool) -> Vec<u8> {
    let body = format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n{arg_xml}</params>\n</methodCall>\n"
    );
    let accept = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    format!(
        "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n{accept}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `req` and reads the whole answer (to EOF).
fn exchange(addr: SocketAddr, req: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    Ok(answer)
}

/// Waits (up to 30 s) until the server answers `add(3, 5)` with 8.
fn wait_ready(server: &ServerProcess, addr: SocketAddr) -> Result<(), String> {
    let param = |v: u32| format!("<param>\n<value><int>{v}</int></value>\n</param>\n");
    let req = request("add", &(param(3) + &param(5)), false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if !server.alive() {
            return Err("exited before answering:".to_string());
        }
        match exchange(addr, &req) {
            Ok(answer) => {
                let text = String::from_utf8_lossy(&answer);
                let ok = text.starts_with("HTTP/1.") && text.split(' ').nth(1) == Some("200");
                if ok && (text.contains("<int>8</int>") || text.contains("<i4>8</i4>")) {
                    return Ok(());
                }
                return Err(format!(
                    "answered add(3, 5) with {:?}",
                    text.chars().take(300).collect::<String>()
                ));
            }
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(format!("did not answer add(3, 5) within 30 s ({last})"))
}

/// Bytes of one whole `gen(2048)` answer (head + body), with or without
/// `Accept-Encoding: gzip`.
fn answer_bytes(addr: SocketAddr, gzip: bool) -> io::Result<usize> {
    let req = request(
        "gen",
        "<param>\n<value><int>2048</int></value>\n</param>\n",
        gzip,
    );
    exchange(addr, &req).map(|a| a.len())
}
