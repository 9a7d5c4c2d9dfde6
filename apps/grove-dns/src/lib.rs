//! grove-dns: a caching DNS forwarder built on grove.
//!
//! The program the gevent writing that started grove ends with — a UDP
//! socket, upstreams used round-robin, a dict as the cache and an `Event`
//! so that concurrent queries for one name wait for a single upstream
//! answer — grown into a forwarder one can point a resolver at:
//!
//! * [`wire`]: the few parts of the DNS wire format a forwarder touches,
//!   walked in place (no allocation on a hit);
//! * [`cache`]: answers stored as wire bytes, TTLs decremented in place,
//!   negative caching (RFC 2308), LRU bound, `--min-ttl`/`--max-ttl`;
//! * [`upstream`]: round-robin with failover, answers checked against the
//!   question, TCP on truncation, SERVFAIL in bounded time;
//! * [`coalesce`]: concurrent identical misses share one upstream query;
//! * [`forward`]: the query path from packet to answer, without sockets;
//! * [`server`]: UDP receive loops and TCP servers on every `--listen`;
//! * [`store`]: persistence in redb or Redis, written behind from a thread;
//! * [`stats`], [`config`], [`log`](mod@log), [`demo`], [`fuzzing`].
//!
//! [`run`] is the whole program; `main.rs` only parses the command line.
//!
//! ```no_run
//! use grove_dns::config::Config;
//!
//! let config = Config::new(
//!     vec!["127.0.0.1:5353".parse().unwrap()],
//!     vec!["9.9.9.9:53".parse().unwrap()],
//! );
//! grove_dns::run(config, None).unwrap(); // serves until SIGINT/SIGTERM
//! ```

#![forbid(unsafe_code)]

pub mod cache;
pub mod coalesce;
pub mod config;
pub mod demo;
pub mod forward;
pub mod fuzzing;
pub mod log;
pub mod server;
pub mod stats;
pub mod store;
pub mod tcp;
pub mod upstream;
pub mod wire;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use grove::signal::{self, Signal, Signals};

use crate::cache::Cache;
use crate::config::{Config, StoreConfig};
use crate::forward::{Forwarder, Shared};
use crate::server::Servers;
use crate::stats::Stats;

/// What [`run`] calls once it serves: the first listen address, the counters.
pub type OnReady = Box<dyn FnOnce(SocketAddr, Arc<Stats>)>;

/// One serving thread's forwarder, as `config` says.
fn forwarder(shared: Shared, config: &Config) -> Rc<Forwarder> {
    Rc::new(
        Forwarder::new(
            shared,
            config.upstreams.clone(),
            config.upstream_timeout,
            config.max_inflight,
        )
        .with_0x20(config.dns0x20),
    )
}

/// Runs the forwarder with `config` on this thread's hub (plus
/// `config.threads - 1` more serving threads) until SIGINT or SIGTERM,
/// then flushes the store. `on_ready` runs in a greenlet once the sockets
/// are bound, with the first listen address and the counters (the demo's
/// tour uses them).
///
/// # Errors
/// A message for the user when the server cannot start (an address in
/// use, a bad Redis URL).
///
/// # Kill and timeout safety
///
/// Meant to own its thread until a signal: killed while serving, it
/// unwinds without flushing the store (entries already handed to the
/// writer thread are still written by it while the process lives).
pub fn run(config: Config, on_ready: Option<OnReady>) -> Result<(), String> {
    let mut config = config;
    if let Some(nofile) = config::open_files_limit() {
        if let Some(asked) = config.cap_inflight(nofile) {
            log!(
                "--max-inflight {asked} lowered to {} per thread: the open-files limit is {nofile} \
                 (ulimit -n), and each upstream query holds a socket",
                config.max_inflight
            );
        }
    }
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::with_memory(
        config.cache_size,
        config.cache_bytes,
        if config.threads == 1 {
            1
        } else {
            config.threads * 4
        },
    ));

    // The store opens and reads back on its own thread while the server
    // already serves (an empty cache fills from it as it loads).
    let store = match &config.store {
        StoreConfig::None => None,
        store_config => Some(store::open(
            store_config,
            cache.clone(),
            config.cache_bytes,
        )?),
    };
    let shared = Shared {
        cache: cache.clone(),
        stats: stats.clone(),
        store: store.as_ref().map(|s| s.writer()),
        shared_store: store.as_ref().and_then(|s| s.shared_reader()),
        ttl: config.ttl,
        timeout: config.timeout,
    };

    let mut sockets =
        server::bind_all(&config.listen, config.threads).map_err(|e| e.to_string())?;
    let bound: Vec<SocketAddr> = sockets[0]
        .iter()
        .filter_map(|s| s.udp.local_addr().ok())
        .collect();
    for addr in &bound {
        if let Some(upstream) = config
            .upstreams
            .iter()
            .find(|u| config::is_self(**u, *addr))
        {
            return Err(format!(
                "upstream {upstream} is our own listen address {addr} (a forwarding loop)"
            ));
        }
    }
    let workers: Vec<_> = sockets.drain(1..).collect();
    for (n, thread_sockets) in workers.into_iter().enumerate() {
        let (shared, config) = (shared.clone(), config.clone());
        std::thread::Builder::new()
            .name(format!("grove-dns-{}", n + 1))
            .spawn(move || {
                let forwarder = forwarder(shared, &config);
                match Servers::start(forwarder, thread_sockets, config.tcp) {
                    Ok(_servers) => loop {
                        grove::sleep(Duration::from_secs(3600));
                    },
                    Err(e) => log!("serving thread {} cannot start: {e}", n + 1),
                }
            })
            .map_err(|e| format!("cannot start a serving thread: {e}"))?;
    }
    let forwarder = forwarder(shared, &config);
    let servers = Servers::start(forwarder, sockets.remove(0), config.tcp)
        .map_err(|e| format!("cannot start serving: {e}"))?;
    let upstreams: Vec<String> = config.upstreams.iter().map(|u| u.to_string()).collect();
    for addr in &bound {
        log!("listening on {addr} (udp, tcp)");
    }
    log!(
        "forwarding to {} with a cache of {} entries / {} MiB on {} thread{}",
        upstreams.join(", "),
        cache.capacity(),
        config.cache_bytes >> 20,
        config.threads,
        if config.threads == 1 { "" } else { "s" }
    );

    let print_stats = {
        let (stats, cache) = (stats.clone(), cache.clone());
        move || log!("{}", stats.line(cache.len()))
    };
    let _hup = signal::on(Signal::HUP, print_stats.clone()).map_err(|e| e.to_string())?;
    // Every live greenlet of this hub, its state and spawn tree.
    let _usr1 = signal::on(Signal::USR1, grove::dump).map_err(|e| e.to_string())?;
    let ticker = config.stats_interval.map(|every| {
        let print_stats = print_stats.clone();
        grove::spawn(move || loop {
            grove::sleep(every);
            print_stats();
        })
    });
    let stop = Signals::new(&[Signal::INT, Signal::TERM]).map_err(|e| e.to_string())?;
    if let (Some(on_ready), Some(&first)) = (on_ready, bound.first()) {
        let stats = stats.clone();
        grove::spawn(move || on_ready(first, stats));
    }

    let signal = stop.wait().map_err(|e| e.to_string())?;
    log!("{signal}: shutting down");
    if let Some(ticker) = ticker {
        ticker.kill();
    }
    servers.stop(Duration::from_millis(500));
    if let Some(store) = store {
        let description = store.description().to_string();
        grove::threadpool::spawn_blocking(move || store.shutdown());
        log!("cache saved to {description}");
    }
    print_stats();
    Ok(())
}
