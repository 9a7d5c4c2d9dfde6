//! The echo load generator: one client, used identically against every
//! server (`harness load …`, started by `harness all` pinned to the client
//! CPU while the server runs pinned to another).
//!
//! It holds N TCP connections on one thread with mio (epoll, edge-triggered)
//! and plays request/response ping-pong on each: write a `msg`-byte message,
//! wait until all `msg` bytes came back, count one round trip, write again.
//!
//! * Connecting is paced: at most `window` connections are open but not yet
//!   answered (each new connection does one round trip before it counts as
//!   established), so the server's accept queue never holds more than
//!   `window` connections whatever its backlog is.
//! * `echo` mode: after every connection is established, all of them
//!   ping-pong at once; after `warmup`, windows of `secs` each are timed
//!   until `reps` of them were clean (other processes took less than
//!   [`NOISE`] of a CPU; the machine may be shared) or `reps + reps/2 + 1` ran.
//!   The `reps` least disturbed ones are printed as `rep echo <round trips
//!   per second>`, then one `load echo <server> <client> <softirqd> <other>
//!   <server_us_per_rt> <windows_run> <worst_other>` over them: CPU time ÷
//!   wall time of the server, of this client, of the kernel's `ksoftirqd`
//!   threads (network work deferred on their behalf) and of everything else
//!   on the machine, the server's CPU time per round trip in µs, how many
//!   windows ran, and the largest "other" share kept.
//! * `idle` mode (the memory row): one warm-up connection does a round trip
//!   and is closed; once the server's CPU time stops moving its `VmRSS` and
//!   `VmPTE` are read ("before"); then N connections are established (one
//!   round trip each, so every handler exists and is parked in a read again)
//!   and, once the server is quiet, read again ("after"): `mem N …`.
//!
//! Every connection is closed with `SO_LINGER` 0 (a reset), so a run leaves
//! no `TIME_WAIT` behind on either side. Everything is bounded: connecting
//! gives up after `connect_timeout`, and the timed part lasts
//! `warmup + reps × secs`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::proto;

/// A timed window counts as clean when other processes took less than this
/// share of a CPU during it.
pub const NOISE: f64 = 0.10;

/// What `harness load` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Idle,
}

/// Options of `harness load`.
#[derive(Debug)]
pub struct LoadOpts {
    pub addr: SocketAddr,
    pub conns: usize,
    pub mode: Mode,
    pub msg: usize,
    pub warmup: Duration,
    pub secs: Duration,
    pub reps: usize,
    pub window: usize,
    pub connect_timeout: Duration,
    pub server_pid: Option<u32>,
}

impl LoadOpts {
    pub fn new(addr: SocketAddr, conns: usize, mode: Mode) -> LoadOpts {
        LoadOpts {
            addr,
            conns,
            mode,
            msg: 64,
            warmup: Duration::from_millis(500),
            secs: Duration::from_millis(500),
            reps: 5,
            window: 64,
            connect_timeout: Duration::from_secs(60),
            server_pid: None,
        }
    }
}

struct Conn {
    stream: TcpStream,
    /// Bytes of the current reply received so far.
    got: usize,
    /// Bytes of the current request still to write (normally written at once).
    unsent: usize,
}

struct Client {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    msg: Vec<u8>,
    scratch: Vec<u8>,
    /// Completed round trips, all connections together.
    round_trips: u64,
    /// In the ping-pong phase: send the next request as soon as a reply is in.
    pingpong: bool,
}

/// Runs the load generator, printing protocol records; `Err` is printed as
/// an `error` record by the caller.
pub fn run(opts: &LoadOpts) -> Result<(), String> {
    let limit = raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let needed = opts.conns as u64 + 64;
    if limit < needed {
        return Err(format!(
            "RLIMIT_NOFILE hard limit is {limit}, {needed} descriptors are needed for {} connections",
            opts.conns
        ));
    }
    let msg: Vec<u8> = (0..opts.msg).map(|i| b'a' + (i % 26) as u8).collect();
    let mut client = Client {
        poll: Poll::new().map_err(|e| format!("epoll: {e}"))?,
        events: Events::with_capacity(1024),
        conns: Vec::with_capacity(opts.conns),
        scratch: vec![0; msg.len()],
        msg,
        round_trips: 0,
        pingpong: false,
    };
    match opts.mode {
        Mode::Echo => {
            client.connect(opts, opts.conns)?;
            echo(&mut client, opts)
        }
        Mode::Idle => idle(&mut client, opts),
    }
}

/// CPU time in clock ticks, read at one instant.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    /// The server process (all its threads).
    server: u64,
    /// This load generator.
    client: u64,
    /// The kernel's softirq threads (`ksoftirqd/N`): network processing the
    /// kernel deferred, on behalf of the two processes above.
    softirqd: u64,
    /// The whole machine, everything but idle and iowait.
    machine: u64,
}

