//! `harness all`: runs every (subject, benchmark) pair in its own process and
//! prints the side-by-side markdown table.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::child::{self, ChildRun};
use crate::dns::{self, DnsOptions};
use crate::http_rows::{self, HttpOptions};
use crate::io_rows::{self, IoOptions};
use crate::report::{self, Cell, Row, Target};
use crate::sysctl::MapCount;
use crate::uring_rows::{self, UringOptions};
use crate::xmlrpc_rows::{self, XmlrpcOptions};

/// The table's columns, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Grove,
    Corosensei,
    May,
    Tokio,
    Go,
    Gevent,
}

pub const COLS: [Col; 6] = [
    Col::Grove,
    Col::Corosensei,
    Col::May,
    Col::Tokio,
    Col::Go,
    Col::Gevent,
];

impl Col {
    pub fn title(self) -> &'static str {
        match self {
            Col::Grove => "grove",
            Col::Corosensei => "corosensei raw",
            Col::May => "may",
            Col::Tokio => "tokio",
            Col::Go => "Go",
            Col::Gevent => "gevent",
        }
    }

    /// The name used on the command line (`--subjects`).
    pub fn key(self) -> &'static str {
        match self {
            Col::Grove => "grove",
            Col::Corosensei => "corosensei",
            Col::May => "may",
            Col::Tokio => "tokio",
            Col::Go => "go",
            Col::Gevent => "gevent",
        }
    }

    pub fn from_key(key: &str) -> Option<Col> {
        COLS.into_iter().find(|c| c.key() == key)
    }

    /// Iterations per timed repetition, chosen so one repetition takes
    /// roughly 20–300 ms for each subject.
    fn iterations(self, bench: &str) -> usize {
        match (bench, self) {
            ("switch", Col::Gevent) => 100_000,
            ("switch", _) => 1_000_000,
            ("spawn", Col::Gevent) => 20_000,
            ("spawn", Col::May) => 50_000,
            ("spawn", _) => 200_000,
            ("queue" | "event", Col::Gevent) => 50_000,
            ("queue" | "event", _) => 1_000_000,
            ("sem", Col::Gevent) => 500_000,
            ("sem", _) => 5_000_000,
            _ => 1,
        }
    }
}

/// How a column's measuring process is started.
#[derive(Clone, Debug)]
pub enum Runner {
    /// `harness child <subject> …`
    Child(&'static str),
    /// An external program taking `<bench> <n> <reps>`.
    External(Vec<String>),
    /// Not runnable here; the reason is printed in the table.
    Unavailable(String),
    /// Left out with `--subjects`.
    NotSelected,
}

/// Options of `harness all`.
#[derive(Debug)]
pub struct Options {
    pub reps: usize,
    pub scale: f64,
    pub mem_counts: Vec<usize>,
    pub benches: Vec<String>,
    pub subjects: Vec<Col>,
    pub go: Runner,
    pub gevent: Runner,
    pub timeout: Duration,
    /// `vm.max_map_count` used for memory rows above `raise_above` tasks (0: never raise).
    pub map_count: u64,
    pub raise_above: usize,
    /// The cooperative-I/O rows.
    pub io: IoOptions,
    /// The DNS section (its own table).
    pub dns: DnsOptions,
    /// The HTTP rows.
    pub http: HttpOptions,
    /// The XML-RPC rows.
    pub xmlrpc: XmlrpcOptions,
    /// The io_uring comparison.
    pub uring: UringOptions,
    /// Where to write each area's figures as CSV for the plots (`--csv-dir`).
    pub csv_dir: Option<PathBuf>,
    pub benches_dir: PathBuf,
}

/// Every benchmark `--benches` accepts: the child benchmarks, then the I/O rows.
pub fn all_benches() -> impl Iterator<Item = &'static str> {
    crate::subjects::BENCHES
        .iter()
        .chain(io_rows::IO_BENCHES)
        .chain(dns::DNS_BENCHES)
        .chain(&["http", "xmlrpc"])
        .chain(crate::monkey_rows::MONKEY_BENCHES)
        .chain(crate::bridge_rows::BRIDGE_BENCHES)
        .chain(uring_rows::URING_BENCHES)
        .copied()
}

