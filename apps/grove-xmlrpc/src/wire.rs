//! The XML of calls and responses: dxr reads and writes it; this module
//! guards what dxr is given.
//!
//! dxr deserialises with serde, recursively: a value nested 100,000 deep
//! would overflow any stack, and a greenlet's most of all. So before dxr
//! sees a document, one linear scan ([`check`]) bounds its element depth
//! ([`MAX_DEPTH`]), refuses `<!DOCTYPE` and every other markup declaration
//! (no entity is ever expanded, no external entity fetched: "billion
//! laughs" and XXE are refused, not defused), and makes the bytes UTF-8
//! (ISO-8859-1 requests, which Python's client sends when told to, are
//! transcoded; other declared encodings are refused). dxr's errors echo the
//! whole document; the faults here say what was wrong in a line instead.

use std::panic;

use dxr::{Fault, FaultResponse, MethodCall, MethodResponse, Value};
use grove::GreenletError;

use crate::fault;

/// Deepest element nesting accepted in a document: a `methodCall` with its
/// value takes 5 levels and each array or struct 3 more, so this admits
/// values nested about 40 deep — as deep as dxr's parser (quick-xml's
/// default recursion limit of 128) reads. dxr's recursive parser,
/// serialiser and drop stay within the server's connection stack
/// ([`crate::server::STACK_SIZE`]) at this depth, in debug builds too.
pub const MAX_DEPTH: usize = 128;

/// The stack dxr needs to read or write a document of [`MAX_DEPTH`]:
/// 256 KiB, and 1 MiB in debug builds, whose serde frames are several
/// times larger. Stacks are committed as they are touched: the size is
/// address space, not memory.
pub const DEEP_STACK: usize = if cfg!(debug_assertions) {
    1 << 20
} else {
    256 << 10
};

/// Documents at most this deep are handled on the caller's stack, even a
/// default 60 KiB greenlet's: a call or response with a scalar value.
/// Deeper ones go to a greenlet with [`DEEP_STACK`] ([`with_room`]).
const SHALLOW: usize = 6;

/// The declaration the responses start with.
const XML_DECL: &str = "<?xml version=\"1.0\"?>\n";

/// Reads a `methodCall`: the method's name and its arguments.
pub fn parse_call(body: &[u8]) -> Result<(String, Vec<Value>), Fault> {
    let text = utf8(body)?;
    check(&text)?;
    let call = MethodCall::from_xml(&text).map_err(|_| {
        fault::new(
            fault::PARSE_ERROR,
            "the request is not a well-formed XML-RPC methodCall",
        )
    })?;
    Ok((call.name.into_owned(), call.params))
}

/// Writes a `methodResponse` carrying `result`'s value or fault.
pub fn write_response(result: Result<Value, Fault>) -> Vec<u8> {
    let xml = match result {
        Ok(value) => MethodResponse { value }.to_xml(),
        Err(fault) => FaultResponse { fault }.to_xml(),
    };
    match xml {
        Ok(xml) => with_decl(&xml),
        // dxr refuses what XML cannot carry; say so instead.
        Err(e) => write_response(Err(fault::internal(format!(
            "the result cannot be written as XML: {e}"
        )))),
    }
}

/// Writes a `methodCall`. Safe on any stack, as [`parse_response`].
pub fn write_call(name: &str, params: Vec<Value>) -> Result<Vec<u8>, Fault> {
    let depth = 5 + params.iter().map(value_depth).max().unwrap_or(0);
    let name = name.to_owned();
    with_room(depth, move || {
        MethodCall {
            name: name.into(),
            params,
        }
        .to_xml()
        .map(|xml| with_decl(&xml))
        .map_err(|e| fault::internal(format!("the call cannot be written as XML: {e}")))
    })
}

/// The XML elements a value nests (`<value><int>` is 2).
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 3 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Struct(members) => 3 + members.values().map(value_depth).max().unwrap_or(0),
        _ => 2,
    }
}

