//! The benchmark server: answers every request with `Hello world!\r\n`.
//!
//! ```text
//! cargo run --release -p grove-http --example hello_http -- --port 3000 --threads 1
//! ```
//!
//! Options: `--port N` (default 3000), `--threads N` (default 1: one hub,
//! one core), `--host ADDR` (default 0.0.0.0). Production defaults: every
//! limit and timeout of the server is on.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};

fn hello(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from("Hello world!\r\n"))
}

fn usage(err: &str) -> ExitCode {
    eprintln!("hello_http: {err}\nusage: hello_http [--port N] [--threads N] [--host ADDR]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // SIGUSR1 prints every live greenlet of this thread's hub (`grove::dump`).
    let _dump = grove::signal::on(grove::signal::Signal::USR1, grove::dump);
    let mut port: u16 = 3000;
    let mut threads: usize = 1;
    let mut host = String::from("0.0.0.0");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--port" => value("--port").and_then(|v| {
                v.parse()
                    .map(|p| port = p)
                    .map_err(|e| format!("--port: {e}"))
            }),
            "--threads" => value("--threads").and_then(|v| match v.parse() {
                Ok(n) if n > 0 => {
                    threads = n;
                    Ok(())
                }
                _ => Err(format!("--threads: {v:?} is not a positive number")),
            }),
            "--host" => value("--host").map(|v| host = v),
            "-h" | "--help" => return usage("an HTTP server answering Hello world!"),
            other => Err(format!("unknown argument {other:?}")),
        };
        if let Err(err) = parsed {
            return usage(&err);
        }
    }
    let addr = format!("{host}:{port}");
    let result = if threads == 1 {
        // One hub, on this thread.
        Server::bind(addr.as_str(), hello).map(|server| {
            eprintln!("hello_http: listening on http://{}", server.local_addr());
            server.serve_forever();
        })
    } else {
        Server::builder()
            .serve_threads(addr.as_str(), threads, || hello)
            .map(|servers| {
                eprintln!(
                    "hello_http: listening on http://{} ({threads} threads)",
                    servers.local_addr()
                );
                servers.join();
            })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hello_http: cannot serve on {addr}: {err}");
            ExitCode::FAILURE
        }
    }
}