impl Options {
    pub fn new(benches_dir: PathBuf) -> Options {
        let go = benches_dir.join("target/go/grove-bench-go");
        let python = benches_dir.join("target/venv/bin/python");
        let script = benches_dir.join("peers/gevent/peer.py");
        Options {
            reps: 5,
            scale: 1.0,
            mem_counts: vec![10_000, 100_000, 1_000_000],
            // The io_uring comparison repeats the echo and HTTP servers:
            // only when asked for.
            benches: all_benches()
                .filter(|b| !uring_rows::URING_BENCHES.contains(b))
                .map(str::to_string)
                .collect(),
            subjects: COLS.to_vec(),
            go: external(&[go]),
            gevent: external(&[python, script]),
            timeout: Duration::from_secs(900),
            map_count: 4_194_304,
            raise_above: 100_000,
            io: IoOptions::default(),
            dns: DnsOptions::new(&benches_dir),
            http: HttpOptions::default(),
            xmlrpc: XmlrpcOptions::new(&benches_dir),
            uring: UringOptions::new(&benches_dir),
            csv_dir: None,
            benches_dir,
        }
    }

    pub fn runner(&self, col: Col) -> Runner {
        if !self.subjects.contains(&col) {
            return Runner::NotSelected;
        }
        match col {
            Col::Grove => Runner::Child("grove"),
            Col::Corosensei => Runner::Child("corosensei"),
            Col::May => Runner::Child("may"),
            Col::Tokio => Runner::Child("tokio"),
            Col::Go => self.go.clone(),
            Col::Gevent => self.gevent.clone(),
        }
    }
}

/// A runner for an external program, or `Unavailable` if its files are missing.
pub fn external(argv: &[PathBuf]) -> Runner {
    for path in argv {
        if !path.exists() {
            return Runner::Unavailable(format!(
                "not available: {} is missing (run benches/run.sh)",
                path.display()
            ));
        }
    }
    Runner::External(argv.iter().map(|p| p.display().to_string()).collect())
}

fn argv(runner: &Runner, bench: &str, n: usize, reps: usize) -> Option<Vec<String>> {
    let mut argv = match runner {
        Runner::Child(subject) => {
            let exe = std::env::current_exe().expect("path of this executable");
            vec![
                exe.display().to_string(),
                "child".to_string(),
                subject.to_string(),
            ]
        }
        Runner::External(prefix) => prefix.clone(),
        Runner::Unavailable(_) | Runner::NotSelected => return None,
    };
    argv.extend([bench.to_string(), n.to_string(), reps.to_string()]);
    Some(argv)
}

pub fn say(msg: &str) {
    eprintln!("[harness] {msg}");
    let _ = std::io::stderr().flush();
}

/// Runs everything selected and prints the report on stdout.
pub fn run_all(opts: &Options) {
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let has = |b: &str| opts.benches.iter().any(|x| x == b);

    if has("switch") {
        let mut row = Row::new("switch: round trip between two tasks", Target::Switch);
        for (i, col) in COLS.into_iter().enumerate() {
            row.cells[i] = timed(opts, col, "switch", "switch");
        }
        rows.push(row);
    }

    if has("spawn") {
        let mut task = Row::new("spawn+join empty task, inside a task", Target::Spawn);
        let mut main = Row::new("spawn+join empty task, from main stack", Target::Spawn);
        for (i, col) in COLS.into_iter().enumerate() {
            let (t, m) = spawn_cells(opts, col);
            task.cells[i] = t;
            main.cells[i] = m;
        }
        rows.push(task);
        rows.push(main);
    }

    if has("mem") {
        let mut maps = MapCount::read();
        if let Some(maps) = &maps {
            notes.push(format!(
                "vm.max_map_count is {} on this machine.",
                maps.original
            ));
        }
        for &count in &opts.mem_counts {
            let raise = count > opts.raise_above && opts.map_count > 0;
            let mut row = Row::new(
                &format!("memory per idle task @ {}", report::count(count)),
                Target::Memory,
            );
            row.count = count;
            // grove first, always at the machine's own limit.
            if let Some(maps) = maps.as_mut() {
                maps.restore();
            }
            row.cells[0] = memory(opts, Col::Grove, count);
            if raise && matches!(row.cells[0], Cell::Failed(_)) {
                if let Some(maps) = maps.as_mut() {
                    if maps.raise(opts.map_count).is_ok() {
                        say(&format!(
                            "grove failed at vm.max_map_count={}; retrying with {}",
                            maps.original, opts.map_count
                        ));
                        let first = std::mem::replace(&mut row.cells[0], Cell::Skipped);
                        row.cells[0] = memory(opts, Col::Grove, count);
                        if let Cell::Failed(why) = first {
                            row.cells[0].annotate(&format!(
                                "grove: only with vm.max_map_count raised to {} (at {} it {why})",
                                opts.map_count, maps.original
                            ));
                        }
                    }
                }
            }
            if raise {
                match maps.as_mut().map(|m| m.raise(opts.map_count)) {
                    Some(Ok(msg)) => {
                        say(&msg);
                        notes.push(format!(
                            "Row @ {}: the peers ran with vm.max_map_count raised to {} (sysctl, as root; restored afterwards); grove ran first at the machine's own limit.",
                            report::count(count),
                            opts.map_count
                        ));
                    }
                    Some(Err(e)) => notes.push(format!(
                        "Row @ {}: could not raise vm.max_map_count ({e}); every subject ran at the machine's own limit.",
                        report::count(count)
                    )),
                    None => {}
                }
            }
            for (i, col) in COLS.into_iter().enumerate().skip(1) {
                row.cells[i] = memory(opts, col, count);
            }
            rows.push(row);
        }
        if let Some(maps) = maps.as_mut() {
            maps.restore();
        }
    }

    // coordination primitives, two tasks (or one) on one scheduler.
    for (bench, label, target) in PRIMITIVE_ROWS {
        if has(bench) {
            rows.push(primitive_row(opts, bench, label, target));
        }
    }

    // cooperative I/O, each cell a server process and the load generator.
    if has("echo") || has("connmem") {
        let (io, io_notes) = io_rows::rows(opts, has("echo"), has("connmem"));
        rows.extend(io);
        notes.extend(io_notes);
    }

    let mut out = std::io::stdout().lock();
    if !rows.is_empty()
        || !(has("http")
            || has("dns")
            || has("xmlrpc")
            || has("monkey")
            || has("bridge")
            || has("uring"))
    {
        let _ = report::write(&mut out, opts, &rows, &notes);
    }
    if let Some(dir) = &opts.csv_dir {
        if let Err(e) = report::write_csv(dir, &rows) {
            say(&format!(
                "could not write the CSV files into {}: {e}",
                dir.display()
            ));
        }
    }

    // HTTP servers under wrk, a section of its own.
    if has("http") {
        if !rows.is_empty() {
            let _ = writeln!(out);
        }
        let _ = http_rows::run(opts, &mut out);
    }

    // DNS forwarders, a table of their own after the others.
    if has("dns") {
        let section = dns::section(opts, opts.csv_dir.as_deref());
        let _ = writeln!(out, "\n{section}");
    }

    // XML-RPC servers under grove-xmlrpc's load client.
    if has("xmlrpc") {
        let _ = xmlrpc_rows::run(opts, &mut out);
    }

    // grove-monkey, from its own binary (`monkey-bench`).
    if has("monkey") {
        let _ = writeln!(out, "\n{}", crate::monkey_rows::section(opts));
    }

    // grove's bridges to threads and tokio.
    if has("bridge") {
        let _ = writeln!(out, "\n{}", crate::bridge_rows::section(opts));
    }

    // grove on epoll and on io_uring against the io_uring peers and floors.
    if has("uring") {
        let _ = uring_rows::run(opts, &mut out);
    }
}

