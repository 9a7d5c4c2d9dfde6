//! The DNS benchmark: caching forwarders in front of one upstream.
//!
//! Subjects, each a caching forwarder started fresh by this harness on a
//! 127.0.0.1 port it picked, pinned to the server CPU, forwarding to the
//! same upstream:
//!
//! * grove-dns (`apps/grove-dns`, built by run.sh with `cargo build
//!   --release -p grove-dns`) with its production defaults and a cache store
//!   file in a temporary directory, `--threads 1` pinned to one CPU, and
//!   beside it `--threads N` (N = CPUs) on every CPU;
//! * dnsmasq as a caching forwarder (`--cache-size 10000 --no-resolv
//!   --server 127.0.0.1#UPSTREAM`); dnsmasq is single-threaded;
//! * the original gevent design (`peers/gevent/dns_proxy.py`, Python 3 +
//!   dnslib).
//!
//! The upstream is dnsmasq answering every name under `bench.test`
//! authoritatively (`--address=/bench.test/192.0.2.1`, TTL 3600), pinned
//! to the client CPU, so fresh names always exist upstream.
//!
//! Cached hits: the subjects start together and stay up; each is warmed
//! with the names of the query file (`hit0..hit9.bench.test A`), then
//! `dnsperf` (pinned to the client CPU; `-c 16` source ports, `-q 100`
//! queries outstanding) runs a timed window against each subject in turn,
//! `rounds` times over, so that a drifting shared machine reaches every
//! subject alike. Each window also reads the server's CPU time
//! (`/proc/PID/stat`) and the machine's busy time (`/proc/stat`). A cell is
//! the median over its windows.
//!
//! Miss path: a client of this harness (one thread pinned to the client
//! CPU) sends A queries for names never asked before, one at a time, and
//! times each answer: median and 99th percentile. The same client against
//! the upstream alone gives the floor every forwarder adds to.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::loadgen::{clock_ticks, cpu_ticks, NOISE};
use crate::noise::{self, Better, Ratios, Verdict};
use crate::orchestrate::{say, Options, Runner};
use crate::report;

/// The benchmarks of this module, for `--benches`.
pub const DNS_BENCHES: &[&str] = &["dns"];

/// Names the cached-hit windows ask for.
const HIT_NAMES: usize = 10;
/// dnsperf's source ports: several, so that SO_REUSEPORT spreads a
/// multi-threaded server's load (the kernel hashes by source port).
const DNSPERF_CLIENTS: usize = 16;
/// dnsperf's queries in flight.
const DNSPERF_OUTSTANDING: usize = 100;
/// The server's CPU share under which dnsperf, not grove-dns, set the
/// rate of a window (the server waited for queries the rest of the time).
const SERVER_BOUND: f64 = 0.9;
/// How long one miss-path query may take before it counts as lost.
const MISS_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of the DNS rows.
#[derive(Debug)]
pub struct DnsOptions {
    /// Length of one dnsperf window, seconds.
    pub secs: f64,
    /// dnsperf windows per subject (interleaved over the subjects).
    pub rounds: usize,
    /// Fresh names asked on the miss path, per subject.
    pub misses: usize,
    /// The grove-dns binary, or why there is none.
    pub grove_dns: Result<PathBuf, String>,
    /// Threads of the multi-core grove-dns column (0: one per CPU).
    pub threads: usize,
    pub server_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
}

impl DnsOptions {
    pub fn new(benches_dir: &Path) -> DnsOptions {
        let built = benches_dir.join("../target/release/grove-dns");
        DnsOptions {
            secs: 4.0,
            rounds: 3,
            misses: 400,
            grove_dns: if built.exists() {
                Ok(built)
            } else {
                Err("not built (run.sh builds it with `cargo build --release -p grove-dns`)".into())
            },
            threads: 0,
            server_cpu: None,
            client_cpu: None,
        }
    }
}

/// A subject's command line, given its port and the upstream's.
type CommandLine = Box<dyn Fn(u16, u16) -> Vec<String>>;

/// One forwarder under test.
struct Subject {
    title: String,
    /// The command line, given its port and the upstream's; `Err`: why the
    /// subject is not available.
    argv: Result<CommandLine, String>,
    /// `taskset -c` list.
    cpus: String,
}

