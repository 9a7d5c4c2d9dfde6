//! StreamServer: serving std clients, the Pool cap and backpressure,
//! fairness under a flood, graceful and forced stops, serve_forever, Unix
//! sockets, socket options and bad input.

mod util;

use std::cell::{Cell, OnceCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grove::event::Event;
use grove::net::{TcpListener, TcpStream};
use grove::server::StreamServer;
use util::DropCounter;

/// Runs the hub until the OS thread `handle` has finished; returns its value.
fn wait_thread<T>(handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "a client thread hung");
        grove::sleep(Duration::from_millis(2));
    }
    handle.join().unwrap()
}

/// Runs the hub until `cond` holds (at most 10 s).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        grove::sleep(Duration::from_millis(2));
    }
}

fn std_connect(addr: SocketAddr) -> std::net::TcpStream {
    let conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn
}

/// Sends `msg`, then reads everything until the server closes.
fn request(addr: SocketAddr, msg: &[u8]) -> String {
    let mut conn = std_connect(addr);
    conn.write_all(msg).unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    reply
}

fn echo(mut conn: TcpStream, _peer: SocketAddr) {
    let mut buf = [0; 1024];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

#[test]
fn serves_std_clients_in_threads() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    assert!(!server.is_running());
    server.start();
    assert!(server.is_running());
    let addr = server.local_addr();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let conn = std_connect(addr);
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                for round in 0..3 {
                    let line = format!("client {i} round {round}\n");
                    (&conn).write_all(line.as_bytes()).unwrap();
                    let mut back = String::new();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, line);
                }
            })
        })
        .collect();
    for client in clients {
        wait_thread(client);
    }
    wait_until("handlers to finish", || server.handler_count() == 0);
    server.stop(Duration::from_secs(1));
    assert!(server.is_stopped());
    assert!(!server.is_running());
}

#[test]
fn peer_address_reaches_the_handler() {
    let server = StreamServer::bind("127.0.0.1:0", |conn, peer| {
        (&conn).write_all(peer.to_string().as_bytes()).unwrap();
    })
    .unwrap();
    server.start();
    let addr = server.local_addr();
    let (local, reply) = wait_thread(std::thread::spawn(move || {
        let mut conn = std_connect(addr);
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        (conn.local_addr().unwrap(), reply)
    }));
    assert_eq!(reply, local.to_string());
    server.stop(Duration::from_secs(1));
}

