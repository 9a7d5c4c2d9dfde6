//! Command line and configuration: listen addresses, upstreams (flags, a
//! file, or `/etc/resolv.conf`), cache bounds, the store.
//!
//! ```
//! use grove_dns::config::parse_upstream;
//!
//! assert_eq!(parse_upstream("9.9.9.9").unwrap().to_string(), "9.9.9.9:53");
//! assert_eq!(parse_upstream("[::1]:5300").unwrap().to_string(), "[::1]:5300");
//! assert!(parse_upstream("not an address").is_err());
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use crate::cache::TtlPolicy;
use crate::tcp::TcpLimits;

/// A caching DNS forwarder built on grove.
///
/// Answers DNS queries on UDP and TCP from its cache, forwarding misses to
/// upstream servers (round-robin, with failover). Concurrent identical
/// queries share one upstream query. The cache survives restarts: it is
/// kept in a local file (redb) by default, or in Redis with --redis.
///
/// SIGHUP prints a stats line; SIGUSR1 prints every live greenlet (grove's
/// run-info); SIGINT/SIGTERM stop the server after flushing the cache to
/// its store.
#[derive(Debug, Clone, Parser)]
#[command(name = "grove-dns", version, about, long_about, max_term_width = 100)]
#[command(after_help = "EXAMPLES:\n  \
    grove-dns --demo                                 built-in upstream, nothing else needed\n  \
    grove-dns --upstream 9.9.9.9 --upstream 1.1.1.1  forward to two public resolvers\n  \
    grove-dns --listen 127.0.0.1:53 --listen [::1]:53 --redis redis://127.0.0.1/\n  \
    dig @127.0.0.1 -p 5353 example.com               query it")]
pub struct Cli {
    /// Address to serve on, UDP and TCP (repeatable).
    #[arg(
        long = "listen",
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:5353",
        help_heading = "Serving"
    )]
    pub listen: Vec<SocketAddr>,

    /// Upstream server, port 53 unless given (repeatable; used round-robin).
    #[arg(long = "upstream", value_name = "ADDR[:PORT]", value_parser = parse_upstream, help_heading = "Upstreams")]
    pub upstream: Vec<SocketAddr>,

    /// File with one upstream per line ('#' starts a comment). Without
    /// --upstream or --upstreams, the nameservers of /etc/resolv.conf.
    #[arg(long = "upstreams", value_name = "FILE", help_heading = "Upstreams")]
    pub upstreams_file: Option<PathBuf>,

    /// How long to wait for one upstream before trying the next.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        help_heading = "Upstreams"
    )]
    pub upstream_timeout: u64,

    /// How long a client may wait in all before it gets SERVFAIL.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 4000,
        help_heading = "Upstreams"
    )]
    pub timeout: u64,

    /// Most entries kept in the cache (least recently used go first).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        help_heading = "Cache"
    )]
    pub cache_size: usize,

    /// Most memory for cached answers, whatever their number. With the
    /// default redb store the process's memory is about this, plus redb's
    /// page cache (a sixteenth of it, 4 to 64 MiB), plus at most 65,536
    /// entries waiting to be written; the store file holds at most
    /// --cache-size entries.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 256,
        help_heading = "Cache"
    )]
    pub cache_memory: usize,

    /// Raise every cached TTL to at least this.
    #[arg(long, value_name = "SECS", default_value_t = 0, help_heading = "Cache")]
    pub min_ttl: u32,

    /// Lower every cached TTL to at most this.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 86_400,
        help_heading = "Cache"
    )]
    pub max_ttl: u32,

    /// The cache's store file (redb). Default: grove-dns/cache.redb under
    /// $XDG_CACHE_HOME or ~/.cache (grove-dns/demo-cache.redb with --demo).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["redis", "no_store"], help_heading = "Persistence")]
    pub store: Option<PathBuf>,

    /// Keep the cache in Redis instead (several instances may share it),
    /// e.g. redis://127.0.0.1:6379/0.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "no_store",
        help_heading = "Persistence"
    )]
    pub redis: Option<String>,

    /// Keep the cache in memory only.
    #[arg(long, help_heading = "Persistence")]
    pub no_store: bool,

    /// Seconds between stats lines on stderr (0: only on SIGHUP).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Operation"
    )]
    pub stats_interval: u64,

    /// Serving threads, each with its own hub and SO_REUSEPORT sockets,
    /// sharing one cache.
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Serving")]
    pub threads: usize,

    /// Most upstream queries in flight per thread; misses beyond it are
    /// dropped (the client retries). Each holds a socket: lowered at start,
    /// with a log line, to what the open-files limit (ulimit -n) leaves
    /// beside the listeners and the TCP slots.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4096,
        help_heading = "Serving"
    )]
    pub max_inflight: usize,

    /// Most TCP connections served at once per listen address and thread.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 512,
        help_heading = "Serving"
    )]
    pub max_tcp: usize,

    /// How long a TCP client may take to send a whole query (from the
    /// connection's start for its first, from a query's first byte for the
    /// next) and to take an answer; past it the connection closes and its
    /// slot is free.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 2000,
        help_heading = "Serving"
    )]
    pub tcp_message_timeout: u64,

    /// How long a TCP connection may wait for its next query.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 10_000,
        help_heading = "Serving"
    )]
    pub tcp_idle_timeout: u64,

    /// Randomise the letter case of upstream queries' names (DNS 0x20)
    /// and accept only answers that echo it exactly: a forged answer must
    /// then also guess the case, one more bit per letter.
    #[arg(long = "0x20", help_heading = "Upstreams")]
    pub dns0x20: bool,

    /// Start a toy upstream on loopback serving *.grove.test (everything
    /// else NXDOMAIN), forward to it, and show a few queries: a
    /// self-contained tour.
    #[arg(long, conflicts_with_all = ["upstream", "upstreams_file"], help_heading = "Operation")]
    pub demo: bool,
}

