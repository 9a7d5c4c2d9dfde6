//! The XML-RPC section of the report: per workload a table of
//! calls/s, server CPU per call and latency, then who set the rate and the
//! targets; the CPU shares of every cell; the CSV for
//! `plot_xmlrpc.py`. The measuring is in `xmlrpc_rows.rs`.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use crate::http_rows::latency;
use crate::io_rows::Placement;
use crate::loadgen::NOISE;
use crate::noise::{Better, Verdict, RULE};
use crate::orchestrate::Options;
use crate::report;
use crate::xmlrpc_rows::{Cell, Results, Sample, Subject, Work, GROVE, PY_THREADED, SUBJECTS};

/// The CPU share (median over rounds) from which a process's CPU, the load
/// client's or the server's, is taken to have set the rate.
const BOUND: f64 = 0.95;

/// The target's factor against Python's threaded server.
const TARGET_FACTOR: f64 = 20.0;

fn idx(subject: Subject) -> usize {
    SUBJECTS
        .iter()
        .position(|&s| s == subject)
        .expect("a subject of SUBJECTS")
}

pub fn write_csv(path: &Path, conns: &[usize], results: &Results) -> io::Result<()> {
    let mut text = String::from(
        "subject,call,gzip,connections,calls_per_sec,cpu_us_per_call,p50_us,p99_us,errors\n",
    );
    for (w, work) in results.works.iter().enumerate() {
        for (c, &n) in conns.iter().enumerate() {
            for (i, subject) in SUBJECTS.iter().enumerate() {
                let cell = &results.cells[w][c][i];
                let Some(rate) = cell.median(|s| s.calls_per_sec) else {
                    continue;
                };
                let m = |f: fn(&Sample) -> f64| cell.median(f).unwrap_or(f64::NAN);
                let _ = writeln!(
                    text,
                    "{},\"{}\",{},{n},{rate:.1},{:.3},{:.0},{:.0},{:.0}",
                    subject.key(),
                    work.call,
                    if work.gzip { "on" } else { "off" },
                    m(|s| s.cpu_us),
                    m(|s| s.p50_us),
                    m(|s| s.p99_us),
                    m(|s| s.errors as f64),
                );
            }
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

pub fn write_section(
    out: &mut impl Write,
    opts: &Options,
    place: &Placement,
    results: &Results,
) -> io::Result<()> {
    let x = &opts.xmlrpc;
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    writeln!(
        out,
        "\n## XML-RPC: the gevent writing's servers, grove-xmlrpc and dxr-axum\n"
    )?;
    writeln!(out, "{}\n", report::machine())?;
    writeln!(
        out,
        "Every cell: a fresh server process pinned to {}, checked to answer `add(3, 5)` with 8, then \
         `grove-xmlrpc bench --concurrency N --warmup {} --duration {} --call … --gzip on|off --json` \
         pinned to {} (N greenlets, one keep-alive connection each, reconnecting when the server \
         closes it). Server CPU/call is the server's utime + stime (all threads, /proc/PID/stat, \
         sampled every 50 ms and interpolated to the client's timed window) ÷ the calls the client \
         completed in it; on loopback it includes the kernel's work for the server's sockets. A run \
         in which other processes took ≥ {:.0}% of a CPU is repeated once, the quieter kept. Values \
         are medians over a server's runs in {} round(s); in each round every other server runs next to a fresh grove-xmlrpc (greenlets), in alternating order. Python's servers run with the standard library's defaults: \
         HTTP/1.0 (every answer closes its connection, so each call is a new connection), a listen \
         backlog of 5, answers over 1,400 B gzipped when the client accepts gzip. dxr_server has no \
         gzip: its `gen(2048)` answers are plain whatever the client accepts. ⚠ marks a cell with \
         errors (connect timeouts, resets, faults: counted by the client, not in calls/s).\n",
        cpu(place.server),
        x.warmup,
        x.secs,
        cpu(place.client),
        NOISE * 100.0,
        x.rounds,
    )?;
    let sizes: Vec<String> = SUBJECTS
        .iter()
        .zip(&results.gen_bytes)
        .filter_map(|(s, b)| b.map(|(gz, plain)| format!("{} {gz} / {plain} B", s.key())))
        .collect();
    if !sizes.is_empty() {
        writeln!(
            out,
            "Bytes of one whole `gen(2048)` answer (head + body), gzip accepted / not: {}.\n",
            sizes.join(", ")
        )?;
    }
    for (w, work) in results.works.iter().enumerate() {
        writeln!(out, "### XML-RPC {}\n", work.name())?;
        write_table(out, &x.conns, &results.cells[w])?;
        for line in verdicts(&x.conns, *work, &results.cells[w]) {
            writeln!(out, "- {line}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{RULE}\n")?;
    write_shares(out, &x.conns, results)?;
    out.flush()
}

fn write_table(out: &mut impl Write, conns: &[usize], cells: &[Vec<Cell>]) -> io::Result<()> {
    let mut header = String::from("| server |");
    let mut rule = String::from("|---|");
    for &n in conns {
        let n = report::count(n);
        let _ = write!(
            header,
            " calls/s @ {n} | µs CPU/call @ {n} | p50 / p99 @ {n} |"
        );
        rule.push_str("---:|---:|---:|");
    }
    writeln!(out, "{header}\n{rule}")?;
    let mut notes = Vec::new();
    for (i, subject) in SUBJECTS.iter().enumerate() {
        if cells.iter().all(|row| matches!(row[i], Cell::Skipped)) {
            continue;
        }
        let mut line = format!("| {} |", subject.title());
        for (c, row) in cells.iter().enumerate() {
            match &row[i] {
                cell @ Cell::Samples(rounds) => {
                    let m = |f: fn(&Sample) -> f64| cell.median(f).unwrap_or(f64::NAN);
                    let errors = rounds.iter().map(|s| s.errors).max().unwrap_or(0);
                    let flag = if errors > 0 { " ⚠" } else { "" };
                    let _ = write!(
                        line,
                        " {}{flag} | {:.1} | {} / {} |",
                        report::per_sec(m(|s| s.calls_per_sec)),
                        m(|s| s.cpu_us),
                        latency(m(|s| s.p50_us)),
                        latency(m(|s| s.p99_us)),
                    );
                    if errors > 0 {
                        notes.push(format!(
                            "⚠ {} @ {}: {errors} errors beside {} calls (most in a round).",
                            subject.key(),
                            report::count(conns[c]),
                            rounds.iter().map(|s| s.calls).max().unwrap_or(0)
                        ));
                    }
                    if rounds.iter().any(|s| s.other >= NOISE) {
                        notes.push(format!(
                            "{} @ {}: noisy: other processes took up to {:.0}% of a CPU.",
                            subject.key(),
                            report::count(conns[c]),
                            rounds.iter().map(|s| s.other).fold(0.0, f64::max) * 100.0
                        ));
                    }
                }
                Cell::Unavailable(why) | Cell::Failed(why) => {
                    let full = match &row[i] {
                        Cell::Failed(_) => format!("failed: {why}"),
                        _ => why.clone(),
                    };
                    // The cell keeps the gist (two `: ` parts, as "n/a: not built"),
                    // the whole reason goes below the table once.
                    let short = full.splitn(3, ": ").take(2).collect::<Vec<_>>().join(": ");
                    let short: String = short
                        .split(" (")
                        .next()
                        .unwrap_or(&short)
                        .chars()
                        .take(60)
                        .collect();
                    let _ = write!(line, " {} | | |", short.replace('|', "/"));
                    let note = format!("{}: {}", subject.key(), full.replace('|', "/"));
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
                Cell::Skipped => line.push_str(" — | — | — |"),
            }
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    for note in notes {
        writeln!(out, "- {note}")?;
    }
    Ok(())
}

/// Who set the rate and the targets, per connection count.
fn verdicts(conns: &[usize], work: Work, cells: &[Vec<Cell>]) -> Vec<String> {
    let mut lines = Vec::new();
    for (c, &n) in conns.iter().enumerate() {
        let at = report::count(n);
        let row = &cells[c];
        let med = |s: Subject, f: fn(&Sample) -> f64| row[idx(s)].median(f);
        let shares: Vec<String> = SUBJECTS
            .iter()
            .filter_map(|&s| {
                Some(format!(
                    "{} {:.2} / {:.2}",
                    s.key(),
                    med(s, |x| x.client)?,
                    med(s, |x| x.server)?
                ))
            })
            .collect();
        if shares.is_empty() {
            continue;
        }
        // Each server's rate was set by the load client (its CPU full), by
        // the server (its CPU full), or by neither: the round trip's
        // latency (wake-ups on two CPUs, connection set-up, timeouts).
        let group = |pick: fn(f64, f64, f64) -> bool| -> String {
            let keys: Vec<String> = SUBJECTS
                .iter()
                .filter(|&&s| {
                    match (
                        med(s, |x| x.client),
                        med(s, |x| x.server),
                        med(s, |x| x.other),
                    ) {
                        (Some(c), Some(v), Some(o)) => pick(c, v, o),
                        _ => false,
                    }
                })
                .map(|s| s.key())
                .collect();
            keys.join(", ")
        };
        let mut who = Vec::new();
        for (pick, says) in [
            (
                (|c, _, _| c >= BOUND) as fn(f64, f64, f64) -> bool,
                "the load client's CPU was the ceiling (CPU/call ranks these)",
            ),
            (|c, v, _| c < BOUND && v >= BOUND, "the server's CPU was"),
            (
                |c, v, o| c < BOUND && v < BOUND && o < NOISE,
                "neither CPU was full: latency set the rate",
            ),
            (
                |c, v, o| c < BOUND && v < BOUND && o >= NOISE,
                "neither was full while other processes took ≥ 10% of a CPU: disturbed",
            ),
        ] {
            let keys = group(pick);
            if !keys.is_empty() {
                who.push(format!("{says} for {keys}"));
            }
        }
        lines.push(format!(
            "Who set the rate @ {at} (≥ {BOUND:.2} of a CPU counts as full): {}. Load client / \
             server CPU shares: {}.",
            who.join("; "),
            shares.join(", ")
        ));
        let grove = &row[idx(GROVE)];
        let mut parts = Vec::new();
        let py = &row[idx(PY_THREADED)];
        if let (Some(rps), Some(cpu)) = (
            Cell::paired(grove, py, |x| x.calls_per_sec),
            Cell::paired(grove, py, |x| x.cpu_us),
        ) {
            parts.push(format!(
                "CPU/call vs Python threaded's {cpu} (≤ {:.2}× wanted): {}",
                1.0 / TARGET_FACTOR,
                cpu.verdict(1.0 / TARGET_FACTOR, Better::Lower)
                    .target_word()
            ));
            // calls/s names the target, but where the load client was the
            // ceiling in grove's runs, or other processes took more CPU than
            // grove's server, it cannot show grove's rate.
            let client_bound = med(GROVE, |x| x.client).is_some_and(|v| v >= BOUND);
            let loaded = matches!(
                (med(GROVE, |x| x.other), med(GROVE, |x| x.server)),
                (Some(o), Some(v)) if o > v
            );
            let v = if client_bound {
                Verdict::NotDemonstrable("the load client was the ceiling in grove's runs".into())
            } else if loaded {
                Verdict::NotDemonstrable("the machine's load set grove's rate".into())
            } else {
                rps.verdict(TARGET_FACTOR, Better::Higher)
            };
            parts.push(format!(
                "calls/s vs Python threaded's {rps} (≥ {TARGET_FACTOR:.0}× wanted): {}",
                v.target_word()
            ));
        }
        if let Some(cpu) = Cell::paired(grove, &row[idx(Subject::DxrAxum)], |x| x.cpu_us) {
            // dxr_server has no gzip: with gzip accepted, grove compresses
            // the `gen` answers and dxr-axum sends them plain.
            let unlike = if work.gzip && work.call.starts_with("gen") {
                " (unlike work: grove gzips these answers, dxr-axum cannot)"
            } else {
                ""
            };
            parts.push(format!(
                "CPU/call vs dxr-axum's {cpu} (≤ 1× wanted{unlike}): {}",
                cpu.verdict(1.0, Better::Lower).target_word()
            ));
        }
        if !parts.is_empty() {
            lines.push(format!(
                "Targets @ {at}, {} (grove-xmlrpc greenlets ÷ peer, paired runs, median (min–max)): {}.",
                work.name(),
                parts.join("; ")
            ));
        }
    }
    lines
}

/// Every cell's CPU shares: what ran while it was measured.
fn write_shares(out: &mut impl Write, conns: &[usize], results: &Results) -> io::Result<()> {
    writeln!(
        out,
        "### XML-RPC spread: CPU shares over the timed window (server / load client (by its own \
         count) / ksoftirqd / other processes, fractions of one CPU, median over rounds)\n"
    )?;
    let mut header = String::from("| workload | server |");
    let mut rule = String::from("|---|---|");
    for &n in conns {
        let _ = write!(header, " @ {} |", report::count(n));
        rule.push_str("---|");
    }
    writeln!(out, "{header}\n{rule}")?;
    for (w, work) in results.works.iter().enumerate() {
        for (i, subject) in SUBJECTS.iter().enumerate() {
            let row = &results.cells[w];
            if !row.iter().any(|r| matches!(r[i], Cell::Samples(_))) {
                continue;
            }
            let mut line = format!("| {} | {} |", work.name(), subject.key());
            for r in row {
                let cell = &r[i];
                match cell.median(|s| s.server) {
                    Some(server) => {
                        let m = |f: fn(&Sample) -> f64| cell.median(f).unwrap_or(f64::NAN);
                        let _ = write!(
                            line,
                            " {server:.2} / {:.2} ({:.2}) / {:.2} / {:.2} |",
                            m(|s| s.client),
                            m(|s| s.client_own),
                            m(|s| s.softirqd),
                            m(|s| s.other)
                        );
                    }
                    None => line.push_str(" — |"),
                }
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