#[test]
fn pool_cap_of_n_never_runs_more_than_n_handlers() {
    let running = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let served = Rc::new(Cell::new(0));
    let server = {
        let (running, peak, served) = (running.clone(), peak.clone(), served.clone());
        StreamServer::builder()
            .pool_size(3)
            .bind("127.0.0.1:0", move |conn, _| {
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                grove::sleep(Duration::from_millis(30));
                (&conn).write_all(b"ok").unwrap();
                served.set(served.get() + 1);
                running.set(running.get() - 1);
            })
            .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..12)
        .map(|_| std::thread::spawn(move || request(addr, b"")))
        .collect();
    for client in clients {
        assert_eq!(wait_thread(client), "ok");
    }
    assert_eq!(served.get(), 12);
    assert_eq!(peak.get(), 3);
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_full_pool_stops_accepting_until_a_slot_frees() {
    let release = Event::new();
    let accepted = Rc::new(Cell::new(0));
    let server = {
        let (release, accepted) = (release.clone(), accepted.clone());
        StreamServer::builder()
            .pool_size(1)
            .bind("127.0.0.1:0", move |conn, _| {
                accepted.set(accepted.get() + 1);
                if accepted.get() == 1 {
                    release.wait();
                }
                (&conn).write_all(b"served").unwrap();
            })
            .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let first = std::thread::spawn(move || request(addr, b""));
    wait_until("the first handler", || accepted.get() == 1);
    // The second connection completes in the kernel's backlog, but the
    // server does not accept it while the pool is full.
    let second = std::thread::spawn(move || request(addr, b""));
    grove::sleep(Duration::from_millis(150));
    assert_eq!(accepted.get(), 1);
    assert_eq!(server.handler_count(), 1);
    release.set();
    assert_eq!(wait_thread(first), "served");
    assert_eq!(wait_thread(second), "served");
    assert_eq!(accepted.get(), 2);
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_flood_of_connections_does_not_starve_handlers() {
    // 100 connections wait in the backlog before the server starts; the
    // first handler must run long before the acceptor has taken them all.
    let server_cell: Rc<OnceCell<StreamServer>> = Rc::new(OnceCell::new());
    let seen = Rc::new(Cell::new(None));
    let server = {
        let (cell, seen) = (server_cell.clone(), seen.clone());
        StreamServer::bind("127.0.0.1:0", move |conn, _| {
            if seen.get().is_none() {
                seen.set(Some(cell.get().unwrap().handler_count()));
            }
            drop(conn);
        })
        .unwrap()
    };
    let _ = server_cell.set(server.clone());
    let addr = server.local_addr();
    let conns: Vec<_> = (0..100).map(|_| std_connect(addr)).collect();
    server.start();
    wait_until("the first handler", || seen.get().is_some());
    let spawned_before = seen.get().unwrap();
    assert!(
        spawned_before <= 32,
        "{spawned_before} handlers were spawned before the first one ran"
    );
    drop(conns);
    server.stop(Duration::from_secs(1));
}

#[test]
fn graceful_stop_lets_a_slow_handler_finish() {
    let finished = Rc::new(Cell::new(false));
    let server = {
        let finished = finished.clone();
        StreamServer::bind("127.0.0.1:0", move |conn, _| {
            grove::sleep(Duration::from_millis(150));
            (&conn).write_all(b"done").unwrap();
            finished.set(true);
        })
        .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let client = std::thread::spawn(move || request(addr, b""));
    wait_until("the handler", || server.handler_count() == 1);
    let start = Instant::now();
    server.stop(Duration::from_secs(10));
    let took = start.elapsed();
    assert!(finished.get());
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(server.is_stopped());
    assert_eq!(wait_thread(client), "done");
    // The listener is closed.
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn stop_kills_a_stuck_handler_at_the_timeout_and_its_drop_runs() {
    let drops = DropCounter::new();
    let server = {
        let drops = drops.clone();
        StreamServer::bind("127.0.0.1:0", move |conn, _| {
            let _token = drops.token();
            let mut buf = [0; 16];
            // The client never sends: stuck until killed.
            let _ = (&conn).read(&mut buf);
            unreachable!("the client sends nothing");
        })
        .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let client = std::thread::spawn(move || {
        let mut conn = std_connect(addr);
        let mut buf = Vec::new();
        // The kill closes the stream: end of file (or a reset).
        let _ = conn.read_to_end(&mut buf);
        buf
    });
    wait_until("the handler", || server.handler_count() == 1);
    let start = Instant::now();
    server.stop(Duration::from_millis(200));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "stop took {took:?}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert_eq!(drops.count(), 1);
    assert_eq!(server.handler_count(), 0);
    assert!(server.is_stopped());
    assert!(wait_thread(client).is_empty());
}

#[test]
fn stop_with_zero_timeout_kills_at_once() {
    let drops = DropCounter::new();
    let server = {
        let drops = drops.clone();
        StreamServer::bind("127.0.0.1:0", move |_conn, _| {
            let _token = drops.token();
            grove::sleep(Duration::from_secs(3600));
        })
        .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..5).map(|_| std_connect(addr)).collect();
    wait_until("the handlers", || server.handler_count() == 5);
    let start = Instant::now();
    server.stop(Duration::ZERO);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(drops.count(), 5);
    drop(clients);
}

#[test]
fn serve_forever_returns_once_another_greenlet_stopped_the_server() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    let stopper = {
        let server = server.clone();
        grove::spawn(move || {
            let addr = server.local_addr();
            // Serve one client first.
            let conn = TcpStream::connect(addr).unwrap();
            (&conn).write_all(b"ping").unwrap();
            let mut back = [0; 4];
            (&conn).read_exact(&mut back).unwrap();
            drop(conn);
            server.stop(Duration::from_secs(1));
            back
        })
    };
    server.serve_forever();
    assert!(server.is_stopped());
    assert_eq!(&stopper.join().unwrap(), b"ping");
    // Again: returns at once.
    server.serve_forever();
}

#[test]
fn stop_from_inside_a_handler_waits_for_the_others_only() {
    let cell: Rc<OnceCell<StreamServer>> = Rc::new(OnceCell::new());
    let slow_done = Rc::new(Cell::new(false));
    let server = {
        let (cell, slow_done) = (cell.clone(), slow_done.clone());
        StreamServer::bind("127.0.0.1:0", move |conn, _| {
            let mut cmd = [0; 4];
            (&conn).read_exact(&mut cmd).unwrap();
            if &cmd == b"slow" {
                grove::sleep(Duration::from_millis(100));
                slow_done.set(true);
                (&conn).write_all(b"slow done").unwrap();
            } else {
                let server = cell.get().unwrap();
                server.stop(Duration::from_secs(10));
                // Still alive and still serving this connection.
                assert_eq!(server.handler_count(), 1);
                assert!(!server.is_stopped());
                (&conn).write_all(b"bye").unwrap();
            }
        })
        .unwrap()
    };
    let _ = cell.set(server.clone());
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || request(addr, b"slow"));
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        request(addr, b"stop")
    });
    let start = Instant::now();
    server.serve_forever();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(server.is_stopped());
    assert!(slow_done.get());
    assert_eq!(wait_thread(slow), "slow done");
    assert_eq!(wait_thread(stopper), "bye");
}

#[test]
fn a_timeout_around_serve_forever_stops_the_server_gracefully() {
    let drops = DropCounter::new();
    let server = {
        let drops = drops.clone();
        StreamServer::builder()
            .stop_timeout(Duration::from_millis(100))
            .bind("127.0.0.1:0", move |_conn, _| {
                let _token = drops.token();
                grove::sleep(Duration::from_secs(3600));
            })
            .unwrap()
    };
    let addr = server.local_addr();
    let client = std::thread::spawn(move || {
        let mut conn = std_connect(addr);
        let mut buf = Vec::new();
        let _ = conn.read_to_end(&mut buf);
    });
    let served = grove::with_timeout(Duration::from_millis(300), || server.serve_forever());
    assert_eq!(served, Err(grove::Timeout));
    assert!(!server.is_running());
    // The grace period ends in a background greenlet, which kills the handler.
    wait_until("the stop", || server.is_stopped());
    assert_eq!(drops.count(), 1);
    wait_thread(client);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_timed_out_serve_forever_has_stopped_when_it_returns() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    let addr = server.local_addr();
    let served = grove::with_timeout(Duration::from_millis(20), || server.serve_forever());
    assert_eq!(served, Err(grove::Timeout));
    // No handler was running: nothing is left to wait for.
    assert!(server.is_stopped());
    let err = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_killed_serve_forever_has_stopped_when_its_greenlet_is_dead() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    let serving = grove::spawn({
        let server = server.clone();
        move || server.serve_forever()
    });
    wait_until("the start", || server.is_running());
    serving.kill();
    assert!(server.is_stopped());
}

#[test]
fn an_interrupted_stop_kills_the_handlers_at_once() {
    let drops = DropCounter::new();
    let server = {
        let drops = drops.clone();
        StreamServer::bind("127.0.0.1:0", move |_conn, _| {
            let _token = drops.token();
            grove::sleep(Duration::from_secs(3600));
        })
        .unwrap()
    };
    server.start();
    let conn = std_connect(server.local_addr());
    wait_until("the handler", || server.handler_count() == 1);
    let r = grove::with_timeout(Duration::from_millis(100), || {
        server.stop(Duration::from_secs(3600))
    });
    assert_eq!(r, Err(grove::Timeout));
    // The handlers were killed and are gone when the stop returns.
    assert!(server.is_stopped());
    assert_eq!(drops.count(), 1);
    drop(conn);
}

#[test]
fn a_killed_handler_does_not_stop_the_server() {
    let server = StreamServer::bind("127.0.0.1:0", |conn, _| {
        let mut cmd = [0; 1];
        (&conn).read_exact(&mut cmd).unwrap();
        if cmd[0] == b't' {
            // Times itself out: a cancellation, not a panic.
            let r = grove::with_timeout(Duration::from_millis(10), || {
                grove::sleep(Duration::from_secs(10))
            });
            assert!(r.is_err());
        }
        (&conn).write_all(b"ok").unwrap();
    })
    .unwrap();
    server.start();
    let addr = server.local_addr();
    for cmd in [b"t", b"x"] {
        let reply = wait_thread(std::thread::spawn(move || request(addr, cmd)));
        assert_eq!(reply, "ok");
    }
    server.stop(Duration::from_secs(1));
}

#[test]
fn stopping_an_idle_server_closes_its_listener() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    let addr = server.local_addr();
    // Idle: connections queue in the backlog.
    let queued = std::net::TcpStream::connect(addr).unwrap();
    server.stop(Duration::from_secs(1));
    assert!(server.is_stopped());
    let err = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    drop(queued);
}

#[test]
fn a_stopped_server_whose_handler_holds_it_is_freed() {
    // The handler reaches its own server (to stop it from inside, say):
    // once stopped and dropped, nothing of it may stay alive.
    let stops: [fn(&StreamServer); 3] = [
        |server| server.stop(Duration::from_secs(1)),
        |server| {
            let r = grove::with_timeout(Duration::from_millis(50), || server.serve_forever());
            assert_eq!(r, Err(grove::Timeout));
        },
        |server| server.stop(Duration::from_secs(1)), // never started
    ];
    for (i, stop) in stops.into_iter().enumerate() {
        let cell: Rc<OnceCell<StreamServer>> = Rc::new(OnceCell::new());
        let server = {
            let cell = cell.clone();
            StreamServer::bind("127.0.0.1:0", move |conn, _| {
                let server = cell.get().unwrap();
                assert!(server.handler_count() >= 1);
                drop(conn);
            })
            .unwrap()
        };
        let _ = cell.set(server.clone());
        if i == 0 {
            server.start();
            let addr = server.local_addr();
            wait_thread(std::thread::spawn(move || request(addr, b"x")));
        }
        stop(&server);
        assert!(server.is_stopped(), "case {i}");
        let freed = Rc::downgrade(&cell);
        drop((server, cell));
        assert!(
            freed.upgrade().is_none(),
            "case {i}: the server outlived its stop"
        );
    }
}

#[test]
fn starting_twice_or_after_a_stop_panics_with_a_message() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    server.start();
    let err = catch_unwind(AssertUnwindSafe(|| server.start())).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("already running"), "{msg}");
    server.stop(Duration::from_secs(1));
    let err = catch_unwind(AssertUnwindSafe(|| server.start())).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("was stopped"), "{msg}");
    // Stopping again is fine.
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_server_on_an_existing_nonblocking_listener_waits_properly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = StreamServer::new(listener, echo).unwrap();
    server.start();
    let addr = server.local_addr();
    let cpu = util::cpu_time();
    grove::sleep(Duration::from_millis(200)); // an accept loop spinning on WouldBlock would burn this
    assert!(util::cpu_time() - cpu < Duration::from_millis(100));
    let reply = wait_thread(std::thread::spawn(move || {
        let mut conn = std_connect(addr);
        conn.write_all(b"abc").unwrap();
        let mut back = [0; 3];
        conn.read_exact(&mut back).unwrap();
        back
    }));
    assert_eq!(&reply, b"abc");
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_group_given_to_the_builder_holds_the_handlers() {
    let group = grove::pool::Group::new();
    let server = StreamServer::builder()
        .group(group.clone())
        .bind("127.0.0.1:0", |_conn, _| {
            grove::sleep(Duration::from_secs(3600))
        })
        .unwrap();
    server.start();
    let conn = std_connect(server.local_addr());
    wait_until("the handler", || group.len() == 1);
    group.kill();
    wait_until("the server to notice", || server.handler_count() == 0);
    assert!(server.is_running());
    server.stop(Duration::from_secs(1));
    drop(conn);
}

