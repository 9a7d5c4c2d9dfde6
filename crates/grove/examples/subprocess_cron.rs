//! gevent's tutorial, "Subprocess": a greenlet prints "cron" every 0.2 s
//! while a child process runs `sleep 1; uname`; then the child's output.
//!
//! ```text
//! cargo run -p grove-rt --example subprocess_cron
//! ```
//!
//! Prints (the child takes a second, so "cron" comes five or six times):
//!
//! ```text
//! cron
//! cron
//! cron
//! cron
//! cron
//! Linux
//! ```

use std::time::Duration;

use grove::process::{Command, Stdio};

fn main() {
    let cron = grove::spawn(|| loop {
        println!("cron");
        grove::sleep(Duration::from_millis(200));
    });

    // Popen(['sleep 1; uname'], stdout=PIPE, shell=True)
    let sub = Command::new("sh")
        .args(["-c", "sleep 1; uname"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh runs");
    // sub.communicate(): only this (main) greenlet waits; `cron` keeps printing.
    let out = sub.wait_with_output().expect("the child's output");
    cron.kill();

    println!("{}", String::from_utf8_lossy(&out.stdout).trim_end());
}
