//! grove-xmlrpc's [`Client`] against Python's own `SimpleXMLRPCServer`
//! (threaded, `tests/python/server.py`), from greenlets.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use grove_xmlrpc::{Client, DateTime, Error, Value};

struct PythonServer {
    child: Child,
    url: String,
}

impl PythonServer {
    fn start(extra: &[&str]) -> PythonServer {
        let mut child = Command::new("python3")
            .arg(util::script("server.py"))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed by the interop tests");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let url = format!("http://127.0.0.1:{}/RPC2", port.trim());
        PythonServer { child, url }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn in_greenlet<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    grove::spawn(f).join().unwrap()
}

#[test]
fn values_round_trip() {
    let server = PythonServer::start(&[]);
    let url = server.url.clone();
    in_greenlet(move || {
        let client = Client::new(&url).unwrap();
        assert_eq!(client.call::<_, i64>("add", (3, 5)).unwrap(), 8);
        assert_eq!(
            client.call::<_, String>("gen", (2048,)).unwrap(),
            "0".repeat(2048)
        );
        let date: DateTime = "18991231T23:59:59".parse().unwrap();
        let mut map = BTreeMap::new();
        map.insert(
            "ünï".to_owned(),
            Value::Array(vec![Value::Nil, Value::Boolean(false)]),
        );
        map.insert("empty".to_owned(), Value::Struct(BTreeMap::new()));
        let values = [
            Value::Nil,
            Value::Integer(i32::MIN),
            Value::String("astral 😀 <&>".into()),
            Value::Double(-0.5),
            Value::DateTime(date),
            Value::Base64((0..=255).collect()),
            Value::Array(vec![]),
            Value::Struct(map),
        ];
        for v in values {
            assert_eq!(client.call_value("echo", vec![v.clone()]).unwrap(), v);
        }
        let echoed: Option<String> = client.call("echo", (None::<String>,)).unwrap();
        assert_eq!(echoed, None);
    });
}

#[test]
fn faults_arrive_typed() {
    let server = PythonServer::start(&[]);
    let url = server.url.clone();
    in_greenlet(move || {
        let client = Client::new(&url).unwrap();
        let fault = |r: Result<Value, Error>| match r {
            Err(Error::Fault(f)) => (f.code(), f.string().to_owned()),
            other => panic!("expected a fault, got {other:?}"),
        };
        let (code, text) = fault(client.call_value("fail", vec![]));
        assert_eq!(code, 1);
        assert!(
            text.contains("ValueError") && text.contains("failing on purpose"),
            "{text}"
        );
        let (_, text) = fault(client.call_value("nope", vec![]));
        assert!(text.contains("not supported"), "{text}");
        // Python reads an i8 but cannot send one back.
        let (_, text) = fault(client.call_value("echo", vec![Value::Long(1 << 40)]));
        assert!(text.contains("OverflowError"), "{text}");
        // A result of the wrong type is the caller's conversion error.
        match client.call::<_, i64>("gen", (3,)) {
            Err(Error::Conversion(what)) => assert!(what.contains("expected int"), "{what}"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn gzip_both_ways_and_multicall() {
    let server = PythonServer::start(&["--http11"]);
    let url = server.url.clone();
    in_greenlet(move || {
        // Requests gzipped past 100 bytes; Python decodes them.
        let client = Client::new(&url).unwrap().gzip_requests(Some(100));
        let big = "z".repeat(50_000);
        assert_eq!(
            client.call::<_, String>("echo", (big.as_str(),)).unwrap(),
            big
        );
        // Python gzips this answer (over 1,400 bytes, and we accept gzip).
        assert_eq!(
            client.call::<_, String>("gen", (100_000,)).unwrap().len(),
            100_000
        );
        let call = |name: &str, params: Vec<Value>| {
            let mut m = BTreeMap::new();
            m.insert("methodName".to_owned(), Value::String(name.into()));
            m.insert("params".to_owned(), Value::Array(params));
            Value::Struct(m)
        };
        let calls = Value::Array(vec![
            call("add", vec![Value::Integer(1), Value::Integer(2)]),
            call("fail", vec![]),
        ]);
        let Value::Array(results) = client.call_value("system.multicall", vec![calls]).unwrap()
        else {
            panic!("multicall answers an array")
        };
        assert_eq!(results[0], Value::Array(vec![Value::Integer(3)]));
        assert!(matches!(&results[1], Value::Struct(m) if m.contains_key("faultCode")));
        let Value::Array(methods) = client.call_value("system.listMethods", vec![]).unwrap() else {
            panic!()
        };
        assert!(methods.contains(&Value::String("gen".into())));
    });
}

#[test]
fn greenlets_wait_together_and_time_out() {
    let server = PythonServer::start(&[]);
    let url = server.url.clone();
    in_greenlet(move || {
        // 50 calls that each take 200 ms on the server, from 50 greenlets
        // sharing one client: together, not one after another.
        let client = std::rc::Rc::new(Client::new(&url).unwrap());
        let start = Instant::now();
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let client = client.clone();
                grove::spawn(move || client.call::<_, f64>("slow", (0.2,)).unwrap())
            })
            .collect();
        for c in calls {
            assert_eq!(c.join().unwrap(), 0.2);
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_millis(200 * 50 / 5),
            "{elapsed:?}: sequential?"
        );

        let impatient = Client::new(&url)
            .unwrap()
            .timeout(Duration::from_millis(200));
        match impatient.call::<_, f64>("slow", (3.0,)) {
            Err(Error::Io(e)) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ),
                "{e}"
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
    });
}

#[test]
fn bad_urls_are_errors() {
    for url in ["ftp://x/", "http://", "http://host:port/", "127.0.0.1:80"] {
        assert!(matches!(Client::new(url), Err(Error::Protocol(_))), "{url}");
    }
    let c = Client::new("http://[::1]:8080").unwrap();
    assert!(format!("{c:?}").contains("http://::1:8080/RPC2"));
}
