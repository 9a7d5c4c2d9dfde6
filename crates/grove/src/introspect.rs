//! Looking inside this thread's hub: every live greenlet ([`run_info`],
//! [`dump`]) and the hub's counters ([`stats`]).
//!
//! [`run_info`] returns, as a value, what gevent's `print_run_info` prints:
//! each live greenlet with its id, name, state (running, runnable, parked
//! and on what, sleeping until when), age and the greenlet that spawned
//! it, so the greenlets form a tree under the thread's own
//! stack. Its `Display` draws that tree; [`dump`] prints it to stderr.
//!
//! [`stats`] returns counters the hub keeps anyway (greenlets alive,
//! switches, loop turns, timers, fds) and, once [`set_timing`] turned timing
//! on for the hub, each greenlet's switch count and running time and the
//! *loop lag*: the time
//! from a greenlet becoming runnable to it running — the scheduling delay
//! every greenlet of a busy hub pays. Timing is off by default: it reads the
//! clock three times per switch.
//!
//! Both look at the calling thread's hub only; from another thread, use
//! [`Handle::call`](crate::Handle) to run them on the hub's thread.
//!
//! ```
//! use std::time::Duration;
//!
//! let parent = grove::Builder::new().name("parent").spawn(|| {
//!     let child = grove::Builder::new().name("child")
//!         .spawn(|| grove::sleep(Duration::from_secs(60))).unwrap();
//!     grove::sleep(Duration::from_millis(1)); // let the child start
//!     let info = grove::run_info();
//!     let me = info.get(grove::current_id().unwrap()).unwrap();
//!     let kid = info.get(child.id()).unwrap();
//!     assert_eq!(kid.parent, Some(me.id));
//!     assert!(matches!(kid.state, grove::introspect::GreenletState::Sleeping { .. }));
//!     child.kill();
//! }).unwrap();
//! parent.join().unwrap();
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::ptr;
use std::time::{Duration, Instant};

use crate::hub::ledger::LAG_BUCKETS;
use crate::hub::{Hub, State, Task, WaitOn};

/// One live greenlet (or the thread's own stack) as [`run_info`] saw it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GreenletInfo {
    /// The greenlet's id ([`Greenlet::id`](crate::Greenlet::id)).
    pub id: u64,
    /// Its name ([`Builder::name`](crate::Builder::name)); for the thread's
    /// own stack, the thread's name.
    pub name: Option<String>,
    /// What it is doing.
    pub state: GreenletState,
    /// Time since it was spawned (for the thread's own stack: since the hub
    /// was created).
    pub age: Duration,
    /// The greenlet (or thread stack) that spawned it; `None` for the
    /// thread's own stack and for greenlets spawned from hub callbacks.
    pub parent: Option<u64>,
    /// Times the hub resumed it, counted while timing is on ([`set_timing`]).
    pub switches: u64,
    /// Time it spent running, when timing is on ([`set_timing`]).
    pub running_time: Option<Duration>,
}

/// What a greenlet is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreenletState {
    /// It is the code calling [`run_info`].
    Running,
    /// Queued to run.
    Runnable,
    /// Spawned, starts on the next turn.
    NotStarted,
    /// Spawned with [`spawn_later`](crate::spawn_later); its delay has not passed.
    Delayed,
    /// In [`sleep`](crate::sleep) until this instant.
    Sleeping {
        /// When the sleep ends.
        until: Instant,
    },
    /// Blocked in a grove call: `on` says what it waits on ("fd 7 to become
    /// readable", "Event::wait", "join of greenlet #12", ...).
    Parked {
        /// What it waits on, in words.
        on: String,
    },
}

impl fmt::Display for GreenletState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GreenletState::Running => f.write_str("running"),
            GreenletState::Runnable => f.write_str("runnable"),
            GreenletState::NotStarted => f.write_str("not started"),
            GreenletState::Delayed => f.write_str("delayed start"),
            GreenletState::Sleeping { until } => {
                let left = until.saturating_duration_since(Instant::now());
                write!(f, "sleeping ({} left)", Human(left))
            }
            GreenletState::Parked { on } => write!(f, "parked on {on}"),
        }
    }
}

/// Every live greenlet of one hub, at one moment. See the module docs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunInfo {
    /// The hub's thread name.
    pub thread: Option<String>,
    /// Id of the thread's own stack (the root of the spawn tree).
    pub main_id: u64,
    /// The thread's own stack first, then every live greenlet by id.
    pub greenlets: Vec<GreenletInfo>,
}

impl RunInfo {
    /// The greenlet with this id, if it was alive.
    pub fn get(&self, id: u64) -> Option<&GreenletInfo> {
        self.greenlets.iter().find(|g| g.id == id)
    }

    /// The live greenlets spawned by `id`, by id.
    pub fn children(&self, id: u64) -> impl Iterator<Item = &GreenletInfo> {
        self.greenlets.iter().filter(move |g| g.parent == Some(id))
    }

