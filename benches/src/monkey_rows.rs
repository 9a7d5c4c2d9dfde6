//! grove-monkey's section (`--benches monkey`): runs the
//! `monkey-bench` binary built beside `harness` (the libc hooks live in
//! that process only) and prints its figures as a table of their own:
//!
//! * (c) the cost of a passed-through hooked `read` vs libc's own, before
//!   patching, after patching outside any greenlet, and in a greenlet on a
//!   non-socket fd;
//! * (b) redis `GET` round trips/s from N clients: N OS threads (sync
//!   client), N tokio tasks (async client, current-thread runtime), N
//!   greenlets on one thread (sync client under `patch_all()`).

use std::fmt::Write as _;
use std::process::Command;

use crate::orchestrate::Options;

/// The `--benches` names of this section.
pub const MONKEY_BENCHES: &[&str] = &["monkey"];

/// N clients of the redis rows.
const CLIENTS: usize = 64;

/// Runs `monkey-bench` and returns the markdown section.
pub fn section(opts: &Options) -> String {
    let mut out = String::from("### grove-monkey\n\n");
    let exe = match std::env::current_exe() {
        Ok(harness) => harness.with_file_name("monkey-bench"),
        Err(e) => return format!("{out}n/a: {e}\n"),
    };
    let calls = ((100_000.0 * opts.scale) as usize).max(20_000);
    let secs = (2.0 * opts.scale).max(1.0);
    crate::orchestrate::say(&format!("monkey: {} --clients {CLIENTS}", exe.display()));
    let output = Command::new(&exe)
        .args([
            "--calls",
            &calls.to_string(),
            "--reps",
            &opts.reps.max(3).to_string(),
        ])
        .args([
            "--clients",
            &CLIENTS.to_string(),
            "--secs",
            &secs.to_string(),
        ])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return format!(
                "{out}n/a: monkey-bench failed: {}\n",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )
        }
        Err(e) => return format!("{out}n/a: cannot run {}: {e}\n", exe.display()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .filter_map(|l| l.strip_prefix("row "))
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(name)).then(|| parts.next()?.parse().ok())?
            })
    };
    let cell = |name: &str, unit: &str| match value(name) {
        Some(v) if unit == "ns" => format!("{v:.1} ns"),
        Some(v) => format!("{v:.0} {unit}"),
        None => "n/a".to_string(),
    };
    out.push_str(
        "| (c) `read(fd, buf, 1)` of /dev/zero | per call | over libc's |\n|---|---|---|\n",
    );
    let _ = writeln!(
        out,
        "| libc's `read` (dlsym RTLD_NEXT) | {} | |",
        cell("read-libc", "ns")
    );
    for (label, name) in [
        ("hooked, before `patch_all`", "read-hook-unpatched"),
        (
            "hooked, patched, outside greenlets",
            "read-hook-patched-outside",
        ),
        (
            "hooked, patched, in a greenlet (not a socket)",
            "read-hook-in-greenlet-file",
        ),
    ] {
        let _ = writeln!(
            out,
            "| {label} | {} | {} |",
            cell(name, "ns"),
            cell(&format!("{name}-overhead"), "ns")
        );
    }
    let _ = writeln!(
        out,
        "\n| (b) redis `GET`, {CLIENTS} clients, one connection each | round trips/s, median | range |\n|---|---|---|"
    );
    for (label, name) in [
        ("OS threads, sync client", "redis-threads"),
        ("tokio current-thread, async client", "redis-tokio"),
        (
            "greenlets on one thread, sync client under `patch_all()`",
            "redis-greenlets",
        ),
    ] {
        let name = format!("{name}-{CLIENTS}");
        let _ = writeln!(
            out,
            "| {label} | {} | {} – {} |",
            cell(&name, "GET/s"),
            cell(&format!("{name}-min"), "GET/s"),
            cell(&format!("{name}-max"), "GET/s")
        );
    }
    if let Some(na) = text.lines().find_map(|l| l.strip_prefix("na ")) {
        let _ = writeln!(out, "\nn/a: {na}");
    }
    out
}
