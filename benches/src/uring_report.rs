//! The io_uring comparison's section (`--benches uring`, run by
//! `uring_rows.rs`): one table per area (echo, HTTP, HTTP pipelined) with
//! every server's rate and server CPU per operation and its paired ratios
//! to grove-epoll, the keep-or-drop decision for grove's io_uring backend,
//! the memory per idle connection, and `uring.csv` for the plot.

use std::io::{self, Write};
use std::path::Path;

use crate::http_rows::Mode as HttpMode;
use crate::loadgen::NOISE;
use crate::noise::{self, Better, Ratios, Verdict};
use crate::orchestrate::Options;
use crate::report::{self, Cell as IoCell};
use crate::uring_rows::{Server, SERVERS};

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// 64-byte echo round trips (`harness load`).
    Echo,
    /// Hello-world HTTP requests under wrk, plain or pipelined.
    Http(HttpMode),
}

impl Area {
    pub fn is_http(self) -> bool {
        matches!(self, Area::Http(_))
    }

    /// The short name of the progress lines and the CSV.
    pub fn name(self) -> String {
        match self {
            Area::Echo => "echo".to_string(),
            Area::Http(HttpMode::Plain) => "http".to_string(),
            Area::Http(HttpMode::Pipelined(d)) => format!("http-pipelined-{d}"),
        }
    }

    fn title(self) -> String {
        match self {
            Area::Echo => "Echo, 64 B round trips".to_string(),
            Area::Http(mode) => format!("HTTP hello, {}", mode.name()),
        }
    }

    fn op(self) -> &'static str {
        match self {
            Area::Echo => "rt",
            Area::Http(_) => "req",
        }
    }
}

/// One server process's figures.
#[derive(Clone, Debug)]
pub struct Meas {
    /// Round trips or requests per second (echo: the process's best window).
    pub rate: f64,
    /// Server CPU time (user + system) per operation, µs.
    pub cpu_us: f64,
    /// The share of a CPU other processes took meanwhile.
    pub other: f64,
    /// What wrk counted as errors, if anything.
    pub note: Option<String>,
}

/// One area at one connection count, every server.
pub struct Grid {
    pub area: Area,
    pub conns: usize,
    pub rounds: usize,
    /// Per server: (round, figures) of each process.
    pub samples: Vec<Vec<(usize, Meas)>>,
    /// Per server: (CPU/op ÷ grove-epoll's, rate ÷ grove-epoll's) of each pair.
    pub paired: Vec<Vec<(f64, f64)>>,
    /// Per server: why it stopped being run, if it failed.
    pub failed: Vec<Option<String>>,
}

impl Grid {
    pub fn new(area: Area, conns: usize, rounds: usize) -> Grid {
        Grid {
            area,
            conns,
            rounds,
            samples: vec![Vec::new(); SERVERS.len()],
            paired: vec![Vec::new(); SERVERS.len()],
            failed: vec![None; SERVERS.len()],
        }
    }

    fn median(&self, i: usize, f: fn(&Meas) -> f64) -> Option<f64> {
        noise::median(
            &self.samples[i]
                .iter()
                .map(|(_, m)| f(m))
                .collect::<Vec<_>>(),
        )
    }

    fn ratios(&self, i: usize, cpu: bool) -> Option<Ratios> {
        let v: Vec<f64> = self.paired[i]
            .iter()
            .map(|&(c, r)| if cpu { c } else { r })
            .collect();
        Ratios::paired(&v)
    }

    /// grove-uring's CPU/op ÷ monoio's, round by round.
    fn uring_vs_monoio(&self) -> Option<Ratios> {
        let at = |i: usize, round: usize| {
            self.samples[i]
                .iter()
                .find(|(r, _)| *r == round)
                .map(|(_, m)| m.cpu_us)
        };
        let uring = index(Server::GroveUring);
        let monoio = index(Server::Monoio);
        let v: Vec<f64> = (0..self.rounds)
            .filter_map(|r| Some(at(uring, r)? / at(monoio, r)?))
            .collect();
        Ratios::paired(&v)
    }
}

fn index(server: Server) -> usize {
    SERVERS
        .iter()
        .position(|&s| s == server)
        .expect("every server is listed")
}

/// Writes the section: method, one table per area, the decision, memory.
pub fn write(
    out: &mut impl Write,
    opts: &Options,
    grids: &[Grid],
    memory: &[(Server, IoCell)],
) -> io::Result<()> {
    writeln!(
        out,
        "\n## io_uring: grove-epoll, grove-uring and their peers\n"
    )?;
    writeln!(out, "{}\n", method(opts))?;
    let mut areas: Vec<Area> = grids.iter().map(|g| g.area).collect();
    areas.dedup();
    for area in areas {
        write_area(out, area, grids.iter().filter(|g| g.area == area))?;
    }
    write_decision(out, grids)?;
    writeln!(
        out,
        "\n### Server memory per idle connection @ {}\n",
        report::count(opts.io.mem_conns)
    )?;
    writeln!(out, "| server | VmRSS per connection |\n|---|---|")?;
    for (server, cell) in memory {
        writeln!(out, "| {} | {} |", server.key(false), cell.brief())?;
    }
    writeln!(out, "\n{}", noise::RULE)?;
    writeln!(out, "\n{}", report::machine())?;
    out.flush()
}

