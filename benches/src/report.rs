//! The markdown report: one table, grove against each peer, with the ratio
//! grove ÷ peer in every peer cell and the targets checked in the last column.

use std::io::{self, Write};

use crate::noise::{weakest, Better, Ratios, Verdict, RULE};
use crate::orchestrate::{Col, Options, COLS};

/// Targets from the project brief.
pub const SWITCH_TARGET_NS: f64 = 25.0;
pub const SWITCH_TARGET_CORO_RATIO: f64 = 8.0;
pub const SPAWN_TARGET_NS: f64 = 150.0;
/// "4.5 KB" read strictly, as decimal kilobytes (4500 B, not 4.5 KiB = 4608 B).
pub const MEMORY_TARGET_BYTES: f64 = 4500.0;
/// Items a queue ping-pong round trip delivers: one each way.
pub const ITEMS_PER_ROUND_TRIP: f64 = 2.0;

/// What a row measures, which fixes its unit and its target.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Switch,
    Spawn,
    Memory,
    /// Queue ping-pong: ahead of may, tokio and Go.
    Queue,
    /// Uncontended semaphore acquire+release: no target, reported.
    Semaphore,
    /// Event set/wait round trip: no target, reported.
    Event,
    /// Echo round trips per second: ahead of tokio. Higher is better.
    Echo,
    /// Server VmRSS per idle connection: no target, reported.
    ConnMemory,
}

/// What the load generator saw around an echo cell (see `loadgen.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// CPU time ÷ wall time of the server, the client, the kernel's
    /// `ksoftirqd` threads and everything else.
    pub server: f64,
    pub client: f64,
    pub softirqd: f64,
    pub other: f64,
    /// Server CPU time per round trip, µs.
    pub server_us: f64,
    /// Timed windows run (the least disturbed `reps` were kept).
    pub windows: usize,
    /// The largest "other" share among the kept windows.
    pub worst_other: f64,
}

impl Load {
    pub fn from_record(v: &[f64]) -> Option<Load> {
        match *v {
            [server, client, softirqd, other, server_us, windows, worst_other] => Some(Load {
                server,
                client,
                softirqd,
                other,
                server_us,
                windows: windows as usize,
                worst_other,
            }),
            _ => None,
        }
    }
}

/// One measured (or not measured) cell.
#[derive(Clone, Debug)]
pub enum Cell {
    /// ns/op over `reps` timed repetitions of `n` operations.
    Time {
        median: f64,
        min: f64,
        max: f64,
        n: usize,
        reps: usize,
        note: Option<String>,
    },
    /// Round trips per second: `median` over the rounds (one fresh process
    /// pair each) of each round's best window, the median of all `reps`
    /// windows, their range, and what the load generator saw.
    Rate {
        median: f64,
        windows_median: f64,
        min: f64,
        max: f64,
        reps: usize,
        /// The best window of each round (one fresh process pair per round).
        rounds: Vec<f64>,
        /// grove ÷ this column per round, the two processes adjacent (empty
        /// for grove itself and when grove has no result).
        paired: Vec<f64>,
        load: Option<Box<Load>>,
        note: Option<String>,
    },
    /// Bytes per idle task: resident set and page tables (`rss_only`: the
    /// compared value is the resident set alone, page tables are shown aside).
    Mem {
        rss: f64,
        pte: f64,
        rss_only: bool,
        note: Option<String>,
    },
    Failed(String),
    Unavailable(String),
    Skipped,
}

impl Cell {
    /// The number compared across columns: median ns/op, median round
    /// trips/s, or RSS(+PTE) bytes.
    pub fn value(&self) -> Option<f64> {
        match self {
            Cell::Time { median, .. } | Cell::Rate { median, .. } => Some(*median),
            Cell::Mem {
                rss, pte, rss_only, ..
            } => Some(if *rss_only { *rss } else { rss + pte }),
            _ => None,
        }
    }

