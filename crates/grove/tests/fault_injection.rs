//! Faults a server meets in production, injected: no address space left for
//! a greenlet stack (a lowered `RLIMIT_AS`, in a child process), and a peer
//! that stops reading (the send buffer fills). Running out of fds (`EMFILE`)
//! is covered by `net_emfile.rs` and `server_emfile.rs`.

mod util;

use std::io::Write;
use std::time::Duration;

use grove::net::TcpListener;

const CHILD_ENV: &str = "GROVE_FAULT_TEST_SCENARIO";

#[test]
fn child_scenario() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return; // only meaningful in the child process
    };
    assert_eq!(scenario, "rlimit_as");
    // Leave 256 MiB of address space above what the process maps now.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let limit = (vm_kib + 256 * 1024) * 1024;
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: sets this (child) process's own soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);

    let mut sleepers = Vec::new();
    let err = loop {
        match grove::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| grove::sleep(Duration::from_secs(3600)))
        {
            Ok(g) => sleepers.push(g),
            Err(err) => break err,
        }
        assert!(sleepers.len() < 100_000, "the limit never bit");
    };
    println!("@spawned {} @error {err}", sleepers.len());
    // grove::spawn reports the same failure as a panic at the caller.
    let panic = std::panic::catch_unwind(|| {
        grove::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| ())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    assert!(
        matches!(panic, Ok(Err(_))),
        "Builder::spawn fails again, without panicking"
    );
    // The hub keeps working: the sleepers die, their stacks go back to the
    // pool, and a greenlet can be spawned again.
    grove::killall(&sleepers);
    let again = grove::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| 7)
        .unwrap();
    assert_eq!(again.join().unwrap(), 7);
    println!("@recovered");
}

#[test]
fn no_address_space_for_a_stack_is_an_error_and_the_hub_recovers() {
    let (stdout, _) = util::run_child_test("child_scenario", &[(CHILD_ENV, "rlimit_as")]);
    assert!(stdout.contains("@spawned "), "{stdout}");
    assert!(stdout.contains("@recovered"), "{stdout}");
}

#[test]
fn a_peer_that_stops_reading_parks_the_writer_which_times_out_or_dies() {
    let before = grove::stats();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::net::TcpStream::connect(addr).unwrap(); // never reads
    let (conn, _) = listener.accept().unwrap();
    let conn2 = conn.try_clone().unwrap();

    // A bounded write gives up once the buffers are full.
    conn.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0usize;
    let err = loop {
        match (&conn).write(&chunk) {
            Ok(n) => written += n,
            Err(err) => break err,
        }
        assert!(written < 1 << 30, "the peer's buffers never filled");
    };
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    assert!(written > 0);

    // An unbounded writer parks on writability while other greenlets run,
    // and a kill ends its wait.
    let writer = grove::spawn(move || {
        let mut conn2 = conn2;
        conn2.write_all(&[1u8; 1 << 20])
    });
    let ticks = grove::spawn(|| {
        for _ in 0..5 {
            grove::sleep(Duration::from_millis(5));
        }
        5
    });
    assert_eq!(
        ticks.join().unwrap(),
        5,
        "the hub runs while the writer waits"
    );
    assert!(!writer.is_dead());
    assert_eq!(grove::stats().io_waiters, before.io_waiters + 1);
    writer.kill();
    assert!(writer.join().is_err());
    drop((conn, peer, listener));
    let after = grove::stats();
    assert_eq!(after.io_waiters, before.io_waiters, "{after}");
    assert_eq!(after.fds_registered, before.fds_registered, "{after}");
}
