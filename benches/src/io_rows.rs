//! The cooperative-I/O rows: echo round trips per second at several
//! concurrency levels, and the memory of a server holding idle connections.
//!
//! Every measurement is two processes of its own: a fresh echo server of one
//! subject (`harness serve`, `grove-bench-go serve`, `peer.py serve`),
//! pinned to the server CPU, listening on a 127.0.0.1 port this harness
//! picked; and the one load generator (`harness load`, see `loadgen.rs`),
//! pinned to the client CPU, used identically against every server. The
//! server is killed when the load generator is done. An echo cell is
//! `rounds` such pairs, run in rounds over the subjects; the memory cell is
//! one pair.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::child::{self, ChildRun};
use crate::loadgen::NOISE;
use crate::noise;
use crate::orchestrate::{say, Col, Options, Runner, COLS};
use crate::report::{self, Cell, Load, Row, Target};
use crate::server_process::{pick_port, wait_for_quiet, ServerProcess};

/// The benchmarks of this module, for `--benches`.
pub const IO_BENCHES: &[&str] = &["echo", "connmem"];

/// Bytes of each echo request (and reply).
pub const MSG_BYTES: usize = 64;

/// Options of the I/O rows.
#[derive(Debug)]
pub struct IoOptions {
    pub conns: Vec<usize>,
    pub mem_conns: usize,
    /// Fresh server processes per echo cell, run in rounds that take every
    /// subject in turn, so that slow drifts of a shared machine reach all
    /// columns alike.
    pub rounds: usize,
    /// Timed windows per process (after the warm-up).
    pub windows: usize,
    pub warmup: Duration,
    pub secs: Duration,
    pub server_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
}

impl Default for IoOptions {
    fn default() -> IoOptions {
        IoOptions {
            conns: vec![1, 100, 10_000],
            mem_conns: 10_000,
            rounds: 3,
            windows: 5,
            warmup: Duration::from_millis(250),
            secs: Duration::from_millis(250),
            server_cpu: None,
            client_cpu: None,
        }
    }
}

/// Where the two processes of a cell run (the HTTP rows use it too).
pub(crate) struct Placement {
    pub(crate) server: Option<usize>,
    pub(crate) client: Option<usize>,
    /// Why the processes are not on two CPUs of their own, if they are not.
    caveat: Option<String>,
}

pub(crate) fn placement(io: &IoOptions) -> Placement {
    // The machine's CPUs, not this process's affinity (run.sh pins the
    // harness itself to one CPU).
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cpus = usize::try_from(online).unwrap_or(1).max(1);
    let taskset = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !taskset {
        return Placement {
            server: None,
            client: None,
            caveat: Some("taskset is missing: server and load generator were not pinned".into()),
        };
    }
    let server = io.server_cpu.unwrap_or(cpus.saturating_sub(1));
    let client = io.client_cpu.unwrap_or(0);
    Placement {
        server: Some(server),
        client: Some(client),
        caveat: (server == client).then(|| {
            format!("server and load generator shared CPU {server} (this machine has {cpus})")
        }),
    }
}

pub(crate) fn pinned(cpu: Option<usize>, argv: Vec<String>) -> Vec<String> {
    match cpu {
        Some(cpu) => ["taskset".to_string(), "-c".to_string(), cpu.to_string()]
            .into_iter()
            .chain(argv)
            .collect(),
        None => argv,
    }
}

/// The I/O rows that `opts.benches` selects, and their notes.
pub fn rows(opts: &Options, echo: bool, connmem: bool) -> (Vec<Row>, Vec<String>) {
    let place = placement(&opts.io);
    let mut rows = Vec::new();
    let mut notes = vec![method(opts, &place)];
    if let Some(caveat) = &place.caveat {
        notes.push(format!("Caveat: {caveat}."));
    }
    if echo {
        for &conns in &opts.io.conns {
            let label = format!(
                "echo: {MSG_BYTES} B request/response @ {} connection{}",
                report::count(conns),
                if conns == 1 { "" } else { "s" }
            );
            let mut row = Row::new(&label, Target::Echo);
            row.count = conns;
            row.cells = echo_cells(opts, &place, conns);
            rows.push(row);
        }
    }
    if connmem {
        let label = format!(
            "server memory per idle connection @ {}",
            report::count(opts.io.mem_conns)
        );
        let mut row = Row::new(&label, Target::ConnMemory);
        for (i, col) in COLS.into_iter().enumerate() {
            row.cells[i] = match run_once(opts, &place, col, Mode::Idle(opts.io.mem_conns)) {
                Ok(run) => mem_cell(&run),
                Err(cell) => cell,
            };
            say(&format!(
                "{} memory per idle connection: {}",
                col.title(),
                row.cells[i].brief()
            ));
        }
        rows.push(row);
    }
    (rows, notes)
}

