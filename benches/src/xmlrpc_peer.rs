//! The Rust XML-RPC peer: what a Rust user would pick instead of
//! grove-xmlrpc — dxr's own server (`dxr_server` with its `axum` feature:
//! axum on hyper), on tokio's current-thread runtime so that it has one core,
//! like every other subject of the XML-RPC rows. It serves the same three
//! methods as grove-xmlrpc and the Python peers (`add`, `gen`, `echo`) on
//! `/RPC2`, with dxr_server's defaults: HTTP/1.1 keep-alive (hyper's), no
//! gzip (dxr_server has none, so its `gen(2048)` answers are never
//! compressed, whatever the client accepts). Run by `harness serve-http
//! dxr-axum PORT [LIFETIME_S]`.

use std::net::SocketAddr;

use dxr::{Fault, TryFromParams, Value};
use dxr_server::axum::http::HeaderMap;
use dxr_server::{HandlerFn, HandlerResult, RouteBuilder, Server};

/// `add(a, b)`: the sum of two `i4`s (a fault when it overflows one).
fn add(params: &[Value], _headers: HeaderMap) -> HandlerResult {
    let (a, b) = <(i32, i32)>::try_from_params(params)?;
    a.checked_add(b)
        .map(Value::Integer)
        .ok_or_else(|| Fault::new(1, format!("add({a}, {b}) overflows an i4")))
}

/// `gen(n)`: a string of `n` zeros.
fn gen(params: &[Value], _headers: HeaderMap) -> HandlerResult {
    let (n,) = <(i32,)>::try_from_params(params)?;
    let n = usize::try_from(n).map_err(|_| Fault::new(1, format!("gen({n}): negative")))?;
    Ok(Value::String("0".repeat(n)))
}

/// `echo(x)`: its argument.
fn echo(params: &[Value], _headers: HeaderMap) -> HandlerResult {
    let (x,) = <(Value,)>::try_from_params(params)?;
    Ok(x)
}

/// Serves until the process ends (the caller set up the watchdogs).
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    let route = RouteBuilder::new()
        .set_path("/RPC2")
        .add_method("add", Box::new(add as HandlerFn))
        .add_method("gen", Box::new(gen as HandlerFn))
        .add_method("echo", Box::new(echo as HandlerFn))
        .build();
    let rt = crate::subjects::tokio::io_runtime();
    rt.block_on(async move {
        let listener = crate::http_servers::listen(addr).await?;
        Server::from_route(route)
            .serve_listener(listener)
            .await
            .map_err(|e| format!("dxr_server: {e}"))
    })
}
