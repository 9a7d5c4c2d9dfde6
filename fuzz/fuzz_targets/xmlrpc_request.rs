//! grove-xmlrpc's request handling, fed arbitrary bytes: the first byte
//! picks the request's `Content-Encoding` (identity or gzip) and whether
//! the client accepts gzip; the rest is the body, run through everything a
//! request reaches after HTTP framing — gzip decoding, the guard
//! (depth, DOCTYPE, encoding), dxr's parser, the registry's dispatch with
//! its conversions, and the response's serialisation.
//!
//! Checked: nothing panics or overflows the stack; the reply is a 200,
//! 400, 413 or 501; a 200 is a well-formed `methodResponse` that our own
//! client reads back (a value or a fault).
#![no_main]

use grove_xmlrpc::{gzip, methods, wire, Head, Service};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SERVICE: Service = Service::new(methods::registry());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let head = Head {
        method: "POST",
        path: "/RPC2",
        content_encoding: (mode & 1 == 1).then_some(&b"gzip"[..]),
        accept_encoding: (mode & 2 == 2).then_some(&b"gzip"[..]),
    };
    let reply = SERVICE.with(|s| s.respond(&head, body.to_vec()));
    assert!(matches!(reply.status, 200 | 400 | 413 | 501), "{}", reply.status);
    if reply.status == 200 {
        let xml = if reply.gzipped {
            gzip::decode(&reply.body, grove_xmlrpc::client::MAX_RESPONSE).expect("our own gzip decodes")
        } else {
            reply.body
        };
        if let Err(e) = wire::parse_response(xml) {
            panic!("the server wrote a response its client cannot read: {e}");
        }
    }
});