fn method(opts: &Options, place: &Placement) -> String {
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    let io = &opts.io;
    format!(
        "Cooperative-I/O rows: every measurement is a fresh echo server on 127.0.0.1 \
         pinned to {} and the one load generator (`harness load`: mio/epoll, one thread, \
         `SO_LINGER` 0) pinned to {}. Every server spawns one task per connection, reads into a \
         {} B buffer and writes back what it read: grove `grove::server::StreamServer` (defaults, \
         no pool cap), tokio `TcpListener` + `tokio::spawn` on the current-thread runtime, may \
         `go!` with 1 worker, Go `net.Listen` + `go` with GOMAXPROCS=1, gevent \
         `gevent.server.StreamServer`. The client opens the connections at most 64 unanswered at a \
         time, each doing one round trip, then runs {MSG_BYTES}-byte ping-pong on every connection \
         at once: {:.1} s warm-up, then {} timed windows of {:.1} s (a window in which other \
         processes took ≥ {:.0}% of a CPU is repeated, up to {} windows, and the least disturbed \
         are kept). Each echo cell is {} rounds; in each round every peer runs next to a fresh \
         grove process, in alternating order (grove first in odd rounds, the peer first in even \
         ones), and grove ÷ peer of that round compares the two adjacent processes; the cell is \
         the median over its processes of each process's best window (this machine switches between two \
         throughput levels about 25% apart for seconds at a time, for every server alike, so a \
         plain median over windows mostly tells which level a cell ran in; the spread table also \
         gives the median of all windows). Peer cells show `value (grove ÷ peer)`: for round trips/s above 1× means \
         grove is ahead. \"server µs CPU/rt\" is the server's CPU time (user + system, which on \
         loopback includes delivering its replies into the client's socket) per round trip. The \
         memory row is one process pair per subject: (VmRSS after − before) / N of the server, read \
         from /proc by the load generator once the server's CPU time stopped moving; before = after \
         one warm-up connection came and went, after = with N connections open, each having done \
         one round trip (every handler parked in a read again).",
        cpu(place.server),
        cpu(place.client),
        crate::subjects::ECHO_BUFFER,
        io.warmup.as_secs_f64(),
        io.windows,
        io.secs.as_secs_f64(),
        NOISE * 100.0,
        io.windows + io.windows / 2 + 1,
        io.rounds,
    )
}

/// What the load generator does against a server.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Echo ping-pong on this many connections.
    Echo(usize),
    /// This many idle connections, for the server's memory.
    Idle(usize),
}

/// The server's command line for `col`, or the cell to show instead.
fn server_argv(opts: &Options, col: Col, port: u16, lifetime: u64) -> Result<Vec<String>, Cell> {
    let mut argv = match (col, opts.runner(col)) {
        (Col::Corosensei, Runner::Child(_)) => {
            return Err(Cell::Unavailable(
                "not applicable: raw coroutines have no scheduler and no I/O".into(),
            ))
        }
        (_, Runner::Child(subject)) => {
            let exe = std::env::current_exe().expect("path of this executable");
            vec![
                exe.display().to_string(),
                "serve".to_string(),
                subject.to_string(),
            ]
        }
        (_, Runner::External(prefix)) => {
            let mut argv = prefix;
            argv.push("serve".to_string());
            argv
        }
        (_, Runner::Unavailable(why)) => return Err(Cell::Unavailable(why)),
        (_, Runner::NotSelected) => return Err(Cell::Skipped),
    };
    argv.extend([port.to_string(), lifetime.to_string()]);
    Ok(argv)
}