/// What was measured of one subject.
#[derive(Default)]
struct Measured {
    qps: Vec<f64>,
    /// Server CPU seconds per completed query.
    cpu_per_query: Vec<f64>,
    /// Server CPU time ÷ wall time.
    server_share: Vec<f64>,
    /// CPU time of everything else on the server's CPUs ÷ wall time
    /// (a shared machine's noise; with every CPU, dnsperf counts here too).
    others: Vec<f64>,
    /// CPUs the server may run on.
    ncpus: usize,
    lost: u64,
    /// Windows run again because other processes disturbed them.
    repeated: usize,
    /// grove-dns (1 thread) ÷ this subject per pair of adjacent windows:
    /// hits/s and CPU per hit (empty for grove-dns itself).
    paired_qps: Vec<f64>,
    paired_cpu: Vec<f64>,
    miss: Option<Latency>,
    error: Option<String>,
}

#[derive(Clone, Copy)]
struct Latency {
    median_us: f64,
    p99_us: f64,
    lost: usize,
    n: usize,
}

fn cpus_online() -> usize {
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online).unwrap_or(1).max(1)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the DNS benchmark and returns its markdown section.
pub fn section(opts: &Options, csv_dir: Option<&Path>) -> String {
    let d = &opts.dns;
    let cpus = cpus_online();
    let server_cpu = d.server_cpu.unwrap_or(cpus - 1);
    let client_cpu = d.client_cpu.unwrap_or(0);
    let threads = if d.threads == 0 { cpus } else { d.threads };
    let all_cpus = format!("0-{}", cpus - 1);
    let mut out = String::new();
    let _ = writeln!(out, "## DNS\n");

    if !have("dnsmasq") {
        let _ = writeln!(
            out,
            "n/a: dnsmasq is not installed (apt-get install dnsmasq-base): it is the upstream of every subject.\n"
        );
        return out;
    }
    let dnsperf = have("dnsperf");
    let tmp = std::env::temp_dir().join(format!("grove-bench-dns-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        let _ = writeln!(out, "n/a: cannot create {}: {e}\n", tmp.display());
        return out;
    }

    let python = match &opts.gevent {
        Runner::External(argv) => Ok(argv[0].clone()),
        Runner::Unavailable(why) => Err(why.clone()),
        _ => Err("not selected".to_string()),
    };
    let script = opts.benches_dir.join("peers/gevent/dns_proxy.py");
    let grove = |n: usize| -> Result<CommandLine, String> {
        let exe = d.grove_dns.clone()?.display().to_string();
        let store = tmp.join(format!("cache-{n}.redb")).display().to_string();
        Ok(Box::new(move |port, up| {
            strings(&[
                &exe,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--upstream",
                &format!("127.0.0.1:{up}"),
                "--store",
                &store,
                "--stats-interval",
                "0",
                "--threads",
                &n.to_string(),
            ])
        }))
    };
    let subjects = vec![
        Subject {
            title: "grove-dns, 1 thread".into(),
            argv: grove(1),
            cpus: server_cpu.to_string(),
        },
        Subject {
            title: format!("grove-dns, {threads} threads (all CPUs, shared with dnsperf)"),
            argv: grove(threads),
            cpus: all_cpus,
        },
        Subject {
            title: "dnsmasq".into(),
            argv: Ok(Box::new(|port, up| {
                dnsmasq_argv(
                    port,
                    &[&format!("--server=127.0.0.1#{up}"), "--cache-size=10000"],
                )
            })),
            cpus: server_cpu.to_string(),
        },
        Subject {
            title: "gevent original (Python)".into(),
            argv: match python {
                Ok(py) if script.exists() => {
                    let script = script.display().to_string();
                    Ok(Box::new(move |port, up| {
                        strings(&[
                            &py,
                            &script,
                            "--listen",
                            &format!("127.0.0.1:{port}"),
                            "--upstream",
                            &format!("127.0.0.1:{up}"),
                        ])
                    }))
                }
                Ok(_) => Err(format!("{} is missing", script.display())),
                Err(why) => Err(why),
            },
            cpus: server_cpu.to_string(),
        },
    ];

    let result = run(d, &subjects, &tmp, client_cpu, dnsperf);
    let _ = std::fs::remove_dir_all(&tmp);
    let (measured, upstream_floor) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(out, "n/a: {e}\n");
            return out;
        }
    };
    write_section(
        &mut out,
        d,
        &subjects,
        &measured,
        upstream_floor,
        dnsperf,
        server_cpu,
        client_cpu,
    );
    if let Some(dir) = csv_dir {
        if let Err(e) = write_csv(dir, &subjects, &measured) {
            say(&format!("dns: could not write dns.csv: {e}"));
        }
    }
    out
}