#[test]
fn unix_socket_server() {
    let dir = std::env::temp_dir().join(format!("grove-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let server = StreamServer::bind_unix(&path, |mut conn, peer| {
        assert!(peer.is_unnamed());
        let mut buf = [0; 64];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            conn.write_all(&buf[..n]).unwrap();
        }
    })
    .unwrap();
    assert_eq!(server.local_addr().as_pathname(), Some(path.as_path()));
    server.start();
    let client_path = path.clone();
    let reply = wait_thread(std::thread::spawn(move || {
        let mut conn = std::os::unix::net::UnixStream::connect(client_path).unwrap();
        conn.write_all(b"over unix").unwrap();
        let mut back = [0; 9];
        conn.read_exact(&mut back).unwrap();
        back
    }));
    assert_eq!(&reply, b"over unix");
    server.stop(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    let first = StreamServer::builder()
        .reuse_port(true)
        .bind("127.0.0.1:0", echo)
        .unwrap();
    let addr = first.local_addr();
    let second = StreamServer::builder()
        .reuse_port(true)
        .backlog(16)
        .bind(addr, echo)
        .unwrap();
    assert_eq!(second.local_addr(), addr);
    // Without the option, the port is taken.
    let err = StreamServer::bind(addr, echo).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    first.stop(Duration::ZERO);
    second.stop(Duration::ZERO);
}

