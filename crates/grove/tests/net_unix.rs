//! Unix stream and datagram sockets.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use grove::net::{UnixDatagram, UnixListener, UnixStream};

/// A fresh socket path in a per-process directory.
fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grove-net-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn stream_listener_against_std_clients_and_grove_clients() {
    let path = socket_path("stream.sock");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let server = grove::spawn(move || {
        let mut handlers = Vec::new();
        for conn in listener.incoming().take(4) {
            let mut conn = conn.unwrap();
            handlers.push(grove::spawn(move || {
                let mut request = String::new();
                conn.read_to_string(&mut request).unwrap();
                conn.write_all(request.to_uppercase().as_bytes()).unwrap();
            }));
        }
        grove::joinall(&handlers);
    });
    let std_clients: Vec<_> = (0..2)
        .map(|i| {
            let path = path.clone();
            thread::spawn(move || {
                let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
                write!(s, "std {i}").unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut reply = String::new();
                s.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, format!("STD {i}"));
            })
        })
        .collect();
    let grove_clients: Vec<_> = (0..2)
        .map(|i| {
            let path = path.clone();
            grove::spawn(move || {
                let mut s = UnixStream::connect(path).unwrap();
                write!(s, "grove {i}").unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut reply = String::new();
                s.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, format!("GROVE {i}"));
            })
        })
        .collect();
    for c in grove_clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    for c in std_clients {
        c.join().unwrap();
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stream_pair_timeouts_clone_and_conversions() {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    let err = (&a).read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(45));
    let clone = b.try_clone().unwrap();
    (&clone).write_all(b"hi").unwrap();
    let mut buf = [0; 2];
    (&a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    assert!(a.peer_addr().unwrap().is_unnamed());
    drop(clone);
    let std_b = b.into_std().unwrap();
    assert!(!socket2::SockRef::from(&std_b).nonblocking().unwrap());
    let b = UnixStream::from(std_b);
    a.set_nonblocking(true).unwrap();
    assert_eq!(
        (&a).read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    drop(b);
    assert_eq!((&a).read(&mut buf).unwrap(), 0);
}

#[test]
fn killed_unix_reader_leaves_the_stream_usable() {
    let (a, b) = UnixStream::pair().unwrap();
    let a = std::rc::Rc::new(a);
    let reader = {
        let a = a.clone();
        grove::spawn(move || (&*a).read(&mut [0; 4]).map(|_| ()))
    };
    grove::sleep(Duration::from_millis(5));
    reader.kill();
    (&b).write_all(b"ok").unwrap();
    let mut buf = [0; 2];
    (&*a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
}

#[test]
fn connect_to_a_missing_socket_file_fails() {
    let path = socket_path("missing.sock");
    let err = UnixStream::connect(&path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    let long = "x".repeat(200);
    let err = UnixStream::connect(&long).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let taken = socket_path("taken.sock");
    let _listener = UnixListener::bind(&taken).unwrap();
    let err = UnixListener::bind(&taken).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    std::fs::remove_file(&taken).unwrap();
}

#[test]
fn datagrams_by_path_and_connected() {
    let server_path = socket_path("dgram-server.sock");
    let client_path = socket_path("dgram-client.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let client = UnixDatagram::bind(&client_path).unwrap();
    let echo = grove::spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server
                .send_to(&buf[..n], from.as_pathname().unwrap())
                .unwrap();
        }
    });
    for i in 0..3 {
        let msg = format!("dgram {i}");
        client.send_to(msg.as_bytes(), &server_path).unwrap();
        let mut buf = [0; 64];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg.as_bytes());
    }
    echo.join().unwrap();

    let unbound = UnixDatagram::unbound().unwrap();
    unbound.connect(&client_path).unwrap();
    unbound.send(b"connected").unwrap();
    let mut buf = [0; 64];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"connected");
    assert!(from.is_unnamed());
    client
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(
        client.recv(&mut buf).unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
    std::fs::remove_file(&server_path).unwrap();
    std::fs::remove_file(&client_path).unwrap();
}

#[test]
fn datagram_pair_between_greenlets_and_a_full_receiver() {
    let (a, b) = UnixDatagram::pair().unwrap();
    // Fill b's queue: a's sends then park until b drains.
    a.set_nonblocking(true).unwrap();
    let mut queued = 0;
    while a.send(&[1; 512]).is_ok() {
        queued += 1;
    }
    assert!(queued > 0);
    a.set_nonblocking(false).unwrap();
    let sender = grove::spawn(move || a.send(b"last").unwrap());
    grove::sleep(Duration::from_millis(10));
    assert!(!sender.is_dead(), "the sender waits for room");
    let mut buf = [0; 512];
    for _ in 0..queued {
        assert_eq!(b.recv(&mut buf).unwrap(), 512);
    }
    assert_eq!(sender.join().unwrap(), 4);
    let n = b.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"last");
}

#[test]
fn send_to_a_full_unconnected_receiver_waits_for_room() {
    let server_path = socket_path("full-server.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    client.set_nonblocking(true).unwrap();
    let mut queued = 0;
    while client.send_to(&[2; 256], &server_path).is_ok() {
        queued += 1;
    }
    client.set_nonblocking(false).unwrap();
    let sender = {
        let path = server_path.clone();
        grove::spawn(move || {
            let start = Instant::now();
            client.send_to(b"end", &path).unwrap();
            client
                .set_write_timeout(Some(Duration::from_millis(30)))
                .unwrap();
            start.elapsed()
        })
    };
    grove::sleep(Duration::from_millis(20));
    assert!(!sender.is_dead(), "the sender waits for room");
    let mut buf = [0; 256];
    for _ in 0..queued {
        server.recv(&mut buf).unwrap();
    }
    assert!(sender.join().unwrap() >= Duration::from_millis(15));
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"end");
    std::fs::remove_file(&server_path).unwrap();
}

#[test]
fn connect_to_a_full_backlog_waits_until_accepted() {
    let path = socket_path("backlog.sock");
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&socket2::SockAddr::unix(&path).unwrap())
        .unwrap();
    socket.listen(0).unwrap();
    let listener = UnixListener::from(std::os::unix::net::UnixListener::from(socket));
    let mut clients = Vec::new();
    let mut parked = None;
    for _ in 0..8 {
        let path = path.clone();
        let client = grove::spawn(move || UnixStream::connect(path).unwrap());
        grove::sleep(Duration::from_millis(20));
        if client.is_dead() {
            clients.push(client.join().unwrap());
        } else {
            parked = Some(client);
            break;
        }
    }
    let parked = parked.expect("a connect to a full backlog waits");
    let (_first, _) = listener.accept().unwrap();
    let (_second, _) = listener.accept().unwrap(); // the parked connect retries meanwhile
    let stream = parked.join().unwrap();
    assert!(stream.peer_addr().is_ok());
    std::fs::remove_file(&path).unwrap();
}
