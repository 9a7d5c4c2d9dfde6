//! grove's benchmark harness: grove against corosensei (raw), may, tokio, Go
//! and gevent, measured in the same run and printed side by side.
//!
//! ```text
//! harness all [options]                      run everything, print the markdown table
//! harness child SUBJECT BENCH N [REPS]       one measurement in this process (used by `all`)
//! harness serve SUBJECT PORT [LIFETIME_S]    an echo server on 127.0.0.1:PORT (used by `all`)
//! harness load ADDR CONNS echo|idle [opts]   the echo load generator (used by `all`)
//! harness serve-http SUBJECT PORT [LIFETIME_S]  a hello-world HTTP server (used by `all`)
//! ```
//!
//! `bash benches/run.sh` (from the repository root) installs the Go and gevent
//! peers, builds everything and runs `harness all` pinned to one CPU.

mod bridge_rows;
mod child;
mod dns;
mod http_rows;
mod http_servers;
mod io_rows;
mod loadgen;
mod monkey_rows;
mod noise;
mod orchestrate;
mod proto;
mod report;
mod server_process;
mod subjects;
mod sysctl;
mod uring_report;
mod uring_rows;
mod xmlrpc_load;
mod xmlrpc_peer;
mod xmlrpc_report;
mod xmlrpc_rows;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use loadgen::{LoadOpts, Mode};

use orchestrate::{external, Col, Options, Runner};

const USAGE: &str = "\
usage:
  harness all [options]
  harness child <grove|corosensei|may|tokio> <switch|spawn|mem|queue|sem|event> <n> [reps]
  harness serve <grove|grove-spawn|may|tokio|monoio> <port> [lifetime_secs]
  harness serve-http <hyper|may_minihttp|monoio|dxr-axum> <port> [lifetime_secs]
  harness load <addr> <conns> <echo|idle> [--msg B] [--warmup S] [--secs S] [--reps R]
               [--window W] [--connect-timeout S] [--server-pid PID]

