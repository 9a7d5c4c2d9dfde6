//! `UdpSocket::recv_batch` / `send_batch`: many datagrams per system call.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use grove::net::{RecvBatch, SendBatch, UdpSocket};

// Linux's errno values (the same on x86_64 and aarch64).
const EINVAL: i32 = 22;
const EMSGSIZE: i32 = 90;
const EAFNOSUPPORT: i32 = 97;

fn bound(addr: &str) -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind(addr).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// The datagrams of a batch as (bytes, sender, truncated).
fn contents(batch: &RecvBatch) -> Vec<(Vec<u8>, SocketAddr, bool)> {
    batch
        .iter()
        .map(|d| (d.data().to_vec(), d.addr(), d.is_truncated()))
        .collect()
}

/// Loopback delivers a datagram into the receiver's queue before `send_to`
/// returns, so everything sent is queued when the receive starts.
#[test]
fn one_receive_takes_every_queued_datagram_in_order() {
    let (server, server_addr) = bound("127.0.0.1:0");
    let (a, a_addr) = bound("127.0.0.1:0");
    let (b, b_addr) = bound("127.0.0.1:0");
    for i in 0..10 {
        let (from, _) = if i % 2 == 0 {
            (&a, a_addr)
        } else {
            (&b, b_addr)
        };
        from.send_to(format!("query {i}").as_bytes(), server_addr)
            .unwrap();
    }
    let mut batch = RecvBatch::new(32, 512);
    assert!(batch.is_empty());
    assert_eq!(server.recv_batch(&mut batch).unwrap(), 10);
    assert_eq!(batch.len(), 10);
    let expected: Vec<_> = (0..10)
        .map(|i| {
            let from = if i % 2 == 0 { a_addr } else { b_addr };
            (format!("query {i}").into_bytes(), from, false)
        })
        .collect();
    assert_eq!(contents(&batch), expected);
    assert_eq!(batch.iter().len(), 10);
    assert!(batch.get(10).is_none());
}

#[test]
fn capacity_bounds_a_receive_and_big_batches_span_several_calls() {
    let (server, server_addr) = bound("127.0.0.1:0");
    let (client, _) = bound("127.0.0.1:0");
    let send = |n: usize| {
        for i in 0..n {
            client
                .send_to(&(i as u32).to_be_bytes(), server_addr)
                .unwrap();
        }
    };
    let numbers = |batch: &RecvBatch| -> Vec<u32> {
        batch
            .iter()
            .map(|d| u32::from_be_bytes(d.data().try_into().unwrap()))
            .collect()
    };
    // 40 queued, 32 slots: 32 now, the other 8 next.
    send(40);
    let mut small = RecvBatch::new(32, 64);
    assert_eq!(server.recv_batch(&mut small).unwrap(), 32);
    assert_eq!(numbers(&small), (0..32).collect::<Vec<_>>());
    assert_eq!(server.recv_batch(&mut small).unwrap(), 8);
    assert_eq!(numbers(&small), (32..40).collect::<Vec<_>>());
    // More slots than one system call carries: 70 in one receive, and a
    // batch bigger than the queue returns what is there.
    send(70);
    let mut big = RecvBatch::new(100, 64);
    assert_eq!(server.recv_batch(&mut big).unwrap(), 70);
    assert_eq!(numbers(&big), (0..70).collect::<Vec<_>>());
    send(64);
    let mut exact = RecvBatch::new(64, 64);
    assert_eq!(server.recv_batch(&mut exact).unwrap(), 64);
    assert_eq!(numbers(&exact), (0..64).collect::<Vec<_>>());
}

#[test]
fn a_datagram_longer_than_its_slot_is_cut_and_flagged() {
    let (server, server_addr) = bound("127.0.0.1:0");
    let (client, client_addr) = bound("127.0.0.1:0");
    client.send_to(b"0123456789abcdef", server_addr).unwrap();
    client.send_to(b"short", server_addr).unwrap();
    client.send_to(b"exactly8", server_addr).unwrap();
    let mut batch = RecvBatch::new(4, 8);
    assert_eq!(batch.slot_size(), 8);
    assert_eq!(server.recv_batch(&mut batch).unwrap(), 3);
    assert_eq!(
        contents(&batch),
        [
            (b"01234567".to_vec(), client_addr, true),
            (b"short".to_vec(), client_addr, false),
            (b"exactly8".to_vec(), client_addr, false),
        ]
    );
}

