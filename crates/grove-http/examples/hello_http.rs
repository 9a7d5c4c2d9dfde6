//! The benchmark server: answers every request with `Hello world!\r\n`.
//!
//! ```text
//! cargo run --release -p grove-http --example hello_http -- --port 8081 --threads 1
//! curl http://127.0.0.1:8081/
//! ```
//!
//! Options: `--bind ADDR` (default 127.0.0.1: loopback only; 0.0.0.0 to
//! serve other machines), `--port N` (default 8081), `--threads N`
//! (default 1: one hub, one core). Production defaults: every limit and
//! timeout of the server is on.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};

fn hello(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from("Hello world!\r\n"))
}

const USAGE: &str = "usage: hello_http [--bind ADDR] [--port N] [--threads N]";

const HELP: &str = "\
An HTTP/1.1 server answering every request with \"Hello world!\".

Options:
  --bind ADDR    address to listen on (default 127.0.0.1: loopback only;
                 0.0.0.0 serves other machines too)
  --port N       port to listen on (default 8081; 0: any free port)
  --threads N    hubs, one per thread, each with its own SO_REUSEPORT
                 listener (default 1)
  -h, --help     this text";

fn usage(err: &str) -> ExitCode {
    eprintln!("hello_http: {err}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // SIGUSR1 prints every live greenlet of this thread's hub (`grove::dump`).
    let _dump = grove::signal::on(grove::signal::Signal::USR1, grove::dump);
    let mut port: u16 = 8081;
    let mut threads: usize = 1;
    let mut host = String::from("127.0.0.1");
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
            "--bind" => value("--bind").map(|v| host = v),
            "-h" | "--help" => {
                println!("{HELP}\n\n{USAGE}");
                return ExitCode::SUCCESS;
            }
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
