//! [`Command`]: `std::process::Command`'s builder, spawning cooperative children.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;

use super::{Child, ExitStatus, KillOnCancel, Output, Stdio};

/// A process builder, as [`std::process::Command`], whose children cooperate
/// with the hub.
///
/// Every builder method has the meaning of its `std` twin, including the
/// defaults: [`spawn`](Command::spawn) and [`status`](Command::status)
/// inherit stdin, stdout and stderr; [`output`](Command::output) captures
/// stdout and stderr and gives the child a null stdin. A `Command` can spawn
/// any number of children.
///
/// # Examples
///
/// ```
/// use grove::process::Command;
///
/// let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
/// assert_eq!(status.code(), Some(3));
///
/// let out = Command::new("printenv").arg("GREETING").env("GREETING", "hi").output().unwrap();
/// assert_eq!(out.stdout, b"hi\n");
/// ```
///
/// # Kill and timeout safety
///
/// See [`output`](Command::output) and [`status`](Command::status): a
/// greenlet killed or timed out in them unwinds at once, and the child,
/// which nothing else could reach any more, is killed and reaped.
pub struct Command {
    std: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}

impl Command {
    /// A builder for running `program` (searched in `PATH` if it has no
    /// slash), with no arguments, the parent's environment and working
    /// directory.
    ///
    /// ```
    /// let status = grove::process::Command::new("true").status().unwrap();
    /// assert!(status.success());
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Adds an argument.
    ///
    /// ```
    /// let out = grove::process::Command::new("echo").arg("hello world").output().unwrap();
    /// assert_eq!(out.stdout, b"hello world\n"); // one argument, spaces and all
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// let out = grove::process::Command::new("printf").args(["%s-%s", "a", "b"]).output().unwrap();
    /// assert_eq!(out.stdout, b"a-b");
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// let out = grove::process::Command::new("sh")
    ///     .args(["-c", "echo $GREETING"])
    ///     .env("GREETING", "hi")
    ///     .output()
    ///     .unwrap();
    /// assert_eq!(out.stdout, b"hi\n");
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    ///
    /// ```
    /// let out = grove::process::Command::new("sh")
    ///     .args(["-c", "echo $A$B"])
    ///     .envs([("A", "1"), ("B", "2")])
    ///     .output()
    ///     .unwrap();
    /// assert_eq!(out.stdout, b"12\n");
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// let out = grove::process::Command::new("sh")
    ///     .args(["-c", "echo \"[$HOME]\""])
    ///     .env_remove("HOME")
    ///     .output()
    ///     .unwrap();
    /// assert_eq!(out.stdout, b"[]\n");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Gives the child an empty environment (plus what `env` adds later).
    ///
    /// ```
    /// let out = grove::process::Command::new("/usr/bin/env")
    ///     .env_clear()
    ///     .env("ONLY", "this")
    ///     .output()
    ///     .unwrap();
    /// assert_eq!(out.stdout, b"ONLY=this\n");
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// let out = grove::process::Command::new("pwd").current_dir("/tmp").output().unwrap();
    /// assert_eq!(out.stdout, b"/tmp\n");
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Configures the child's stdin ([`Stdio::piped`] makes
    /// [`Child::stdin`] a cooperative pipe).
    ///
    /// ```
    /// use std::io::Write;
    /// use grove::process::{Command, Stdio};
    ///
    /// let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    /// child.stdin.take().unwrap().write_all(b"ping").unwrap(); // dropped: closed
    /// assert_eq!(child.wait_with_output().unwrap().stdout, b"ping");
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's stdout ([`Stdio::piped`] makes
    /// [`Child::stdout`] a cooperative pipe).
    ///
    /// ```
    /// use grove::process::{Command, Stdio};
    ///
    /// // Silence a chatty child.
    /// let status = Command::new("echo").arg("noise").stdout(Stdio::null()).status().unwrap();
    /// assert!(status.success());
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Configures the child's stderr ([`Stdio::piped`] makes
    /// [`Child::stderr`] a cooperative pipe).
    ///
    /// ```
    /// use grove::process::{Command, Stdio};
    ///
    /// let child = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).spawn().unwrap();
    /// assert_eq!(child.wait_with_output().unwrap().stderr, b"oops\n");
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// The program to run.
    ///
    /// ```
    /// let cmd = grove::process::Command::new("ls");
    /// assert_eq!(cmd.get_program(), "ls");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments given so far.
    ///
    /// ```
    /// let mut cmd = grove::process::Command::new("ls");
    /// cmd.args(["-l", "/tmp"]);
    /// assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-l", "/tmp"]);
    /// ```
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The environment changes given so far.
    ///
    /// ```
    /// use std::ffi::OsStr;
    ///
    /// let mut cmd = grove::process::Command::new("env");
    /// cmd.env("LANG", "C").env_remove("TZ");
    /// let changes: Vec<_> = cmd.get_envs().collect();
    /// assert_eq!(changes, [(OsStr::new("LANG"), Some(OsStr::new("C"))), (OsStr::new("TZ"), None)]);
    /// ```
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.std.get_envs()
    }

    /// The working directory, if one was set.
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// let mut cmd = grove::process::Command::new("ls");
    /// assert_eq!(cmd.get_current_dir(), None);
    /// cmd.current_dir("/tmp");
    /// assert_eq!(cmd.get_current_dir(), Some(Path::new("/tmp")));
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.std.get_current_dir()
    }

    /// The `std` builder inside.
    ///
    /// ```
    /// let mut cmd = grove::process::Command::new("ls");
    /// cmd.arg("-a");
    /// assert_eq!(cmd.as_std().get_args().count(), 1);
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The `std` builder inside, for settings this type does not mirror
    /// (`std::os::unix::process::CommandExt`: `uid`, `gid`,
    /// `process_group`, `pre_exec`…). Configure stdio through this type's
    /// own methods, so that [`output`](Command::output) knows which streams
    /// it should capture.
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    ///
    /// let mut cmd = grove::process::Command::new("sh");
    /// cmd.args(["-c", "cut -d' ' -f5 /proc/$$/stat"]); // its process group
    /// cmd.as_std_mut().process_group(0); // a group of its own
    /// let child_pgid = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    /// // SAFETY: getpgrp has no preconditions.
    /// assert_ne!(child_pgid.trim(), unsafe { libc::getpgrp() }.to_string());
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child; by default it inherits stdin, stdout and stderr.
    ///
    /// Starting a process (`fork`/`exec`) does not block the hub for long;
    /// everything after that — waiting, pipe I/O — is cooperative.
    ///
    /// ```
    /// let mut child = grove::process::Command::new("sleep").arg("0.05").spawn().unwrap();
    /// assert!(child.wait().unwrap().success());
    ///
    /// let missing = grove::process::Command::new("/no/such/program").spawn();
    /// assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// ```
    ///
    /// # Errors
    /// As [`std::process::Command::spawn`] (program not found, not
    /// executable, …), or if the child's pipes or pidfd cannot be set up
    /// (the child is then killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::from_std(self.std.spawn()?)
    }

    /// Runs the child to completion, capturing its stdout and stderr (stdin
    /// is null unless configured), and returns them with its exit status.
    ///
    /// stdout and stderr are read concurrently (stderr by a helper
    /// greenlet), so a child that fills one pipe while the other is being
    /// read cannot deadlock.
    ///
    /// ```
    /// let out = grove::process::Command::new("uname").arg("-s").output().unwrap();
    /// assert!(out.status.success());
    /// assert_eq!(out.stdout, b"Linux\n");
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn), and any I/O error reading the pipes.
    ///
    /// # Kill and timeout safety
    /// A kill or `with_timeout` expiry unwinds out of here at once; the
    /// child, which the caller could no longer reach, is killed (`SIGKILL`)
    /// and reaped by a default-pool thread, so no process or zombie is left
    /// behind.
    pub fn output(&mut self) -> io::Result<Output> {
        let child = self.spawn_for_output()?;
        child.wait_with_output()
    }

    /// Runs the child to completion (inheriting stdin, stdout and stderr by
    /// default) and returns its exit status. A piped stdin is closed before
    /// waiting, as with `std`.
    ///
    /// ```
    /// let status = grove::process::Command::new("sh").args(["-c", "exit 7"]).status().unwrap();
    /// assert_eq!(status.code(), Some(7));
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Kill and timeout safety
    /// As [`output`](Command::output): the child is killed and reaped.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let child = self.spawn()?;
        let mut guard = KillOnCancel(Some(child));
        let status = guard.child().wait()?;
        guard.0 = None;
        Ok(status)
    }

    /// Spawns with `output`'s defaults for the streams not set (stdin null,
    /// stdout and stderr piped); the unset ones go back to inheriting after.
    fn spawn_for_output(&mut self) -> io::Result<Child> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let spawned = self.std.spawn();
        // Back to `spawn`'s defaults for the streams the user left unset.
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        Child::from_std(spawned?)
    }
}
