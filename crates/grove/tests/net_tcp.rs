//! TCP against real peers: std clients and servers in OS threads, grove on
//! the test thread's hub; timeouts, resets, half-close, refusal, clones,
//! conversions and kills.

use std::io::{self, BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::thread;
use std::time::{Duration, Instant};

use grove::net::{TcpListener, TcpStream};

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A connected pair on the current hub.
fn pair() -> (TcpStream, TcpStream) {
    let (listener, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

fn is_os_nonblocking(fd: &impl std::os::fd::AsFd) -> bool {
    socket2::SockRef::from(fd).nonblocking().unwrap()
}

#[test]
fn std_clients_in_threads_against_a_grove_echo_server() {
    let (listener, addr) = listener();
    let server = grove::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..4 {
            let (conn, _) = listener.accept().unwrap();
            handlers.push(grove::spawn(move || {
                let mut reader = BufReader::new(&conn);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 {
                    (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
                    line.clear();
                }
            }));
        }
        grove::joinall(&handlers);
    });
    let clients: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for j in 0..10 {
                    writeln!(stream, "client {i} line {j}").unwrap();
                    let mut reply = String::new();
                    reader.read_line(&mut reply).unwrap();
                    assert_eq!(reply, format!("CLIENT {i} LINE {j}\n"));
                }
            })
        })
        .collect();
    server.join().unwrap();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn grove_client_against_a_std_server_thread() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = std_listener.accept().unwrap();
        let mut request = [0; 5];
        conn.read_exact(&mut request).unwrap();
        thread::sleep(Duration::from_millis(50)); // the client parks meanwhile
        conn.write_all(&request).unwrap();
        conn.write_all(b" world").unwrap();
    });
    // Another greenlet keeps running while the client waits.
    let ticks = grove::spawn(|| {
        let mut n = 0;
        for _ in 0..5 {
            grove::sleep(Duration::from_millis(5));
            n += 1;
        }
        n
    });
    let mut client = TcpStream::connect(("localhost", addr.port())).unwrap();
    client.write_all(b"hello").unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hello world");
    assert_eq!(ticks.join().unwrap(), 5);
    server.join().unwrap();
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (listener, addr) = listener();
    drop(listener);
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn bind_to_a_used_address_fails() {
    let (_listener, addr) = listener();
    let err = TcpListener::bind(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
}

#[test]
fn invalid_addresses_are_invalid_input() {
    for bad in ["127.0.0.1", "127.0.0.1:http", "localhost:65536"] {
        let err = TcpStream::connect(bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
    }
    let err =
        TcpStream::connect_timeout(&"127.0.0.1:1".parse().unwrap(), Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = TcpStream::connect(&[][..]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn unresolvable_host_name_gives_a_clear_error() {
    // A label longer than 63 bytes fails inside the resolver: no DNS traffic.
    let host = format!("{}.invalid", "x".repeat(64));
    let err = TcpStream::connect((host.as_str(), 80)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot resolve host name"), "{text}");
    assert!(text.contains(&host), "{text}");
    let err = TcpListener::bind(format!("{host}:0")).unwrap_err();
    assert!(err.to_string().contains(&host));
}

#[test]
fn half_close_then_read_to_eof() {
    let (client, server) = pair();
    let echo = grove::spawn(move || {
        let mut request = Vec::new();
        (&server).read_to_end(&mut request).unwrap(); // ends at the client's shutdown
        (&server).write_all(&request).unwrap();
        (&server).write_all(b"!").unwrap();
        // dropping `server` closes the connection
    });
    (&client).write_all(b"request").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    (&client).read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "request!");
    echo.join().unwrap();
    assert_eq!((&client).read(&mut [0; 8]).unwrap(), 0);
}

#[test]
fn read_timeout_bounds_each_read_and_leaves_the_stream_usable() {
    let (mut client, mut server) = pair();
    assert_eq!(client.read_timeout().unwrap(), None);
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(
        client.read_timeout().unwrap(),
        Some(Duration::from_millis(100))
    );
    let start = Instant::now();
    let err = client.read(&mut [0; 16]).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        waited >= Duration::from_millis(90) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    server.write_all(b"late").unwrap();
    let mut buf = [0; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    let err = client.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Writes until the socket buffers are full and a write parks.
fn fill(stream: &TcpStream) -> usize {
    stream.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut total = 0;
    loop {
        match (&*stream).write(&chunk) {
            Ok(n) => total += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => panic!("{err}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    total
}

#[test]
fn write_timeout_bounds_a_write_to_a_peer_that_does_not_read() {
    let (client, server) = pair();
    let filled = fill(&client);
    assert!(filled > 0);
    client
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(
        client.write_timeout().unwrap(),
        Some(Duration::from_millis(100))
    );
    let start = Instant::now();
    let err = (&client).write_all(&vec![1u8; 1 << 20]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(start.elapsed() >= Duration::from_millis(90));
    // The peer drains; writing works again.
    let drain = grove::spawn(move || {
        let mut sink = Vec::new();
        (&server).read_to_end(&mut sink).unwrap();
        sink.len()
    });
    client.set_write_timeout(None).unwrap();
    (&client).write_all(b"more").unwrap();
    drop(client);
    assert!(drain.join().unwrap() > filled);
}

#[test]
fn a_peer_reset_mid_read_is_an_error_not_a_panic() {
    let (client, server) = pair();
    let reader = grove::spawn(move || (&client).read(&mut [0; 64]));
    grove::sleep(Duration::from_millis(20)); // the reader is parked in read
    socket2::SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server); // RST
    let result = reader.join().expect("no panic");
    let err = result.expect_err("a reset read fails");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn writing_to_a_reset_peer_is_an_error() {
    let (client, server) = pair();
    socket2::SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server);
    grove::sleep(Duration::from_millis(20));
    let mut result = Ok(());
    for _ in 0..100 {
        result = (&client).write_all(&[0; 1024]);
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{err}"
    );
}

#[test]
fn one_greenlet_reads_while_another_writes_the_same_socket() {
    const TOTAL: usize = 8 << 20; // far more than the socket buffers hold
    let (client, server) = pair();
    // Echo server: relays everything back.
    let echo = grove::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = (&server).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            (&server).write_all(&buf[..n]).unwrap();
        }
    });
    let writer_handle = client.try_clone().unwrap();
    let writer = grove::spawn(move || {
        let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let mut sent = 0;
        while sent < TOTAL {
            (&writer_handle).write_all(&chunk).unwrap();
            sent += chunk.len();
        }
        writer_handle.shutdown(Shutdown::Write).unwrap();
    });
    let reader = grove::spawn(move || {
        let mut received = 0usize;
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = (&client).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, ((received + i) % 256) as u8);
            }
            received += n;
        }
        received
    });
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), TOTAL);
    echo.join().unwrap();
}

#[test]
fn try_clone_shares_the_socket_and_its_settings() {
    let (client, server) = pair();
    let clone = client.try_clone().unwrap();
    assert_eq!(
        clone.as_raw_fd(),
        client.as_raw_fd(),
        "one fd, registered once"
    );
    clone
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(
        client.read_timeout().unwrap(),
        Some(Duration::from_millis(30))
    );
    (&clone).write_all(b"via clone").unwrap();
    let mut buf = [0; 9];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via clone");
    drop(client);
    (&server).write_all(b"x").unwrap();
    let mut one = [0; 1];
    (&clone).read_exact(&mut one).unwrap(); // still open through the clone
    assert_eq!(&one, b"x");
    drop(clone);
    assert_eq!(
        (&server).read(&mut buf).unwrap(),
        0,
        "closed with the last handle"
    );
}

#[test]
fn conversions_to_and_from_std_and_raw_fds() {
    // std listener -> grove
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from(std_listener);
    assert!(is_os_nonblocking(&listener));
    // a std client connects, grove accepts
    let client = thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"abc").unwrap();
        let mut back = [0; 3];
        s.read_exact(&mut back).unwrap();
        back
    });
    let (conn, _) = listener.accept().unwrap();
    // grove -> std (blocking again) -> grove
    let std_conn = conn.into_std().unwrap();
    assert!(!is_os_nonblocking(&std_conn));
    let conn = TcpStream::from_std(std_conn).unwrap();
    assert!(is_os_nonblocking(&conn));
    // grove -> raw fd -> grove
    let fd = conn.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd`; nothing else owns it.
    let mut conn = unsafe { TcpStream::from_raw_fd(fd) };
    let mut buf = [0; 3];
    conn.read_exact(&mut buf).unwrap();
    conn.write_all(&buf).unwrap();
    assert_eq!(&client.join().unwrap(), b"abc");
    // With a clone alive, into_std hands out a duplicate and keeps the
    // shared description non-blocking for the clone.
    let clone = conn.try_clone().unwrap();
    let dup = conn.into_std().unwrap();
    assert_ne!(dup.as_raw_fd(), clone.as_raw_fd());
    assert!(is_os_nonblocking(&clone));
    // Debug shows std's view.
    assert!(format!("{clone:?}").starts_with("TcpStream"));
    let listener = listener.into_std().unwrap();
    assert!(!is_os_nonblocking(&listener));
}

#[test]
fn nonblocking_mode_returns_would_block() {
    let (listener, _) = listener();
    listener.set_nonblocking(true).unwrap();
    let err = listener.accept().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    let (client, server) = pair();
    client.set_nonblocking(true).unwrap();
    let err = (&client).read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    (&server).write_all(b"now").unwrap();
    grove::sleep(Duration::from_millis(10));
    let mut buf = [0; 4];
    assert_eq!((&client).read(&mut buf).unwrap(), 3);
    client.set_nonblocking(false).unwrap();
    (&server).write_all(b"!").unwrap();
    assert_eq!((&client).read(&mut buf).unwrap(), 1);
}

#[test]
fn options_peek_and_vectored_io() {
    let (client, server) = pair();
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client.set_ttl(42).unwrap();
    assert_eq!(client.ttl().unwrap(), 42);
    assert!(client.take_error().unwrap().is_none());
    assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());

    let written = (&client)
        .write_vectored(&[IoSlice::new(b"vec"), IoSlice::new(b"tored")])
        .unwrap();
    assert_eq!(written, 8);
    let mut peeked = [0; 8];
    let mut got = 0;
    while got < 8 {
        got = server.peek(&mut peeked).unwrap();
    }
    assert_eq!(&peeked, b"vectored");
    let (mut a, mut b) = ([0; 3], [0; 5]);
    let mut read = 0;
    while read < 8 {
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        read += (&server).read_vectored(&mut bufs).unwrap();
    }
    assert_eq!((&a, &b), (b"vec", b"tored"));
    (&client).flush().unwrap();
}

#[test]
fn connect_timeout_succeeds_to_a_listener() {
    let (listener, addr) = listener();
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer, stream.local_addr().unwrap());
}

#[test]
fn incoming_yields_connections() {
    let (listener, addr) = listener();
    let clients = thread::spawn(move || {
        for i in 0..3u8 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&[i]).unwrap();
        }
    });
    let mut seen = Vec::new();
    for conn in listener.incoming().take(3) {
        let mut b = [0];
        conn.unwrap().read_exact(&mut b).unwrap();
        seen.push(b[0]);
    }
    assert_eq!(seen, [0, 1, 2]);
    clients.join().unwrap();
}

#[test]
fn timed_out_accept_leaves_the_listener_usable() {
    let (listener, addr) = listener();
    let r = grove::with_timeout(Duration::from_millis(30), || listener.accept());
    assert!(r.is_err());
    let err = listener
        .accept_timeout(Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let client = thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.join().unwrap().local_addr().unwrap());
}

#[test]
fn killed_accept_leaves_the_listener_usable() {
    let (listener, addr) = listener();
    let listener = std::rc::Rc::new(listener);
    let acceptor = {
        let listener = listener.clone();
        grove::spawn(move || listener.accept().map(|_| ()))
    };
    grove::sleep(Duration::from_millis(10));
    acceptor.kill();
    assert!(acceptor.is_dead());
    let client = thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.join().unwrap().local_addr().unwrap());
}

#[test]
fn killed_or_timed_out_reader_loses_no_bytes() {
    let (client, server) = pair();
    let client = std::rc::Rc::new(client);
    let reader = {
        let client = client.clone();
        grove::spawn(move || {
            let mut buf = [0; 4];
            (&*client).read(&mut buf).map(|n| buf[..n].to_vec())
        })
    };
    grove::sleep(Duration::from_millis(10));
    reader.kill();
    let r = grove::with_timeout(Duration::from_millis(20), || {
        (&*client).read(&mut [0; 4]).unwrap()
    });
    assert!(r.is_err());
    (&server).write_all(b"kept").unwrap();
    let mut buf = [0; 4];
    (&*client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"kept");
}

#[test]
fn killed_writer_leaves_the_stream_usable() {
    let (client, server) = pair();
    fill(&client);
    let client = std::rc::Rc::new(client);
    let writer = {
        let client = client.clone();
        grove::spawn(move || (&*client).write(&[1; 1024]))
    };
    grove::sleep(Duration::from_millis(10));
    assert!(!writer.is_dead(), "the writer is parked on a full buffer");
    writer.kill();
    let drain = grove::spawn(move || {
        let mut sink = Vec::new();
        (&server).read_to_end(&mut sink).unwrap();
        sink
    });
    (&*client).write_all(b"tail").unwrap();
    drop(client);
    let sink = drain.join().unwrap();
    assert!(sink.ends_with(b"tail"));
    assert!(sink[..sink.len() - 4].iter().all(|b| *b == 7));
}

#[test]
fn host_names_resolve_through_lookup_host() {
    let (listener, addr) = listener();
    let client = TcpStream::connect(format!("localhost:{}", addr.port())).unwrap();
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    let ips = grove::net::lookup_host("localhost").unwrap();
    assert!(ips.iter().any(|ip| ip.is_loopback()), "{ips:?}");
}

#[test]
fn connect_timeout_expires_against_a_full_backlog() {
    // A listener that never accepts, with the smallest backlog: once its
    // queue is full the kernel drops further SYNs and connects hang.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut connected = Vec::new();
    for _ in 0..16 {
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(stream) => connected.push(stream),
            Err(err) => {
                assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
                assert!(err.to_string().contains("timed out"), "{err}");
                let waited = start.elapsed();
                assert!(
                    waited >= Duration::from_millis(90) && waited < Duration::from_secs(3),
                    "{waited:?}"
                );
                // A with_timeout around a plain connect cancels it just as well.
                let r = grove::with_timeout(Duration::from_millis(50), || TcpStream::connect(addr));
                assert!(r.is_err());
                return;
            }
        }
    }
    panic!(
        "{} connects to a full backlog all succeeded",
        connected.len()
    );
}

#[test]
fn a_read_while_unwinding_fails_at_once_instead_of_parking() {
    use std::cell::Cell;
    use std::rc::Rc;

    struct ReadOnDrop(Rc<TcpStream>, Rc<Cell<Option<io::ErrorKind>>>);
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            let result = (&*self.0).read(&mut [0; 4]);
            self.1.set(Some(
                result.map_or_else(|e| e.kind(), |_| io::ErrorKind::Other),
            ));
        }
    }

    let (client, server) = pair();
    let client = Rc::new(client);
    let seen = Rc::new(Cell::new(None));
    let victim = {
        let guard = ReadOnDrop(client.clone(), seen.clone());
        grove::spawn(move || {
            let _guard = guard;
            grove::sleep(Duration::MAX);
        })
    };
    grove::sleep(Duration::from_millis(5));
    victim.kill();
    assert_eq!(seen.get(), Some(io::ErrorKind::Other));
    (&server).write_all(b"ok").unwrap();
    let mut buf = [0; 2];
    (&*client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
}

#[test]
fn sockets_are_born_non_blocking_and_close_on_exec() {
    fn cloexec(fd: &impl AsRawFd) -> bool {
        // SAFETY: F_GETFD on an fd the caller keeps open.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert!(flags >= 0);
        flags & libc::FD_CLOEXEC != 0
    }
    let (listener, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    let udp = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (ua, ub) = grove::net::UnixStream::pair().unwrap();
    assert!(cloexec(&listener) && cloexec(&client) && cloexec(&server));
    assert!(cloexec(&udp) && cloexec(&ua) && cloexec(&ub));
    assert!(is_os_nonblocking(&listener) && is_os_nonblocking(&client));
    assert!(is_os_nonblocking(&server) && is_os_nonblocking(&udp));
    assert!(is_os_nonblocking(&ua) && is_os_nonblocking(&ub));
}
