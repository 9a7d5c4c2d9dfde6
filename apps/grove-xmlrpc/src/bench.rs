//! `grove-xmlrpc bench`: a load client on grove. N greenlets, each with its
//! own [`Client`] (one kept-alive connection, reconnecting when a server
//! closes it), call one method back to back for a duration; a line a
//! second says how it goes, and the end gives calls/s and latency
//! percentiles. Errors (refused or timed-out connections, faults, HTTP
//! errors) are counted, not fatal: a server that gives way under load
//! shows it in the errors column.
//!
//! One thread, one hub: the client costs one core at most, and its CPU
//! time is reported beside the rate, so a reader can tell whether the
//! client or the server set it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use dxr::Value;

use crate::client::Client;

/// A call to make: `gen(2048)`, `add(3, 5)`, `echo("text")`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    /// The method.
    pub method: String,
    /// Its arguments.
    pub params: Vec<Value>,
}

impl FromStr for CallSpec {
    type Err = String;

    /// Parses `name(arg, …)`: integers, decimals, `true`/`false`, and
    /// strings in single or double quotes (no escapes).
    fn from_str(s: &str) -> Result<CallSpec, String> {
        let bad = || format!("{s:?} is not a call like gen(2048) or add(3, 5)");
        let (method, rest) = s.trim().split_once('(').ok_or_else(bad)?;
        let args = rest.strip_suffix(')').ok_or_else(bad)?.trim();
        let params = if args.is_empty() {
            Vec::new()
        } else {
            args.split(',')
                .map(|a| parse_arg(a.trim()).ok_or_else(bad))
                .collect::<Result<_, _>>()?
        };
        if method.is_empty() {
            return Err(bad());
        }
        Ok(CallSpec {
            method: method.trim().to_owned(),
            params,
        })
    }
}

fn parse_arg(a: &str) -> Option<Value> {
    let quoted = |q: char| a.strip_prefix(q)?.strip_suffix(q);
    if let Some(s) = quoted('"').or_else(|| quoted('\'')) {
        return Some(Value::String(s.to_owned()));
    }
    match a {
        "true" | "True" => return Some(Value::Boolean(true)),
        "false" | "False" => return Some(Value::Boolean(false)),
        _ => {}
    }
    if let Ok(n) = a.parse::<i64>() {
        return Some(i32::try_from(n).map_or(Value::Long(n), Value::Integer));
    }
    a.parse::<f64>().ok().map(Value::Double)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, `http://host:port/path`.
    pub url: String,
    /// Greenlets (connections) calling at once.
    pub concurrency: usize,
    /// How long to measure.
    pub duration: Duration,
    /// How long to run before measuring (connections open, caches warm).
    pub warmup: Duration,
    /// The call each greenlet makes.
    pub call: CallSpec,
    /// Whether to ask for gzipped responses (Python's client does).
    pub accept_gzip: bool,
    /// Each call's timeout (connect, and each read and write).
    pub timeout: Duration,
    /// Print a progress line a second on stderr.
    pub progress: bool,
}

/// What a run measured (only calls completed within the timed window).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Calls answered with a result.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// The window's length.
    pub seconds: f64,
    /// `calls / seconds`.
    pub calls_per_sec: f64,
    /// Latency percentiles of the successful calls, in µs.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest call.
    pub max_us: f64,
    /// The client's own CPU time (user + system) in the window.
    pub client_cpu_s: f64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

impl Report {
    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"calls\":{},\"errors\":{},\"seconds\":{:.3},\"calls_per_sec\":{:.1},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1},\"client_cpu_s\":{:.3}}}",
            self.calls, self.errors, self.seconds, self.calls_per_sec, self.p50_us, self.p90_us, self.p99_us, self.max_us, self.client_cpu_s
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} calls in {:.2} s: {:.0} calls/s, {} errors; client CPU {:.0}%",
            self.calls,
            self.seconds,
            self.calls_per_sec,
            self.errors,
            100.0 * self.client_cpu_s / self.seconds.max(1e-9)
        )?;
        write!(
            f,
            "latency µs: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
            self.p50_us, self.p90_us, self.p99_us, self.max_us
        )?;
        if let Some(e) = &self.first_error {
            write!(f, "\nfirst error: {e}")?;
        }
        Ok(())
    }
}

