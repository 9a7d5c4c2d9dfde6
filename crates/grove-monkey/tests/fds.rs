//! Hooked calls on sockets in every mode and on fds that change under them:
//! non-blocking sockets keep `EAGAIN`, `SO_RCVTIMEO` is honoured, closed and
//! reused fd numbers, a close while another greenlet is parked, `poll` and
//! `select` on several fds, `accept`, a refused `connect`, `EPIPE`.

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A counter another greenlet bumps every millisecond while the test
/// waits: proof that a hooked call parked instead of blocking the thread.
fn ticker() -> (Rc<Cell<u32>>, grove::Greenlet<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let g = grove::spawn(move || loop {
        grove::sleep(Duration::from_millis(1));
        t.set(t.get() + 1);
    });
    (ticks, g)
}

#[test]
fn a_non_blocking_socket_still_gets_eagain() {
    util::patch();
    let (client, _server) = util::tcp_pair();
    let g = grove::spawn(move || {
        client.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let err = (&client).read(&mut [0u8; 8]).unwrap_err();
        (err.kind(), start.elapsed())
    });
    let (kind, took) = g.join().unwrap();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(took < Duration::from_millis(50));
}

#[test]
fn so_rcvtimeo_gives_eagain_after_the_timeout_and_the_thread_keeps_running() {
    util::patch();
    let (client, _server) = util::tcp_pair();
    let (ticks, ticker) = ticker();
    let g = grove::spawn(move || {
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let err = (&client).read(&mut [0u8; 8]).unwrap_err();
        (err.kind(), start.elapsed())
    });
    let (kind, took) = g.join().unwrap();
    ticker.kill();
    assert_eq!(
        kind,
        ErrorKind::WouldBlock,
        "the kernel's SO_RCVTIMEO error"
    );
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        ticks.get() > 20,
        "the thread was blocked: {} ticks",
        ticks.get()
    );
}

#[test]
fn so_sndtimeo_gives_eagain_once_the_buffers_stay_full() {
    util::patch();
    let (client, _server) = util::tcp_pair(); // the server never reads
    let (ticks, ticker) = ticker();
    let g = grove::spawn(move || {
        client
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let chunk = vec![0u8; 1 << 16];
        let mut written = 0usize;
        let start = Instant::now();
        let err = loop {
            match (&client).write(&chunk) {
                Ok(n) => written += n,
                Err(e) => break e,
            }
        };
        (err.kind(), start.elapsed(), written)
    });
    let (kind, took, written) = g.join().unwrap();
    ticker.kill();
    assert_eq!(
        kind,
        ErrorKind::WouldBlock,
        "the kernel's SO_SNDTIMEO error"
    );
    assert!(written > 0);
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        ticks.get() > 20,
        "the thread was blocked: {} ticks",
        ticks.get()
    );
}

#[test]
fn a_closed_fd_gets_ebadf() {
    util::patch();
    let g = grove::spawn(move || {
        let (client, mut server) = util::tcp_pair();
        // A number far above what the tests running beside this one take,
        // so that nobody reuses it meanwhile.
        // SAFETY: F_DUPFD of an open fd.
        let fd = unsafe { libc::fcntl(client.as_raw_fd(), libc::F_DUPFD, 12_000) };
        assert!(fd >= 12_000);
        server.write_all(b"ab").unwrap();
        let mut buf = [0u8; 4];
        // SAFETY: a valid buffer; the hooks learn `fd` is a blocking socket.
        assert_eq!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 4) }, 2);
        // SAFETY: `fd` is ours; closing it through the hook.
        assert_eq!(unsafe { libc::close(fd) }, 0);
        // SAFETY: a valid buffer; the fd number is closed on purpose.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 4) };
        (r, std::io::Error::last_os_error().raw_os_error())
    });
    assert_eq!(g.join().unwrap(), (-1, Some(libc::EBADF)));
}

#[test]
fn a_reused_fd_number_is_the_new_file() {
    util::patch();
    let path = std::env::temp_dir().join(format!("grove-monkey-reuse-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let file_path = path.clone();
    let g = grove::spawn(move || {
        let (client, mut server) = util::tcp_pair();
        server.write_all(b"sock").unwrap();
        let mut buf = [0u8; 4];
        (&client).read_exact(&mut buf).unwrap(); // the hooks learn: a blocking socket
        assert_eq!(&buf, b"sock");
        let fd = client.as_raw_fd();
        // dup2 a regular file onto the socket's number, then read it.
        let file = std::fs::File::open(&file_path).unwrap();
        // SAFETY: both fds are open; `fd` is replaced (the TcpStream is
        // forgotten below so that it does not close the file twice).
        assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), fd) }, fd);
        std::mem::forget(client);
        // SAFETY: `fd` now refers to the file and is owned here.
        let mut replaced = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut text = String::new();
        replaced.read_to_string(&mut text).unwrap();
        drop(replaced);
        // close, then reuse the lowest number for a fresh socket pair.
        let (again, mut peer) = util::tcp_pair();
        peer.write_all(b"new!").unwrap();
        (&again).read_exact(&mut buf).unwrap();
        (text, buf)
    });
    let (text, buf) = g.join().unwrap();
    let _ = std::fs::remove_file(path);
    assert_eq!(text, "file contents");
    assert_eq!(&buf, b"new!");
}