/// Runs `f` where dxr's recursion has room: inline for a shallow document
/// or on a thread's own stack, else on a fresh greenlet with
/// [`DEEP_STACK`] (a spawn and a join: about a tenth of a microsecond, and
/// only for deep documents).
///
/// # Panics
/// If no stack can be had for that greenlet (as `grove::spawn`).
pub fn with_room<T: 'static>(depth: usize, f: impl FnOnce() -> T + 'static) -> T {
    if depth <= SHALLOW || grove::current_id().is_none() {
        return f();
    }
    let helper = grove::Builder::new()
        .name("grove-xmlrpc xml")
        .stack_size(DEEP_STACK)
        .spawn(f)
        .expect("grove-xmlrpc: no stack for reading XML");
    match helper.join() {
        Ok(value) => value,
        Err(GreenletError::Panicked(payload)) => panic::resume_unwind(payload),
        Err(e) => panic!("grove-xmlrpc: the XML greenlet ended: {e}"),
    }
}

/// Reads a `methodResponse`: `Ok` holds the value or the server's fault;
/// `Err` says why the document is not a response. Safe on any stack: a
/// deep document is read on a greenlet of its own ([`with_room`]).
pub fn parse_response(body: Vec<u8>) -> Result<Result<Value, Fault>, String> {
    let text = utf8(&body).map_err(|f| f.string().to_owned())?;
    let depth = check(&text).map_err(|f| f.string().to_owned())?;
    if depth <= SHALLOW {
        return read_response(&text);
    }
    let text = text.into_owned();
    with_room(depth, move || read_response(&text))
}

fn read_response(text: &str) -> Result<Result<Value, Fault>, String> {
    if text.contains("<fault>") {
        if let Ok(f) = FaultResponse::from_xml(text) {
            return Ok(Err(f.fault));
        }
    }
    match MethodResponse::from_xml(text) {
        Ok(r) => Ok(Ok(r.value)),
        Err(_) => Err("the response is not a well-formed XML-RPC methodResponse".into()),
    }
}

fn with_decl(xml: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(XML_DECL.len() + xml.len());
    out.extend_from_slice(XML_DECL.as_bytes());
    out.extend_from_slice(xml.as_bytes());
    out
}

/// The document as UTF-8, transcoded from ISO-8859-1 if it says so.
fn utf8(body: &[u8]) -> Result<std::borrow::Cow<'_, str>, Fault> {
    let latin1 = match declared_encoding(body) {
        None => false,
        Some(enc) => match enc.to_ascii_lowercase().as_slice() {
            b"utf-8" | b"utf8" | b"us-ascii" | b"ascii" => false,
            b"iso-8859-1" | b"latin-1" | b"latin1" => true,
            _ => {
                return Err(fault::new(
                    fault::UNSUPPORTED_ENCODING,
                    format!(
                        "encoding {:?} is not supported (use UTF-8)",
                        String::from_utf8_lossy(enc)
                    ),
                ))
            }
        },
    };
    if latin1 {
        return Ok(body
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into());
    }
    std::str::from_utf8(body)
        .map(Into::into)
        .map_err(|e| fault::new(fault::PARSE_ERROR, format!("the request is not UTF-8: {e}")))
}

/// The `encoding` of a leading `<?xml …?>` declaration.
fn declared_encoding(body: &[u8]) -> Option<&[u8]> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let decl = body.strip_prefix(b"<?xml")?;
    let decl = &decl[..find(decl, b"?>")?];
    let at = find(decl, b"encoding")?;
    let rest = &decl[at + b"encoding".len()..];
    let eq = rest.iter().position(|&b| b == b'=')?;
    let rest = rest[eq + 1..].trim_ascii_start();
    let quote = *rest.first()?;
    let value = &rest[1..];
    let end = value.iter().position(|&b| b == quote)?;
    Some(&value[..end])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The guard run before dxr: bounded depth, no markup declarations.
/// Returns the deepest element nesting seen.
pub fn check(text: &str) -> Result<usize, Fault> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        i += off;
        let rest = &b[i..];
        let skip_to = |end: &[u8]| find(&b[i..], end).map(|at| i + at + end.len());
        i = if rest.starts_with(b"<!--") {
            skip_to(b"-->").unwrap_or(b.len())
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>").unwrap_or(b.len())
        } else if rest.starts_with(b"<!") {
            return Err(fault::new(
                fault::PARSE_ERROR,
                "DOCTYPE and entity declarations are not accepted",
            ));
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>").unwrap_or(b.len())
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i + 2
        } else {
            let end = tag_end(b, i);
            if end <= i || b[end - 1] != b'/' {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > MAX_DEPTH {
                    return Err(fault::new(
                        fault::INVALID_XMLRPC,
                        format!("values nest deeper than this server accepts ({MAX_DEPTH} XML elements)"),
                    ));
                }
            }
            end + 1
        };
        if i >= b.len() {
            break;
        }
    }
    Ok(deepest)
}