/// The coordination-primitive rows: benchmark, label, target.
const PRIMITIVE_ROWS: [(&str, &str, Target); 3] = [
    (
        "queue",
        "queue ping-pong: round trip between two tasks",
        Target::Queue,
    ),
    (
        "sem",
        "semaphore(1) uncontended acquire+release",
        Target::Semaphore,
    ),
    (
        "event",
        "event set/wait ping-pong: round trip",
        Target::Event,
    ),
];

/// Why a column has no counterpart for a primitive benchmark, if it has none.
fn not_applicable(col: Col, bench: &str) -> Option<&'static str> {
    match (col, bench) {
        (Col::Corosensei, "queue" | "sem" | "event") => {
            Some("not applicable: raw coroutines have no scheduler, so there is nothing to wait on")
        }
        (Col::May, "event") => {
            Some("not applicable: may has no resettable event (its SyncFlag never clears)")
        }
        _ => None,
    }
}

/// Second forms a peer also measures for a primitive benchmark: (metric, what
/// the table's cell measures, what this form measures). Shown as a footnote.
fn variants(col: Col, bench: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match (col, bench) {
        (Col::Go, "queue") => &[(
            "queue_unbuffered",
            "two buffered channels (capacity 1)",
            "two unbuffered channels",
        )],
        (Col::Go, "sem") => &[(
            "sem_mutex",
            "a `chan struct{}` of capacity 1 (send = acquire, receive = release)",
            "`sync.Mutex` Lock+Unlock",
        )],
        _ => &[],
    }
}