/// `dns.csv` for the plot: each subject's median hits/s, server CPU per
/// hit and the min–max of its windows' CPU per hit.
fn write_csv(dir: &Path, subjects: &[Subject], measured: &[Measured]) -> io::Result<()> {
    let mut text = String::from("subject,hits_per_sec,cpu_us_per_hit,cpu_us_min,cpu_us_max\n");
    for (s, m) in subjects.iter().zip(measured) {
        let (Some(q), Some(c)) = (median(&m.qps), median(&m.cpu_per_query)) else {
            continue;
        };
        let us =
            |f: fn(f64, f64) -> f64, init| m.cpu_per_query.iter().fold(init, |a, &b| f(a, b)) * 1e6;
        let _ = writeln!(
            text,
            "{},{q:.0},{:.3},{:.3},{:.3}",
            s.title.replace(',', ";"),
            c * 1e6,
            us(f64::min, f64::INFINITY),
            us(f64::max, 0.0)
        );
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("dns.csv"), text)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(cpus: &str, argv: &[String], log: PathBuf) -> io::Result<Proc> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpus)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        Ok(Proc { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Why the process is not serving: it exited (with the end of its log).
    fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Some(format!("exited ({status}): {}", tail.join(" / ")))
    }
}

/// dnsmasq in the foreground on 127.0.0.1:`port`, reading no configuration,
/// resolv.conf or hosts file of this machine, with `extra` options: the
/// forwarder under test, and the upstream zone behind every forwarder.
fn dnsmasq_argv(port: u16, extra: &[&str]) -> Vec<String> {
    let port = format!("--port={port}");
    let mut argv = strings(&[
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        &port,
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
    ]);
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv
}

/// A free port on 127.0.0.1 for both UDP and TCP, as the OS hands it out.
fn pick_port() -> io::Result<u16> {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both UDP and TCP"))
}

