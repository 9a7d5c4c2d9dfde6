//! The `grove-dns` command: parses the command line and runs
//! [`grove_dns::run`].

#![forbid(unsafe_code)]

use clap::Parser;
use grove_dns::config::{Cli, Config};

fn main() {
    let cli = Cli::parse();
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
    let on_ready: Option<Box<dyn FnOnce(std::net::SocketAddr)>> = if cli.demo {
        Some(Box::new(grove_dns::demo::tour))
    } else {
        None
    };
    if let Err(e) = grove_dns::run(config, on_ready) {
        eprintln!("grove-dns: {e}");
        std::process::exit(1);
    }
}
