//! The io_uring comparison (`--benches uring`): grove on each poller
//! backend against the io_uring runtime monoio, the epoll runtimes tokio
//! (hyper) and may (may_minihttp), and the two C kernel floors, epoll and
//! io_uring, in one run.
//!
//! Every measurement reuses the echo rows' process pair (`io_rows`: a fresh
//! server pinned to the server CPU, `harness load` pinned to the client CPU)
//! and the HTTP rows' wrk run (`http_rows`). The baseline is grove-epoll: in
//! every round each other server runs next to a fresh grove-epoll process,
//! in alternating order (`noise::pair_order`), and server ÷ grove-epoll is
//! taken per pair. grove's poller is chosen by `GROVE_POLLER` in the
//! server's environment (`env GROVE_POLLER=… server …`). The tables and the
//! decision are written by `uring_report.rs`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::http_rows::{self, Mode as HttpMode};
use crate::io_rows::{self, Mode as IoMode, Placement};
use crate::orchestrate::{say, Options};
use crate::report::{self, Cell as IoCell, Load};
use crate::uring_report::{self, Area, Grid, Meas};

/// The benchmark of this module, for `--benches`.
pub const URING_BENCHES: &[&str] = &["uring"];

/// Options of the io_uring comparison (the rest comes from the echo and
/// HTTP options: connections, rounds, timings).
#[derive(Debug)]
pub struct UringOptions {
    /// The C epoll echo floor (`peers/c/echo_floor.c`).
    pub echo_floor: Result<PathBuf, String>,
    /// The C io_uring floor, echo and HTTP (`peers/c/uring_floor.c`).
    pub uring_floor: Result<PathBuf, String>,
}

impl UringOptions {
    pub fn new(benches_dir: &std::path::Path) -> UringOptions {
        let built = |name: &str| {
            let path = benches_dir.join("target").join(name);
            if path.exists() {
                Ok(path)
            } else {
                Err(format!(
                    "not available: {} is missing (run benches/run.sh)",
                    path.display()
                ))
            }
        };
        UringOptions {
            echo_floor: built("echo_floor"),
            uring_floor: built("uring_floor"),
        }
    }
}

/// The servers of the comparison, in table order; grove-epoll, the
/// baseline, first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    GroveEpoll,
    GroveUring,
    Monoio,
    /// tokio's echo server; hyper for HTTP.
    Tokio,
    /// may's echo server; may_minihttp for HTTP.
    May,
    EpollFloor,
    UringFloor,
}

pub const SERVERS: [Server; 7] = [
    Server::GroveEpoll,
    Server::GroveUring,
    Server::Monoio,
    Server::Tokio,
    Server::May,
    Server::EpollFloor,
    Server::UringFloor,
];

impl Server {
    /// The row name (and the CSV's), per area.
    pub fn key(self, http: bool) -> &'static str {
        match (self, http) {
            (Server::GroveEpoll, _) => "grove-epoll",
            (Server::GroveUring, _) => "grove-uring",
            (Server::Monoio, _) => "monoio",
            (Server::Tokio, false) => "tokio",
            (Server::Tokio, true) => "hyper",
            (Server::May, false) => "may",
            (Server::May, true) => "may_minihttp",
            (Server::EpollFloor, _) => "C epoll floor",
            (Server::UringFloor, _) => "C io_uring floor",
        }
    }

    /// `GROVE_POLLER` for grove's rows.
    fn poller(self) -> Option<&'static str> {
        match self {
            Server::GroveEpoll => Some("epoll"),
            Server::GroveUring => Some("uring"),
            _ => None,
        }
    }
}

/// The C floor binary `path`, or the cell to show instead.
fn floor(path: &Result<PathBuf, String>) -> Result<String, String> {
    path.as_ref()
        .map(|p| p.display().to_string())
        .map_err(Clone::clone)
}