/// The index of the `>` closing the tag that opens at `start` (quotes
/// respected), or the last index if it never closes (the parser reports
/// that).
fn tag_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(off) = memchr::memchr3(b'>', b'"', b'\'', &b[i.min(b.len())..]) {
        let at = i + off;
        if b[at] == b'>' {
            return at;
        }
        // Skip the quoted attribute value.
        match memchr::memchr(b[at], &b[at + 1..]) {
            Some(close) => i = at + 1 + close + 1,
            None => break,
        }
    }
    b.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        let mut s = String::from("<methodCall><methodName>echo</methodName><params><param>");
        s.push_str(&"<value><array><data>".repeat(depth));
        s.push_str(&"</data></array></value>".repeat(depth));
        s.push_str("</param></params></methodCall>");
        s
    }

    #[test]
    fn python_call_parses() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>gen</methodName>\n<params>\n<param>\n<value><int>2048</int></value>\n</param>\n</params>\n</methodCall>\n";
        assert_eq!(
            parse_call(body.as_bytes()),
            Ok(("gen".into(), vec![Value::Integer(2048)]))
        );
    }

    #[test]
    fn depth_is_bounded_before_dxr() {
        let ok = parse_call(nested(41).as_bytes());
        assert!(ok.is_ok(), "{ok:?}");
        for depth in [42, 100_000] {
            let f = parse_call(nested(depth).as_bytes()).unwrap_err();
            assert_eq!(f.code(), fault::INVALID_XMLRPC, "{f:?}");
        }
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><methodCall><methodName>echo</methodName><params><param><value>&lol2;</value></param></params></methodCall>";
        let f = parse_call(laughs.as_bytes()).unwrap_err();
        assert_eq!(f.code(), fault::PARSE_ERROR);
        assert!(f.string().contains("DOCTYPE"));
        let undeclared = "<methodCall><methodName>e</methodName><params><param><value>&x;</value></param></params></methodCall>";
        assert_eq!(
            parse_call(undeclared.as_bytes()).unwrap_err().code(),
            fault::PARSE_ERROR
        );
    }

    #[test]
    fn encodings() {
        let latin = b"<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>e</methodName><params><param><value><string>\xe9</string></value></param></params></methodCall>";
        assert_eq!(
            parse_call(latin).unwrap().1,
            vec![Value::String("\u{e9}".into())]
        );
        let ebcdic = b"<?xml version='1.0' encoding='cp500'?><methodCall/>";
        assert_eq!(
            parse_call(ebcdic).unwrap_err().code(),
            fault::UNSUPPORTED_ENCODING
        );
        assert_eq!(
            parse_call(b"<methodCall>\xff</methodCall>")
                .unwrap_err()
                .code(),
            fault::PARSE_ERROR
        );
    }

    #[test]
    fn comments_cdata_and_truncation() {
        let c = "<methodCall><!-- <a><b> --><methodName>e</methodName><params><param><value><string><![CDATA[<<]]></string></value></param></params></methodCall>";
        assert_eq!(
            parse_call(c.as_bytes()).unwrap().1,
            vec![Value::String("<<".into())]
        );
        let truncated = "<methodCall><methodName>e</methodName><params><param><value><string>x";
        assert_eq!(
            parse_call(truncated.as_bytes()).unwrap_err().code(),
            fault::PARSE_ERROR
        );
        assert_eq!(parse_call(b"<").unwrap_err().code(), fault::PARSE_ERROR);
        assert_eq!(parse_call(b"").unwrap_err().code(), fault::PARSE_ERROR);
    }

    #[test]
    fn tags_with_quoted_angles() {
        assert_eq!(check("<a x='>'><b y=\"a>b\"/></a>"), Ok(1));
        assert_eq!(check("<a x='>"), Ok(1));
        assert_eq!(check("<"), Ok(1));
    }

    #[test]
    fn responses_round_trip() {
        let ok = Ok(Value::String("0".repeat(5)));
        assert_eq!(parse_response(write_response(ok.clone())), Ok(ok));
        let err = Err(Fault::new(7, "no <way>".into()));
        assert_eq!(parse_response(write_response(err.clone())), Ok(err));
        assert!(parse_response(b"<html/>".to_vec()).is_err());
    }
}