/// Waits until `addr` answers an A query (up to 15 s).
fn wait_ready(proc: &mut Proc, addr: SocketAddr) -> Result<(), String> {
    let client = Client::new(addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(why) = proc.exited() {
            return Err(why);
        }
        if client.ask("ready.bench.test").is_some() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no answer on {addr} within 15 s"))
}

type RunResult = Result<(Vec<Measured>, Option<Latency>), String>;

fn run(
    d: &DnsOptions,
    subjects: &[Subject],
    tmp: &Path,
    client_cpu: usize,
    dnsperf: bool,
) -> RunResult {
    let up_port = pick_port().map_err(|e| format!("could not pick a port: {e}"))?;
    let up_argv = dnsmasq_argv(
        up_port,
        &["--address=/bench.test/192.0.2.1", "--local-ttl=3600"],
    );
    let mut upstream = Proc::start(&client_cpu.to_string(), &up_argv, tmp.join("upstream.log"))
        .map_err(|e| format!("cannot start the upstream dnsmasq: {e}"))?;
    let up_addr: SocketAddr = ([127, 0, 0, 1], up_port).into();
    wait_ready(&mut upstream, up_addr).map_err(|e| format!("upstream dnsmasq: {e}"))?;
    say(&format!("dns: upstream dnsmasq on {up_addr}"));
    let floor = on_cpu(client_cpu, {
        let n = d.misses;
        move || miss_latency(up_addr, n, "floor")
    });

    let queries = tmp.join("queries.txt");
    let text: String = (0..HIT_NAMES)
        .map(|i| format!("hit{i}.bench.test A\n"))
        .collect();
    std::fs::write(&queries, text).map_err(|e| format!("cannot write the query file: {e}"))?;

    let mut measured: Vec<Measured> = subjects
        .iter()
        .map(|s| Measured {
            ncpus: cpu_list(&s.cpus).len(),
            ..Measured::default()
        })
        .collect();
    let mut servers: Vec<Option<(Proc, SocketAddr)>> = Vec::new();
    for (i, (s, m)) in subjects.iter().zip(measured.iter_mut()).enumerate() {
        let argv = match &s.argv {
            Ok(f) => f,
            Err(why) => {
                m.error = Some(format!("n/a: {why}"));
                servers.push(None);
                continue;
            }
        };
        let started = pick_port().map_err(|e| e.to_string()).and_then(|port| {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut p = Proc::start(
                &s.cpus,
                &argv(port, up_port),
                tmp.join(format!("server-{i}.log")),
            )
            .map_err(|e| format!("cannot start: {e}"))?;
            wait_ready(&mut p, addr)?;
            warm(addr)?;
            Ok((p, addr))
        });
        match started {
            Ok(x) => {
                say(&format!("dns: {} on {} (CPUs {})", s.title, x.1, s.cpus));
                servers.push(Some(x));
            }
            Err(e) => {
                say(&format!("dns: {}: {e}", s.title));
                m.error = Some(format!("failed: {e}"));
                servers.push(None);
            }
        }
    }

    if dnsperf {
        // Each peer's window next to one of grove-dns (1 thread, subject 0),
        // in alternating order, so grove ÷ peer compares adjacent windows.
        for round in 0..d.rounds {
            for peer in 1..subjects.len() {
                let mut got: Vec<Option<Window>> = vec![None, None];
                for (slot, i) in noise::pair_order(round, 0, peer).into_iter().enumerate() {
                    let Some((p, addr)) = &mut servers[i] else {
                        continue;
                    };
                    if measured[i].error.is_some() {
                        continue;
                    }
                    let s = &subjects[i];
                    let m = &mut measured[i];
                    match steady_window(d, p, *addr, &queries, client_cpu, &cpu_list(&s.cpus)) {
                        Ok(w) => {
                            say(&format!(
                                "dns: {} round {}: {} ({:.2} µs server CPU per query, server {:.0}%, others on its CPUs {:.0}%, least disturbed of {} window(s), at most {})",
                                s.title,
                                round + 1,
                                report::per_sec(w.qps),
                                w.cpu_per_query * 1e6,
                                w.server_share * 100.0,
                                w.others * 100.0,
                                w.tries,
                                MAX_TRIES
                            ));
                            m.qps.push(w.qps);
                            m.cpu_per_query.push(w.cpu_per_query);
                            m.server_share.push(w.server_share);
                            m.others.push(w.others);
                            m.lost += w.lost;
                            m.repeated += w.tries - 1;
                            got[slot] = Some(w);
                        }
                        Err(e) => {
                            say(&format!("dns: {}: {e}", s.title));
                            m.error = Some(format!("failed: {e}"));
                        }
                    }
                }
                let [first, second] = [got[0].take(), got[1].take()];
                let (g, p) = if round % 2 == 0 {
                    (first, second)
                } else {
                    (second, first)
                };
                if let (Some(g), Some(p)) = (g, p) {
                    measured[peer].paired_qps.push(g.qps / p.qps);
                    measured[peer]
                        .paired_cpu
                        .push(g.cpu_per_query / p.cpu_per_query);
                }
            }
        }
    }

    for (i, ((s, m), server)) in subjects
        .iter()
        .zip(measured.iter_mut())
        .zip(servers.iter())
        .enumerate()
    {
        let Some((_, addr)) = server else { continue };
        // Names no subject (nor the upstream's floor run) was asked before.
        let (addr, n, tag) = (*addr, d.misses, format!("s{i}"));
        let lat = on_cpu(client_cpu, move || miss_latency(addr, n, &tag));
        if let Some(l) = lat {
            say(&format!(
                "dns: {} miss latency: median {:.0} µs, p99 {:.0} µs ({} lost of {})",
                s.title, l.median_us, l.p99_us, l.lost, l.n
            ));
        }
        m.miss = lat;
    }
    drop(servers);
    drop(upstream);
    Ok((measured, floor))
}

/// Asks every name of the query file once, so that the windows see only
/// cache hits.
fn warm(addr: SocketAddr) -> Result<(), String> {
    let client = Client::new(addr, MISS_TIMEOUT).map_err(|e| e.to_string())?;
    for i in 0..HIT_NAMES {
        let name = format!("hit{i}.bench.test");
        if client.ask(&name).is_none() && client.ask(&name).is_none() {
            return Err(format!("no answer for {name} while warming the cache"));
        }
    }
    Ok(())
}

struct Window {
    qps: f64,
    cpu_per_query: f64,
    server_share: f64,
    others: f64,
    lost: u64,
    /// Windows run to get this figure (see [`steady_window`]).
    tries: usize,
}

/// Windows tried at most for one figure.
const MAX_TRIES: usize = 3;

/// One window, run again (at most [`MAX_TRIES`] in all, the least disturbed
/// kept) while other processes took ≥ `loadgen::NOISE` of a CPU on the
/// server's CPUs.
fn steady_window(
    d: &DnsOptions,
    server: &mut Proc,
    addr: SocketAddr,
    queries: &Path,
    client_cpu: usize,
    server_cpus: &[usize],
) -> Result<Window, String> {
    // With every CPU the server's CPUs include dnsperf's: "others" is not
    // noise there, so those windows are not repeated.
    let shared = server_cpus.contains(&client_cpu);
    let mut best: Option<Window> = None;
    let mut made = 0;
    while made < MAX_TRIES {
        let w = window(d, server, addr, queries, client_cpu, server_cpus)?;
        made += 1;
        let quiet = shared || w.others < NOISE;
        if best.as_ref().is_none_or(|b| w.others < b.others) {
            best = Some(w);
        }
        if quiet {
            break;
        }
    }
    let mut best = best.expect("at least one window");
    best.tries = made;
    Ok(best)
}

/// One dnsperf run against a warmed server.
fn window(
    d: &DnsOptions,
    server: &mut Proc,
    addr: SocketAddr,
    queries: &Path,
    client_cpu: usize,
    server_cpus: &[usize],
) -> Result<Window, String> {
    let stat = format!("/proc/{}/stat", server.pid());
    let ticks = clock_ticks();
    let cpu0 = cpu_ticks(&stat);
    let busy0 = busy_ticks(server_cpus);
    let start = Instant::now();
    let output = Command::new("taskset")
        .arg("-c")
        .arg(client_cpu.to_string())
        .arg("dnsperf")
        .args(["-s", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .arg("-d")
        .arg(queries)
        .args(["-l", &format!("{}", d.secs)])
        .args(["-c", &DNSPERF_CLIENTS.to_string()])
        .args(["-q", &DNSPERF_OUTSTANDING.to_string()])
        .args(["-t", "2"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("dnsperf: {e}"))?;
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(&stat);
    let busy1 = busy_ticks(server_cpus);
    if let Some(why) = server.exited() {
        return Err(why);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |label: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let (Some(completed), Some(qps)) = (field("Queries completed:"), field("Queries per second:"))
    else {
        return Err(format!(
            "dnsperf printed no result: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    };
    let lost = field("Queries lost:").unwrap_or(0.0) as u64;
    // Every answer must be NOERROR (each name exists upstream): a window
    // whose answers carry other codes measured errors, not hits.
    let codes = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Response codes:"))
        .ok_or("dnsperf printed no response-code line")?;
    let noerror = response_count(codes, "NOERROR");
    if noerror != completed as u64 {
        return Err(format!(
            "{noerror} of {completed} answers were NOERROR (response codes: {})",
            codes.trim()
        ));
    }
    let server_secs = (cpu1.saturating_sub(cpu0)) as f64 / ticks;
    Ok(Window {
        qps,
        cpu_per_query: server_secs / completed.max(1.0),
        server_share: server_secs / wall,
        others: (busy1.saturating_sub(busy0) as f64 / ticks - server_secs).max(0.0) / wall,
        lost,
        tries: 1,
    })
}

/// The count of `code` in dnsperf's response-code line
/// (`NOERROR 1234 (99.5%), SERVFAIL 6 (0.5%)`); 0 when absent.
fn response_count(line: &str, code: &str) -> u64 {
    line.split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            (words.next()? == code).then(|| words.next()?.parse::<u64>().ok())?
        })
        .sum()
}

/// `"1"` → `[1]`, `"0-3"` → `[0, 1, 2, 3]` (a `taskset -c` list).
fn cpu_list(spec: &str) -> Vec<usize> {
    spec.split(',')
        .flat_map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
            a..=b
        })
        .collect()
}

/// Busy time (all but idle and iowait) of the given CPUs, in clock ticks,
/// from `/proc/stat`.
fn busy_ticks(cpus: &[usize]) -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(' ')?;
            let n: usize = name.strip_prefix("cpu")?.parse().ok()?;
            cpus.contains(&n).then_some(rest)
        })
        .map(|rest| {
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            [0, 1, 2, 5, 6, 7]
                .iter()
                .filter_map(|&i| v.get(i))
                .sum::<u64>()
        })
        .sum()
}

/// Runs `f` on a thread of its own pinned to `cpu` (this harness itself
/// is pinned to the server CPU by run.sh).
fn on_cpu<T: Send + 'static>(cpu: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(move || {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
        // inside it; sched_setaffinity(0, ..) affects this thread only.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        f()
    })
    .join()
    .expect("miss-path client thread")
}

