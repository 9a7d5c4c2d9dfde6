//! A flood of unique names through the default redb store: the store file
//! and the server's memory follow the cache's bounds pass after pass (they
//! grew without bound before), a restart loads at most the cache's
//! capacity, and the server answers while it loads.
//!
//! A few passes here; the long form sets `GROVE_DNS_FLOOD_PASSES`,
//! `GROVE_DNS_FLOOD_NAMES` and `GROVE_DNS_FLOOD_CACHE` (14 × 20,000 names
//! against 5,000 entries: the file stays at 6 MiB from the second pass,
//! RSS levels off at 52 MiB from the seventh, once redb's page cache is
//! full; before the bound it reached 9 × 200,000 against 100,000).

mod util;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use util::{dig_answers, GroveDns, Mode, TestUpstream};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Queries `count` names never asked before (`pass`-`i`.flood.test), at
/// most 256 outstanding; returns how many were answered.
fn flood(server: SocketAddr, pass: usize, count: usize) -> usize {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let (mut sent, mut answered) = (0, 0);
    while sent < count {
        let window = 256.min(count - sent);
        for i in sent..sent + window {
            let mut query = vec![(i >> 8) as u8, i as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            query.extend_from_slice(&util::wire_name(&format!("p{pass}-n{i}.flood.test")));
            query.extend_from_slice(&[0, 1, 0, 1]);
            socket.send_to(&query, server).unwrap();
        }
        sent += window;
        for _ in 0..window {
            match socket.recv(&mut buf) {
                Ok(_) => answered += 1,
                Err(_) => break,
            }
        }
    }
    answered
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn a_unique_name_flood_keeps_the_store_and_memory_bounded() {
    let passes = env_or("GROVE_DNS_FLOOD_PASSES", 4);
    let names = env_or("GROVE_DNS_FLOOD_NAMES", 6000);
    let capacity = env_or("GROVE_DNS_FLOOD_CACHE", 2000);
    let dir = util::temp_dir("redb-flood");
    let store = dir.join("cache.redb");
    let upstream = TestUpstream::start(Mode::Normal);
    let cache_size = capacity.to_string();
    let args = [
        "--upstream",
        &upstream.addr.to_string(),
        "--store",
        store.to_str().unwrap(),
        "--cache-size",
        &cache_size,
    ];
    let dns = GroveDns::start(&args);
    assert!(dns.wait_log("live entries loaded", Duration::from_secs(10)));
    let mut sizes = Vec::new();
    let mut rss = Vec::new();
    for pass in 0..passes {
        let answered = flood(dns.addr, pass, names);
        assert!(
            answered * 10 >= names * 9,
            "pass {pass}: {answered} of {names} answered"
        );
        // The writer commits every 50 ms: let it catch up.
        std::thread::sleep(Duration::from_millis(500));
        sizes.push(file_size(&store));
        rss.push(dns.rss_kib());
        eprintln!(
            "pass {pass}: store {} KiB, rss {} KiB",
            sizes[pass] >> 10,
            rss[pass]
        );
    }
    // Past the first passes (the file and the cache filling up), neither
    // grows with the names: each pass adds `names` new entries, 3x the
    // cache, which the old store kept all of.
    let settled = passes.min(2) - 1;
    let (size0, rss0) = (sizes[settled], rss[settled]);
    let (size_n, rss_n) = (sizes[passes - 1], rss[passes - 1]);
    assert!(
        size_n <= size0 + size0 / 2 + (1 << 20),
        "store file {size0} -> {size_n} bytes over {passes} passes: {sizes:?}"
    );
    assert!(
        rss_n <= rss0 + 16 * 1024,
        "rss {rss0} -> {rss_n} KiB over {passes} passes: {rss:?}"
    );
    dns.stop();

    // A restart loads at most the cache's capacity, and answers at once.
    let dns = GroveDns::start(&args);
    let started = Instant::now();
    assert_eq!(dig_answers(dns.addr, "during.load.test", &[]).len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(dns.wait_log("live entries loaded", Duration::from_secs(30)));
    let log = dns.log();
    let loaded: usize = log
        .split(" live entries loaded")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert!(loaded > 0 && loaded <= capacity, "{loaded} loaded\n{log}");
    dns.stop();
    let _ = std::fs::remove_dir_all(dir);
}