    fn write_tree(
        &self,
        f: &mut fmt::Formatter<'_>,
        g: &GreenletInfo,
        prefix: &str,
        last: bool,
        root: bool,
    ) -> fmt::Result {
        let (branch, next) = match (root, last) {
            (true, _) => ("", String::new()),
            (false, true) => ("└─ ", format!("{prefix}   ")),
            (false, false) => ("├─ ", format!("{prefix}│  ")),
        };
        write!(f, "{prefix}{branch}#{}", g.id)?;
        if let Some(name) = &g.name {
            write!(f, " '{name}'")?;
        }
        if g.id == self.main_id {
            f.write_str(" (thread's own stack)")?;
        }
        write!(f, ": {}, age {}", g.state, Human(g.age))?;
        if let Some(t) = g.running_time {
            write!(f, ", {} switches, ran {}", g.switches, Human(t))?;
        }
        writeln!(f)?;
        let kids: Vec<&GreenletInfo> = self.children(g.id).collect();
        for (i, kid) in kids.iter().enumerate() {
            self.write_tree(f, kid, &next, i + 1 == kids.len(), false)?;
        }
        Ok(())
    }
}

impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "grove run-info: thread '{}', {} live greenlets",
            self.thread.as_deref().unwrap_or("unnamed"),
            self.greenlets.len().saturating_sub(1)
        )?;
        // Roots: the thread's own stack, and greenlets whose parent is gone.
        for g in &self.greenlets {
            let orphan = g.parent.is_none_or(|p| self.get(p).is_none());
            if g.id == self.main_id || (orphan && g.parent.is_some()) {
                if g.id != self.main_id {
                    writeln!(
                        f,
                        "(spawned by #{}, which has finished)",
                        g.parent.unwrap_or(0)
                    )?;
                }
                self.write_tree(f, g, "", true, true)?;
            }
        }
        let from_hub: Vec<&GreenletInfo> = self
            .greenlets
            .iter()
            .filter(|g| g.parent.is_none() && g.id != self.main_id)
            .collect();
        if !from_hub.is_empty() {
            writeln!(f, "(spawned from hub callbacks)")?;
            for g in from_hub {
                self.write_tree(f, g, "", true, true)?;
            }
        }
        Ok(())
    }
}

/// What a task waits on, in words: the one place run-info reads the hub's
/// record of it.
fn waits_on(task: &Task) -> String {
    task.waiting_on.get().to_string()
}

fn state_of(
    task: &Task,
    current: Option<&Task>,
    wake_ups: &HashMap<*const Task, Instant>,
) -> GreenletState {
    if current.is_some_and(|c| std::ptr::eq(c, task)) {
        return GreenletState::Running;
    }
    match task.state.get() {
        State::New => GreenletState::NotStarted,
        State::Delayed => GreenletState::Delayed,
        State::Runnable | State::Running | State::Dead => GreenletState::Runnable,
        State::Parked => match wake_ups.get(&ptr::from_ref(task)) {
            Some(&until) if task.waiting_on.get() == WaitOn::Sleep => {
                GreenletState::Sleeping { until }
            }
            _ => GreenletState::Parked { on: waits_on(task) },
        },
    }
}

/// Every live greenlet of this thread's hub, with the thread's own stack
/// first. See the module docs.
pub fn run_info() -> RunInfo {
    let hub = Hub::get();
    let now = Instant::now();
    let current = hub.current();
    let main = hub.main_task();
    let thread = std::thread::current().name().map(str::to_owned);
    let wake_ups = hub.wake_ups();
    let mut greenlets = vec![GreenletInfo {
        id: main.id,
        name: thread.clone(),
        state: state_of(main, current, &wake_ups),
        age: now.saturating_duration_since(hub.ledger.instant(0)),
        parent: None,
        switches: 0,
        running_time: None,
    }];
    let mut tasks = hub.live_tasks();
    tasks.sort_by_key(|t| t.id);
    for task in tasks {
        let birth = task.birth.get();
        let timed = hub.ledger.timed(task.key.get());
        greenlets.push(GreenletInfo {
            id: task.id,
            name: task.name().map(str::to_owned),
            state: state_of(&task, current, &wake_ups),
            age: now.saturating_duration_since(hub.ledger.instant(birth.at_ns)),
            parent: (birth.parent != 0).then_some(birth.parent),
            switches: timed.switches,
            running_time: hub
                .ledger
                .timing()
                .then(|| Duration::from_nanos(timed.running_ns)),
        });
    }
    RunInfo {
        thread,
        main_id: main.id,
        greenlets,
    }
}

/// Prints [`run_info`] to stderr.
///
/// The shipped programs (grove-dns, grove-xmlrpc, grove-http's examples)
/// call it on `SIGUSR1`:
///
/// ```no_run
/// use grove::signal::{self, Signal};
/// let _dump = signal::on(Signal::USR1, grove::dump).unwrap();
/// ```
pub fn dump() {
    let mut text = run_info().to_string();
    let _ = writeln!(text, "{}", stats());
    eprint!("{text}");
}