/// A greenlet parked in a hooked `read` of one end of a socket pair while
/// another greenlet runs `close` on it: the reader wakes with `EBADF`. The
/// fd is moved to `base` or above, a band no other test uses.
fn closing_wakes_the_parked_reader(base: libc::c_int, close: fn(libc::c_int)) {
    util::patch();
    let mut fds = [0; 2];
    // SAFETY: a valid array for the two fds.
    let made = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(made, 0);
    let [low, b] = fds;
    // Far above the numbers the tests beside this one take, so that nobody
    // reuses it between the close and the reader's retry.
    // SAFETY: F_DUPFD of an open fd.
    let a = unsafe { libc::fcntl(low, libc::F_DUPFD, base) };
    // SAFETY: `low` is ours.
    unsafe { libc::close(low) };
    let reader = grove::spawn(move || {
        let mut buf = [0u8; 4];
        // SAFETY: a valid buffer; `a` is closed by the other greenlet meanwhile.
        let r = unsafe { libc::read(a, buf.as_mut_ptr().cast(), 4) };
        (r, std::io::Error::last_os_error().raw_os_error())
    });
    let closer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(30));
        close(a);
    });
    let start = Instant::now();
    let outcome = grove::with_timeout(Duration::from_secs(5), || reader.join().unwrap());
    closer.join().unwrap();
    // SAFETY: `b` is ours.
    drop(unsafe { OwnedFd::from_raw_fd(b) });
    assert_eq!(outcome, Ok((-1, Some(libc::EBADF))));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn closing_an_fd_wakes_the_greenlet_parked_on_it() {
    // SAFETY: the fd is the test's own.
    closing_wakes_the_parked_reader(13_000, |fd| unsafe {
        libc::close(fd);
    });
}

#[test]
fn close_range_wakes_the_greenlet_parked_on_it() {
    // SAFETY: a range of one fd, the test's own.
    closing_wakes_the_parked_reader(13_500, |fd| unsafe {
        assert_eq!(libc::close_range(fd as u32, fd as u32, 0), 0);
    });
}

#[test]
fn poll_and_select_park_on_several_fds() {
    util::patch();
    let (c1, _s1) = util::tcp_pair();
    let (c2, mut s2) = util::tcp_pair();
    let (ticks, ticker) = ticker();
    let (f1, f2) = (c1.as_raw_fd(), c2.as_raw_fd());
    let poller = grove::spawn(move || {
        let mut fds = [
            libc::pollfd {
                fd: f1,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: f2,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 5000) };
        (n, fds[0].revents, fds[1].revents)
    });
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(50));
        s2.write_all(b"x").unwrap();
        s2
    });
    let (n, r1, r2) = poller.join().unwrap();
    let _s2 = writer.join().unwrap();
    assert_eq!((n, r1, r2 & libc::POLLIN), (1, 0, libc::POLLIN));
    assert!(ticks.get() > 10, "poll blocked the thread");

    // A poll that times out returns 0, after its timeout.
    let g = grove::spawn(move || {
        let mut fds = [libc::pollfd {
            fd: f1,
            events: libc::POLLIN,
            revents: 0,
        }];
        let start = Instant::now();
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 60) };
        (n, start.elapsed())
    });
    let (n, took) = g.join().unwrap();
    assert_eq!(n, 0);
    assert!(took >= Duration::from_millis(60));

    // select: c2 has a byte waiting, c1 nothing.
    let g = grove::spawn(move || {
        // SAFETY: fd_set is plain old data; FD_* on valid fds below FD_SETSIZE.
        unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_SET(f1, &mut set);
            libc::FD_SET(f2, &mut set);
            let mut tv = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            let n = libc::select(
                f1.max(f2) + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            );
            (n, libc::FD_ISSET(f1, &set), libc::FD_ISSET(f2, &set))
        }
    });
    assert_eq!(g.join().unwrap(), (1, false, true));
    ticker.kill();
    drop((c1, c2));
}

#[test]
fn accept_parks_and_connect_reports_refusal() {
    util::patch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ticks, ticker) = ticker();
    let acceptor = grove::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    let connector = grove::spawn(move || {
        grove::sleep(Duration::from_millis(50));
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"hi").unwrap();
    });
    assert_eq!(&acceptor.join().unwrap(), b"hi");
    connector.join().unwrap();
    assert!(ticks.get() > 10, "accept blocked the thread");
    ticker.kill();

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let g = grove::spawn(move || {
        std::net::TcpStream::connect(closed_addr)
            .map(drop)
            .map_err(|e| e.kind())
    });
    assert_eq!(g.join().unwrap(), Err(ErrorKind::ConnectionRefused));
}