/// Where the cache is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Memory only.
    None,
    /// An embedded redb file.
    Redb(PathBuf),
    /// A Redis server.
    Redis(String),
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses served over UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Upstream servers, in round-robin order.
    pub upstreams: Vec<SocketAddr>,
    /// Per-upstream wait.
    pub upstream_timeout: Duration,
    /// Total wait before SERVFAIL.
    pub timeout: Duration,
    /// Cache capacity in entries.
    pub cache_size: usize,
    /// Cache capacity in bytes.
    pub cache_bytes: usize,
    /// TTL clamping.
    pub ttl: TtlPolicy,
    /// The store.
    pub store: StoreConfig,
    /// Interval of the stats line (`None`: on SIGHUP only).
    pub stats_interval: Option<Duration>,
    /// Serving threads.
    pub threads: usize,
    /// Upstream queries in flight per thread.
    pub max_inflight: usize,
    /// TCP connections per listener and thread, and their deadlines.
    pub tcp: TcpLimits,
    /// DNS 0x20 on upstream queries.
    pub dns0x20: bool,
}

impl Config {
    /// A configuration for tests and embedding: listen on `listen`,
    /// forward to `upstreams`, memory-only cache, defaults otherwise.
    pub fn new(listen: Vec<SocketAddr>, upstreams: Vec<SocketAddr>) -> Config {
        Config {
            listen,
            upstreams,
            upstream_timeout: Duration::from_millis(1000),
            timeout: Duration::from_millis(4000),
            cache_size: 100_000,
            cache_bytes: 256 << 20,
            ttl: TtlPolicy::default(),
            store: StoreConfig::None,
            stats_interval: None,
            threads: 1,
            max_inflight: 4096,
            tcp: TcpLimits::default(),
            dns0x20: false,
        }
    }