    /// Attaches a footnote to the cell.
    pub fn annotate(&mut self, text: &str) {
        match self {
            Cell::Mem { note, .. } | Cell::Time { note, .. } | Cell::Rate { note, .. } => {
                *note = Some(text.to_string())
            }
            Cell::Failed(why) => *why = format!("{why}; {text}"),
            _ => {}
        }
    }

    /// A one-line summary for progress messages.
    pub fn brief(&self) -> String {
        match self {
            Cell::Time { .. } => ns(self.value().unwrap_or(0.0)),
            Cell::Rate { median, load, .. } => {
                format!("{}{}", per_sec(*median), load_text(load.as_deref()))
            }
            Cell::Mem {
                rss,
                pte,
                rss_only: true,
                ..
            } => format!("RSS {} (PTE {})", bytes(*rss), bytes(*pte)),
            Cell::Mem { rss, pte, .. } => {
                format!(
                    "{} (RSS {} + PTE {})",
                    bytes(rss + pte),
                    bytes(*rss),
                    bytes(*pte)
                )
            }
            Cell::Failed(why) => format!("FAILED: {why}"),
            Cell::Unavailable(why) => why.clone(),
            Cell::Skipped => "skipped".to_string(),
        }
    }
}

/// One table row: a label, a target and one cell per column.
#[derive(Debug)]
pub struct Row {
    pub label: String,
    pub target: Target,
    /// The row's count, for the plots: idle tasks of a memory row,
    /// connections of an echo row (0 otherwise).
    pub count: usize,
    pub cells: [Cell; 6],
}

impl Row {
    pub fn new(label: &str, target: Target) -> Row {
        Row {
            label: label.to_string(),
            target,
            count: 0,
            cells: std::array::from_fn(|_| Cell::Skipped),
        }
    }

