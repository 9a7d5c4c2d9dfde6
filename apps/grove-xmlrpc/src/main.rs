//! `grove-xmlrpc`: the XML-RPC server of the gevent writing and its load
//! client.
//!
//! ```text
//! grove-xmlrpc serve [--listen ADDR] [--port 8080] [--mode greenlets|threads|single|monkey] [--threads N]
//! grove-xmlrpc bench --url http://127.0.0.1:8080/RPC2 --concurrency 64 --duration 10s --call 'gen(2048)'
//! ```
// One unsafe call: grove-monkey's patch_all, for `--mode monkey`.
#![deny(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use grove_xmlrpc::{bench, blocking, methods, server};

#[derive(Parser)]
#[command(
    name = "grove-xmlrpc",
    version,
    about = "XML-RPC on grove: add, gen and echo, served three ways; and a load client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve add(a, b), gen(n) and echo(x) on / and /RPC2.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        listen: String,
        /// Port to listen on (0: any free port; the line printed says which).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// How connections are served.
        #[arg(long, value_enum, default_value_t = Mode::Greenlets)]
        mode: Mode,
        /// Hubs (greenlets mode only): one per thread, SO_REUSEPORT.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Load a server: N greenlets calling back to back on kept-alive connections.
    Bench {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/RPC2")]
        url: String,
        /// Connections (greenlets) calling at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How long to measure: 10, 10s, 500ms, 1m.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Run this long first, unmeasured.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        warmup: Duration,
        /// The call: gen(2048), add(3, 5), echo('x').
        #[arg(long, default_value = "gen(2048)")]
        call: bench::CallSpec,
        /// Ask for gzipped responses, as Python's client does.
        #[arg(long, value_enum, default_value_t = OnOff::On)]
        gzip: OnOff,
        /// Each call's connect/read/write timeout.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        /// Print the result as one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// One connection at a time on std::net (Python's SimpleXMLRPCServer).
    Single,
    /// An OS thread per connection on std::net (Python's ThreadingMixIn).
    Threads,
    /// A greenlet per connection on grove-http.
    Greenlets,
    /// The threads mode's std::net code in greenlets, under grove-monkey's
    /// patch_all() (gevent's monkey.patch_all()); needs the `monkey` feature.
    Monkey,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |at| s.split_at(at));
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            listen,
            port,
            mode,
            threads,
        } => serve(&listen, port, mode, threads),
        Command::Bench {
            url,
            concurrency,
            duration,
            warmup,
            call,
            gzip,
            timeout,
            json,
            quiet,
        } => {
            raise_fd_limit();
            let options = bench::Options {
                url,
                concurrency,
                duration,
                warmup,
                call,
                accept_gzip: gzip == OnOff::On,
                timeout,
                progress: !quiet,
            };
            match bench::run(&options) {
                Ok(report) if json => println!("{}", report.to_json()),
                Ok(report) => println!("{report}"),
                Err(e) => {
                    eprintln!("grove-xmlrpc bench: {e}");
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
    }
}

fn serve(listen: &str, port: u16, mode: Mode, threads: usize) -> ExitCode {
    // SIGUSR1 prints every live greenlet of this thread's hub (`grove::dump`).
    let _dump = grove::signal::on(grove::signal::Signal::USR1, grove::dump);
    raise_fd_limit();
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(listen, port));
    let Some(addr) = resolved.ok().and_then(|mut addrs| addrs.next()) else {
        return fail(&format!("cannot resolve {listen:?}"));
    };
    let announce = |local: SocketAddr, name: &str| {
        eprintln!("grove-xmlrpc: listening on http://{local}/RPC2 (mode {name})");
    };
    let result = match mode {
        Mode::Greenlets if threads > 1 => server::serve_threads(addr, threads, methods::registry)
            .map(|servers| {
                announce(servers.local_addr(), "greenlets");
                servers.join();
            }),
        Mode::Greenlets => server::bind(addr, methods::registry()).map(|server| {
            announce(server.local_addr(), "greenlets");
            server.serve_forever();
        }),
        Mode::Threads | Mode::Single | Mode::Monkey => {
            std::net::TcpListener::bind(addr).and_then(|listener| {
                let factory: blocking::Factory = Arc::new(methods::registry);
                match mode {
                    Mode::Single => {
                        announce(listener.local_addr()?, "single");
                        blocking::serve_single(listener, factory)
                    }
                    Mode::Monkey => {
                        let local = listener.local_addr()?;
                        patch_libc()?;
                        announce(local, "monkey");
                        blocking::serve_greenlets(listener, factory)
                    }
                    _ => {
                        announce(listener.local_addr()?, "threads");
                        blocking::serve_threads(listener, factory)
                    }
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot serve on {addr}: {e}")),
    }
}

/// gevent's `monkey.patch_all()`: from here on, blocking libc calls made
/// in greenlets park the greenlet.
#[cfg(feature = "monkey")]
#[allow(unsafe_code)]
fn patch_libc() -> std::io::Result<()> {
    // SAFETY: patch_all's contract: called once, on the thread's own stack,
    // before any greenlet runs; the connection code it makes cooperative
    // holds no std::sync::Mutex and no thread-local scratch across a socket
    // call (its buffers are its own; the gzip compressor's thread-local is
    // borrowed only while compressing, which makes no libc call that
    // parks).
    unsafe { grove_monkey::patch_all() };
    Ok(())
}

#[cfg(not(feature = "monkey"))]
fn patch_libc() -> std::io::Result<()> {
    Err(std::io::Error::other(
        "--mode monkey needs the monkey feature: cargo build --release -p grove-xmlrpc --features monkey",
    ))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("grove-xmlrpc: {message}");
    ExitCode::FAILURE
}

/// Thousands of connections need more than the usual 1,024 descriptors.
fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("grove-xmlrpc: cannot raise the open-file limit: {e}");
    }
}
