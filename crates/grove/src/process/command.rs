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
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
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
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Gives the child an empty environment (plus what `env` adds later).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Configures the child's stdin ([`Stdio::piped`] makes
    /// [`Child::stdin`] a cooperative pipe).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's stdout ([`Stdio::piped`] makes
    /// [`Child::stdout`] a cooperative pipe).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Configures the child's stderr ([`Stdio::piped`] makes
    /// [`Child::stderr`] a cooperative pipe).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// The program to run.
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments given so far.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The environment changes given so far.
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.std.get_envs()
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.std.get_current_dir()
    }

    /// The `std` builder inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The `std` builder inside, for settings this type does not mirror
    /// (`std::os::unix::process::CommandExt`: `uid`, `gid`,
    /// `process_group`, `pre_exec`…). Configure stdio through this type's
    /// own methods, so that [`output`](Command::output) knows which streams
    /// it should capture.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child; by default it inherits stdin, stdout and stderr.
    ///
    /// Starting a process (`fork`/`exec`) does not block the hub for long;
    /// everything after that — waiting, pipe I/O — is cooperative.
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
    /// # Errors
    /// As [`spawn`](Command::spawn), and any I/O error reading the pipes.
    ///
    /// # Kill and timeout safety
    /// A kill or `with_timeout` expiry unwinds out of here at once; the
    /// child, which the caller could no longer reach, is killed (`SIGKILL`)
    /// and reaped by a default-pool thread, so no process or zombie is left
    /// behind.
    pub fn output(&mut self) -> io::Result<Output> {
        let child = self.spawn_with_defaults(Stdio::null, Stdio::piped, Stdio::piped)?;
        child.wait_with_output()
    }

    /// Runs the child to completion (inheriting stdin, stdout and stderr by
    /// default) and returns its exit status. A piped stdin is closed before
    /// waiting, as with `std`.
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

    fn spawn_with_defaults(
        &mut self,
        stdin: fn() -> Stdio,
        stdout: fn() -> Stdio,
        stderr: fn() -> Stdio,
    ) -> io::Result<Child> {
        if !self.stdin_set {
            self.std.stdin(stdin());
        }
        if !self.stdout_set {
            self.std.stdout(stdout());
        }
        if !self.stderr_set {
            self.std.stderr(stderr());
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
