//! The in-process subjects: grove and its Rust peers. Each one runs in a child
//! process of its own (`harness child <subject> <bench> <n> [reps]`), so that
//! runtimes, global configuration and memory never mix between measurements.

pub mod corosensei;
pub mod grove;
pub mod may;
pub mod monoio;
pub mod tokio;

use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::repeat;

/// Names accepted by `harness child`.
pub const SUBJECTS: &[&str] = &["grove", "corosensei", "may", "tokio"];
/// Benchmarks accepted by `harness child` (and by the Go and gevent peers):
/// the runtime rows, then the coordination primitives.
pub const BENCHES: &[&str] = &["switch", "spawn", "mem", "queue", "sem", "event"];

/// Runs one benchmark of one subject in this process, printing protocol records.
pub fn run(subject: &str, bench: &str, n: usize, reps: usize) -> Result<(), String> {
    match (subject, bench) {
        ("grove", "switch") => repeat("switch", reps, || grove::switch(n)),
        ("grove", "spawn") => {
            repeat("spawn_task", reps, || grove::spawn_task(n));
            repeat("spawn_main", reps, || grove::spawn_main(n));
        }
        ("grove", "mem") => grove::memory(n),
        ("grove", "queue") => repeat("queue", reps, || grove::queue(n)),
        ("grove", "sem") => repeat("sem", reps, || grove::semaphore(n)),
        ("grove", "event") => repeat("event", reps, || grove::event(n)),

        ("corosensei", "switch") => repeat("switch", reps, || corosensei::switch(n)),
        ("corosensei", "spawn") => {
            repeat("spawn_task", reps, || corosensei::spawn_task(n));
            repeat("spawn_main", reps, || corosensei::spawn_main(n));
        }
        ("corosensei", "mem") => corosensei::memory(n),

        ("may", bench) => {
            may::init();
            match bench {
                "switch" => repeat("switch", reps, || may::switch(n)),
                "spawn" => {
                    repeat("spawn_task", reps, || may::spawn_task(n));
                    repeat("spawn_main", reps, || may::spawn_main(n));
                }
                "mem" => may::memory(n),
                "queue" => repeat("queue", reps, || may::queue(n)),
                "sem" => repeat("sem", reps, || may::semaphore(n)),
                _ => return Err(format!("unknown benchmark {bench:?}")),
            }
        }

        ("tokio", bench) => {
            let rt = tokio::runtime();
            match bench {
                "switch" => repeat("switch", reps, || tokio::switch(&rt, n)),
                "spawn" => {
                    repeat("spawn_task", reps, || tokio::spawn_task(&rt, n));
                    repeat("spawn_main", reps, || tokio::spawn_main(&rt, n));
                }
                "mem" => tokio::memory(&rt, n),
                "queue" => repeat("queue", reps, || tokio::queue(&rt, n)),
                "sem" => repeat("sem", reps, || tokio::semaphore(&rt, n)),
                "event" => repeat("event", reps, || tokio::event(&rt, n)),
                _ => return Err(format!("unknown benchmark {bench:?}")),
            }
        }

        _ => return Err(format!("unknown subject/benchmark {subject:?}/{bench:?}")),
    }
    Ok(())
}

/// Subjects that have an echo server (`harness serve`).
/// (`grove-spawn`: grove's plain accept loop, for comparison by hand.)
pub const SERVERS: &[&str] = &["grove", "grove-spawn", "may", "tokio", "monoio"];

/// Every echo handler reads into a buffer of this many bytes (as tokio's
/// README echo server does), in every subject and peer.
pub const ECHO_BUFFER: usize = 1024;

/// Tells the harness the server is accepting.
fn announce(port: u16) {
    println!("listening {port}");
}

/// Ends this server process when the harness closes its stdin (exit 0) or
/// `lifetime` passes (exit 3, saying so as `what`): OS threads outside
/// every scheduler, asleep until then.
pub fn watchdogs(what: &'static str, lifetime: Duration) {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0)
    });
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        eprintln!("{what}: lifetime of {} s is over", lifetime.as_secs());
        std::process::exit(3)
    });
}

/// Runs `subject`'s echo server on 127.0.0.1:`port` until the harness closes
/// this process's stdin, or `lifetime` passes, whichever comes first.
pub fn serve(subject: &str, port: u16, lifetime: Duration) -> Result<(), String> {
    let limit =
        crate::loadgen::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    if limit < 10_064 {
        eprintln!("harness serve: RLIMIT_NOFILE is only {limit}");
    }
    watchdogs("harness serve", lifetime);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match subject {
        "grove" => grove::echo_server(addr),
        "grove-spawn" => grove::echo_server_spawn(addr),
        "may" => may::echo_server(addr),
        "tokio" => tokio::echo_server(&tokio::io_runtime(), addr),
        "monoio" => monoio::echo_server(addr),
        _ => Err(format!("no echo server for {subject:?}")),
    }
}