#[test]
fn bad_addresses_are_errors() {
    let err = StreamServer::bind("no-such-host.invalid:80", echo).unwrap_err();
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    assert!(StreamServer::bind("999.1.1.1:80", echo).is_err());
    let err = StreamServer::bind("127.0.0.1", echo).unwrap_err(); // no port
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = StreamServer::bind_unix("/nonexistent-dir/x.sock", |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
#[should_panic(expected = "a pool of size 0")]
fn a_pool_of_size_zero_is_refused() {
    let _ = StreamServer::builder().pool_size(0);
}

/// Runs one test of this binary in a child process with `env` set; returns
/// (status, stdout + stderr).
fn run_child(test: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GROVE_TEST_CHILD", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}

/// In a child process: a server (with a pool if `GROVE_TEST_POOL` is set)
/// whose handler puts 160 KiB on its stack, on stacks of
/// `GROVE_TEST_STACK` bytes (grove's default if unset); one client.
#[test]
fn child_handler_with_a_big_frame() {
    if std::env::var_os("GROVE_TEST_CHILD").is_none() {
        return;
    }
    #[inline(never)]
    fn big_frame(seed: u8) -> u8 {
        let mut buf = [seed; 160 * 1024];
        std::hint::black_box(&mut buf);
        buf[buf.len() - 1] ^ buf[0]
    }
    let mut builder = StreamServer::builder();
    if let Ok(size) = std::env::var("GROVE_TEST_STACK") {
        builder = builder.stack_size(size.parse().unwrap());
    }
    if std::env::var_os("GROVE_TEST_POOL").is_some() {
        builder = builder.pool_size(4);
    }
    let server = builder
        .bind("127.0.0.1:0", |mut conn, _| {
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).unwrap();
            let folded = big_frame(byte[0]);
            conn.write_all(&[b'0' + folded]).unwrap();
        })
        .unwrap();
    server.start();
    let addr = server.local_addr();
    let reply = wait_thread(std::thread::spawn(move || request(addr, b"7")));
    server.stop(Duration::from_secs(1));
    println!("reply: {reply}");
}

#[test]
fn stack_size_sets_the_handlers_stacks() {
    for pool in [None, Some(("GROVE_TEST_POOL", "1"))] {
        let mut env = vec![("GROVE_TEST_STACK", "262144")];
        env.extend(pool);
        let (status, out) = run_child("child_handler_with_a_big_frame", &env);
        assert!(status.success(), "pool {pool:?}: {status:?}\n{out}");
        assert!(out.contains("reply: 0"), "pool {pool:?}: {out}");
    }
    // The control: the same handler overflows grove's default stack.
    let (status, out) = run_child("child_handler_with_a_big_frame", &[]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}\n{out}");
    assert!(out.contains("stack overflow in greenlet"), "{out}");
}

#[test]
fn a_bad_stack_size_is_refused_when_the_server_is_made() {
    for size in [1024, grove::stack::MAX_STACK_SIZE + 1] {
        let err = StreamServer::builder()
            .stack_size(size)
            .bind("127.0.0.1:0", echo)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = StreamServer::builder()
            .stack_size(size)
            .listener(listener, echo)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
    let path = std::env::temp_dir().join(format!("grove-stack-{}.sock", std::process::id()));
    let err = StreamServer::builder()
        .stack_size(1024)
        .bind_unix(&path, |_, _| {})
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(!path.exists(), "no socket file is left behind");
}