/// One echo row: `rounds` rounds; in each, every peer runs next to a fresh
/// grove process, in alternating order (`noise::pair_order`), so grove ÷
/// peer is taken from two adjacent process pairs. A column that fails is not
/// run again; without a grove result the peers run alone.
fn echo_cells(opts: &Options, place: &Placement, conns: usize) -> [Cell; 6] {
    let mut e = Echo {
        opts,
        place,
        conns,
        windows: Default::default(),
        rounds: Default::default(),
        loads: Default::default(),
        failed: Default::default(),
    };
    let mut paired: [Vec<f64>; 6] = Default::default();
    for round in 0..opts.io.rounds {
        for peer in 1..COLS.len() {
            if e.failed[peer].is_some() {
                continue;
            }
            let mut got = [None; 6];
            for i in noise::pair_order(round, 0, peer) {
                if e.failed[i].is_none() {
                    got[i] = e.run(i, round);
                }
            }
            if let (Some(g), Some(p)) = (got[0], got[peer]) {
                paired[peer].push(g / p);
            }
        }
    }
    let Echo {
        windows,
        rounds,
        loads,
        mut failed,
        ..
    } = e;
    std::array::from_fn(|i| match failed[i].take() {
        Some(cell) => cell,
        None if windows[i].is_empty() => Cell::Skipped,
        None => rate_cell(&windows[i], &rounds[i], &loads[i], &paired[i]),
    })
}

/// The state of one echo row while its rounds run.
struct Echo<'a> {
    opts: &'a Options,
    place: &'a Placement,
    conns: usize,
    windows: [Vec<f64>; 6],
    rounds: [Vec<f64>; 6],
    loads: [Vec<Load>; 6],
    failed: [Option<Cell>; 6],
}

impl Echo<'_> {
    /// One fresh process pair of column `i`: its best window, or `None`
    /// (and the column marked failed).
    fn run(&mut self, i: usize, round: usize) -> Option<f64> {
        let col = COLS[i];
        let run = match run_once(self.opts, self.place, col, Mode::Echo(self.conns)) {
            Ok(run) => run,
            Err(cell) => {
                self.failed[i] = Some(cell);
                return None;
            }
        };
        match run.reps.get("echo") {
            Some(values) if run.succeeded() && !values.is_empty() => {
                let mut v = values.clone();
                v.sort_by(f64::total_cmp);
                // The process's best window: see `rate_cell`.
                let best = v[v.len() - 1];
                self.rounds[i].push(best);
                self.windows[i].extend(v);
                if let Some(load) = run.load.get("echo").and_then(|v| Load::from_record(v)) {
                    self.loads[i].push(load);
                }
                say(&format!(
                    "{} echo @ {}, round {}: {}",
                    col.title(),
                    report::count(self.conns),
                    round + 1,
                    report::per_sec(best)
                ));
                Some(best)
            }
            _ => {
                let why = run.failure();
                say(&format!(
                    "{} echo @ {}: FAILED: {why}",
                    col.title(),
                    report::count(self.conns)
                ));
                self.failed[i] = Some(Cell::Failed(why));
                None
            }
        }
    }
}

/// The cell of a column: the median over its processes of each process's
/// best window. The machine these rows were built on switches between two
/// throughput levels some 25% apart for seconds at a time, whatever the
/// server (a property of the machine, seen by every subject alike), so a
/// median over windows mostly tells which level a cell ran in; each
/// process's best window tells what the server does when the machine lets
/// it, and the median over processes keeps one lucky window from deciding.
/// The median of all windows is kept for the spread table; `paired` holds
/// grove ÷ this column per round, for the verdict.
fn rate_cell(windows: &[f64], rounds: &[f64], loads: &[Load], paired: &[f64]) -> Cell {
    let mut v = windows.to_vec();
    v.sort_by(f64::total_cmp);
    let load = (!loads.is_empty()).then(|| {
        let n = loads.len() as f64;
        let mean = |f: fn(&Load) -> f64| loads.iter().map(f).sum::<f64>() / n;
        Load {
            server: mean(|l| l.server),
            client: mean(|l| l.client),
            softirqd: mean(|l| l.softirqd),
            other: mean(|l| l.other),
            server_us: mean(|l| l.server_us),
            windows: loads.iter().map(|l| l.windows).sum(),
            worst_other: loads.iter().map(|l| l.worst_other).fold(0.0, f64::max),
        }
    });
    let mut cell = Cell::Rate {
        median: noise::median(rounds).unwrap_or(0.0),
        windows_median: noise::median(&v).unwrap_or(0.0),
        min: v[0],
        max: v[v.len() - 1],
        reps: v.len(),
        rounds: rounds.to_vec(),
        paired: paired.to_vec(),
        load: load.map(Box::new),
        note: None,
    };
    if let Some(l) = load.filter(|l| l.worst_other >= NOISE) {
        cell.annotate(&format!(
            "noisy: other processes took up to {:.0}% of a CPU in a kept window (mean {:.0}%), \
             after {} windows",
            l.worst_other * 100.0,
            l.other * 100.0,
            l.windows
        ));
    }
    cell
}