/// One row of the primitive benchmarks, all columns.
fn primitive_row(opts: &Options, bench: &str, label: &str, target: Target) -> Row {
    let mut row = Row::new(label, target);
    for (i, col) in COLS.into_iter().enumerate() {
        row.cells[i] = match not_applicable(col, bench) {
            Some(why) if opts.subjects.contains(&col) => Cell::Unavailable(why.to_string()),
            _ => {
                let mut metrics = vec![bench];
                metrics.extend(variants(col, bench).iter().map(|v| v.0));
                let mut cells = timed_metrics(opts, col, bench, &metrics).into_iter();
                let mut main = cells.next().unwrap_or(Cell::Skipped);
                let extra: Vec<String> = variants(col, bench)
                    .iter()
                    .zip(cells)
                    .filter_map(|(&(_, this, that), cell)| {
                        let v = cell.value()?;
                        let vs_grove = match row.cells[0].value() {
                            Some(g) => format!(" (grove ÷ that: {})", report::ratio(g / v)),
                            None => String::new(),
                        };
                        Some(format!(
                            "{}: the cell is {this}; with {that}: {}{vs_grove}.",
                            col.title(),
                            report::ns(v)
                        ))
                    })
                    .collect();
                if main.value().is_some() && !extra.is_empty() {
                    main.annotate(&extra.join(" "));
                }
                main
            }
        };
    }
    row
}

/// Starts `bench` of `col` once and reads every metric in `metrics` from it.
fn timed_metrics(opts: &Options, col: Col, bench: &str, metrics: &[&str]) -> Vec<Cell> {
    let (run, n) = match launch(opts, col, bench) {
        Ok(x) => x,
        Err(cell) => return vec![cell; metrics.len()],
    };
    let cells: Vec<Cell> = metrics.iter().map(|m| time_cell(&run, m, n)).collect();
    let briefs: Vec<String> = metrics
        .iter()
        .zip(&cells)
        .map(|(m, c)| format!("{m} {}", c.brief()))
        .collect();
    say(&format!("{} {bench}: {}", col.title(), briefs.join(", ")));
    cells
}

fn timed(opts: &Options, col: Col, bench: &str, metric: &str) -> Cell {
    let (run, n) = match launch(opts, col, bench) {
        Ok(x) => x,
        Err(cell) => return cell,
    };
    let cell = time_cell(&run, metric, n);
    say(&format!("{} {metric}: {}", col.title(), cell.brief()));
    cell
}

fn spawn_cells(opts: &Options, col: Col) -> (Cell, Cell) {
    let (run, n) = match launch(opts, col, "spawn") {
        Ok(x) => x,
        Err(cell) => return (cell.clone(), cell),
    };
    let task = time_cell(&run, "spawn_task", n);
    let main = time_cell(&run, "spawn_main", n);
    say(&format!(
        "{} spawn+join: task {}, main {}",
        col.title(),
        task.brief(),
        main.brief()
    ));
    (task, main)
}

/// Starts the timed benchmark `bench` of `col`; `Err` holds the cell to show instead.
fn launch(opts: &Options, col: Col, bench: &str) -> Result<(ChildRun, usize), Cell> {
    let runner = opts.runner(col);
    let n = ((col.iterations(bench) as f64 * opts.scale) as usize).max(100);
    let Some(argv) = argv(&runner, bench, n, opts.reps) else {
        return Err(not_run(runner));
    };
    say(&format!(
        "{} {bench} (n = {n}, {} reps) …",
        col.title(),
        opts.reps
    ));
    Ok((child::run(&argv, opts.timeout), n))
}

/// The cell of a column that is not run.
fn not_run(runner: Runner) -> Cell {
    match runner {
        Runner::Unavailable(why) => Cell::Unavailable(why),
        _ => Cell::Skipped,
    }
}

fn time_cell(run: &ChildRun, metric: &str, n: usize) -> Cell {
    match run.reps.get(metric) {
        Some(values) if run.succeeded() && !values.is_empty() => {
            let mut v = values.clone();
            v.sort_by(f64::total_cmp);
            Cell::Time {
                median: crate::noise::median(&v).unwrap_or(v[0]),
                min: v[0],
                max: v[v.len() - 1],
                n,
                reps: v.len(),
                note: None,
            }
        }
        _ => Cell::Failed(run.failure()),
    }
}

fn memory(opts: &Options, col: Col, count: usize) -> Cell {
    let runner = opts.runner(col);
    let Some(argv) = argv(&runner, "mem", count, 1) else {
        return not_run(runner);
    };
    say(&format!(
        "{} memory @ {} …",
        col.title(),
        report::count(count)
    ));
    let run = child::run(&argv, opts.timeout);
    let cell = match run.mem {
        Some(m) if run.succeeded() => {
            let per =
                |before: u64, after: u64| (after as f64 - before as f64) * 1024.0 / m.n as f64;
            Cell::Mem {
                rss: per(m.rss_before_kb, m.rss_after_kb),
                pte: per(m.pte_before_kb, m.pte_after_kb),
                rss_only: false,
                note: None,
            }
        }
        _ => Cell::Failed(format!(
            "failed at {}: {}",
            report::count_exact(run.progress),
            run.failure()
        )),
    };
    say(&format!(
        "{} memory @ {}: {}",
        col.title(),
        report::count(count),
        cell.brief()
    ));
    cell
}
