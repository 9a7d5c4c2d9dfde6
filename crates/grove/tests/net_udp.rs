//! UDP between greenlets and against std sockets in threads.

use std::io;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use grove::net::UdpSocket;

fn bound() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

#[test]
fn datagrams_between_greenlets() {
    let (server, server_addr) = bound();
    let echo = grove::spawn(move || {
        let mut buf = [0; 1500];
        for _ in 0..10 {
            let (n, peer) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], peer).unwrap();
        }
    });
    let clients: Vec<_> = (0..10)
        .map(|i| {
            grove::spawn(move || {
                let (client, _) = bound();
                let msg = format!("datagram {i}");
                client.send_to(msg.as_bytes(), server_addr).unwrap();
                let mut buf = [0; 1500];
                let (n, from) = client.recv_from(&mut buf).unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], msg.as_bytes());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    echo.join().unwrap();
}

#[test]
fn connected_send_recv_and_peek() {
    let (a, a_addr) = bound();
    let (b, b_addr) = bound();
    a.connect(b_addr).unwrap();
    b.connect(("localhost", a_addr.port())).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    let receiver = grove::spawn(move || {
        let mut buf = [0; 64];
        let n = b.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"first"[..], a_addr));
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        let n = b.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    grove::sleep(Duration::from_millis(5)); // the receiver parks first
    a.send(b"first").unwrap();
    a.send(b"second").unwrap();
    assert_eq!(receiver.join().unwrap(), b"second");
}

#[test]
fn against_a_std_socket_in_a_thread() {
    let (socket, addr) = bound();
    let peer = thread::spawn(move || {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        thread::sleep(Duration::from_millis(30));
        std_socket.send_to(b"from std", addr).unwrap();
        let mut buf = [0; 64];
        let (n, _) = std_socket.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    let mut buf = [0; 64];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from std");
    socket.send_to(b"from grove", from).unwrap();
    assert_eq!(peer.join().unwrap(), b"from grove");
}

#[test]
fn read_timeout_and_nonblocking() {
    let (socket, addr) = bound();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let start = Instant::now();
    let err = socket.recv_from(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(45));
    socket.set_nonblocking(true).unwrap();
    let err = socket.recv_from(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    socket.send_to(b"self", addr).unwrap();
    grove::sleep(Duration::from_millis(5));
    assert_eq!(socket.recv_from(&mut [0; 8]).unwrap().0, 4);
    let err = socket.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Greenlets parked on the same socket wake in the order they parked,
/// whether their wait was the first of the socket's list or a later one,
/// and a killed waiter (first or later) leaves the list without disturbing
/// the others.
#[test]
fn parked_receivers_wake_in_the_order_they_parked() {
    let (socket, addr) = bound();
    let socket = std::rc::Rc::new(socket);
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let receivers: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|name| {
            let socket = socket.clone();
            let got = got.clone();
            grove::spawn(move || {
                let mut buf = [0; 8];
                let n = socket.recv(&mut buf).unwrap();
                got.borrow_mut()
                    .push(format!("{name}:{}", String::from_utf8_lossy(&buf[..n])));
            })
        })
        .collect();
    grove::yield_now(); // every receiver starts and parks, in spawn order
    receivers[0].kill(); // the inline first waiter
    receivers[2].kill(); // one in the overflow list
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for msg in ["1", "2", "3"] {
        sender.send_to(msg.as_bytes(), addr).unwrap();
    }
    for r in receivers {
        let _ = r.join();
    }
    assert_eq!(*got.borrow(), ["b:1", "d:2", "e:3"]);
}

#[test]
fn killed_receiver_loses_no_datagram() {
    let (socket, addr) = bound();
    let socket = std::rc::Rc::new(socket);
    let receiver = {
        let socket = socket.clone();
        grove::spawn(move || socket.recv_from(&mut [0; 8]).map(|_| ()))
    };
    grove::sleep(Duration::from_millis(5));
    receiver.kill();
    let r = grove::with_timeout(Duration::from_millis(10), || socket.recv(&mut [0; 8]));
    assert!(r.is_err());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"kept", addr).unwrap();
    let mut buf = [0; 8];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"kept");
}

#[test]
fn options_clone_and_conversions() {
    let (socket, addr) = bound();
    socket.set_broadcast(true).unwrap();
    assert!(socket.broadcast().unwrap());
    socket.set_ttl(7).unwrap();
    assert_eq!(socket.ttl().unwrap(), 7);
    socket.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(socket.multicast_ttl_v4().unwrap(), 3);
    socket.set_multicast_loop_v4(false).unwrap();
    assert!(!socket.multicast_loop_v4().unwrap());
    assert!(socket.take_error().unwrap().is_none());
    let clone = socket.try_clone().unwrap();
    clone.send_to(b"c", addr).unwrap();
    assert_eq!(socket.recv(&mut [0; 4]).unwrap(), 1);
    drop(clone);
    let std_socket = socket.into_std().unwrap();
    assert!(!socket2::SockRef::from(&std_socket).nonblocking().unwrap());
    let socket = UdpSocket::from(std_socket);
    assert!(socket2::SockRef::from(&socket).nonblocking().unwrap());
    assert_eq!(socket.local_addr().unwrap(), addr);
    let err = socket.send_to(b"x", &[][..]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}
