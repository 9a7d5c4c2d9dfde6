//! The HTTP peers: servers that answer every request with
//! `Hello world!\r\n` (keep-alive, HTTP/1.1), run by `harness serve-http
//! SUBJECT PORT [LIFETIME_S]`. grove-http's own subject is its `hello_http`
//! example, built from the repository's workspace; Go's and gevent's are in
//! `peers/`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The body every HTTP subject answers with.
pub const BODY: &[u8] = b"Hello world!\r\n";

/// Subjects of `harness serve-http` (`dxr-axum` is the XML-RPC
/// peer, `src/xmlrpc_peer.rs`).
pub const HTTP_SERVERS: &[&str] = &["hyper", "may_minihttp", "monoio", "dxr-axum"];

/// Runs `subject`'s hello server on 127.0.0.1:`port` until stdin closes or
/// `lifetime` passes (the same watchdogs as the echo servers).
pub fn serve(subject: &str, port: u16, lifetime: Duration) -> Result<(), String> {
    crate::loadgen::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    crate::subjects::watchdogs("harness serve-http", lifetime);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match subject {
        "hyper" => hyper_server(addr),
        "may_minihttp" => may_minihttp_server(addr),
        "monoio" => crate::subjects::monoio::http_server(addr),
        "dxr-axum" => crate::xmlrpc_peer::serve(addr),
        _ => Err(format!("no HTTP server for {subject:?}")),
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// hyper 1.x, HTTP/1 only, on tokio's current-thread runtime: one task per
/// connection, as hyper's own hello-world example, with hyper's defaults:
/// keep-alive and the `date` header on, pipelined-response flushing
/// (`http1::Builder::pipeline_flush`) off, so each answer to a pipelined
/// batch is written on its own.
fn hyper_server(addr: SocketAddr) -> Result<(), String> {
    let rt = crate::subjects::tokio::io_runtime();
    rt.block_on(async move {
        let listener = listen(addr).await?;
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(hello))
                            .await;
                    });
                }
                Err(e) => {
                    eprintln!("hyper server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}

/// A tokio listener on `addr`, announced with the `listening PORT` record.
pub(crate) async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("listening {port}");
    Ok(listener)
}

#[derive(Clone)]
struct Hello;

impl may_minihttp::HttpService for Hello {
    fn call(
        &mut self,
        _req: may_minihttp::Request<'_, '_, '_>,
        rsp: &mut may_minihttp::Response<'_>,
    ) -> io::Result<()> {
        rsp.body("Hello world!\r\n");
        Ok(())
    }
}

/// may_minihttp with one may worker thread (`may::config().set_workers(1)`).
fn may_minihttp_server(addr: SocketAddr) -> Result<(), String> {
    may::config().set_workers(1).set_worker_pin(false);
    let server = may_minihttp::HttpServer(Hello)
        .start(addr)
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!("listening {}", addr.port());
    server
        .join()
        .map_err(|_| "may_minihttp server panicked".to_string())
}
