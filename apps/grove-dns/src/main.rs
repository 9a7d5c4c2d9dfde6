//! The `grove-dns` command: parses the command line and runs
//! [`grove_dns::run`].

#![forbid(unsafe_code)]

use clap::Parser;
use grove_dns::config::{Cli, Config};

fn main() {
    let mut cli = Cli::parse();
    if cli.demo && cli.listen == [default_listen()] && !port_is_free(default_listen()) {
        // 5353 is also mDNS's port (avahi): the demo must run anyway.
        eprintln!(
            "grove-dns: {} is taken (by mDNS?): the demo listens on a free port",
            default_listen()
        );
        cli.listen = vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))];
    }
    let demo_upstream = if cli.demo {
        match grove_dns::demo::start_upstream() {
            Ok(addr) => Some(addr),
            Err(e) => {
                eprintln!("grove-dns: cannot start the demo upstream: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let config = match Config::from_cli(&cli, demo_upstream) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("grove-dns: {e}");
            std::process::exit(2);
        }
    };
    let on_ready: Option<grove_dns::OnReady> = if cli.demo {
        Some(Box::new(grove_dns::demo::tour))
    } else {
        None
    };
    if let Err(e) = grove_dns::run(config, on_ready) {
        eprintln!("grove-dns: {e}");
        std::process::exit(1);
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 5353))
}

/// Whether UDP and TCP can both bind `addr` now.
fn port_is_free(addr: std::net::SocketAddr) -> bool {
    std::net::UdpSocket::bind(addr).is_ok() && std::net::TcpListener::bind(addr).is_ok()
}
