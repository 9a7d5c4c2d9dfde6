//! The cache survives restarts: redb file and Redis (a real redis-server),
//! a Redis that dies mid-run, a corrupt store file.

mod util;

use std::time::Duration;

use util::{dig_answers, GroveDns, Mode, TestUpstream};

#[test]
fn redb_cache_is_warm_after_restart() {
    let dir = util::temp_dir("redb-warm");
    let store = dir.join("cache.redb");
    let upstream = TestUpstream::start(Mode::Normal);
    let args = [
        "--upstream",
        &upstream.addr.to_string(),
        "--store",
        store.to_str().unwrap(),
    ];
    let dns = GroveDns::start(&args);
    assert_eq!(dig_answers(dns.addr, "kept.test", &[])[0].0, 300);
    assert_eq!(util::dig_status(dns.addr, "nxkept.test", &[]), "NXDOMAIN");
    let log = dns.stop();
    assert!(log.contains("cache saved to redb file"), "{log}");
    assert_eq!(upstream.queries(), 2);

    std::thread::sleep(Duration::from_millis(1100));
    let dns = GroveDns::start(&args);
    // Loaded in the background: wait for it before counting on the cache.
    assert!(
        dns.wait_log("2 live entries loaded", Duration::from_secs(10)),
        "{}",
        dns.log()
    );
    let answers = dig_answers(dns.addr, "kept.test", &[]);
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0].0 < 300,
        "the TTL kept counting down across the restart: {answers:?}"
    );
    assert_eq!(util::dig_status(dns.addr, "nxkept.test", &[]), "NXDOMAIN");
    assert_eq!(upstream.queries(), 2, "served from the reloaded cache");
    drop(dns);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_store_file_in_use_leaves_the_second_instance_memory_only() {
    let dir = util::temp_dir("redb-busy");
    let store = dir.join("cache.redb");
    let upstream = TestUpstream::start(Mode::Normal);
    let args = [
        "--upstream",
        &upstream.addr.to_string(),
        "--store",
        store.to_str().unwrap(),
    ];
    let first = GroveDns::start(&args);
    // The store opens in the background: the first holds it once loaded.
    assert!(first.wait_log("live entries loaded", Duration::from_secs(10)));
    let second = GroveDns::start(&args);
    assert!(
        second.wait_log("is in use by another grove-dns", Duration::from_secs(10)),
        "{}",
        second.log()
    );
    assert_eq!(dig_answers(second.addr, "busy.test", &[]).len(), 1);
    assert_eq!(dig_answers(first.addr, "busy.test", &[]).len(), 1);
    second.stop();
    first.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn corrupt_store_file_is_set_aside() {
    let dir = util::temp_dir("redb-corrupt");
    let store = dir.join("cache.redb");
    std::fs::write(
        &store,
        b"this is not a redb file, it is a test of what happens then".repeat(100),
    )
    .unwrap();
    let upstream = TestUpstream::start(Mode::Normal);
    let args = [
        "--upstream",
        &upstream.addr.to_string(),
        "--store",
        store.to_str().unwrap(),
    ];
    let dns = GroveDns::start(&args);
    assert!(
        dns.wait_log("live entries loaded", Duration::from_secs(10)),
        "{}",
        dns.log()
    );
    assert!(
        dns.log().contains("cannot read the cache file"),
        "{}",
        dns.log()
    );
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cache.redb.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the bad file is kept aside");
    assert_eq!(dig_answers(dns.addr, "fresh.test", &[]).len(), 1);
    dns.stop();
    // The new file works.
    let dns = GroveDns::start(&args);
    assert!(
        dns.wait_log("1 live entries loaded", Duration::from_secs(10)),
        "{}",
        dns.log()
    );
    drop(dns);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn redis_cache_is_shared_and_warm_after_restart() {
    let redis = util::start_redis(0);
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let upstream = TestUpstream::start(Mode::Normal);
    let args = ["--upstream", &upstream.addr.to_string(), "--redis", &url];
    let first = GroveDns::start(&args);
    assert_eq!(dig_answers(first.addr, "shared.test", &[]).len(), 1);
    assert_eq!(
        util::dig_status(first.addr, "nxshared.test", &[]),
        "NXDOMAIN"
    );
    std::thread::sleep(Duration::from_millis(500)); // write-behind
                                                    // A second instance, running beside the first, starts warm.
    let second = GroveDns::start(&args);
    assert!(
        second.wait_log("2 live entries loaded", Duration::from_secs(10)),
        "{}",
        second.log()
    );
    assert_eq!(dig_answers(second.addr, "shared.test", &[]).len(), 1);
    assert_eq!(
        util::dig_status(second.addr, "nxshared.test", &[]),
        "NXDOMAIN"
    );
    assert_eq!(upstream.queries(), 2);
    // Live: what one resolves now, the other finds in Redis on its miss.
    assert_eq!(dig_answers(first.addr, "later.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 3);
    std::thread::sleep(Duration::from_millis(500)); // write-behind
    let later = dig_answers(second.addr, "later.test", &[]);
    assert_eq!(later.len(), 1);
    assert_eq!(
        upstream.queries(),
        3,
        "the second instance found it in Redis"
    );
    second.signal("HUP");
    assert!(
        second.wait_log("shared_hits=1", Duration::from_secs(5)),
        "{}",
        second.log()
    );
    // And after a restart.
    first.stop();
    second.stop();
    let third = GroveDns::start(&args);
    assert!(
        third.wait_log("3 live entries loaded", Duration::from_secs(10)),
        "{}",
        third.log()
    );
    assert_eq!(dig_answers(third.addr, "shared.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 3);
}

#[test]
fn redis_going_away_mid_run_keeps_serving_and_reconnects() {
    let redis = util::start_redis(0);
    let port = redis.port;
    let url = format!("redis://127.0.0.1:{port}/");
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string(), "--redis", &url]);
    assert_eq!(dig_answers(dns.addr, "before.test", &[]).len(), 1);
    drop(redis); // killed
    for i in 0..5 {
        assert_eq!(
            dig_answers(dns.addr, &format!("during{i}.test"), &[]).len(),
            1
        );
    }
    assert!(
        dns.wait_log("serving without persistence", Duration::from_secs(5)),
        "{}",
        dns.log()
    );
    assert_eq!(
        dig_answers(dns.addr, "before.test", &[]).len(),
        1,
        "memory cache intact"
    );
    // Redis comes back on the same port: the pending entries are written.
    let redis = util::start_redis(port);
    assert!(
        dns.wait_log("is back: writing", Duration::from_secs(10)),
        "{}",
        dns.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let other = GroveDns::start(&["--upstream", &upstream.addr.to_string(), "--redis", &url]);
    assert!(other.wait_log(" live entries loaded", Duration::from_secs(10)));
    // The five written while Redis was gone (and "before", if Redis died
    // before that batch was written).
    let loaded: usize = other
        .log()
        .split(" live entries loaded")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((5..=6).contains(&loaded), "{}", other.log());
    drop(redis);
}

#[test]
fn unreachable_redis_at_start_is_not_fatal() {
    let port = util::free_port();
    let upstream = TestUpstream::start(Mode::Normal);
    let url = format!("redis://127.0.0.1:{port}/");
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string(), "--redis", &url]);
    // Answered while the store still tries to connect, and after.
    assert_eq!(dig_answers(dns.addr, "works.anyway.test", &[]).len(), 1);
    assert!(
        dns.wait_log("is unavailable", Duration::from_secs(10)),
        "{}",
        dns.log()
    );
    assert_eq!(dig_answers(dns.addr, "still.works.test", &[]).len(), 1);
}