/// `n` A queries for names never asked before, one at a time.
fn miss_latency(addr: SocketAddr, n: usize, tag: &str) -> Option<Latency> {
    let client = Client::new(addr, MISS_TIMEOUT).ok()?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id());
    let mut times = Vec::with_capacity(n);
    let mut lost = 0;
    for i in 0..n {
        let name = format!("m{nonce:x}-{tag}-{i}.bench.test");
        match client.ask(&name) {
            Some(t) => times.push(t.as_secs_f64() * 1e6),
            None => lost += 1,
        }
    }
    if times.is_empty() {
        return None;
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Some(Latency {
        median_us: at(0.5),
        p99_us: at(0.99),
        lost,
        n,
    })
}

/// A minimal DNS client: one A question, one answer.
struct Client {
    socket: UdpSocket,
    next_id: std::cell::Cell<u16>,
}

impl Client {
    fn new(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(addr)?;
        socket.set_read_timeout(Some(timeout))?;
        Ok(Client {
            socket,
            next_id: std::cell::Cell::new(std::process::id() as u16),
        })
    }

    /// The time until a NOERROR answer with our id came back, or `None`.
    fn ask(&self, name: &str) -> Option<Duration> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let query = query_packet(id, name);
        let start = Instant::now();
        self.socket.send(&query).ok()?;
        let mut buf = [0u8; 1500];
        loop {
            let n = self.socket.recv(&mut buf).ok()?;
            let reply = &buf[..n];
            // id, QR set, RCODE 0 (NOERROR), at least one answer
            if n >= 12 && reply[..2] == id.to_be_bytes() {
                let ok = reply[2] & 0x80 != 0 && reply[3] & 0x0f == 0 && reply[6..8] != [0, 0];
                return ok.then(|| start.elapsed());
            }
        }
    }
}

