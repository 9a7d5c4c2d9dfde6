//! A trivial DNS-shaped responder on grove: sets the QR bit of each datagram
//! and sends it back. `single` answers with `recv_from`/`send_to`, `batch`
//! with `recv_batch`/`send_batch`. On SIGINT/SIGTERM it prints its CPU time
//! (utime + stime from /proc/self/stat) per datagram.
//!
//! usage: udp-batch-responder single|batch [BATCH] PORT

use std::time::Instant;

use grove::net::{RecvBatch, SendBatch, UdpSocket};

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 (utime, stime), counted from 1 with pid; `after` starts at field 3.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args[1].clone();
    let port: u16 = args.last().unwrap().parse().unwrap();
    let cap: usize = if args.len() > 3 {
        args[2].parse().unwrap()
    } else {
        32
    };
    let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let stop = grove::event::Event::new();
    let _handlers: Vec<_> = [grove::signal::Signal::INT, grove::signal::Signal::TERM]
        .into_iter()
        .map(|sig| {
            let stop = stop.clone();
            grove::signal::on(sig, move || stop.set()).unwrap()
        })
        .collect();
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    let packets = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let calls = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let server = {
        let (packets, calls) = (packets.clone(), calls.clone());
        grove::spawn(move || {
            if mode == "batch" {
                let mut rx = RecvBatch::new(cap, 512);
                let mut tx = SendBatch::with_capacity(cap, cap * 512);
                let mut q = [0u8; 512];
                loop {
                    let n = socket.recv_batch(&mut rx).unwrap();
                    for d in &rx {
                        let q = &mut q[..d.data().len()];
                        q.copy_from_slice(d.data());
                        q[2] |= 0x80;
                        tx.push(q, d.addr());
                    }
                    while !tx.is_empty() {
                        let _ = socket.send_batch(&mut tx);
                    }
                    packets.set(packets.get() + n as u64);
                    calls.set(calls.get() + 1);
                }
            } else {
                let mut buf = [0u8; 512];
                loop {
                    let (n, peer) = socket.recv_from(&mut buf).unwrap();
                    buf[2] |= 0x80;
                    let _ = socket.send_to(&buf[..n], peer);
                    packets.set(packets.get() + 1);
                    calls.set(calls.get() + 1);
                }
            }
        })
    };
    stop.wait();
    let (cpu, wall) = (cpu_secs() - cpu0, t0.elapsed());
    server.kill();
    let p = packets.get().max(1);
    eprintln!(
        "{} cap={cap} packets={} avg_batch={:.2} cpu={cpu:.2}s wall={:.2}s cpu/pkt={:.3}us pps={:.0}",
        args[1],
        packets.get(),
        p as f64 / calls.get().max(1) as f64,
        wall.as_secs_f64(),
        cpu * 1e6 / p as f64,
        p as f64 / wall.as_secs_f64(),
    );
}
