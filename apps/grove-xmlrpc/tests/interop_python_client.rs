//! Python's `xmlrpc.client` — the real client — against every mode of the
//! `grove-xmlrpc` binary (`tests/python/client_interop.py` holds the
//! checks: value round trips, faults, MultiCall, gzip, HTTP answers,
//! keep-alive).

mod util;

use util::{python, script, Server};

fn interop(mode: &str) {
    let server = Server::start(mode);
    let out = python(&[
        script("client_interop.py").to_str().unwrap(),
        &server.url(),
        mode,
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}

#[test]
fn greenlets() {
    interop("greenlets");
}

#[test]
fn threads() {
    interop("threads");
}

#[test]
fn single() {
    interop("single");
}

/// The writing's third form: the threads mode's std::net code in greenlets
/// under grove-monkey's `patch_all()`.
#[cfg(feature = "monkey")]
#[test]
fn monkey() {
    interop("monkey");
}
