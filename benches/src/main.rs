//! grove's benchmark harness: grove against corosensei (raw), may, tokio, Go
//! and gevent, measured in the same run and printed side by side.
//!
//! ```text
//! harness all [options]                      run everything, print the markdown table
//! harness child SUBJECT BENCH N [REPS]       one measurement in this process (used by `all`)
//! ```
//!
//! `bash benches/run.sh` (from the repository root) installs the Go and gevent
//! peers, builds everything and runs `harness all` pinned to one CPU.

mod child;
mod orchestrate;
mod proto;
mod report;
mod subjects;
mod sysctl;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use orchestrate::{external, Col, Options, Runner};

const USAGE: &str = "\
usage:
  harness all [options]
  harness child <grove|corosensei|may|tokio> <switch|spawn|mem|queue|sem|event> <n> [reps]

options of `all`:
  --reps R              timed repetitions per cell, after one warm-up (default 5)
  --quick               a smoke run: 1/10 of the iterations, memory at 10k and 100k only
  --scale F             multiply every iteration count by F
  --mem-counts LIST     idle-task counts for the memory rows (default 10000,100000,1000000)
  --benches LIST        any of switch,spawn,mem,queue,sem,event (default: all)
  --subjects LIST       any of grove,corosensei,may,tokio,go,gevent (default: all)
  --go PATH             the Go peer binary (default benches/target/go/grove-bench-go)
  --no-go REASON        show Go as not available, with REASON
  --gevent PYTHON       the Python that has gevent (default benches/target/venv/bin/python)
  --no-gevent REASON    show gevent as not available, with REASON
  --timeout SECS        time limit per measuring process (default 900)
  --map-count N         vm.max_map_count for the peers in memory rows above 100k tasks
                        (default 4194304; 0 never raises; needs root)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child_main(&args[1..]),
        Some("all") => all_main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err("expected a subcommand".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn child_main(args: &[String]) -> Result<(), String> {
    let [subject, bench, n, rest @ ..] = args else {
        return Err("child: expected SUBJECT BENCH N [REPS]".into());
    };
    if !subjects::SUBJECTS.contains(&subject.as_str()) {
        return Err(format!("unknown subject {subject:?}"));
    }
    if !subjects::BENCHES.contains(&bench.as_str()) {
        return Err(format!("unknown benchmark {bench:?}"));
    }
    let n: usize = n.parse().map_err(|_| format!("bad N {n:?}"))?;
    let reps: usize = match rest.first() {
        Some(r) => r.parse().map_err(|_| format!("bad REPS {r:?}"))?,
        None => 5,
    };
    subjects::run(subject, bench, n.max(1), reps)
}

fn all_main(args: &[String]) -> Result<(), String> {
    let benches_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut opts = Options::new(benches_dir.clone());
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--reps" => opts.reps = parse(&value()?)?,
            "--quick" => {
                opts.scale = 0.1;
                opts.mem_counts = vec![10_000, 100_000];
            }
            "--scale" => opts.scale = parse(&value()?)?,
            "--mem-counts" => {
                opts.mem_counts = list(&value()?)
                    .iter()
                    .map(|s| parse(s))
                    .collect::<Result<_, _>>()?
            }
            "--benches" => {
                opts.benches = list(&value()?);
                if let Some(b) = opts
                    .benches
                    .iter()
                    .find(|b| !subjects::BENCHES.contains(&b.as_str()))
                {
                    return Err(format!("unknown benchmark {b:?}"));
                }
            }
            "--subjects" => {
                opts.subjects = list(&value()?)
                    .iter()
                    .map(|s| Col::from_key(s).ok_or_else(|| format!("unknown subject {s:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--go" => opts.go = external(&[PathBuf::from(value()?)]),
            "--no-go" => opts.go = Runner::Unavailable(format!("not available: {}", value()?)),
            "--gevent" => {
                let script = benches_dir.join("peers/gevent/peer.py");
                opts.gevent = external(&[PathBuf::from(value()?), script]);
            }
            "--no-gevent" => {
                opts.gevent = Runner::Unavailable(format!("not available: {}", value()?))
            }
            "--timeout" => opts.timeout = Duration::from_secs(parse(&value()?)?),
            "--map-count" => opts.map_count = parse(&value()?)?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if opts.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    orchestrate::run_all(&opts);
    Ok(())
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad number {s:?}"))
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