#[test]
fn ipv6_peers_and_ipv4_mapped_peers() {
    let (server, server_addr) = bound("[::1]:0");
    let (client, client_addr) = bound("[::1]:0");
    client.send_to(b"over v6", server_addr).unwrap();
    let mut batch = RecvBatch::new(8, 64);
    assert_eq!(server.recv_batch(&mut batch).unwrap(), 1);
    assert_eq!(
        contents(&batch),
        [(b"over v6".to_vec(), client_addr, false)]
    );
    let mut out = SendBatch::new();
    out.push(b"back over v6", client_addr);
    assert_eq!(server.send_batch(&mut out).unwrap(), 1);
    let mut buf = [0; 64];
    assert_eq!(
        client.recv_from(&mut buf).unwrap(),
        (12, server_addr),
        "reply from the server"
    );

    // A dual-stack socket sees IPv4 senders as IPv4-mapped IPv6 addresses,
    // and answers them at those addresses.
    let (dual, dual_addr) = bound("[::]:0");
    let (v4, v4_addr) = bound("127.0.0.1:0");
    v4.send_to(b"from v4", ("127.0.0.1", dual_addr.port()))
        .unwrap();
    assert_eq!(dual.recv_batch(&mut batch).unwrap(), 1);
    let d = batch.get(0).unwrap();
    assert_eq!(d.data(), b"from v4");
    let SocketAddr::V6(mapped) = d.addr() else {
        panic!("a dual-stack socket reports IPv6 senders, got {}", d.addr())
    };
    let SocketAddr::V4(v4_addr) = v4_addr else {
        unreachable!("bound to 127.0.0.1")
    };
    assert_eq!(mapped.ip().to_ipv4_mapped(), Some(*v4_addr.ip()));
    assert_eq!(mapped.port(), v4_addr.port());
    out.push(b"to v4", d.addr());
    assert_eq!(dual.send_batch(&mut out).unwrap(), 1);
    let (n, _) = v4.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"to v4");
}

#[test]
fn a_parked_receive_wakes_for_the_first_datagram() {
    let (server, server_addr) = bound("127.0.0.1:0");
    let receiver = grove::spawn(move || {
        let mut batch = RecvBatch::new(32, 64);
        let n = server.recv_batch(&mut batch).unwrap();
        (n, contents(&batch))
    });
    grove::sleep(Duration::from_millis(20));
    assert!(
        !receiver.is_dead(),
        "recv_batch returned with nothing queued"
    );
    let (client, client_addr) = bound("127.0.0.1:0");
    client.send_to(b"wake", server_addr).unwrap();
    let (n, got) = receiver.join().unwrap();
    assert_eq!(n, 1);
    assert_eq!(got, [(b"wake".to_vec(), client_addr, false)]);
}

#[test]
fn read_timeout_and_nonblocking_mode() {
    let (socket, addr) = bound("127.0.0.1:0");
    let mut batch = RecvBatch::new(8, 64);
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let start = Instant::now();
    let err = socket.recv_batch(&mut batch).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert!(batch.is_empty());

    socket.set_nonblocking(true).unwrap();
    let err = socket.recv_batch(&mut batch).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    socket.send_to(b"self", addr).unwrap();
    assert_eq!(socket.recv_batch(&mut batch).unwrap(), 1);
    assert_eq!(batch.get(0).unwrap().data(), b"self");
    // A failed receive leaves the batch empty, never stale.
    let err = socket.recv_batch(&mut batch).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(batch.is_empty());
    let mut out = SendBatch::new();
    assert_eq!(socket.send_batch(&mut out).unwrap(), 0, "empty batch");
}

#[test]
fn killed_or_timed_out_while_parked_loses_no_datagram() {
    let (socket, addr) = bound("127.0.0.1:0");
    let socket = Rc::new(socket);
    let receiver = {
        let socket = socket.clone();
        grove::spawn(move || {
            let mut batch = RecvBatch::new(32, 64);
            socket.recv_batch(&mut batch).map(|_| ())
        })
    };
    grove::sleep(Duration::from_millis(5));
    receiver.kill();
    assert!(matches!(receiver.join(), Err(grove::GreenletError::Killed)));
    let mut batch = RecvBatch::new(32, 64);
    let r = grove::with_timeout(Duration::from_millis(10), || socket.recv_batch(&mut batch));
    assert!(r.is_err());
    assert!(batch.is_empty());

    let (sender, sender_addr) = bound("127.0.0.1:0");
    sender.send_to(b"kept", addr).unwrap();
    sender.send_to(b"also kept", addr).unwrap();
    assert_eq!(socket.recv_batch(&mut batch).unwrap(), 2);
    assert_eq!(
        contents(&batch),
        [
            (b"kept".to_vec(), sender_addr, false),
            (b"also kept".to_vec(), sender_addr, false),
        ]
    );
}