fn method(opts: &Options) -> String {
    format!(
        "Every server is a fresh process pinned to the server CPU, its load generator pinned to \
         the other (echo: `harness load`, {} timed windows of {:.2} s after {:.2} s warm-up, the \
         process's best window; HTTP: `wrk -t1`, {} s timed after {} s warm-up, pipelined {} s \
         at depth {}). In each round every server runs next to a fresh grove-epoll process, in \
         alternating order (grove-epoll first in odd rounds), and \"÷ grove-epoll\" is the \
         median (min–max) over those pairs: below 1× for CPU/op means less CPU than grove-epoll, \
         above 1× for the rate means faster. Cells are medians over the server's processes. \
         grove's rows are the same binaries (`harness serve grove`, grove-http's `hello_http \
         --threads 1`) with `GROVE_POLLER=epoll` or `GROVE_POLLER=uring` in their environment. \
         Peers: monoio (io_uring driver, one thread: its echo example; for HTTP a hand-rolled \
         fixed answer without parsing), tokio current-thread (echo) and hyper on it (HTTP), may \
         with 1 worker (echo) and may_minihttp (HTTP); floors: single-threaded C servers that \
         parse nothing, on epoll (`peers/c/echo_floor.c`, `peers/c/http_floor.c`) and on \
         io_uring (`peers/c/uring_floor.c`: multishot accept, multishot receive into a provided \
         buffer ring, SINGLE_ISSUER + DEFER_TASKRUN).",
        opts.io.windows,
        opts.io.secs.as_secs_f64(),
        opts.io.warmup.as_secs_f64(),
        opts.http.secs,
        opts.http.warmup,
        opts.http.pipeline_secs,
        opts.http.pipeline,
    )
}

fn write_area<'a>(
    out: &mut impl Write,
    area: Area,
    grids: impl Iterator<Item = &'a Grid>,
) -> io::Result<()> {
    let op = area.op();
    writeln!(out, "\n### {}\n", area.title())?;
    writeln!(
        out,
        "| connections | server | {op}/s | µs server CPU/{op} | CPU/{op} ÷ grove-epoll | {op}/s ÷ grove-epoll | processes |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for g in grids {
        for (i, server) in SERVERS.iter().enumerate() {
            let name = server.key(area.is_http());
            let conns = report::count(g.conns);
            if let Some(why) = &g.failed[i] {
                writeln!(
                    out,
                    "| {conns} | {name} | failed: {} | | | | |",
                    why.replace('|', "/")
                )?;
                continue;
            }
            let (Some(rate), Some(cpu)) = (g.median(i, |m| m.rate), g.median(i, |m| m.cpu_us))
            else {
                writeln!(out, "| {conns} | {name} | not run | | | | |")?;
                continue;
            };
            let show = |r: Option<Ratios>| r.map_or("—".to_string(), |r| r.to_string());
            let noisy = g.samples[i]
                .iter()
                .filter(|(_, m)| m.other >= NOISE)
                .count();
            let errors = g.samples[i]
                .iter()
                .filter(|(_, m)| m.note.is_some())
                .count();
            let mut procs = g.samples[i].len().to_string();
            if noisy > 0 {
                procs += &format!(
                    " ({noisy} noisy: other processes ≥ {:.0}% of a CPU)",
                    NOISE * 100.0
                );
            }
            if errors > 0 {
                procs += &format!(" ⚠ {errors} with wrk errors");
            }
            writeln!(
                out,
                "| {conns} | {name} | {} | {cpu:.2} | {} | {} | {procs} |",
                report::per_sec(rate),
                show(g.ratios(i, true)),
                show(g.ratios(i, false)),
            )?;
        }
    }
    Ok(())
}

