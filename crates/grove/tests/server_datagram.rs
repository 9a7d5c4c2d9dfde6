//! DatagramServer: echo of many datagrams from std clients, the Pool cap,
//! graceful and forced stops, truncation, panics and bad input.

mod util;

use std::cell::{Cell, OnceCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grove::net::UdpSocket;
use grove::server::DatagramServer;
use util::DropCounter;

fn wait_thread<T>(handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "a client thread hung");
        grove::sleep(Duration::from_millis(2));
    }
    handle.join().unwrap()
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        grove::sleep(Duration::from_millis(2));
    }
}

fn std_client() -> std::net::UdpSocket {
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
}

fn echo(data: &[u8], peer: SocketAddr, socket: &UdpSocket) {
    socket.send_to(data, peer).unwrap();
}

#[test]
fn echoes_many_datagrams_from_several_clients() {
    let server = DatagramServer::bind("127.0.0.1:0", echo).unwrap();
    server.start();
    let addr = server.local_addr();
    // Four clients, 250 request/reply rounds each (a window of one, so
    // that no datagram is dropped on a loaded machine).
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                let client = std_client();
                let mut buf = [0; 64];
                for i in 0..250 {
                    let msg = format!("client {c} datagram {i}");
                    client.send_to(msg.as_bytes(), addr).unwrap();
                    let (n, from) = client.recv_from(&mut buf).unwrap();
                    assert_eq!(from, addr);
                    assert_eq!(&buf[..n], msg.as_bytes());
                }
            })
        })
        .collect();
    for client in clients {
        wait_thread(client);
    }
    server.stop(Duration::from_secs(1));
    assert!(server.is_stopped());
}

#[test]
fn a_burst_of_datagrams_is_all_answered() {
    let server = DatagramServer::bind("127.0.0.1:0", echo).unwrap();
    server.start();
    let addr = server.local_addr();
    // 200 small datagrams at once: they fit in the socket buffers.
    let replies = wait_thread(std::thread::spawn(move || {
        let client = std_client();
        for i in 0..200u32 {
            client.send_to(&i.to_be_bytes(), addr).unwrap();
        }
        let mut seen = vec![false; 200];
        let mut buf = [0; 4];
        for _ in 0..200 {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(n, 4);
            seen[u32::from_be_bytes(buf) as usize] = true;
        }
        seen
    }));
    assert!(replies.iter().all(|&s| s));
    server.stop(Duration::from_secs(1));
}