#[test]
fn a_connected_socket_reports_the_refusal_of_its_peer() {
    let (socket, _) = bound("127.0.0.1:0");
    let closed = {
        let (gone, gone_addr) = bound("127.0.0.1:0");
        drop(gone);
        gone_addr
    };
    socket.connect(closed).unwrap();
    socket.send(b"anyone?").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut batch = RecvBatch::new(8, 64);
    let err = socket.recv_batch(&mut batch).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

/// An echo server on batches against clients on plain `std` sockets in
/// another thread: every datagram is answered once, to its own sender.
#[test]
fn batched_echo_server_answers_every_client() {
    let (server, server_addr) = bound("127.0.0.1:0");
    const CLIENTS: usize = 8;
    const EACH: usize = 200;
    let clients = thread::spawn(move || {
        let sockets: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let s = StdUdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s
            })
            .collect();
        for round in 0..EACH {
            // Every client has a datagram in flight: the server's queue
            // holds several at once.
            for (c, s) in sockets.iter().enumerate() {
                s.send_to(format!("{c}:{round}").as_bytes(), server_addr)
                    .unwrap();
            }
            for (c, s) in sockets.iter().enumerate() {
                let mut buf = [0; 64];
                let (n, from) = s.recv_from(&mut buf).unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], format!("{c}:{round}").as_bytes());
            }
        }
    });
    let served = grove::spawn(move || {
        let mut queries = RecvBatch::new(32, 512);
        let mut answers = SendBatch::with_capacity(32, 32 * 64);
        let (mut datagrams, mut receives) = (0, 0);
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while datagrams < CLIENTS * EACH {
            datagrams += server.recv_batch(&mut queries).unwrap();
            receives += 1;
            for q in &queries {
                answers.push(q.data(), q.addr());
            }
            while !answers.is_empty() {
                server.send_batch(&mut answers).unwrap();
            }
        }
        (datagrams, receives)
    });
    let (datagrams, receives) = served.join().unwrap();
    clients.join().unwrap();
    assert_eq!(datagrams, CLIENTS * EACH);
    assert!(receives <= datagrams);
}

/// `sendmmsg` stops at a datagram the kernel refuses: the ones before it
/// are reported sent, the refused one reports its error on the next call
/// and is dropped, and the ones after it go out on the call after that.
#[test]
fn a_refused_datagram_is_reported_and_dropped_without_losing_the_rest() {
    let (server, _) = bound("127.0.0.1:0");
    let (peer, peer_addr) = bound("127.0.0.1:0");
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let mut out = SendBatch::new();
    out.push(b"first", peer_addr);
    out.push(b"wrong family", v6);
    out.push(&vec![0; 70_000], peer_addr);
    out.push(b"last", peer_addr);
    assert_eq!(out.len(), 4);

    assert_eq!(
        server.send_batch(&mut out).unwrap(),
        1,
        "stops at the refused one"
    );
    assert_eq!(out.len(), 3);
    let err = server.send_batch(&mut out).unwrap_err();
    assert!(
        matches!(err.raw_os_error(), Some(EAFNOSUPPORT | EINVAL)),
        "an IPv6 destination on an IPv4 socket: {err}"
    );
    assert_eq!(out.len(), 2, "the refused datagram was dropped");
    let err = server.send_batch(&mut out).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EMSGSIZE), "{err}");
    assert_eq!(server.send_batch(&mut out).unwrap(), 1);
    assert!(out.is_empty());

    let mut batch = RecvBatch::new(8, 64);
    assert_eq!(peer.recv_batch(&mut batch).unwrap(), 2);
    let got: Vec<_> = batch.iter().map(|d| d.data().to_vec()).collect();
    assert_eq!(got, [b"first".to_vec(), b"last".to_vec()]);
}

/// More than one system call's worth (32) of datagrams goes out in one
/// `send_batch`, in order.
#[test]
fn a_big_send_batch_goes_out_whole_and_in_order() {
    let (server, _) = bound("127.0.0.1:0");
    let (peer, peer_addr) = bound("127.0.0.1:0");
    let mut out = SendBatch::new();
    for i in 0..100u32 {
        out.push(&i.to_be_bytes(), peer_addr);
    }
    assert_eq!(server.send_batch(&mut out).unwrap(), 100);
    assert!(out.is_empty());
    let mut batch = RecvBatch::new(128, 16);
    assert_eq!(peer.recv_batch(&mut batch).unwrap(), 100);
    let got: Vec<u32> = batch
        .iter()
        .map(|d| u32::from_be_bytes(d.data().try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn many_greenlets_receive_on_one_socket_each_datagram_once() {
    let (server, server_addr) = bound("127.0.0.1:0");
    let server = Rc::new(server);
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            grove::spawn(move || {
                let mut batch = RecvBatch::new(8, 16);
                let mut got = Vec::new();
                while server.recv_batch(&mut batch).is_ok() {
                    got.extend(batch.iter().map(|d| d.data()[0]));
                }
                got
            })
        })
        .collect();
    let (client, _) = bound("127.0.0.1:0");
    for i in 0..=200u8 {
        client.send_to(&[i], server_addr).unwrap();
        if i % 16 == 0 {
            grove::yield_now();
        }
    }
    let mut all: Vec<u8> = receivers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..=200).collect::<Vec<u8>>());
}