/// The command line (unpinned) of `server` for the echo rows or the HTTP
/// rows, or why it cannot run.
fn argv(
    opts: &Options,
    server: Server,
    http: bool,
    port: u16,
    life: u64,
) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe()
        .expect("path of this executable")
        .display()
        .to_string();
    let (port, life) = (port.to_string(), life.to_string());
    let harness = |sub: &str, subject: &str| {
        vec![
            exe.clone(),
            sub.into(),
            subject.into(),
            port.clone(),
            life.clone(),
        ]
    };
    let mut argv = match (server, http) {
        (Server::GroveEpoll | Server::GroveUring, false) => harness("serve", "grove"),
        (Server::GroveEpoll | Server::GroveUring, true) => {
            let hello = opts.http.grove_http.as_ref().map_err(Clone::clone)?;
            vec![
                hello.display().to_string(),
                "--port".into(),
                port,
                "--threads".into(),
                "1".into(),
            ]
        }
        (Server::Monoio, false) => harness("serve", "monoio"),
        (Server::Monoio, true) => harness("serve-http", "monoio"),
        (Server::Tokio, false) => harness("serve", "tokio"),
        (Server::Tokio, true) => harness("serve-http", "hyper"),
        (Server::May, false) => harness("serve", "may"),
        (Server::May, true) => harness("serve-http", "may_minihttp"),
        (Server::EpollFloor, false) => vec![floor(&opts.uring.echo_floor)?, port, life],
        (Server::EpollFloor, true) => vec![floor(&opts.http.floor)?, port, life],
        (Server::UringFloor, _) => {
            let mode = if http { "http" } else { "echo" };
            vec![floor(&opts.uring.uring_floor)?, mode.into(), port, life]
        }
    };
    if let Some(poller) = server.poller() {
        argv.splice(0..0, ["env".to_string(), format!("GROVE_POLLER={poller}")]);
    }
    Ok(argv)
}

/// Runs the comparison and writes its section.
pub fn run(opts: &Options, out: &mut impl Write) -> io::Result<()> {
    if let Err(e) = crate::loadgen::raise_nofile() {
        say(&format!("could not raise RLIMIT_NOFILE for wrk: {e}"));
    }
    let place = io_rows::placement(&opts.io);
    let wrk_ok = Command::new(&opts.http.wrk)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut areas = vec![Area::Echo];
    if wrk_ok {
        areas.push(Area::Http(HttpMode::Plain));
        if opts.http.pipeline > 0 {
            areas.push(Area::Http(HttpMode::Pipelined(opts.http.pipeline)));
        }
    } else {
        say(&format!(
            "uring: `{}` could not be run; no HTTP rows (apt-get install wrk)",
            opts.http.wrk
        ));
    }
    let mut grids = Vec::new();
    for area in areas {
        let (conns, rounds) = match area {
            Area::Echo => (&opts.io.conns, opts.io.rounds),
            Area::Http(HttpMode::Plain) => (&opts.http.conns, opts.http.rounds),
            Area::Http(_) => (
                &opts.http.conns,
                opts.http.pipeline_rounds.unwrap_or(opts.http.rounds),
            ),
        };
        for &n in conns {
            grids.push(grid(opts, &place, area, n, rounds));
        }
    }
    let memory = memory(opts, &place);
    if let Some(dir) = &opts.csv_dir {
        if let Err(e) = uring_report::write_csv(&dir.join("uring.csv"), &grids) {
            say(&format!(
                "could not write {}: {e}",
                dir.join("uring.csv").display()
            ));
        }
    }
    uring_report::write(out, opts, &grids, &memory)
}