/// Counters of this thread's hub. See the module docs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubStats {
    /// Greenlets spawned and not yet dead.
    pub greenlets: usize,
    /// Greenlets spawned on this hub so far.
    pub spawned: u64,
    /// Entries in the run queue (runnable greenlets and queued callbacks).
    pub runnable: usize,
    /// Times the hub resumed a greenlet.
    pub switches: u64,
    /// Loop turns (each runs up to [`TURN_BUDGET`](crate::TURN_BUDGET) entries).
    pub loop_turns: u64,
    /// Pending timers (sleeps, timeouts, delayed spawns).
    pub timers: usize,
    /// Fds registered with the hub's poller.
    pub fds_registered: usize,
    /// Greenlets parked on fd readiness.
    pub io_waiters: usize,
    /// Greenlet stacks in use.
    pub stacks_in_use: usize,
    /// The loop-lag histogram, when timing is on ([`set_timing`]).
    pub loop_lag: Option<LoopLag>,
}

impl fmt::Display for HubStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "grove stats: {} greenlets ({} spawned), {} runnable, {} switches, {} loop turns, \
             {} timers, {} fds registered ({} waited on), {} stacks in use",
            self.greenlets,
            self.spawned,
            self.runnable,
            self.switches,
            self.loop_turns,
            self.timers,
            self.fds_registered,
            self.io_waiters,
            self.stacks_in_use
        )?;
        if let Some(lag) = &self.loop_lag {
            write!(f, "\n{lag}")?;
        }
        Ok(())
    }
}

/// Counters of this thread's hub.
pub fn stats() -> HubStats {
    let hub = Hub::get();
    let (runnable, timers, stacks_in_use) = hub.queue_counts();
    let ledger = &hub.ledger;
    HubStats {
        greenlets: hub.live_tasks().len(),
        spawned: ledger.spawned.get(),
        runnable,
        switches: ledger.switches.get(),
        loop_turns: ledger.turns.get(),
        timers,
        fds_registered: hub.io.registered(),
        io_waiters: hub.io.waiting(),
        stacks_in_use,
        loop_lag: ledger.timing().then(|| LoopLag {
            buckets: ledger.lag(),
        }),
    }
}

/// Turns timing on or off for this thread's hub: per-greenlet running time
/// ([`GreenletInfo::running_time`]) and the loop-lag histogram
/// ([`HubStats::loop_lag`]). Off by default; it costs three clock reads
/// per switch.
pub fn set_timing(on: bool) {
    Hub::get().set_timing(on);
}

/// A histogram of loop lag: the time from a greenlet becoming runnable to
/// it running, in power-of-two buckets of nanoseconds.
#[derive(Debug, Clone)]
pub struct LoopLag {
    buckets: [u64; LAG_BUCKETS],
}

impl LoopLag {
    /// Lags measured.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// `(upper bound, count)` per non-empty bucket, shortest first: `count`
    /// lags were below `upper bound` (and at least half of it).
    pub fn buckets(&self) -> Vec<(Duration, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(i, &n)| (Duration::from_nanos(2u64 << i), n))
            .collect()
    }

    /// An upper bound of the `q`-quantile (`q` in `0.0..=1.0`): the upper
    /// edge of the bucket holding it; `None` when nothing was measured.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (upper, n) in self.buckets() {
            seen += n;
            if seen >= rank {
                return Some(upper);
            }
        }
        None
    }
}

impl fmt::Display for LoopLag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loop lag: {} measured", self.count())?;
        for (label, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            if let Some(d) = self.quantile(q) {
                write!(f, ", {label} < {}", Human(d))?;
            }
        }
        Ok(())
    }
}

/// A duration in the unit that reads best.
struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns < 1_000 {
            write!(f, "{ns} ns")
        } else if ns < 1_000_000 {
            write!(f, "{:.1} µs", ns as f64 / 1e3)
        } else if ns < 1_000_000_000 {
            write!(f, "{:.1} ms", ns as f64 / 1e6)
        } else {
            write!(f, "{:.1} s", ns as f64 / 1e9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_upper_edges() {
        let mut buckets = [0; LAG_BUCKETS];
        buckets[10] = 99; // [1024, 2048) ns
        buckets[20] = 1; // [~1 ms, ~2 ms)
        let lag = LoopLag { buckets };
        assert_eq!(lag.count(), 100);
        assert_eq!(lag.quantile(0.5), Some(Duration::from_nanos(2048)));
        assert_eq!(lag.quantile(0.99), Some(Duration::from_nanos(2048)));
        assert_eq!(lag.quantile(1.0), Some(Duration::from_nanos(2 << 20)));
        assert_eq!(
            LoopLag {
                buckets: [0; LAG_BUCKETS]
            }
            .quantile(0.5),
            None
        );
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(Human(Duration::from_nanos(12)).to_string(), "12 ns");
        assert_eq!(Human(Duration::from_micros(1500)).to_string(), "1.5 ms");
        assert_eq!(Human(Duration::from_secs(3)).to_string(), "3.0 s");
    }
}