#[test]
fn pool_cap_of_n_never_runs_more_than_n_handlers() {
    let running = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let server = {
        let (running, peak) = (running.clone(), peak.clone());
        DatagramServer::builder()
            .pool_size(2)
            .bind("127.0.0.1:0", move |data, peer, socket| {
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                grove::sleep(Duration::from_millis(20));
                socket.send_to(data, peer).unwrap();
                running.set(running.get() - 1);
            })
            .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let answered = wait_thread(std::thread::spawn(move || {
        let client = std_client();
        for i in 0..10u8 {
            client.send_to(&[i], addr).unwrap();
        }
        let mut buf = [0; 1];
        (0..10)
            .map(|_| client.recv_from(&mut buf).unwrap().0)
            .sum::<usize>()
    }));
    assert_eq!(answered, 10);
    assert_eq!(peak.get(), 2);
    server.stop(Duration::from_secs(1));
}

#[test]
fn graceful_stop_waits_for_a_slow_handler_and_kills_a_stuck_one() {
    let drops = DropCounter::new();
    let slow_done = Rc::new(Cell::new(false));
    let server = {
        let (drops, slow_done) = (drops.clone(), slow_done.clone());
        DatagramServer::bind("127.0.0.1:0", move |data, peer, socket| {
            let _token = drops.token();
            if data == b"slow" {
                grove::sleep(Duration::from_millis(100));
                socket.send_to(b"slow done", peer).unwrap();
                slow_done.set(true);
            } else {
                grove::sleep(Duration::from_secs(3600));
            }
        })
        .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    let client = std::thread::spawn(move || {
        let client = std_client();
        client.send_to(b"slow", addr).unwrap();
        client.send_to(b"stuck", addr).unwrap();
        let mut buf = [0; 16];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    wait_until("both handlers", || server.handler_count() == 2);
    let start = Instant::now();
    server.stop(Duration::from_millis(400));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "stop took {took:?}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(slow_done.get());
    assert_eq!(drops.count(), 2);
    assert!(server.is_stopped());
    assert_eq!(wait_thread(client), b"slow done");
}

#[test]
fn serve_forever_under_a_timeout_stops_the_server() {
    let server = DatagramServer::builder()
        .stop_timeout(Duration::from_millis(50))
        .bind("127.0.0.1:0", echo)
        .unwrap();
    let r = grove::with_timeout(Duration::from_millis(100), || server.serve_forever());
    assert_eq!(r, Err(grove::Timeout));
    // No handler was running: stopped when serve_forever returns.
    assert!(server.is_stopped());
    // The socket is closed: the port can be bound again.
    let again = std::net::UdpSocket::bind(server.local_addr()).unwrap();
    drop(again);
}

#[test]
fn long_datagrams_are_truncated_to_the_buffer() {
    let server = DatagramServer::builder()
        .max_datagram_size(8)
        .bind("127.0.0.1:0", echo)
        .unwrap();
    server.start();
    let addr = server.local_addr();
    let reply = wait_thread(std::thread::spawn(move || {
        let client = std_client();
        client.send_to(b"0123456789abcdef", addr).unwrap();
        let mut buf = [0; 64];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    }));
    assert_eq!(reply, b"01234567");
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_server_on_an_existing_socket() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let server = DatagramServer::new(socket, echo).unwrap();
    server.start();
    let addr = server.local_addr();
    let reply = wait_thread(std::thread::spawn(move || {
        let client = std_client();
        client.send_to(b"hi", addr).unwrap();
        let mut buf = [0; 8];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    }));
    assert_eq!(reply, b"hi");
    server.stop(Duration::from_secs(1));
}

#[test]
fn reuse_port_and_bad_input() {
    let first = DatagramServer::builder()
        .reuse_port(true)
        .bind("127.0.0.1:0", echo)
        .unwrap();
    let second = DatagramServer::builder()
        .reuse_port(true)
        .reuse_address(true)
        .bind(first.local_addr(), echo)
        .unwrap();
    let err = DatagramServer::bind(first.local_addr(), echo).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    first.stop(Duration::ZERO);
    second.stop(Duration::ZERO);
    assert!(DatagramServer::bind("no-such-host.invalid:53", echo).is_err());
    assert!(DatagramServer::bind("127.0.0.1", echo).is_err());
}

#[test]
#[should_panic(expected = "max_datagram_size(0)")]
fn a_zero_buffer_is_refused() {
    let _ = DatagramServer::builder().max_datagram_size(0);
}

#[test]
fn a_stopped_server_whose_handler_holds_it_is_freed() {
    let cell: Rc<OnceCell<DatagramServer>> = Rc::new(OnceCell::new());
    let server = {
        let cell = cell.clone();
        DatagramServer::bind("127.0.0.1:0", move |data, peer, socket| {
            assert!(cell.get().unwrap().handler_count() >= 1);
            socket.send_to(data, peer).unwrap();
        })
        .unwrap()
    };
    let _ = cell.set(server.clone());
    server.start();
    let addr = server.local_addr();
    let reply = wait_thread(std::thread::spawn(move || {
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        client.send_to(b"ping", addr).unwrap();
        let mut buf = [0; 8];
        let n = client.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }));
    assert_eq!(reply, b"ping");
    server.stop(Duration::from_secs(1));
    let freed = Rc::downgrade(&cell);
    drop((server, cell));
    assert!(freed.upgrade().is_none(), "the server outlived its stop");
}
