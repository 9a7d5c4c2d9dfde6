//! Sockets with timeouts: `connect_timeout` bounds a connect,
//! `set_read_timeout` bounds each read (as std's do), and `with_timeout`
//! bounds a whole exchange, however many calls it makes. Only the waiting
//! greenlet waits; the hub keeps serving the others.
//!
//! ```text
//! cargo run -p grove-rt --example socket_timeouts
//! ```
//!
//! Prints:
//!
//! ```text
//! connected: the server says "hello"
//! the next read: TimedOut after the 200 ms read timeout
//! the whole exchange: Err(Timeout)
//! a closed port: ConnectionRefused
//! ```

use std::io::{self, BufRead, BufReader, Read};
use std::time::Duration;

use grove::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    // A server that greets, then never says anything again.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    grove::spawn(move || {
        while let Ok((mut conn, _)) = listener.accept() {
            grove::spawn(move || {
                let _ = io::Write::write_all(&mut conn, b"hello\n");
                grove::sleep(Duration::from_secs(3600));
            });
        }
    });

    // connect_timeout: one address, no name lookup, bounded handshake.
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    // set_read_timeout: each read waits at most this long.
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    println!("connected: the server says {:?}", line.trim_end());
    let err = reader.read(&mut [0; 64]).unwrap_err();
    println!(
        "the next read: {:?} after the 200 ms read timeout",
        err.kind()
    );

    // with_timeout: a deadline for everything inside, reads included.
    let exchange = grove::with_timeout(Duration::from_millis(300), || {
        let mut conn = TcpStream::connect(addr).expect("connect");
        conn.set_read_timeout(None).expect("no per-read timeout");
        let mut all = Vec::new();
        conn.read_to_end(&mut all) // would wait an hour
    });
    println!("the whole exchange: {:?}", exchange.map(|_| ()));

    // Nothing listens on the port any more once its listener is gone.
    let closed = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let refused = TcpStream::connect_timeout(&closed, Duration::from_secs(2)).unwrap_err();
    println!("a closed port: {:?}", refused.kind());
    Ok(())
}