    fn unit(&self) -> &'static str {
        match self.target {
            Target::Switch | Target::Spawn => "ns/op",
            Target::Memory => "bytes/task, RSS+PTE",
            Target::Queue => "ns per round trip · items/s",
            Target::Semaphore => "ns per acquire+release",
            Target::Event => "ns per round trip",
            Target::Echo => "round trips/s",
            Target::ConnMemory => "bytes/connection, VmRSS",
        }
    }

    fn show(&self, v: f64) -> String {
        match self.target {
            Target::Switch | Target::Spawn | Target::Semaphore | Target::Event => ns(v),
            Target::Memory | Target::ConnMemory => bytes(v),
            Target::Queue => format!("{} · {}", ns(v), items_per_sec(v)),
            Target::Echo => per_sec(v),
        }
    }

    /// grove ÷ column `i` under the noise rule (`crate::noise`): paired
    /// rounds for rate cells, the repetitions' cross ratios for timed ones.
    fn ratios(&self, i: usize) -> Option<Ratios> {
        match (&self.cells[0], &self.cells[i]) {
            (Cell::Time { .. }, Cell::Time { .. }) => {
                let (g, p) = (time_spread(&self.cells[0])?, time_spread(&self.cells[i])?);
                Some(Ratios::from_reps(
                    g,
                    p,
                    reps(&self.cells[0]).min(reps(&self.cells[i])),
                ))
            }
            (_, Cell::Rate { paired, .. }) => Ratios::paired(paired),
            _ => None,
        }
    }

    /// grove against an absolute bound (`≤ 25 ns`): its repetitions' spread
    /// ÷ the bound.
    fn against(&self, bound: f64) -> Option<Ratios> {
        let g = time_spread(&self.cells[0])?;
        Some(Ratios::from_reps(
            g,
            (bound, bound, bound),
            reps(&self.cells[0]),
        ))
    }

    /// "ahead of every peer in `cols`": the verdict against the nearest one
    /// (the weakest of the comparisons decides), with each comparison listed.
    fn ahead_of(&self, cols: &[Col], better: Better) -> String {
        let (worst, parts, missing) = self.compare(cols, better);
        let mut s = match worst {
            Some(v) if missing.is_empty() => v.target_word(),
            Some(_) => "not demonstrable here (a named peer has no result)".to_string(),
            None => "no peer result".to_string(),
        };
        if !parts.is_empty() {
            s += &format!(" — {}", parts.join("; "));
        }
        if !missing.is_empty() {
            s += &format!("; not measured: {}", missing.join(", "));
        }
        s
    }

    /// Each comparison with a peer in `cols` (no target: no overall verdict,
    /// and a peer without a result is left out).
    fn each(&self, cols: &[Col], better: Better) -> String {
        let (_, parts, _) = self.compare(cols, better);
        parts.join("; ")
    }

    /// grove against each peer in `cols` that has a result: the weakest
    /// verdict, one `peer ratio (spread) verdict` text each, and the peers
    /// without a result.
    fn compare(
        &self,
        cols: &[Col],
        better: Better,
    ) -> (Option<Verdict>, Vec<String>, Vec<&'static str>) {
        let mut worst: Option<Verdict> = None;
        let mut parts = Vec::new();
        let mut missing = Vec::new();
        for (i, col) in COLS.iter().enumerate().filter(|(_, c)| cols.contains(c)) {
            match self.ratios(i) {
                Some(r) => {
                    let v = r.verdict(1.0, better);
                    parts.push(format!("{} {r} {v}", col.title()));
                    worst = Some(match worst {
                        None => v,
                        Some(w) => weakest(&w, &v),
                    });
                }
                None => missing.push(col.title()),
            }
        }
        (worst, parts, missing)
    }

    /// The last column: what the row shows about grove's target, under the
    /// one noise rule.
    fn verdict(&self) -> String {
        let Some(g) = self.cells[0].value() else {
            return "no grove result".to_string();
        };
        let schedulers = [Col::May, Col::Tokio, Col::Go, Col::Gevent];
        match self.target {
            Target::Switch => {
                let mut s = match self.against(SWITCH_TARGET_NS) {
                    Some(r) => format!(
                        "≤ {SWITCH_TARGET_NS} ns: {}",
                        r.verdict(1.0, Better::Lower).target_word()
                    ),
                    None => "no grove result".to_string(),
                };
                if let Some(r) = self.ratios(1) {
                    let v = r.verdict(SWITCH_TARGET_CORO_RATIO, Better::Lower);
                    s += &format!(
                        "; ≤ {SWITCH_TARGET_CORO_RATIO}× corosensei: {} ({r})",
                        v.target_word()
                    );
                }
                s
            }
            Target::Spawn => {
                let s = match self.against(SPAWN_TARGET_NS) {
                    Some(r) => format!(
                        "< {SPAWN_TARGET_NS} ns: {}",
                        r.verdict(1.0, Better::Lower).target_word()
                    ),
                    None => "no grove result".to_string(),
                };
                // "Ahead of every peer" means every scheduler: corosensei raw
                // has none, so it is not part of this check.
                format!(
                    "{s}; ahead of every scheduler peer: {}",
                    self.ahead_of(&schedulers, Better::Lower)
                )
            }
            // Memory cells are page counts of one process, not timings:
            // there are no repetitions to take a spread from.
            Target::Memory => format!(
                "≤ {}: {} ({}; one process, counted pages)",
                bytes(MEMORY_TARGET_BYTES),
                if g <= MEMORY_TARGET_BYTES {
                    "met"
                } else {
                    "not met"
                },
                bytes(g)
            ),
            Target::Queue => format!(
                "ahead of may, tokio and Go: {}",
                self.ahead_of(&[Col::May, Col::Tokio, Col::Go], Better::Lower)
            ),
            Target::Semaphore | Target::Event => {
                format!(
                    "no target (reported only): {}",
                    self.each(&schedulers, Better::Lower)
                )
            }
            // Round trips/s name the target; where neither server set its
            // own rate (the load generator at its ceiling, or other
            // processes taking more CPU than the server) it cannot rank them.
            Target::Echo
                if rate_set_elsewhere(&self.cells[0])
                    && rate_set_elsewhere(&self.cells[tokio_index()]) =>
            {
                format!(
                    "ahead of tokio: not demonstrable here (the load generator's ceiling or \
                     the machine's load set both rates); the spread alone: {}",
                    self.each(&[Col::Tokio], Better::Higher)
                )
            }
            Target::Echo => format!(
                "ahead of tokio: {}",
                self.ahead_of(&[Col::Tokio], Better::Higher)
            ),
            Target::ConnMemory => match self.cells[tokio_index()].value() {
                Some(t) => format!(
                    "no target (reported only; one process, counted pages); grove ÷ tokio: {}",
                    ratio(g / t)
                ),
                None => "no target (reported only)".to_string(),
            },
        }
    }
}