/// Shared by the workers: whether they count, whether they stop, totals.
#[derive(Default)]
struct Tally {
    measuring: Cell<bool>,
    stop: Cell<bool>,
    calls: Cell<u64>,
    errors: Cell<u64>,
    latencies_ns: RefCell<Vec<u64>>,
    first_error: RefCell<Option<String>>,
}

/// Runs the load on this thread's hub and reports.
pub fn run(options: &Options) -> Result<Report, String> {
    Client::new(&options.url).map_err(|e| e.to_string())?;
    let tally = Rc::new(Tally::default());
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|_| {
            let tally = tally.clone();
            let options = options.clone();
            grove::spawn(move || worker(&options, &tally))
        })
        .collect();
    grove::sleep(options.warmup);
    tally.measuring.set(true);
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let mut last = (start, 0u64);
    while start.elapsed() < options.duration {
        let left = options.duration.saturating_sub(start.elapsed());
        grove::sleep(left.min(Duration::from_secs(1)));
        if options.progress {
            let (now, calls) = (Instant::now(), tally.calls.get());
            eprintln!(
                "{:6.1} s  {:>9.0} calls/s  {:>8} errors",
                (now - start).as_secs_f64(),
                (calls - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9),
                tally.errors.get()
            );
            last = (now, calls);
        }
    }
    tally.measuring.set(false);
    tally.stop.set(true);
    let (seconds, client_cpu_s) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu_start);
    // Workers still waiting on a slow server are not waited for.
    for w in &workers {
        w.kill();
    }
    let mut lat = tally.latencies_ns.take();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |&ns| ns as f64 / 1e3)
    };
    let calls = tally.calls.get();
    Ok(Report {
        calls,
        errors: tally.errors.get(),
        seconds,
        calls_per_sec: calls as f64 / seconds,
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: lat.last().map_or(0.0, |&ns| ns as f64 / 1e3),
        client_cpu_s,
        first_error: tally.first_error.take(),
    })
}

fn worker(options: &Options, tally: &Tally) {
    let new_client = || {
        Client::new(&options.url)
            .expect("checked before the workers started")
            .timeout(options.timeout)
            .accept_gzip(options.accept_gzip)
    };
    let client = new_client();
    while !tally.stop.get() {
        let t0 = Instant::now();
        let result = client.call_value(&options.call.method, options.call.params.clone());
        let ns = t0.elapsed().as_nanos() as u64;
        if !tally.measuring.get() {
            if result.is_err() {
                // A server refusing connections: don't spin while warming up.
                grove::sleep(Duration::from_millis(10));
            }
            continue;
        }
        match result {
            Ok(_) => {
                tally.calls.set(tally.calls.get() + 1);
                tally.latencies_ns.borrow_mut().push(ns);
            }
            Err(e) => {
                tally.errors.set(tally.errors.get() + 1);
                tally
                    .first_error
                    .borrow_mut()
                    .get_or_insert_with(|| e.to_string());
                grove::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// This process's CPU time (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are
    // the 14th and 15th fields, in USER_HZ (100 on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_specs() {
        assert_eq!(
            "gen(2048)".parse(),
            Ok(CallSpec {
                method: "gen".into(),
                params: vec![Value::Integer(2048)]
            })
        );
        let add: CallSpec = "add(3, 5)".parse().unwrap();
        assert_eq!(add.params, vec![Value::Integer(3), Value::Integer(5)]);
        let echo: CallSpec = "echo('hi', 1.5, true, 8589934592)".parse().unwrap();
        assert_eq!(
            echo.params,
            vec![
                Value::String("hi".into()),
                Value::Double(1.5),
                Value::Boolean(true),
                Value::Long(1 << 33)
            ]
        );
        assert_eq!(
            "system.listMethods()".parse::<CallSpec>().unwrap().params,
            vec![]
        );
        assert!("gen".parse::<CallSpec>().is_err());
        assert!("gen(x)".parse::<CallSpec>().is_err());
    }
}