impl Cpu {
    fn now(server_pid: Option<u32>, softirqd: &[String]) -> Cpu {
        Cpu {
            server: server_pid
                .map(|p| cpu_ticks(&format!("/proc/{p}/stat")))
                .unwrap_or(0),
            client: cpu_ticks("/proc/self/stat"),
            softirqd: softirqd.iter().map(|path| cpu_ticks(path)).sum(),
            machine: machine_busy_ticks(),
        }
    }

    /// What was used between `self` and a later reading.
    fn until(self, later: Cpu) -> Cpu {
        Cpu {
            server: later.server.saturating_sub(self.server),
            client: later.client.saturating_sub(self.client),
            softirqd: later.softirqd.saturating_sub(self.softirqd),
            machine: later.machine.saturating_sub(self.machine),
        }
    }

    /// Everything else: other processes competing for the CPUs (noise).
    fn other(&self) -> u64 {
        self.machine
            .saturating_sub(self.server + self.client + self.softirqd)
    }
}

/// One timed window of the echo phase.
#[derive(Clone, Copy, Debug)]
struct Window {
    round_trips: u64,
    secs: f64,
    cpu: Cpu,
}

impl Window {
    /// CPUs' worth of time that other processes took during the window.
    fn other_share(&self) -> f64 {
        self.cpu.other() as f64 / (self.secs * clock_ticks())
    }
}

fn echo(client: &mut Client, opts: &LoadOpts) -> Result<(), String> {
    let softirqd = softirq_threads();
    client.pingpong = true;
    for i in 0..client.conns.len() {
        client.send(i)?;
    }
    let max_windows = opts.reps + opts.reps / 2 + 1;
    let mut windows: Vec<Window> = Vec::with_capacity(max_windows);
    let mut next = Instant::now() + opts.warmup;
    let mut mark: Option<(Instant, u64, Cpu)> = None;
    loop {
        let now = Instant::now();
        if now >= next {
            let cpu = Cpu::now(opts.server_pid, &softirqd);
            if let Some((t0, n0, cpu0)) = mark {
                windows.push(Window {
                    round_trips: client.round_trips - n0,
                    secs: (now - t0).as_secs_f64(),
                    cpu: cpu0.until(cpu),
                });
                let clean = windows.iter().filter(|w| w.other_share() < NOISE).count();
                if clean >= opts.reps || windows.len() >= max_windows {
                    break;
                }
            }
            mark = Some((now, client.round_trips, cpu));
            next = now + opts.secs;
        }
        client.turn(Some(next.saturating_duration_since(now)))?;
    }
    // Keep the `reps` windows in which other processes took the least CPU.
    let run = windows.len();
    windows.sort_by(|a, b| a.other_share().total_cmp(&b.other_share()));
    windows.truncate(opts.reps);
    let (mut round_trips, mut secs, mut cpu) = (0, 0.0, Cpu::default());
    for w in &windows {
        println!("rep echo {:.1}", w.round_trips as f64 / w.secs);
        round_trips += w.round_trips;
        secs += w.secs;
        cpu.server += w.cpu.server;
        cpu.client += w.cpu.client;
        cpu.softirqd += w.cpu.softirqd;
        cpu.machine += w.cpu.machine;
    }
    let wall = secs * clock_ticks();
    let worst = windows.last().map_or(0.0, Window::other_share);
    println!(
        "load echo {:.3} {:.3} {:.3} {:.3} {:.3} {run} {worst:.3}",
        cpu.server as f64 / wall,
        cpu.client as f64 / wall,
        cpu.softirqd as f64 / wall,
        cpu.other() as f64 / wall,
        cpu.server as f64 / clock_ticks() * 1e6 / round_trips.max(1) as f64,
    );
    client.close_all();
    Ok(())
}

fn idle(client: &mut Client, opts: &LoadOpts) -> Result<(), String> {
    let pid = opts
        .server_pid
        .ok_or("idle mode needs --server-pid to read the server's memory")?;
    // One warm-up connection: the server's lazily built state (accept path,
    // first handler, buffers) is part of "before", not of the per-connection cost.
    client.connect(opts, 1)?;
    client.close_all();
    wait_quiet(pid);
    let before = server_status(pid)?;
    client.connect(opts, opts.conns)?;
    wait_quiet(pid);
    let after = server_status(pid)?;
    println!(
        "mem {} {} {} {} {}",
        opts.conns, before.rss_kb, after.rss_kb, before.pte_kb, after.pte_kb
    );
    client.close_all();
    Ok(())
}

