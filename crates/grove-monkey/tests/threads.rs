//! Hooked calls across OS threads: one socket used by greenlets of two
//! threads' hubs at once, and a thread that ends (its hub torn down) while
//! one of its greenlets is parked in a hooked call.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn two_threads_hubs_wait_on_the_same_socket() {
    util::patch();
    let (client, server) = util::tcp_pair();
    let reader_side = client.try_clone().unwrap();
    // Thread B: a greenlet parked in a hooked read of the shared socket.
    let b = std::thread::spawn(move || {
        grove::spawn(move || {
            let mut buf = [0u8; 4];
            (&reader_side)
                .read_exact(&mut buf)
                .map(|()| buf)
                .map_err(|e| e.kind())
        })
        .join()
        .unwrap()
    });
    // This thread: a greenlet writes through the same file description
    // and answers what the peer sends back.
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(30));
        (&client).write_all(b"ping").unwrap();
        let mut server = server;
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").unwrap();
        (client, server)
    });
    let _keep = writer.join().unwrap();
    assert_eq!(b.join().unwrap(), Ok(*b"pong"));
}

#[test]
fn a_thread_ending_with_a_greenlet_parked_in_a_hook_tears_down_cleanly() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let parked = client.try_clone().unwrap();
    std::thread::spawn(move || {
        // Never joined: still parked in `read` when the thread ends; grove
        // leaks it with its stack, and the hook's registration goes with
        // the thread's hub.
        grove::spawn(move || {
            let mut buf = [0u8; 1];
            let _ = (&parked).read(&mut buf);
        });
        grove::sleep(Duration::from_millis(20));
    })
    .join()
    .unwrap();
    // The socket still works here, and the parked read took nothing.
    server.write_all(b"after").unwrap();
    let got = grove::spawn(move || {
        let mut buf = [0u8; 5];
        (&client).read_exact(&mut buf).unwrap();
        buf
    })
    .join()
    .unwrap();
    assert_eq!(&got, b"after");
}