/// The rule for keeping grove's io_uring backend, checked row by row.
fn write_decision(out: &mut impl Write, grids: &[Grid]) -> io::Result<()> {
    writeln!(
        out,
        "\n### The decision: grove-uring against grove-epoll and monoio\n"
    )?;
    writeln!(
        out,
        "Keep the backend only if grove-uring's CPU/op is at least 10% below grove-epoll's at 100 \
         and 10k echo connections and at 64 and 1,024 HTTP connections (≤ 0.90×), no row is more \
         than 3% worse (≤ 1.03×), and it is below monoio's at every echo level (grove-uring ÷ \
         monoio from the two processes of the same round).\n"
    )?;
    writeln!(out, "| area | connections | grove-uring ÷ grove-epoll, CPU/op | ≤ 0.90× | ≤ 1.03× | grove-uring ÷ monoio, CPU/op |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    let uring = index(Server::GroveUring);
    // Every condition of the rule: (what, verdict).
    let mut all: Vec<(String, Verdict)> = Vec::new();
    let missing = || Verdict::NotDemonstrable("not measured".into());
    for g in grids {
        let at = format!("{} @ {}", g.area.name(), report::count(g.conns));
        let r = g.ratios(uring, true);
        let tenth = matches!(g.area, Area::Echo) && g.conns >= 100 || g.area.is_http();
        let v10 = r.map(|r| r.verdict(0.90, Better::Lower));
        let v3 = r.map(|r| r.verdict(1.03, Better::Lower));
        let echo = matches!(g.area, Area::Echo);
        let vm = echo.then(|| g.uring_vs_monoio()).flatten();
        let vm_verdict = vm.map(|r| r.verdict(1.0, Better::Lower));
        let word = |v: &Option<Verdict>| v.as_ref().map_or("—".to_string(), Verdict::target_word);
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            g.area.name(),
            report::count(g.conns),
            r.map_or("—".to_string(), |r| r.to_string()),
            if tenth {
                word(&v10)
            } else {
                "(no target)".to_string()
            },
            word(&v3),
            vm.map_or("—".to_string(), |r| format!("{r}: {}", word(&vm_verdict))),
        )?;
        if tenth {
            all.push((format!("≤ 0.90× at {at}"), v10.unwrap_or_else(missing)));
        }
        all.push((format!("≤ 1.03× at {at}"), v3.unwrap_or_else(missing)));
        if echo {
            all.push((
                format!("below monoio at {at}"),
                vm_verdict.unwrap_or_else(missing),
            ));
        }
    }
    let keep = !all.is_empty() && all.iter().all(|(_, v)| *v == Verdict::Ahead);
    let list = |want: fn(&Verdict) -> bool| {
        let names: Vec<&str> = all
            .iter()
            .filter(|(_, v)| want(v))
            .map(|(n, _)| n.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    writeln!(
        out,
        "\nDecision by this run: {} ({} of {} conditions met; not met: {}; level, within the \
         spread: {}; not demonstrable here: {}).",
        if keep {
            "keep the io_uring backend and make `auto` the default"
        } else {
            "the io_uring backend does not earn the default"
        },
        all.iter().filter(|(_, v)| *v == Verdict::Ahead).count(),
        all.len(),
        list(|v| *v == Verdict::Behind),
        list(|v| *v == Verdict::Level),
        list(|v| matches!(v, Verdict::NotDemonstrable(_))),
    )
}

/// `uring.csv`: `area,conns,server,cpu_us,cpu_min,cpu_max,rate` (medians
/// over processes, min and max over processes), for `plot_areas.py`.
pub fn write_csv(path: &Path, grids: &[Grid]) -> io::Result<()> {
    let mut text = String::from("area,conns,server,cpu_us,cpu_min,cpu_max,rate\n");
    for g in grids {
        for (i, server) in SERVERS.iter().enumerate() {
            let (Some(cpu), Some(rate)) = (g.median(i, |m| m.cpu_us), g.median(i, |m| m.rate))
            else {
                continue;
            };
            let cpus = g.samples[i].iter().map(|(_, m)| m.cpu_us);
            let min = cpus.clone().fold(f64::INFINITY, f64::min);
            let max = cpus.fold(0.0, f64::max);
            text += &format!(
                "{},{},{},{cpu},{min},{max},{rate}\n",
                g.area.name(),
                g.conns,
                server.key(g.area.is_http())
            );
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meas(cpu_us: f64) -> Meas {
        Meas {
            rate: 1e5 / cpu_us,
            cpu_us,
            other: 0.0,
            note: None,
        }
    }

    /// Echo @ 100 over two rounds: grove-uring at 0.8 of grove-epoll's CPU
    /// in both pairs, monoio's processes dearer than grove-uring's.
    fn grid() -> Grid {
        let mut g = Grid::new(Area::Echo, 100, 2);
        let (uring, monoio) = (index(Server::GroveUring), index(Server::Monoio));
        for round in 0..2 {
            g.samples[0].push((round, meas(5.0)));
            g.samples[uring].push((round, meas(4.0)));
            g.paired[uring].push((0.8, 1.25));
            g.samples[monoio].push((round, meas(4.0 + round as f64)));
        }
        g
    }

    #[test]
    fn uring_and_monoio_are_compared_round_by_round() {
        let r = grid().uring_vs_monoio().expect("two rounds");
        assert_eq!((r.min, r.max, r.samples), (0.8, 1.0, 2));
        // 1.0 is on the bound: level, not "below monoio".
        assert_eq!(r.verdict(1.0, Better::Lower), Verdict::Level);
    }

    #[test]
    fn decision_names_each_condition() {
        let mut text = Vec::new();
        write_decision(&mut text, &[grid()]).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("2 of 3 conditions met"), "{text}");
        assert!(text.contains("level, within the spread: below monoio at echo @ 100"));
        assert!(text.contains("does not earn the default"));
    }

    #[test]
    fn csv_has_one_line_per_measured_server() {
        let dir = std::env::temp_dir().join(format!("uring-csv-{}", std::process::id()));
        let path = dir.join("uring.csv");
        write_csv(&path, &[grid()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[2], "echo,100,grove-uring,4,4,4,25000");
        assert_eq!(lines[3], "echo,100,monoio,4.5,4,5,22500");
    }
}