fn query_packet(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root; type A; class IN
    q
}

fn median(v: &[f64]) -> Option<f64> {
    noise::median(v)
}

#[allow(clippy::too_many_arguments)]
fn write_section(
    out: &mut String,
    d: &DnsOptions,
    subjects: &[Subject],
    measured: &[Measured],
    floor: Option<Latency>,
    dnsperf: bool,
    server_cpu: usize,
    client_cpu: usize,
) {
    let titles: Vec<&str> = subjects.iter().map(|s| s.title.as_str()).collect();
    let _ = writeln!(
        out,
        "Caching forwarders in front of one upstream (dnsmasq answering `*.bench.test` authoritatively, \
         on CPU {client_cpu}). Cached hits: `dnsperf -c {DNSPERF_CLIENTS} -q {DNSPERF_OUTSTANDING} -l {}` on CPU \
         {client_cpu} over {HIT_NAMES} pre-warmed names, {} rounds in which every subject's window runs next \
         to one of grove-dns (1 thread), in alternating order (grove-dns first in odd rounds); a window \
         in which other processes took ≥ {:.0}% of a CPU on the server's CPUs is run again (at most \
         {MAX_TRIES}, the least disturbed kept), and a window whose answers are not all NOERROR is an \
         error, not a figure; medians shown (an even count: the mean of the middle two); servers on CPU {server_cpu} unless noted. Server CPU per hit is the server's \
         utime+stime over the window ÷ queries answered; on a shared machine it is the steadier figure, \
         since hits/s also depends on how much of its CPU the server got (the next row). Miss path: {} A queries for fresh names, one at a \
         time, from a client on CPU {client_cpu}.\n",
        d.secs,
        d.rounds,
        NOISE * 100.0,
        d.misses
    );
    let _ = writeln!(out, "| | {} |", titles.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(titles.len()));
    type CellFn<'a> = &'a dyn Fn(usize, &Measured) -> Option<String>;
    let cell = |i: usize, m: &Measured, f: CellFn<'_>| -> String {
        match (&m.error, f(i, m)) {
            (_, Some(text)) => text,
            (Some(e), None) => e.clone(),
            (None, None) if !dnsperf => "n/a: dnsperf is not installed".into(),
            (None, None) => "—".into(),
        }
    };
    let grove_qps = measured.first().and_then(|m| median(&m.qps));
    let rows: [(&str, CellFn<'_>); 5] = [
        ("cached hits/s", &|i, m| {
            let v = median(&m.qps)?;
            let vs = match grove_qps {
                Some(g) if i > 0 => {
                    format!(" (grove-dns 1 thread ÷ this: {})", report::ratio(g / v))
                }
                _ => String::new(),
            };
            Some(format!("{}{vs}", report::per_sec(v)))
        }),
        ("server CPU per cached hit", &|_, m| {
            median(&m.cpu_per_query).map(|v| format!("{:.2} µs", v * 1e6))
        }),
        (
            "server / everything else / idle, on the server's CPUs",
            &|_, m| {
                let (server, others) = (median(&m.server_share)?, median(&m.others)?);
                let idle = (m.ncpus as f64 - server - others).max(0.0);
                Some(format!(
                    "{:.0}% / {:.0}% / {:.0}%",
                    server * 100.0,
                    others * 100.0,
                    idle * 100.0
                ))
            },
        ),
        ("miss latency, median", &|_, m| {
            m.miss.map(|l| format!("{:.0} µs", l.median_us))
        }),
        ("miss latency, p99", &|_, m| {
            m.miss.map(|l| {
                let lost = if l.lost > 0 {
                    format!(" ({} of {} lost)", l.lost, l.n)
                } else {
                    String::new()
                };
                format!("{:.0} µs{lost}", l.p99_us)
            })
        }),
    ];
    for (label, f) in rows {
        let cells: Vec<String> = measured
            .iter()
            .enumerate()
            .map(|(i, m)| cell(i, m, f))
            .collect();
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(out);
    if let Some(l) = floor {
        let _ = writeln!(
            out,
            "- The upstream alone, same client: miss latency median {:.0} µs, p99 {:.0} µs (the floor each forwarder adds to).",
            l.median_us, l.p99_us
        );
    }
    let spread: Vec<String> = subjects
        .iter()
        .zip(measured)
        .filter(|(_, m)| !m.qps.is_empty())
        .map(|(s, m)| {
            let v: Vec<String> = m.qps.iter().map(|q| report::per_sec(*q)).collect();
            let lost = if m.lost > 0 {
                format!(", {} queries lost", m.lost)
            } else {
                String::new()
            };
            let repeated = if m.repeated > 0 {
                format!(", {} disturbed windows run again", m.repeated)
            } else {
                String::new()
            };
            let paired = if m.paired_qps.is_empty() {
                String::new()
            } else {
                let r: Vec<String> = m.paired_qps.iter().map(|r| report::ratio(*r)).collect();
                format!(" (grove-dns ÷ this per pair: {})", r.join(", "))
            };
            format!("{}: {}{paired}{lost}{repeated}", s.title, v.join(", "))
        })
        .collect();
    if !spread.is_empty() {
        let _ = writeln!(out, "- Every window, in order: {}.", spread.join("; "));
    }
    let _ = writeln!(
        out,
        "- CPU shares are of one CPU (100% = a whole CPU). Idle time on a server's CPUs during a window \
         means the server was waiting for queries: dnsperf, not the server, set the pace, and hits/s \
         understates the server; server CPU per hit does not depend on it."
    );
    let _ = writeln!(out, "- Versions: {}.", versions(subjects));
    // The targets name cached hits/s. dnsperf can be what sets that rate:
    // then the servers' hits/s cannot rank them, and the verdict says so;
    // server CPU per hit is shown beside it, judged by the same rule.
    let grove_share = measured.first().and_then(|m| median(&m.server_share));
    let grove_others = measured.first().and_then(|m| median(&m.others));
    let capped = grove_share.is_some_and(|s| s < SERVER_BOUND);
    // Who held grove-dns below its CPU: other processes, when they took
    // more of its CPU than it did, else dnsperf.
    let setter = match (grove_share, grove_others) {
        (Some(s), Some(o)) if o > s => format!(
            "the machine's load set the rate: grove-dns got {:.0}% of its CPU, other processes {:.0}%",
            s * 100.0,
            o * 100.0
        ),
        _ => format!(
            "dnsperf set the rate: grove-dns used {:.0}% of its CPU",
            grove_share.unwrap_or(0.0) * 100.0
        ),
    };
    let target = |peer: usize, name: &str, bound: f64| -> Option<String> {
        let m = measured.get(peer)?;
        let qps = Ratios::paired(&m.paired_qps)?;
        let cpu = Ratios::paired(&m.paired_cpu)?;
        let rate = if capped {
            Verdict::NotDemonstrable(setter.clone())
        } else {
            qps.verdict(bound, Better::Higher)
        };
        Some(format!(
            "{name} — hits/s {qps}: {}; server CPU per hit {cpu}: {} (grove-dns ÷ {}, \
             ≤ {} wanted)",
            rate.target_word(),
            cpu.verdict(1.0 / bound, Better::Lower),
            subjects[peer].title,
            report::ratio(1.0 / bound)
        ))
    };
    let lines: Vec<String> = [
        target(2, "ahead of dnsmasq", 1.0),
        target(3, "at least 30× the Python original", 30.0),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "- Targets (grove-dns on one core; paired windows, median (min–max)): {}.",
            lines.join("; ")
        );
        let _ = writeln!(out, "- {}", noise::RULE);
    }
    let _ = writeln!(out);
}