    /// Resolves the command line: reads the upstreams file or
    /// `/etc/resolv.conf`, finds the default store path, checks bounds.
    /// `demo_upstream` replaces the upstreams in `--demo` mode.
    ///
    /// # Errors
    /// A message for the user.
    pub fn from_cli(cli: &Cli, demo_upstream: Option<SocketAddr>) -> Result<Config, String> {
        let mut upstreams = cli.upstream.clone();
        if let Some(path) = &cli.upstreams_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            upstreams.extend(
                parse_upstreams_file(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
        if let Some(demo) = demo_upstream {
            upstreams = vec![demo];
        }
        if upstreams.is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| {
                format!("no --upstream given and cannot read /etc/resolv.conf: {e}")
            })?;
            upstreams = parse_resolv_conf(&text);
            if upstreams.is_empty() {
                return Err("no --upstream given and /etc/resolv.conf lists no nameserver".into());
            }
        }
        if cli
            .listen
            .iter()
            .any(|l| upstreams.iter().any(|u| is_self(*u, *l)))
        {
            return Err(
                "an upstream is one of our own listen addresses (a forwarding loop)".into(),
            );
        }
        if cli.min_ttl > cli.max_ttl {
            return Err(format!(
                "--min-ttl {} is above --max-ttl {}",
                cli.min_ttl, cli.max_ttl
            ));
        }
        if cli.threads == 0 || cli.threads > 256 {
            return Err("--threads must be between 1 and 256".into());
        }
        if cli.upstream_timeout == 0
            || cli.timeout == 0
            || cli.tcp_message_timeout == 0
            || cli.tcp_idle_timeout == 0
        {
            return Err("timeouts must be positive".into());
        }
        let store = if cli.no_store {
            StoreConfig::None
        } else if let Some(url) = &cli.redis {
            StoreConfig::Redis(url.clone())
        } else if let Some(path) = &cli.store {
            StoreConfig::Redb(path.clone())
        } else {
            // The demo's toy answers (*.grove.test) never enter the
            // production cache file: the demo has a file of its own.
            let file = if cli.demo {
                DEMO_STORE_FILE
            } else {
                STORE_FILE
            };
            match default_store_path() {
                Some(path) => StoreConfig::Redb(path.with_file_name(file)),
                None => {
                    crate::log!("no $XDG_CACHE_HOME or $HOME: the cache is kept in memory only");
                    StoreConfig::None
                }
            }
        };
        Ok(Config {
            listen: cli.listen.clone(),
            upstreams,
            upstream_timeout: Duration::from_millis(cli.upstream_timeout),
            timeout: Duration::from_millis(cli.timeout),
            cache_size: cli.cache_size.max(1),
            cache_bytes: cli.cache_memory.max(1).saturating_mul(1 << 20),
            ttl: TtlPolicy {
                min_ttl: cli.min_ttl,
                max_ttl: cli.max_ttl,
            },
            store,
            stats_interval: (cli.stats_interval > 0)
                .then(|| Duration::from_secs(cli.stats_interval)),
            threads: cli.threads,
            max_inflight: cli.max_inflight.max(1),
            tcp: TcpLimits {
                max_connections: cli.max_tcp.max(1),
                idle: Duration::from_millis(cli.tcp_idle_timeout),
                message: Duration::from_millis(cli.tcp_message_timeout),
            },
            dns0x20: cli.dns0x20,
        })
    }
}

/// File descriptors kept aside from upstream queries and TCP slots:
/// stdio, the hubs' epoll and wake-up fds, the store, the log, the thread
/// pool's work.
const FD_RESERVE: u64 = 64;

impl Config {
    /// Lowers `max_inflight` to what the open-files limit `nofile` leaves
    /// per thread beside the listeners, the TCP slots and a reserve (at
    /// least half of what is left, even when the TCP slots alone could
    /// use it all, and at least 16). Returns the old value if it lowered
    /// it.
    pub fn cap_inflight(&mut self, nofile: u64) -> Option<usize> {
        let threads = self.threads.max(1) as u64;
        let listeners = self.listen.len() as u64 * threads;
        let available = nofile.saturating_sub(FD_RESERVE + 2 * listeners);
        let tcp = self.tcp.max_connections as u64 * listeners;
        let per_thread = (available.saturating_sub(tcp) / threads)
            .max(available / 2 / threads)
            .max(16);
        let cap = usize::try_from(per_thread).unwrap_or(usize::MAX);
        (self.max_inflight > cap).then(|| std::mem::replace(&mut self.max_inflight, cap))
    }
}

/// The soft open-files limit of this process (`ulimit -n`), from
/// `/proc/self/limits`; `None` if unlimited or unknown.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&limits)
}

/// The soft limit on the `Max open files` line of a `/proc/<pid>/limits`.
pub fn parse_open_files_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether sending to `upstream` would reach a server listening on
/// `listen` (this one): the same address, or a loopback address on the
/// port of a wildcard listener.
pub fn is_self(upstream: SocketAddr, listen: SocketAddr) -> bool {
    upstream == listen
        || (upstream.port() == listen.port()
            && listen.ip().is_unspecified()
            && (upstream.ip().is_loopback() || upstream.ip().is_unspecified()))
}