#[test]
fn writing_to_a_closed_peer_is_epipe_as_before() {
    util::patch();
    let (client, server) = util::tcp_pair();
    drop(server);
    let g = grove::spawn(move || {
        let mut client = client;
        grove::sleep(Duration::from_millis(20));
        // The first write may succeed (the RST comes back after it).
        let mut last = Ok(());
        for _ in 0..10 {
            last = client.write_all(b"data");
            if last.is_err() {
                break;
            }
            grove::sleep(Duration::from_millis(5));
        }
        last.map_err(|e| e.kind())
    });
    // Rust ignores SIGPIPE, so the write fails with EPIPE (or a reset).
    let err = g.join().unwrap().unwrap_err();
    assert!(
        matches!(err, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "{err:?}"
    );
}

#[test]
fn std_name_resolution_runs_on_the_thread_pool() {
    util::patch();
    assert_eq!(grove::threadpool::default_pool().threads(), 0);
    let g = grove::spawn(|| {
        use std::net::ToSocketAddrs;
        ("localhost", 80).to_socket_addrs().map(|a| a.count())
    });
    assert!(g.join().unwrap().unwrap() >= 1);
    // The hooked getaddrinfo ran libc's on a pool thread.
    assert_eq!(grove::threadpool::default_pool().threads(), 1);
}

/// Reads 2 bytes of `fd` in a greenlet while another writes them to
/// `peer` 30 ms later; bounded so that a lost wake-up fails instead of hanging.
fn read_when_written(
    fd: std::os::fd::RawFd,
    mut peer: std::net::TcpStream,
) -> Result<[u8; 2], grove::Timeout> {
    let reader = grove::spawn(move || {
        let mut buf = [0u8; 2];
        // SAFETY: a valid 2-byte buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 2) };
        assert_eq!(n, 2, "{}", std::io::Error::last_os_error());
        buf
    });
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(30));
        peer.write_all(b"ok").unwrap();
        peer
    });
    let got = grove::with_timeout(Duration::from_secs(5), || reader.join().unwrap());
    drop(writer.join());
    got
}

#[test]
fn an_fd_replaced_behind_the_hooks_back_gets_a_fresh_registration() {
    util::patch();
    let (c1, s1) = util::tcp_pair();
    let fd = c1.as_raw_fd();
    assert_eq!(read_when_written(fd, s1.try_clone().unwrap()), Ok(*b"ok"));
    // The raw system call: no hook sees the number change files.
    let (c2, s2) = util::tcp_pair();
    // SAFETY: replaces `fd` (c1's) with a duplicate of c2's socket.
    let r = unsafe { libc::syscall(libc::SYS_dup3, c2.as_raw_fd(), fd, 0) };
    assert_eq!(r, fd as libc::c_long);
    assert_eq!(
        read_when_written(fd, s2),
        Ok(*b"ok"),
        "the wait used the old file's registration"
    );
    drop((c1, c2, s1));
}

#[test]
fn grove_takes_over_an_fd_the_hooks_kept_registered() {
    util::patch();
    let (client, server) = util::tcp_pair();
    let fd = client.as_raw_fd();
    assert_eq!(
        read_when_written(fd, server.try_clone().unwrap()),
        Ok(*b"ok")
    );
    // Now hand the std stream to grove: it registers the same fd.
    let g = grove::spawn(move || {
        let mut stream = grove::net::TcpStream::from_std(client).unwrap();
        let mut buf = [0u8; 2];
        stream
            .read_exact(&mut buf)
            .map(|()| buf)
            .map_err(|e| e.kind())
    });
    (&server).write_all(b"hi").unwrap();
    assert_eq!(g.join().unwrap(), Ok(*b"hi"));
}

#[test]
fn msg_waitall_and_peek_keep_their_meaning() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let reader = grove::spawn(move || {
        // std's `peek` is recv(MSG_PEEK): it parks until data, takes none.
        let mut peeked = [0u8; 2];
        let n = client.peek(&mut peeked).unwrap();
        assert_eq!(&peeked[..n], &b"ab"[..n]);
        // MSG_WAITALL: all four bytes, across the writer's two sends.
        let mut buf = [0u8; 4];
        // SAFETY: a valid 4-byte buffer.
        let r = unsafe {
            libc::recv(
                client.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                4,
                libc::MSG_WAITALL,
            )
        };
        (r, buf)
    });
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(20));
        server.write_all(b"ab").unwrap();
        grove::sleep(Duration::from_millis(30));
        server.write_all(b"cd").unwrap();
        server
    });
    assert_eq!(reader.join().unwrap(), (4, *b"abcd"));
    drop(writer.join().unwrap());
}