impl Client {
    /// Opens `n` connections, at most `opts.window` of them unanswered at a
    /// time; each is established once its first round trip completed.
    fn connect(&mut self, opts: &LoadOpts, n: usize) -> Result<(), String> {
        let deadline = Instant::now() + opts.connect_timeout;
        let first_new = self.conns.len();
        let mut pending = 0;
        let mut established = 0;
        while established < n {
            while pending < opts.window && self.conns.len() - first_new < n {
                let stream =
                    std::net::TcpStream::connect_timeout(&opts.addr, Duration::from_secs(10))
                        .map_err(|e| {
                            format!(
                                "connect to {} failed after {} established connections: {e}",
                                opts.addr,
                                self.conns.len()
                            )
                        })?;
                stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_nonblocking(true))
                    .map_err(|e| format!("socket option: {e}"))?;
                set_linger_zero(&stream).map_err(|e| format!("SO_LINGER: {e}"))?;
                let mut stream = TcpStream::from_std(stream);
                let i = self.conns.len();
                self.poll
                    .registry()
                    .register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map_err(|e| format!("epoll_ctl: {e}"))?;
                self.conns.push(Conn {
                    stream,
                    got: 0,
                    unsent: 0,
                });
                self.send(i)?;
                pending += 1;
            }
            let before = self.round_trips;
            self.turn(Some(Duration::from_millis(100)))?;
            let done = (self.round_trips - before) as usize;
            pending -= done;
            established += done;
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {n} connections answered within {} s",
                    established,
                    opts.connect_timeout.as_secs()
                ));
            }
        }
        self.round_trips = 0;
        Ok(())
    }

    /// One poll and the handling of what it returned.
    fn turn(&mut self, timeout: Option<Duration>) -> Result<(), String> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("epoll_wait: {e}")),
        }
        // Taken out for the loop so the handlers can borrow `self` (an empty
        // `Events` allocates nothing).
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let mut result = Ok(());
        for e in events.iter() {
            let i = e.token().0;
            if e.is_writable() && self.conns[i].unsent > 0 {
                result = self.flush(i);
            }
            if result.is_ok() && (e.is_readable() || e.is_error()) {
                result = self.receive(i);
            }
            if result.is_err() {
                break;
            }
        }
        self.events = events;
        result
    }

    /// Starts a request on connection `i`.
    fn send(&mut self, i: usize) -> Result<(), String> {
        self.conns[i].unsent = self.msg.len();
        self.flush(i)
    }

    fn flush(&mut self, i: usize) -> Result<(), String> {
        let conn = &mut self.conns[i];
        while conn.unsent > 0 {
            let from = self.msg.len() - conn.unsent;
            match conn.stream.write(&self.msg[from..]) {
                Ok(k) => conn.unsent -= k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {i}: write failed: {e}")),
            }
        }
        Ok(())
    }

    /// Reads what connection `i` has; a complete reply counts a round trip
    /// and, in the ping-pong phase, sends the next request.
    fn receive(&mut self, i: usize) -> Result<(), String> {
        let len = self.msg.len();
        loop {
            let conn = &mut self.conns[i];
            let got = conn.got;
            match conn.stream.read(&mut self.scratch[..len - got]) {
                Ok(0) => {
                    return Err(format!(
                        "connection {i} was closed by the server ({} connections open)",
                        self.conns.len()
                    ))
                }
                Ok(k) => {
                    if self.scratch[..k] != self.msg[got..got + k] {
                        return Err(format!("connection {i}: the reply is not the request"));
                    }
                    conn.got += k;
                    if conn.got == len {
                        conn.got = 0;
                        self.round_trips += 1;
                        if self.pingpong {
                            self.send(i)?;
                        }
                        // Nothing more can arrive before the next request, and
                        // new data raises a new edge: no read to EAGAIN needed.
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {i}: read failed: {e}")),
            }
        }
    }

    /// Closes every connection (with a reset: `SO_LINGER` 0).
    fn close_all(&mut self) {
        for mut conn in self.conns.drain(..) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }
}

fn set_linger_zero(stream: &std::net::TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid fd and a pointer to a live `linger` of the given size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to the hard limit and
/// returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a pointer to a live `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: a pointer to a live `rlimit`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(stat_path: &str) -> u64 {
    let text = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let get = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    get(14).unwrap_or(0) + get(15).unwrap_or(0)
}

/// Busy time of the whole machine (every CPU, everything but idle and
/// iowait), in clock ticks, from `/proc/stat`.
pub fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
}

/// The `/proc/<pid>/stat` paths of the kernel's `ksoftirqd/N` threads.
pub fn softirq_threads() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.starts_with("ksoftirqd/"))
        })
        .map(|e| e.path().join("stat").display().to_string())
        .collect()
}

/// Waits (up to 10 s) until the server's CPU time stops moving for 200 ms:
/// every handler has run and parked again.
fn wait_quiet(pid: u32) {
    let path = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = cpu_ticks(&path);
    let mut still = 0;
    while still < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = cpu_ticks(&path);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
}

fn server_status(pid: u32) -> Result<proto::Status, String> {
    proto::status_of(&format!("/proc/{pid}/status"))
        .ok_or_else(|| format!("could not read /proc/{pid}/status (the server exited?)"))
}