/// Whether something other than the server set a rate cell's rate: the load
/// generator at ≥ 0.95 of its CPU, or other processes taking more CPU than
/// the server (means over the cell's processes).
fn rate_set_elsewhere(cell: &Cell) -> bool {
    match cell {
        Cell::Rate {
            load: Some(load), ..
        } => load.client >= 0.95 || load.other > load.server,
        _ => false,
    }
}

/// A timed cell as (median, min, max).
fn time_spread(cell: &Cell) -> Option<(f64, f64, f64)> {
    match cell {
        Cell::Time {
            median, min, max, ..
        } => Some((*median, *min, *max)),
        _ => None,
    }
}

fn reps(cell: &Cell) -> usize {
    match cell {
        Cell::Time { reps, .. } | Cell::Rate { reps, .. } => *reps,
        _ => 0,
    }
}

fn tokio_index() -> usize {
    COLS.iter().position(|c| *c == Col::Tokio).unwrap_or(0)
}

/// Footnotes shared by the cells that need them.
#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn mark(&mut self, text: &str) -> usize {
        let text = text.replace('|', "/");
        match self.0.iter().position(|t| *t == text) {
            Some(i) => i + 1,
            None => {
                self.0.push(text);
                self.0.len()
            }
        }
    }
}

fn cell_text(row: &Row, col: usize, notes: &mut Notes) -> String {
    let cell = &row.cells[col];
    match cell {
        Cell::Time { .. } | Cell::Mem { .. } | Cell::Rate { .. } => {
            let v = cell.value().unwrap_or(0.0);
            let mut s = row.show(v);
            if let Cell::Mem {
                note: Some(note), ..
            }
            | Cell::Time {
                note: Some(note), ..
            }
            | Cell::Rate {
                note: Some(note), ..
            } = cell
            {
                s += &format!(" [{}]", notes.mark(note));
            }
            if col > 0 {
                if let Some(g) = row.cells[0].value() {
                    s += &format!(" ({})", ratio(g / v));
                }
            }
            s
        }
        Cell::Failed(why) => {
            let short = match why.split_once(": ") {
                Some((head, _)) if head.starts_with("failed at") => head.to_string(),
                _ => "failed".to_string(),
            };
            let why = why.replace('\n', " ");
            format!(
                "{short} [{}]",
                notes.mark(&format!("{}: {why}", COLS[col].title()))
            )
        }
        Cell::Unavailable(why) => format!(
            "n/a [{}]",
            notes.mark(&format!("{}: {why}", COLS[col].title()))
        ),
        Cell::Skipped => "—".to_string(),
    }
}

