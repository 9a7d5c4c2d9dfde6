//! Many connections on one hub: 1,000 concurrent client greenlets against
//! an echo server greenlet on the same thread.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use grove::net::{TcpListener, TcpStream};

#[test]
fn a_thousand_concurrent_clients_against_an_echo_server_on_the_same_hub() {
    const CLIENTS: usize = 1000;
    const ROUNDS: usize = 5;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = grove::spawn(move || {
        let mut handlers = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let (mut conn, _) = listener.accept().unwrap();
            handlers.push(grove::spawn(move || {
                let mut buf = [0; 256];
                loop {
                    match conn.read(&mut buf).unwrap() {
                        0 => break,
                        n => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
            }));
        }
        grove::joinall(&handlers);
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            grove::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                for round in 0..ROUNDS {
                    let msg = format!("client {i} round {round}");
                    stream.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0; msg.len()];
                    stream.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg.as_bytes());
                    // Everyone is connected at once before anyone finishes.
                    grove::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.join().unwrap();
    eprintln!(
        "{CLIENTS} clients x {ROUNDS} round trips in {:?}",
        start.elapsed()
    );
}