/// One area at one connection count: `rounds` rounds; in each, every other
/// server runs next to a fresh grove-epoll process, in alternating order.
/// A server that fails is not run again.
fn grid(opts: &Options, place: &Placement, area: Area, conns: usize, rounds: usize) -> Grid {
    let mut g = Grid::new(area, conns, rounds);
    for round in 0..rounds {
        for (peer, partner) in SERVERS.iter().enumerate().skip(1) {
            if g.failed[peer].is_some() {
                continue;
            }
            let mut got: [Option<Meas>; 2] = [None, None];
            for (slot, i) in crate::noise::pair_order(round, (0, 0), (1, peer)) {
                if g.failed[i].is_some() {
                    continue;
                }
                match measure(opts, place, SERVERS[i], area, conns) {
                    Ok(m) => {
                        say(&format!(
                            "uring {} {} @ {}, round {} (pair with {}): {}, {:.2} µs CPU/op",
                            area.name(),
                            SERVERS[i].key(area.is_http()),
                            report::count(conns),
                            round + 1,
                            partner.key(area.is_http()),
                            report::per_sec(m.rate),
                            m.cpu_us
                        ));
                        got[slot] = Some(m.clone());
                        g.samples[i].push((round, m));
                    }
                    Err(why) => {
                        say(&format!(
                            "uring {} {} @ {}: {why}",
                            area.name(),
                            SERVERS[i].key(area.is_http()),
                            report::count(conns)
                        ));
                        g.failed[i] = Some(why);
                    }
                }
            }
            if let [Some(base), Some(p)] = &got {
                g.paired[peer].push((p.cpu_us / base.cpu_us, p.rate / base.rate));
            }
        }
    }
    g
}

/// One fresh process of `server`: its rate and server CPU per operation.
fn measure(
    opts: &Options,
    place: &Placement,
    server: Server,
    area: Area,
    conns: usize,
) -> Result<Meas, String> {
    let http = area.is_http();
    match area {
        Area::Echo => {
            let run = io_rows::run_server(
                opts,
                place,
                server.key(false),
                IoMode::Echo(conns),
                |port, life| argv(opts, server, false, port, life).map_err(IoCell::Unavailable),
            )
            .map_err(|cell| cell.brief())?;
            let best = run
                .reps
                .get("echo")
                .filter(|v| run.succeeded() && !v.is_empty())
                .map(|v| v.iter().copied().fold(0.0, f64::max))
                .ok_or_else(|| run.failure())?;
            let load = run.load.get("echo").and_then(|v| Load::from_record(v));
            let load = load.ok_or("the load generator reported no CPU record")?;
            Ok(Meas {
                rate: best,
                cpu_us: load.server_us,
                other: load.other,
                note: None,
            })
        }
        Area::Http(mode) => {
            let (sample, _runs, _bytes) =
                http_rows::run_server(opts, place, server.key(http), conns, mode, |port, life| {
                    argv(opts, server, true, port, life)
                        .map(|a| io_rows::pinned(place.server, a))
                        .map_err(http_rows::Cell::Unavailable)
                })
                .map_err(|cell| match cell {
                    http_rows::Cell::Unavailable(w) | http_rows::Cell::Failed(w) => w,
                    _ => "skipped".to_string(),
                })?;
            Ok(Meas {
                rate: sample.req_per_sec,
                cpu_us: sample.cpu_us,
                other: sample.other,
                note: sample.errors.clone(),
            })
        }
    }
}

/// Server memory per idle connection (`--mem-conns`, default 10k) of both
/// grove backends, monoio and tokio: one process pair each.
fn memory(opts: &Options, place: &Placement) -> Vec<(Server, IoCell)> {
    [
        Server::GroveEpoll,
        Server::GroveUring,
        Server::Monoio,
        Server::Tokio,
    ]
    .into_iter()
    .map(|server| {
        let n = opts.io.mem_conns;
        let cell = match io_rows::run_server(
            opts,
            place,
            server.key(false),
            IoMode::Idle(n),
            |port, life| argv(opts, server, false, port, life).map_err(IoCell::Unavailable),
        ) {
            Ok(run) => io_rows::mem_cell(&run),
            Err(cell) => cell,
        };
        say(&format!(
            "uring {} memory per idle connection: {}",
            server.key(false),
            cell.brief()
        ));
        (server, cell)
    })
    .collect()
}
