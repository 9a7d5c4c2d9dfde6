//! Resolves several host names at once: each lookup runs `getaddrinfo` on
//! grove's thread pool while its greenlet waits (gevent's
//! `gevent.socket.gethostbyname` example). The names are `localhost`, the
//! names of `/etc/hosts`, and one that cannot exist.
//!
//! ```text
//! cargo run -p grove-rt --example dns_lookup [NAME...]
//! ```

use std::time::Instant;

/// A DNS label may hold 63 bytes: the resolver rejects this one itself.
const IMPOSSIBLE: &str =
    "this-label-is-longer-than-sixty-three-characters-so-it-cannot-exist.invalid";

fn main() {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names.push("localhost".into());
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            for name in line.split_whitespace().skip(1) {
                if !names.iter().any(|n| n == name) && names.len() < 5 {
                    names.push(name.into());
                }
            }
        }
        names.push(IMPOSSIBLE.into());
    }
    let start = Instant::now();
    let jobs: Vec<_> = names
        .iter()
        .map(|name| {
            let name = name.clone();
            grove::spawn(move || grove::net::lookup_host(&name))
        })
        .collect();
    grove::joinall(&jobs);
    for (name, job) in names.iter().zip(jobs) {
        match job.join().unwrap() {
            Ok(ips) => {
                let ips: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
                println!("{name} -> {}", ips.join(", "));
            }
            Err(err) => println!("{name} -> error: {err}"),
        }
    }
    eprintln!("{} lookups in {:.0?}", names.len(), start.elapsed());
}