fn spread_text(cell: &Cell) -> String {
    match cell {
        Cell::Time {
            median,
            min,
            max,
            n,
            reps,
            ..
        } => format!(
            "{} ({:.1}–{:.1}; {reps}×{})",
            ns(*median),
            min,
            max,
            count(*n)
        ),
        Cell::Rate {
            median,
            windows_median,
            min,
            max,
            reps,
            rounds,
            paired,
            load,
            ..
        } => format!(
            "{} (best window per process: {}; all {reps} windows: median {}, {}–{}{}){}",
            per_sec(*median),
            rounds
                .iter()
                .map(|r| per_sec(*r))
                .collect::<Vec<_>>()
                .join(", "),
            per_sec(*windows_median),
            per_sec(*min),
            per_sec(*max),
            if paired.is_empty() {
                String::new()
            } else {
                format!(
                    "; grove ÷ this per round: {}",
                    paired
                        .iter()
                        .map(|r| ratio(*r))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            load_text(load.as_deref())
        ),
        Cell::Mem {
            rss,
            pte,
            rss_only: true,
            ..
        } => format!("RSS {} (+ PTE {})", bytes(*rss), bytes(*pte)),
        Cell::Mem { rss, pte, .. } => format!("RSS {} + PTE {}", bytes(*rss), bytes(*pte)),
        Cell::Failed(_) => "failed".to_string(),
        Cell::Unavailable(_) => "n/a".to_string(),
        Cell::Skipped => "—".to_string(),
    }
}

/// Writes the whole report.
pub fn write(
    out: &mut impl Write,
    opts: &Options,
    rows: &[Row],
    extra: &[String],
) -> io::Result<()> {
    let mut notes = Notes::default();
    let header: Vec<&str> = COLS.iter().map(|c| c.title()).collect();

    writeln!(out, "## grove vs peers\n")?;
    writeln!(out, "{}\n", machine())?;
    writeln!(
        out,
        "Each timed cell is the median of {} repetitions (after one warm-up) in a process of its own; \
         every memory cell is a fresh process that parks N tasks and reports (after − before)/N of \
         VmRSS + VmPTE from /proc/self/status. Peer cells show `value (grove ÷ peer)`: below 1× grove \
         is faster or smaller. Single-threaded schedulers throughout: grove's hub, may with 1 worker, \
         tokio current-thread, Go with GOMAXPROCS=1, gevent's hub; corosensei raw is resume/suspend \
         with no scheduler at all (spawn: a coroutine on a reused {} KiB stack; memory: one fresh \
         {} KiB stack each).\n",
        opts.reps,
        crate::subjects::corosensei::STACK_SIZE / 1024,
        crate::subjects::corosensei::STACK_SIZE / 1024,
    )?;
    writeln!(
        out,
        "Targets for grove: switch ≤ {SWITCH_TARGET_NS} ns and ≤ {SWITCH_TARGET_CORO_RATIO}× corosensei raw; \
         spawn+join < {SPAWN_TARGET_NS} ns and ahead of every scheduler peer (corosensei raw has no scheduler); memory ≤ 4.5 KB ({MEMORY_TARGET_BYTES} B) per idle greenlet; \
         queue ping-pong ahead of may, tokio and Go (items/s counts both items of a round trip); \
         the semaphore and Event rows have no target and are reported side by side; \
         echo round trips/s ahead of tokio at every concurrency level (there, above 1× \
         means grove is ahead); server memory per idle connection has no target.\n"
    )?;
    writeln!(out, "{RULE}\n")?;

    writeln!(out, "| benchmark | {} | grove target |", header.join(" | "))?;
    writeln!(out, "|---|{}---|", "---:|".repeat(COLS.len()))?;
    for row in rows {
        let cells: Vec<String> = (0..COLS.len())
            .map(|i| cell_text(row, i, &mut notes))
            .collect();
        writeln!(
            out,
            "| {} ({}) | {} | {} |",
            row.label,
            row.unit(),
            cells.join(" | "),
            row.verdict()
        )?;
    }
    writeln!(out)?;
    for (i, note) in notes.0.iter().enumerate() {
        writeln!(out, "[{}] {note}  ", i + 1)?;
    }
    for note in extra {
        writeln!(out, "- {note}")?;
    }

    writeln!(
        out,
        "\n### Spread: median (min–max ns; repetitions × iterations; for echo rows min–max \
         round trips/s and the server/client CPU shares), and the memory split\n"
    )?;
    writeln!(out, "| benchmark | {} |", header.join(" | "))?;
    writeln!(out, "|---|{}", "---:|".repeat(COLS.len()))?;
    for row in rows {
        let cells: Vec<String> = row.cells.iter().map(spread_text).collect();
        writeln!(out, "| {} | {} |", row.label, cells.join(" | "))?;
    }
    out.flush()
}

/// Writes the rows' figures into `dir`, one CSV per area that has rows
/// (`switch-spawn.csv`, `memory.csv`, `primitives.csv`, `echo.csv`):
/// `row,count,subject,value,min,max` (ns, bytes or round trips/s; min and
/// max empty where a cell has no repetitions). The plots read them.
pub fn write_csv(dir: &std::path::Path, rows: &[Row]) -> io::Result<()> {
    /// The CSV file of a row's area (`None`: not plotted).
    fn area(t: Target) -> Option<&'static str> {
        match t {
            Target::Switch | Target::Spawn => Some("switch-spawn"),
            Target::Memory => Some("memory"),
            Target::Queue | Target::Semaphore | Target::Event => Some("primitives"),
            Target::Echo => Some("echo"),
            Target::ConnMemory => None,
        }
    }
    for name in ["switch-spawn", "memory", "primitives", "echo"] {
        let mut text = String::from("row,count,subject,value,min,max\n");
        let mut any = false;
        for row in rows.iter().filter(|r| area(r.target) == Some(name)) {
            for (col, cell) in COLS.iter().zip(&row.cells) {
                let Some(v) = cell.value() else { continue };
                let (min, max) = match cell {
                    Cell::Time { min, max, .. } => (min.to_string(), max.to_string()),
                    Cell::Rate { rounds, .. } => (
                        rounds
                            .iter()
                            .copied()
                            .fold(f64::INFINITY, f64::min)
                            .to_string(),
                        rounds.iter().copied().fold(0.0, f64::max).to_string(),
                    ),
                    _ => (String::new(), String::new()),
                };
                any = true;
                text += &format!(
                    "{},{},{},{v},{min},{max}\n",
                    row.label.replace(',', ";"),
                    row.count,
                    col.key()
                );
            }
        }
        if any {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(format!("{name}.csv")), text)?;
        }
    }
    Ok(())
}

