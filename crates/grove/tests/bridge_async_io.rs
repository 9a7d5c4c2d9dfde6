//! `futures-io` `AsyncRead`/`AsyncWrite` on grove sockets, polled on the hub.

use std::time::Duration;

// Both `std::io` and the async extension traits name `read_exact` and
// `write_all`: each is imported where it is used.
use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _};
use futures_util::stream::{FuturesUnordered, StreamExt};
use grove::net::{TcpListener, TcpStream, UnixStream};

fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    grove::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            if n == 0 {
                return;
            }
            std::io::Write::write_all(&mut conn, &buf[..n]).unwrap();
        }
    });
    addr
}

#[test]
fn a_megabyte_round_trips_over_tcp_inside_block_on() {
    let addr = echo_server();
    let client = grove::spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        let reader = stream.try_clone().unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        // Writer and reader as two async tasks of one future: the writer
        // fills the socket buffers long before the reader drains them.
        let (mut w, mut r) = (stream, reader);
        let got = grove::block_on(async move {
            let write = async {
                w.write_all(&data).await.unwrap();
                w.close().await.unwrap();
            };
            let read = async {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            };
            futures_util::future::join(write, read).await.1
        });
        assert_eq!(got.len(), expected.len());
        got == expected
    });
    assert!(client.join().unwrap());
}

#[test]
fn a_read_waits_for_data_while_the_hub_runs_others() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(20));
        std::io::Write::write_all(&mut b, b"hello").unwrap();
        b
    });
    let mut a = a;
    let mut buf = [0; 5];
    grove::block_on(a.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"hello");
    drop(writer.join().unwrap());
    let mut rest = Vec::new();
    grove::block_on(a.read_to_end(&mut rest)).unwrap();
    assert!(rest.is_empty());
}

async fn read_one(stream: &mut UnixStream) -> u8 {
    let mut b = [0; 1];
    stream.read_exact(&mut b).await.unwrap();
    b[0]
}

#[test]
fn a_wrapped_waker_is_woken_by_a_helper_greenlet() {
    let (mut a1, mut b1) = UnixStream::pair().unwrap();
    let (mut a2, mut b2) = UnixStream::pair().unwrap();
    grove::spawn(move || {
        grove::sleep(Duration::from_millis(10));
        std::io::Write::write_all(&mut b2, b"2").unwrap();
        grove::sleep(Duration::from_millis(10));
        std::io::Write::write_all(&mut b1, b"1").unwrap();
        (b1, b2)
    });
    let order = grove::block_on(async {
        let mut reads = FuturesUnordered::new();
        reads.push(read_one(&mut a1));
        reads.push(read_one(&mut a2));
        let mut order = Vec::new();
        while let Some(b) = reads.next().await {
            order.push(b);
        }
        order
    });
    assert_eq!(order, b"21");
}

#[test]
fn a_timed_out_async_read_leaves_the_socket_usable() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let r = grove::with_timeout(Duration::from_millis(5), || {
        let mut buf = [0; 1];
        grove::block_on(a.read_exact(&mut buf))
    });
    assert!(r.is_err());
    std::io::Write::write_all(&mut b, b"x").unwrap();
    let mut buf = [0; 1];
    grove::block_on(a.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"x");
}