/// One process pair: a fresh server of `col` and the load generator against
/// it. `Err` is the cell to show when the server cannot run at all.
fn run_once(opts: &Options, place: &Placement, col: Col, mode: Mode) -> Result<ChildRun, Cell> {
    run_server(opts, place, col.title(), mode, |port, lifetime| {
        server_argv(opts, col, port, lifetime)
    })
}

/// One process pair: the server that `argv(port, lifetime_secs)` starts
/// (shown as `title`) and the load generator against it.
pub(crate) fn run_server(
    opts: &Options,
    place: &Placement,
    title: &str,
    mode: Mode,
    argv: impl FnOnce(u16, u64) -> Result<Vec<String>, Cell>,
) -> Result<ChildRun, Cell> {
    let io = &opts.io;
    let connect_timeout = 60;
    let timed = io.warmup + io.secs * (io.windows as u32 * 2 + 2); // more than the most windows
    let limit = Duration::from_secs(connect_timeout + 30) + timed;
    let port = pick_port().map_err(|e| Cell::Failed(format!("could not pick a port: {e}")))?;
    let argv = argv(port, limit.as_secs() + 30)?;
    let what = match mode {
        Mode::Echo(n) => format!("echo @ {}", report::count(n)),
        Mode::Idle(n) => format!("memory per idle connection @ {}", report::count(n)),
    };
    wait_for_quiet();
    say(&format!("{title} {what} (port {port}) …"));
    let server = start_server(&pinned(place.server, argv)).map_err(|why| {
        say(&format!("{title} {what}: server failed: {why}"));
        Cell::Failed(format!("server: {why}"))
    })?;

    let exe = std::env::current_exe().expect("path of this executable");
    let (conns, mode_arg) = match mode {
        Mode::Echo(n) => (n, "echo"),
        Mode::Idle(n) => (n, "idle"),
    };
    let mut load = vec![
        exe.display().to_string(),
        "load".to_string(),
        format!("127.0.0.1:{port}"),
        conns.to_string(),
        mode_arg.to_string(),
        "--msg".to_string(),
        MSG_BYTES.to_string(),
        "--warmup".to_string(),
        io.warmup.as_secs_f64().to_string(),
        "--secs".to_string(),
        io.secs.as_secs_f64().to_string(),
        "--reps".to_string(),
        io.windows.to_string(),
        "--connect-timeout".to_string(),
        connect_timeout.to_string(),
        "--server-pid".to_string(),
        server.pid().to_string(),
    ];
    load = pinned(place.client, load);
    let mut run = child::run(&load, limit);
    if let Some(server_why) = server.stop() {
        run.errors.push(format!("the server exited: {server_why}"));
    }
    Ok(run)
}

pub(crate) fn mem_cell(run: &ChildRun) -> Cell {
    match run.mem {
        Some(m) if run.succeeded() => {
            let per =
                |before: u64, after: u64| (after as f64 - before as f64) * 1024.0 / m.n as f64;
            Cell::Mem {
                rss: per(m.rss_before_kb, m.rss_after_kb),
                pte: per(m.pte_before_kb, m.pte_after_kb),
                rss_only: true,
                note: None,
            }
        }
        _ => Cell::Failed(run.failure()),
    }
}

/// Starts the echo server `argv` and waits (up to 30 s) for its
/// `listening` record.
fn start_server(argv: &[String]) -> Result<ServerProcess, String> {
    let mut server = ServerProcess::spawn(argv, Stdio::piped())?;
    let stdout = server.take_stdout().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line); // later lines are drained and dropped
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("listening ") => return Ok(server),
            Ok(line) if line.starts_with("error ") => {
                let why = line["error ".len()..].to_string();
                let _ = server.stop();
                return Err(why);
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let why = server.stop().unwrap_or_default();
                return Err(format!("did not start listening within 30 s {why}"));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let why = server.stop().unwrap_or_default();
                return Err(format!("exited before listening: {why}"));
            }
        }
    }
}
