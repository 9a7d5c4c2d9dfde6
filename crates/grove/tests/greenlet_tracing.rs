//! Feature `tracing`: one span per greenlet, entered while it runs, and
//! events for spawn, exit, panic, kill and timeout — seen by a subscriber
//! that records what it is told.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Fields of a span or event as `k=v` words.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    log: Mutex<Vec<String>>,
    /// Entered spans of the (one) thread, innermost last.
    stack: Mutex<Vec<u64>>,
    /// Span id -> (description, handle count).
    spans: Mutex<HashMap<u64, (String, usize)>>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Inner>);

impl Recorder {
    fn log(&self) -> Vec<String> {
        self.0.log.lock().unwrap().clone()
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let desc = format!("{}{}", attrs.metadata().name(), fields.0);
        self.0.log.lock().unwrap().push(format!("new {desc}"));
        self.0.spans.lock().unwrap().insert(id, (desc, 1));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = self.0.spans.lock().unwrap();
        let parent = event
            .parent()
            .map(Id::into_u64)
            .or_else(|| self.0.stack.lock().unwrap().last().copied());
        let within = parent
            .and_then(|p| spans.get(&p))
            .map_or("none".to_owned(), |(d, _)| d.clone());
        self.0
            .log
            .lock()
            .unwrap()
            .push(format!("event{} in [{within}]", fields.0));
    }
    fn enter(&self, span: &Id) {
        self.0.stack.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut stack = self.0.stack.lock().unwrap();
        if let Some(at) = stack.iter().rposition(|&s| s == span.into_u64()) {
            stack.remove(at);
        }
    }
    fn clone_span(&self, id: &Id) -> Id {
        if let Some(entry) = self.0.spans.lock().unwrap().get_mut(&id.into_u64()) {
            entry.1 += 1;
        }
        id.clone()
    }
    fn try_close(&self, id: Id) -> bool {
        let mut spans = self.0.spans.lock().unwrap();
        let Some(entry) = spans.get_mut(&id.into_u64()) else {
            return false;
        };
        entry.1 -= 1;
        if entry.1 > 0 {
            return false;
        }
        let desc = entry.0.clone();
        drop(spans);
        self.0.log.lock().unwrap().push(format!("close {desc}"));
        true
    }
}

fn has(log: &[String], prefix: &str, parts: &[&str]) -> bool {
    log.iter()
        .any(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)))
}

#[test]
fn greenlets_have_spans_and_lifecycle_events() {
    let recorder = Recorder::default();
    let (ok_id, boom_id, victim_id, slow_id) =
        tracing::subscriber::with_default(recorder.clone(), || {
            let ok = grove::Builder::new()
                .name("ok")
                .spawn(|| {
                    grove::yield_now();
                    tracing::info!(step = 2u64, "inside");
                })
                .unwrap();
            let boom = grove::Builder::new()
                .name("boom")
                .spawn(|| panic!("kaboom"))
                .unwrap();
            let victim = grove::Builder::new()
                .name("victim")
                .spawn(|| grove::sleep(Duration::from_secs(3600)))
                .unwrap();
            let slow = grove::Builder::new()
                .name("slow")
                .spawn(|| {
                    let r = grove::with_timeout(Duration::from_millis(5), || {
                        grove::sleep(Duration::from_secs(3600))
                    });
                    assert!(r.is_err());
                })
                .unwrap();
            let ids = (ok.id(), boom.id(), victim.id(), slow.id());
            ok.join().unwrap();
            assert!(boom.join().is_err());
            grove::yield_now();
            victim.kill();
            slow.join().unwrap();
            ids
        });
    let log = recorder.log();
    let text = log.join("\n");
    for (id, name) in [
        (ok_id, "ok"),
        (boom_id, "boom"),
        (victim_id, "victim"),
        (slow_id, "slow"),
    ] {
        let span = format!("greenlet id={id} name={name} parent=");
        assert!(has(&log, "new ", &[&span]), "no span for {name}:\n{text}");
        assert!(
            has(&log, "event", &[" message=spawn", &span]),
            "no spawn of {name}:\n{text}"
        );
        assert!(
            has(&log, "close ", &[&span]),
            "span of {name} not closed:\n{text}"
        );
    }
    let within = |id: u64, name: &str| format!("[greenlet id={id} name={name} ");
    assert!(
        has(
            &log,
            "event",
            &[" message=inside", " step=2", &within(ok_id, "ok")]
        ),
        "{text}"
    );
    assert!(
        has(&log, "event", &[" message=exit", &within(ok_id, "ok")]),
        "{text}"
    );
    assert!(
        has(
            &log,
            "event",
            &[" message=panic", "kaboom", &within(boom_id, "boom")]
        ),
        "{text}"
    );
    assert!(
        has(
            &log,
            "event",
            &[" message=killed", &within(victim_id, "victim")]
        ),
        "{text}"
    );
    assert!(
        has(
            &log,
            "event",
            &[" message=timeout", " depth=1", &within(slow_id, "slow")]
        ),
        "{text}"
    );
}