/// dnsmasq, dnsperf and the Python peer's versions, as the tools print them.
fn versions(subjects: &[Subject]) -> String {
    let first_line = |argv: &[&str], pick: fn(&str) -> bool| -> String {
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|o| {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                text.lines().find(|l| pick(l)).map(str::to_string)
            })
            .unwrap_or_else(|| format!("{} n/a", argv[0]))
    };
    let mut v = vec![
        first_line(&["dnsmasq", "--version"], |l| {
            l.starts_with("Dnsmasq version")
        })
        .split("  ")
        .next()
        .unwrap_or_default()
        .replace("Dnsmasq version", "dnsmasq"),
        first_line(&["dnsperf", "-h"], |l| l.starts_with("Version")).replace("Version", "dnsperf"),
    ];
    let python = subjects.iter().find_map(|s| {
        let argv = s.argv.as_ref().ok()?(0, 0);
        argv[0].contains("python").then(|| argv[0].clone())
    });
    if let Some(py) = python {
        v.push(first_line(
            &[
                &py,
                "-c",
                "import sys, gevent, dnslib; print('CPython %d.%d.%d, gevent %s, dnslib %s' % (sys.version_info[:3] + (gevent.__version__, dnslib.version)))",
            ],
            |l| l.starts_with("CPython"),
        ));
    }
    v.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_response_codes() {
        let line = "  NOERROR 51234 (99.98%), SERVFAIL 10 (0.02%)";
        assert_eq!(response_count(line, "NOERROR"), 51234);
        assert_eq!(response_count(line, "SERVFAIL"), 10);
        assert_eq!(response_count(line, "NXDOMAIN"), 0);
    }
}