options of `all`:
  --reps R              timed repetitions per cell, after one warm-up (default 5)
  --quick               a smoke run: 1/10 of the iterations, memory at 10k and 100k only
  --scale F             multiply every iteration count by F
  --mem-counts LIST     idle-task counts for the memory rows (default 10000,100000,1000000)
  --benches LIST        any of switch,spawn,mem,queue,sem,event,echo,connmem,http,dns,xmlrpc,
                        monkey,bridge,uring
                        (default: all; echo, connmem: the cooperative-I/O rows;
                        http: the servers, dns: the forwarders and xmlrpc:
                        the XML-RPC servers, each a table of its own; monkey:
                        the grove-monkey rows, run by the monkey-bench binary;
                        bridge: grove::channel and grove::tokio against
                        crossbeam-channel and tokio, a table of its own; uring:
                        grove on epoll and on io_uring against monoio, tokio/hyper,
                        may/may_minihttp and the C epoll and io_uring floors, echo
                        and HTTP, a section of its own, not part of the default run)
  --subjects LIST       any of grove,corosensei,may,tokio,go,gevent,floor (default: all)
  --go PATH             the Go peer binary (default benches/target/go/grove-bench-go)
  --no-go REASON        show Go as not available, with REASON
  --gevent PYTHON       the Python that has gevent (default benches/target/venv/bin/python)
  --no-gevent REASON    show gevent as not available, with REASON
  --timeout SECS        time limit per measuring process (default 900)
  --map-count N         vm.max_map_count for the peers in memory rows above 100k tasks
                        (default 4194304; 0 never raises; needs root)
  --echo-conns LIST     concurrent connections of the echo rows (default 1,100,10000)
  --echo-rounds N       rounds per echo cell; in each, every peer runs next to a fresh
                        grove, alternating which goes first (default 3; --quick: 1)
  --echo-windows N      timed windows per echo process (default 5)
  --echo-secs S         length of one timed echo window (default 0.25; --quick: 0.2)
  --echo-warmup S       echo warm-up before the windows (default 0.25; --quick: 0.2)
  --mem-conns N         idle connections of the connection-memory row (default 10000)
  --server-cpu N        CPU the echo servers are pinned to (default: the last one)
  --client-cpu N        CPU the load generator is pinned to (default 0)
  --dns-secs S          length of one dnsperf window of the dns section (default 4; --quick: 1)
  --dns-rounds N        rounds of paired dnsperf windows, each subject's next to grove-dns's
                        (default 3; --quick: 1)
  --dns-misses N        fresh names asked per subject on the miss path (default 400)
  --dns-threads N       threads of the multi-core grove-dns column (default: CPUs)
  --grove-dns PATH      the grove-dns binary (default target/release/grove-dns)
  --no-grove-dns REASON show grove-dns as not available, with REASON
  --http-conns LIST     wrk connections of the HTTP rows (default 64,1024)
  --http-rounds N       rounds per HTTP cell; in each, every peer runs next to a fresh
                        grove-http, alternating which goes first (default 3; --quick: 1)
  --http-secs S         length of the timed wrk run, whole seconds (default 5; --quick: 2)
  --http-warmup S       length of the warm-up wrk run (default 1)
  --grove-http PATH     grove-http's hello_http example binary (run.sh builds it)
  --no-grove-http WHY   show grove-http as not available, with WHY
  --wrk PATH            the wrk to run (default: wrk from PATH)
  --http-csv PATH       also write the HTTP medians as CSV (run.sh: target/http.csv)
  --http-floor PATH     the kernel-floor C server (peers/c/http_floor.c; run.sh builds it)
  --no-http-floor WHY   show the kernel floor as not available, with WHY
  --http-pipeline D     requests per write of the pipelined HTTP table (default 16; 0: no
                        pipelined table)
  --http-pipeline-rounds N  rounds of the pipelined HTTP table (default: --http-rounds)
  --http-pipeline-secs S    timed wrk run of the pipelined table (default 3; --quick: 2)
  --xmlrpc-conns LIST   load-client connections of the XML-RPC rows (default 1,64,1024)
  --xmlrpc-calls LIST   workloads: add (add(3,5)), gen (gen(2048)), gen-nogzip (gen(2048)
                        without Accept-Encoding: gzip) (default: all three; --quick: gen)
  --xmlrpc-rounds N     rounds per XML-RPC cell; in each, every other server runs next to a
                        fresh grove-xmlrpc (greenlets), alternating (default 1; verdicts
                        need at least 2)
  --xmlrpc-secs S       the load client's timed window (default 5; --quick: 1)
  --xmlrpc-warmup S     its warm-up before it (default 1; --quick: 0.5)
  --grove-xmlrpc PATH   the grove-xmlrpc binary, server and load client (run.sh builds it)
  --no-grove-xmlrpc WHY show grove-xmlrpc (and so every XML-RPC cell) as not available
  --grove-xmlrpc-monkey PATH  grove-xmlrpc built with `--features monkey`, for `--mode monkey`
                        (default: the binary above, which rejects that mode without it)
  --xmlrpc-csv PATH     also write the XML-RPC medians as CSV (run.sh: target/xmlrpc.csv)
  --csv-dir DIR         also write the figures of the areas run as CSV for the plots:
                        switch-spawn.csv, memory.csv, primitives.csv, echo.csv, dns.csv,
                        uring.csv (run.sh: target/)
  --echo-floor PATH     the C epoll echo floor (peers/c/echo_floor.c; run.sh builds it)
  --no-echo-floor WHY   show the C epoll echo floor as not available, with WHY
  --uring-floor PATH    the C io_uring floor, echo and HTTP (peers/c/uring_floor.c)
  --no-uring-floor WHY  show the C io_uring floor as not available, with WHY
  (--subjects selects the XML-RPC servers too: grove = grove-xmlrpc's modes, gevent = the
   Python peers, tokio = dxr-axum)
  (--subjects selects the HTTP servers too: grove = both grove-http rows, tokio = hyper,
   may = may_minihttp, go, gevent, floor = the kernel-floor C server; floor is HTTP-only)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child_main(&args[1..]),
        Some("all") => all_main(&args[1..]),
        Some("serve") => serve_main(&args[1..]),
        Some("load") => load_main(&args[1..]),
        Some("serve-http") => serve_http_main(&args[1..]),
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
    opts.http.pipeline_script = benches_dir.join("peers/wrk/pipeline.lua");
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
                opts.io.rounds = 1;
                opts.io.warmup = Duration::from_millis(200);
                opts.io.secs = Duration::from_millis(200);
                opts.dns.secs = 1.0;
                opts.dns.rounds = 1;
                opts.http.rounds = 1;
                opts.http.secs = 2;
                opts.http.pipeline_secs = 2;
                opts.xmlrpc.works = vec!["gen".to_string()];
                opts.xmlrpc.secs = 1.0;
                opts.xmlrpc.warmup = 0.5;
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
                    .find(|b| !orchestrate::all_benches().any(|x| x == b.as_str()))
                {
                    return Err(format!("unknown benchmark {b:?}"));
                }
            }
            "--subjects" => {
                let names = list(&value()?);
                // `floor` is a server of the HTTP rows only, not a column.
                opts.http.floor_selected = names.iter().any(|s| s == "floor");
                opts.subjects = names
                    .iter()
                    .filter(|s| s.as_str() != "floor")
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
            "--echo-conns" => {
                opts.io.conns = list(&value()?)
                    .iter()
                    .map(|s| parse(s))
                    .collect::<Result<_, _>>()?
            }
            "--echo-rounds" => opts.io.rounds = parse(&value()?)?,
            "--echo-windows" => opts.io.windows = parse(&value()?)?,
            "--echo-secs" => opts.io.secs = Duration::from_secs_f64(parse(&value()?)?),
            "--echo-warmup" => opts.io.warmup = Duration::from_secs_f64(parse(&value()?)?),
            "--mem-conns" => opts.io.mem_conns = parse(&value()?)?,
            "--server-cpu" => {
                opts.io.server_cpu = Some(parse(&value()?)?);
                opts.dns.server_cpu = opts.io.server_cpu;
            }
            "--client-cpu" => {
                opts.io.client_cpu = Some(parse(&value()?)?);
                opts.dns.client_cpu = opts.io.client_cpu;
            }
            "--dns-secs" => opts.dns.secs = parse(&value()?)?,
            "--dns-rounds" => opts.dns.rounds = parse(&value()?)?,
            "--dns-misses" => opts.dns.misses = parse(&value()?)?,
            "--dns-threads" => opts.dns.threads = parse(&value()?)?,
            "--grove-dns" => opts.dns.grove_dns = Ok(PathBuf::from(value()?)),
            "--no-grove-dns" => opts.dns.grove_dns = Err(value()?),
            "--http-conns" => {
                opts.http.conns = list(&value()?)
                    .iter()
                    .map(|s| parse(s))
                    .collect::<Result<_, _>>()?
            }
            "--http-rounds" => opts.http.rounds = parse(&value()?)?,
            "--http-secs" => opts.http.secs = parse(&value()?)?,
            "--http-warmup" => opts.http.warmup = parse(&value()?)?,
            "--grove-http" => opts.http.grove_http = Ok(PathBuf::from(value()?)),
            "--no-grove-http" => opts.http.grove_http = Err(value()?),
            "--wrk" => opts.http.wrk = value()?,
            "--http-csv" => opts.http.csv = Some(PathBuf::from(value()?)),
            "--http-floor" => opts.http.floor = Ok(PathBuf::from(value()?)),
            "--no-http-floor" => opts.http.floor = Err(value()?),
            "--http-pipeline" => opts.http.pipeline = parse(&value()?)?,
            "--http-pipeline-rounds" => opts.http.pipeline_rounds = Some(parse(&value()?)?),
            "--http-pipeline-secs" => opts.http.pipeline_secs = parse(&value()?)?,
            "--xmlrpc-conns" => {
                opts.xmlrpc.conns = list(&value()?)
                    .iter()
                    .map(|s| parse(s))
                    .collect::<Result<_, _>>()?
            }
            "--xmlrpc-calls" => {
                opts.xmlrpc.works = list(&value()?);
                if let Some(w) = opts
                    .xmlrpc
                    .works
                    .iter()
                    .find(|w| !xmlrpc_rows::WORKS.iter().any(|x| x.key == w.as_str()))
                {
                    return Err(format!("unknown XML-RPC workload {w:?}"));
                }
            }
            "--xmlrpc-rounds" => opts.xmlrpc.rounds = parse(&value()?)?,
            "--xmlrpc-secs" => opts.xmlrpc.secs = parse(&value()?)?,
            "--xmlrpc-warmup" => opts.xmlrpc.warmup = parse(&value()?)?,
            "--grove-xmlrpc" => opts.xmlrpc.grove_xmlrpc = Ok(PathBuf::from(value()?)),
            "--no-grove-xmlrpc" => opts.xmlrpc.grove_xmlrpc = Err(value()?),
            "--grove-xmlrpc-monkey" => {
                opts.xmlrpc.grove_xmlrpc_monkey = Some(PathBuf::from(value()?))
            }
            "--xmlrpc-csv" => opts.xmlrpc.csv = Some(PathBuf::from(value()?)),
            "--csv-dir" => opts.csv_dir = Some(PathBuf::from(value()?)),
            "--echo-floor" => opts.uring.echo_floor = Ok(PathBuf::from(value()?)),
            "--no-echo-floor" => opts.uring.echo_floor = Err(value()?),
            "--uring-floor" => opts.uring.uring_floor = Ok(PathBuf::from(value()?)),
            "--no-uring-floor" => opts.uring.uring_floor = Err(value()?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if opts.reps == 0
        || opts.io.rounds == 0
        || opts.io.windows == 0
        || opts.dns.rounds == 0
        || opts.http.rounds == 0
        || opts.http.pipeline_rounds == Some(0)
        || opts.xmlrpc.rounds == 0
    {
        return Err(
            "--reps, --echo-rounds, --echo-windows, --dns-rounds, --http-rounds, \
                    --http-pipeline-rounds and --xmlrpc-rounds must be at least 1"
                .into(),
        );
    }
    orchestrate::run_all(&opts);
    Ok(())
}

fn serve_main(args: &[String]) -> Result<(), String> {
    let [subject, port, rest @ ..] = args else {
        return Err("serve: expected SUBJECT PORT [LIFETIME_SECS]".into());
    };
    if !subjects::SERVERS.contains(&subject.as_str()) {
        return Err(format!("no echo server for {subject:?}"));
    }
    let lifetime = match rest.first() {
        Some(s) => Duration::from_secs(parse(s)?),
        None => Duration::from_secs(300),
    };
    if let Err(e) = subjects::serve(subject, parse(port)?, lifetime) {
        println!("error {}", e.replace('\n', " "));
        std::process::exit(1);
    }
    Ok(())
}

fn serve_http_main(args: &[String]) -> Result<(), String> {
    let [subject, port, rest @ ..] = args else {
        return Err("serve-http: expected SUBJECT PORT [LIFETIME_SECS]".into());
    };
    if !http_servers::HTTP_SERVERS.contains(&subject.as_str()) {
        return Err(format!("no HTTP server for {subject:?}"));
    }
    let lifetime = match rest.first() {
        Some(s) => Duration::from_secs(parse(s)?),
        None => Duration::from_secs(300),
    };
    if let Err(e) = http_servers::serve(subject, parse(port)?, lifetime) {
        println!("error {}", e.replace('\n', " "));
        std::process::exit(1);
    }
    Ok(())
}

fn load_main(args: &[String]) -> Result<(), String> {
    let [addr, conns, mode, rest @ ..] = args else {
        return Err("load: expected ADDR CONNS echo|idle [options]".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
    let mode = match mode.as_str() {
        "echo" => Mode::Echo,
        "idle" => Mode::Idle,
        other => return Err(format!("unknown load mode {other:?}")),
    };
    let mut opts = LoadOpts::new(addr, parse(conns)?, mode);
    let mut it = rest.iter();
    let secs = |v: &str| parse::<f64>(v).map(Duration::from_secs_f64);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--msg" => opts.msg = parse(value)?,
            "--warmup" => opts.warmup = secs(value)?,
            "--secs" => opts.secs = secs(value)?,
            "--reps" => opts.reps = parse(value)?,
            "--window" => opts.window = parse(value)?,
            "--connect-timeout" => opts.connect_timeout = secs(value)?,
            "--server-pid" => opts.server_pid = Some(parse(value)?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if opts.conns == 0 || opts.msg == 0 || opts.reps == 0 || opts.window == 0 {
        return Err("load: connections, message size, reps and window must be at least 1".into());
    }
    if let Err(e) = loadgen::run(&opts) {
        println!("error {}", e.replace('\n', " "));
        std::process::exit(1);
    }
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
