//! Serving on several threads (one hub and one SO_REUSEPORT listener each).

mod util;

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};
use util::*;

#[test]
fn serve_threads_spreads_connections_over_its_threads() {
    // Each thread's handler says which thread it runs on; the handler is
    // built per thread (an Rc inside: not Send).
    let s = Server::builder()
        .serve_threads("127.0.0.1:0", 3, || {
            let name = std::rc::Rc::new(std::thread::current().name().unwrap_or("?").to_owned());
            move |_req: Request<Body>| Response::new(Body::from(name.to_string()))
        })
        .unwrap();
    let mut threads = HashSet::new();
    for _ in 0..200 {
        let reply = exchange(
            s.local_addr(),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let (_, name) = reply.split_once("\r\n\r\n").unwrap();
        assert!(name.starts_with("grove-http-"), "{name}");
        threads.insert(name.to_owned());
        if threads.len() == 3 {
            break;
        }
    }
    assert_eq!(threads.len(), 3, "connections reached only {threads:?}");
    // Keep-alive works per connection whatever the thread.
    let mut conn = connect(s.local_addr());
    for _ in 0..3 {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (head, _) = read_response(&mut conn);
        assert!(head.starts_with("HTTP/1.1 200 OK"));
    }
    let addr = s.local_addr();
    s.stop(Duration::from_secs(1));
    assert!(std::net::TcpStream::connect(addr).is_err());
}