/// Parses `ADDR[:PORT]` (IPv6 with a port in brackets); the port defaults
/// to 53.
///
/// # Errors
/// A message naming the bad value.
pub fn parse_upstream(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not an IP address with an optional port"))
}

/// Parses an upstreams file: one `ADDR[:PORT]` per line, blank lines and
/// `#` comments ignored.
///
/// # Errors
/// The first bad line, with its number.
pub fn parse_upstreams_file(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_upstream(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(out)
}

/// The `nameserver` addresses of a resolv.conf (port 53; IPv6 zone ids
/// dropped).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let addr = words.next()?.split('%').next()?;
            addr.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// The default store's file name, in [`default_store_path`]'s directory.
pub const STORE_FILE: &str = "cache.redb";

/// The `--demo` store's file name, beside [`STORE_FILE`].
pub const DEMO_STORE_FILE: &str = "demo-cache.redb";

/// `$XDG_CACHE_HOME/grove-dns/cache.redb`, else `~/.cache/grove-dns/cache.redb`.
pub fn default_store_path() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = from("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| from("HOME").map(|home| home.join(".cache")))?;
    Some(Path::new(&base).join("grove-dns").join(STORE_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(parse_upstream("127.0.0.1:5300").unwrap().port(), 5300);
        assert_eq!(parse_upstream("::1").unwrap().to_string(), "[::1]:53");
        assert_eq!(parse_upstream("[::1]").unwrap().to_string(), "[::1]:53");
        assert!(parse_upstream("example.com").is_err());
    }

    #[test]
    fn files() {
        let list = parse_upstreams_file("# mine\n1.1.1.1\n\n 9.9.9.9:5353 # other\n").unwrap();
        assert_eq!(list.len(), 2);
        assert!(parse_upstreams_file("1.1.1.1\nbad\n")
            .unwrap_err()
            .contains("line 2"));
        let conf = "search x\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\noptions ndots:1\n";
        assert_eq!(parse_resolv_conf(conf).len(), 2);
    }

    #[test]
    fn inflight_is_capped_by_the_fd_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(1024));
        assert_eq!(
            parse_open_files_limit("Max open files  unlimited  unlimited  files"),
            None
        );
        let mut config = Config::new(vec!["127.0.0.1:53".parse().unwrap()], vec![]);
        // 1024 - 64 reserved - 2 sockets = 958; 512 TCP slots would leave
        // 446, but misses keep half: 479.
        assert_eq!(config.cap_inflight(1024), Some(4096));
        assert_eq!(config.max_inflight, 479);
        // Fewer TCP slots leave the rest to misses.
        let mut config = Config::new(vec!["127.0.0.1:53".parse().unwrap()], vec![]);
        config.tcp.max_connections = 64;
        assert_eq!(config.cap_inflight(1024), Some(4096));
        assert_eq!(config.max_inflight, 958 - 64);
        assert_eq!(config.cap_inflight(1024), None);
        // TCP slots beyond the limit still leave half of it to misses.
        let mut config = Config::new(vec!["127.0.0.1:53".parse().unwrap()], vec![]);
        config.threads = 2;
        assert_eq!(config.cap_inflight(1024), Some(4096));
        assert_eq!(config.max_inflight, (1024 - 64 - 4) / 2 / 2);
        // A generous limit changes nothing.
        let mut config = Config::new(vec!["127.0.0.1:53".parse().unwrap()], vec![]);
        assert_eq!(config.cap_inflight(1 << 20), None);
        assert_eq!(config.max_inflight, 4096);
    }

    #[test]
    fn cli_reads_well() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["grove-dns", "--upstream", "127.0.0.2", "--no-store"]).unwrap();
        let config = Config::from_cli(&cli, None).unwrap();
        assert_eq!(config.listen, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!(config.store, StoreConfig::None);
        assert!(is_self(
            "127.0.0.1:53".parse().unwrap(),
            "0.0.0.0:53".parse().unwrap()
        ));
        assert!(!is_self(
            "127.0.0.1:53".parse().unwrap(),
            "0.0.0.0:5353".parse().unwrap()
        ));
        assert!(!is_self(
            "10.0.0.1:53".parse().unwrap(),
            "0.0.0.0:53".parse().unwrap()
        ));
        let bad = Cli::try_parse_from(["grove-dns", "--upstream", "127.0.0.1:5353", "--no-store"])
            .unwrap();
        assert!(Config::from_cli(&bad, None).is_err());
    }
}
