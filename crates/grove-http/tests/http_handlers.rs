//! Handlers: panics, kills and timeouts, graceful stop, many clients,
//! clients that go away, the access log.

mod util;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove_http::http::{Request, Response, StatusCode};
use grove_http::{Body, Server};
use util::*;

fn app(mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/panic" => panic!("handler bug"),
        "/panic-mid-body" => Response::new(Body::from_chunks((0..3).map(|i| {
            assert!(i < 1, "body bug");
            "first chunk"
        }))),
        "/timeout" => {
            let r = grove::with_timeout(Duration::from_millis(50), || {
                grove::sleep(Duration::from_secs(30))
            });
            assert_eq!(r, Err(grove::Timeout));
            let mut response = Response::new(Body::from("gave up"));
            *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            response
        }
        "/slow" => {
            grove::sleep(Duration::from_millis(300));
            Response::new(Body::from("slow done"))
        }
        "/forever" => {
            grove::sleep(Duration::from_secs(3600));
            Response::new(Body::from("never"))
        }
        "/big" => Response::new(Body::from_reader(std::io::repeat(b'z').take(50 << 20))),
        _ => {
            let mut body = Vec::new();
            let _ = req.body_mut().read_to_end(&mut body);
            Response::new(Body::from(format!("ok {}", body.len())))
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_carries_on() {
    let s = serve(Server::builder(), || app);
    let reply = get(s.local_addr(), "/panic");
    assert_eq!(status(&reply), 500, "{reply}");
    assert!(reply.contains("Connection: close"));
    assert_eq!(status(&get(s.local_addr(), "/")), 200);
    // After response bytes went out, a panic can only cut the response short.
    let reply = get(s.local_addr(), "/panic-mid-body");
    assert_eq!(status(&reply), 200);
    assert!(
        reply.contains("first chunk") && !reply.ends_with("0\r\n\r\n"),
        "{reply}"
    );
    assert_eq!(status(&get(s.local_addr(), "/")), 200);
}

#[test]
fn with_timeout_inside_a_handler_works() {
    let s = serve(Server::builder(), || app);
    let started = Instant::now();
    let reply = get(s.local_addr(), "/timeout");
    assert_eq!(status(&reply), 504, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn with_timeout_around_a_handler_cancels_it_without_a_500() {
    // The timeout unwinds through the server's panic catching: the
    // connection just closes, no 500 is made up.
    let s = serve(Server::builder(), || {
        |req: Request<Body>| match grove::with_timeout(Duration::from_millis(100), || app(req)) {
            Ok(response) => response,
            Err(grove::Timeout) => Response::new(Body::from("outer timeout")),
        }
    });
    assert!(get(s.local_addr(), "/forever").ends_with("outer timeout"));
    assert_eq!(status(&get(s.local_addr(), "/")), 200);
}

#[test]
fn stop_is_graceful_and_closes_idle_connections_at_once() {
    let s = serve(Server::builder(), || app);
    let addr = s.local_addr();
    // An idle kept-alive connection.
    let mut idle = connect(addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_response(&mut idle);
    // A request in progress.
    let mut busy = connect(addr);
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let stopper = std::thread::spawn(move || s.stop(Duration::from_secs(10)));
    // The idle one is closed at once, long before the grace period.
    assert_eq!(read_to_close(&mut idle), "");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The busy one is answered, told the connection closes, and closed.
    let reply = read_to_close(&mut busy);
    assert!(reply.ends_with("slow done"), "{reply}");
    assert!(reply.contains("Connection: close"));
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[test]
fn stop_kills_requests_that_outlive_the_grace_period() {
    let s = serve(Server::builder(), || app);
    let mut stuck = connect(s.local_addr());
    stuck
        .write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    s.stop(Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Killed, not answered: no made-up 500.
    assert_eq!(read_to_close(&mut stuck), "");
}

fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    assert!(
        limit.rlim_cur >= want,
        "this test needs {want} fds; the hard limit is {}",
        limit.rlim_max
    );
}

#[test]
fn a_thousand_concurrent_keep_alive_clients() {
    raise_fd_limit(4096);
    let s = serve(Server::builder(), || app);
    let addr = s.local_addr();
    // Clients are greenlets on this thread: all 1000 connected at once.
    let connected = grove::event::Event::new();
    let clients: Vec<_> = (0..1000)
        .map(|i| {
            let connected = connected.clone();
            grove::spawn(move || {
                let mut conn = grove::net::TcpStream::connect(addr).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                connected.wait();
                let mut answers = 0;
                for round in 0..3 {
                    let body = format!("{i}-{round}");
                    write!(
                        conn,
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .unwrap();
                    let expected = format!("ok {}", body.len());
                    let mut reply = Vec::new();
                    let mut buf = [0; 512];
                    while !reply.ends_with(expected.as_bytes()) {
                        let n = conn.read(&mut buf).unwrap();
                        assert!(n > 0, "closed early");
                        reply.extend_from_slice(&buf[..n]);
                    }
                    answers += 1;
                }
                answers
            })
        })
        .collect();
    // Let every client connect before any sends.
    grove::sleep(Duration::from_millis(200));
    connected.set();
    let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 3000);
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_access_log_uses_the_common_log_format() {
    let sink = Sink::default();
    let s = serve(Server::builder().access_log(sink.clone()), || app);
    get(s.local_addr(), "/some/path?x=1");
    exchange(s.local_addr(), b"GARBAGE\r\n\r\n");
    s.stop(Duration::from_secs(1));
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{log}");
    assert!(
        lines[0].contains(" +0000] \"GET /some/path?x=1 HTTP/1.1\" 200 4"),
        "{log}"
    );
    assert!(lines[1].ends_with("\"-\" 400 -"), "{log}");
}

#[test]
fn stack_size_gives_handlers_room_for_big_frames() {
    #[inline(never)]
    fn big_frame(seed: u8) -> usize {
        let mut buf = [seed; 160 * 1024]; // more than grove's 60 KiB default
        std::hint::black_box(&mut buf);
        buf.iter().filter(|&&b| b == seed).count()
    }
    let s = serve(Server::builder().stack_size(256 * 1024), || {
        |_req: Request<Body>| Response::new(Body::from(big_frame(7).to_string()))
    });
    let reply = get(s.local_addr(), "/");
    assert_eq!(status(&reply), 200, "{reply}");
    assert!(reply.ends_with(&(160 * 1024).to_string()), "{reply}");
    s.stop(Duration::from_secs(1));

    // A size grove refuses is an error when the server is made.
    let err = Server::builder()
        .stack_size(1024)
        .bind("127.0.0.1:0", app)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let err = Server::builder()
        .stack_size(1024)
        .serve_threads("127.0.0.1:0", 2, || app)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}
