//! Fault codes: the "specification for fault code interoperability" that
//! Python's `xmlrpc.client` names (`PARSE_ERROR`, `METHOD_NOT_FOUND`, …).
//!
//! Python's `SimpleXMLRPCServer` answers every failure with code 1 and the
//! exception's text; grove-xmlrpc keeps the text's role (a message a person
//! can act on) but says which kind of failure it was in the code, so a
//! client can tell "no such method" from "your XML is broken" without
//! parsing strings. A [`Fault`] a method returns itself keeps its own code.

pub use dxr::Fault;

/// The request is not well-formed XML (or not UTF-8, or uses a DOCTYPE).
pub const PARSE_ERROR: i32 = -32700;
/// The XML declaration names an encoding the server does not read.
pub const UNSUPPORTED_ENCODING: i32 = -32701;
/// Well-formed XML that is not an XML-RPC `methodCall` (or nests deeper
/// than the server allows).
pub const INVALID_XMLRPC: i32 = -32600;
/// No method of that name.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Wrong number or types of arguments.
pub const INVALID_PARAMS: i32 = -32602;
/// The server could not produce a response (a result XML-RPC cannot carry).
pub const INTERNAL_ERROR: i32 = -32603;
/// The method itself failed (it panicked).
pub const APPLICATION_ERROR: i32 = -32500;

pub(crate) fn new(code: i32, message: impl Into<String>) -> Fault {
    Fault::new(code, message.into())
}

pub(crate) fn internal(message: impl Into<String>) -> Fault {
    new(INTERNAL_ERROR, message)
}