/// CPU model, CPU count, kernel and the CPUs this process may run on.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or("?");
    format!(
        "Machine: {model}, {cpus} CPU(s), Linux {}; every measuring process ran on CPU(s) {allowed}.",
        kernel.trim()
    )
}

/// `1.23 µs` / `45.6 ns`.
pub fn ns(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} µs", v / 1000.0)
    } else {
        format!("{v:.1} ns")
    }
}

/// Items per second of a queue ping-pong whose round trip takes `round_trip_ns`:
/// `21.3 M items/s` / `412 k items/s`.
pub fn items_per_sec(round_trip_ns: f64) -> String {
    let per_sec = ITEMS_PER_ROUND_TRIP * 1e9 / round_trip_ns;
    if per_sec >= 1e6 {
        format!("{:.1} M items/s", per_sec / 1e6)
    } else {
        format!("{:.0} k items/s", per_sec / 1e3)
    }
}

/// `123.4 k/s` / `1.23 M/s`.
pub fn per_sec(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k/s", v / 1e3)
    } else {
        format!("{v:.0}/s")
    }
}

/// `; server 4.1 µs CPU/rt; CPU server 100% · client 71% · other 2%`.
fn load_text(load: Option<&Load>) -> String {
    match load {
        Some(l) => format!(
            "; server {:.2} µs CPU/rt; CPU server {:.0}% · client {:.0}% · ksoftirqd {:.0}% · \
             other {:.0}%{}",
            l.server_us,
            l.server * 100.0,
            l.client * 100.0,
            l.softirqd * 100.0,
            l.other * 100.0,
            if l.windows > 0 {
                format!(" (kept from {} windows)", l.windows)
            } else {
                String::new()
            }
        ),
        None => String::new(),
    }
}

/// `0.52×`, with more digits when small.
pub fn ratio(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}×")
    } else {
        format!("{r:.2}×")
    }
}

/// `4,481 B` / `512 B`: exact bytes, since the memory target is only a few
/// bytes away from the measured value (a rounded `4.38 KiB` cannot tell).
pub fn bytes(v: f64) -> String {
    let rounded = v.round();
    let sign = if rounded < 0.0 { "-" } else { "" };
    format!("{sign}{} B", count_exact(rounded.abs() as usize))
}

/// `10k`, `1M`, `32,768`.
pub fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => count_exact(n),
    }
}

/// `32,768`.
pub fn count_exact(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
