//! A cooperative DNS stub resolver: `/etc/hosts`, then DNS over grove
//! sockets, with no thread involved (gevent's `gevent.resolver.dnspython`
//! and `gevent.resolver.ares`). Feature `dns-resolver`.
//!
//! Without this feature, [`lookup_host`](crate::net::lookup_host) calls
//! `getaddrinfo` on grove's thread pool: correct and complete (nsswitch,
//! mDNS, LDAP…), but each lookup in flight occupies a pool thread. With it,
//! `lookup_host` resolves in the calling greenlet the way glibc's DNS
//! backend does — read `/etc/resolv.conf` (`nameserver`, `search`/`domain`,
//! `options ndots timeout attempts rotate`) and `/etc/hosts`; ask the
//! servers in turn for A and AAAA at once over UDP, with random ids and
//! source ports, accepting only answers whose id, question and source match;
//! retry a truncated answer over TCP; time out and fail over to the next
//! server — so ten thousand greenlets can resolve at once on one thread.
//! Both files are re-read when they change.
//!
//! Which one `lookup_host` uses is a process-wide switch, like gevent's
//! `GEVENT_RESOLVER`: the environment variable `GROVE_RESOLVER=native` or
//! `GROVE_RESOLVER=thread`, read at the first lookup, or [`set_resolver`]
//! at any time. With the feature on, the default is `native`; a program
//! that needs nsswitch sources other than `files` and `dns` picks `thread`.
//!
//! A [`Resolver`] built from an explicit [`ResolverConfig`] (and
//! [`Hosts`]) resolves with exactly those servers and names — for a
//! program with its own upstreams, or for tests.
//!
//! Special names (RFC 6761) never reach the network: `localhost` and
//! `*.localhost` are loopback unless the hosts file says otherwise, and
//! `*.invalid` does not exist.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
//!
//! // No server listens on this port: the hosts table answers without DNS.
//! let config = ResolverConfig::new(vec!["127.0.0.1:9".parse().unwrap()])
//!     .with_timeout(Duration::from_millis(200))
//!     .with_attempts(1);
//! let resolver = Resolver::new(config, Hosts::parse("10.1.2.3 db.internal db\n"));
//! assert_eq!(resolver.lookup_ip("db").unwrap(), ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
//! assert!(resolver.lookup_ip("localhost").unwrap().iter().all(|ip| ip.is_loopback()));
//! assert_eq!(resolver.lookup_ip("nothing.invalid").unwrap_err().kind(), std::io::ErrorKind::NotFound);
//! // A name that needs DNS: the server's port is closed, so the error is quick.
//! assert!(resolver.lookup_ip("www.example").is_err());
//! ```
//!
//! # Kill and timeout safety
//!
//! A lookup killed or timed out while it waits for a server unwinds at
//! once; its sockets are closed on the way out and a late answer finds no
//! one listening.

mod conf;
mod exchange;
mod hosts;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

pub use conf::ResolverConfig;
pub use hosts::Hosts;

/// The longest CNAME chain followed inside one answer.
const MAX_CNAME_CHAIN: usize = 8;

/// A stub resolver: a [`ResolverConfig`] and a [`Hosts`] table. `Send +
/// Sync`; share it behind an `Arc` or `Rc`, or build one per thread.
///
/// ```
/// use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
///
/// let resolver = std::rc::Rc::new(Resolver::new(
///     ResolverConfig::new(vec![]),
///     Hosts::parse("10.0.0.5 cache\n"),
/// ));
/// let greenlets: Vec<_> = (0..3)
///     .map(|_| {
///         let r = resolver.clone();
///         grove::spawn(move || r.lookup_ip("cache").unwrap())
///     })
///     .collect();
/// for g in greenlets {
///     assert_eq!(g.join().unwrap(), ["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]);
/// }
/// ```
///
/// # Examples
///
/// See the [module documentation](self).
///
/// # Kill and timeout safety
///
/// [`lookup_ip`](Resolver::lookup_ip) can be killed or timed out at any
/// point: it holds no state outside its own stack frame but the rotation
/// counter.
#[derive(Debug)]
pub struct Resolver {
    config: ResolverConfig,
    hosts: Hosts,
    /// Where the next lookup starts in the server list under `rotate`.
    next_server: AtomicUsize,
}

impl Resolver {
    /// A resolver that asks `config`'s servers after looking in `hosts`.
    ///
    /// ```
    /// use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
    ///
    /// let upstream = ResolverConfig::new(vec!["192.0.2.53:53".parse().unwrap()]);
    /// let resolver = Resolver::new(upstream, Hosts::new());
    /// assert_eq!(resolver.config().nameservers().len(), 1);
    /// ```
    pub fn new(config: ResolverConfig, hosts: Hosts) -> Self {
        Resolver {
            config,
            hosts,
            next_server: AtomicUsize::new(0),
        }
    }

    /// The system's resolver: `/etc/resolv.conf` and `/etc/hosts`, read now.
    ///
    /// ```
    /// let resolver = grove::net::resolver::Resolver::system().unwrap();
    /// assert!(!resolver.config().nameservers().is_empty()); // 127.0.0.1:53 at least
    /// ```
    ///
    /// # Errors
    /// A file that exists but cannot be read.
    pub fn system() -> io::Result<Self> {
        Ok(Self::new(ResolverConfig::system()?, Hosts::system()?))
    }

    /// The configuration.
    ///
    /// ```
    /// use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
    ///
    /// let resolver = Resolver::new(ResolverConfig::new(vec![]).with_attempts(3), Hosts::new());
    /// assert_eq!(resolver.config().attempts(), 3);
    /// ```
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    /// The hosts table.
    ///
    /// ```
    /// use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
    ///
    /// let resolver = Resolver::new(ResolverConfig::new(vec![]), Hosts::parse("10.0.0.1 a b\n"));
    /// assert_eq!(resolver.hosts().len(), 2);
    /// ```
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// Resolves `host` to its addresses, IPv4 first, without blocking the
    /// hub: a literal address as is, then the hosts table, then DNS with
    /// the search list (names with fewer than `ndots` dots try the search
    /// domains first, names ending in `.` are tried as given only).
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::net::IpAddr;
    /// use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
    ///
    /// let resolver = Resolver::new(ResolverConfig::new(vec![]), Hosts::parse("10.9.8.7 db\n"));
    /// assert_eq!(resolver.lookup_ip("db").unwrap(), ["10.9.8.7".parse::<IpAddr>().unwrap()]);
    /// assert_eq!(resolver.lookup_ip("::1").unwrap(), ["::1".parse::<IpAddr>().unwrap()]); // literal
    /// assert_eq!(resolver.lookup_ip("x.invalid").unwrap_err().kind(), ErrorKind::NotFound);
    /// ```
    ///
    /// # Errors
    /// `NotFound` when no candidate name exists or has an address;
    /// `InvalidInput` for a name that is not a valid domain name;
    /// `TimedOut` when no server answered in `attempts` rounds; the last
    /// server error otherwise (a `SERVFAIL`, a refused port). Each message
    /// names the server and the name asked.
    ///
    /// # Kill and timeout safety
    /// See the [type documentation](Resolver).
    pub fn lookup_ip(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Some(ips) = self.hosts.get(host) {
            return Ok(ips.to_vec());
        }
        let bare = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if bare == "localhost" || bare.ends_with(".localhost") {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        if bare == "invalid" || bare.ends_with(".invalid") {
            return Err(not_found(host));
        }
        let mut last_err = None;
        for candidate in self.candidates(host)? {
            match self.resolve_name(&candidate) {
                Ok(ips) => return Ok(ips),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| not_found(host)))
    }

    /// The absolute names to try for `host`, in order (`res_search`'s rule).
    fn candidates(&self, host: &str) -> io::Result<Vec<Name>> {
        let invalid = |err: hickory_proto::ProtoError| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a valid domain name: {err}"),
            )
        };
        let absolute = |text: &str| -> io::Result<Name> {
            let mut name = Name::from_utf8(text).map_err(invalid)?;
            name.set_fqdn(true);
            Ok(name)
        };
        if host.is_empty() || host.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a valid domain name"),
            ));
        }
        if host.ends_with('.') {
            return Ok(vec![absolute(host)?]);
        }
        let as_given = absolute(host)?;
        let dots = host.bytes().filter(|&b| b == b'.').count();
        let mut names = Vec::with_capacity(self.config.search_domains().len() + 1);
        if dots >= usize::from(self.config.ndots()) {
            names.push(as_given.clone());
        }
        for domain in self.config.search_domains() {
            // A search domain that makes the name too long is skipped.
            if let Ok(name) = absolute(&format!("{host}.{domain}")) {
                names.push(name);
            }
        }
        if dots < usize::from(self.config.ndots()) {
            names.push(as_given);
        }
        Ok(names)
    }

    /// A and AAAA for one absolute name: each try asks one server both
    /// questions; a server that fails (silence, `SERVFAIL`, refusal, a
    /// closed port) hands over to the next, `attempts` times round.
    fn resolve_name(&self, name: &Name) -> io::Result<Vec<IpAddr>> {
        let servers = self.config.nameservers();
        let start = if self.config.rotate() {
            self.next_server.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let mut last_err = None;
        for _ in 0..self.config.attempts() {
            for i in 0..servers.len() {
                let server = servers[(start + i) % servers.len()];
                let outcomes = exchange::exchange(
                    server,
                    name,
                    &[RecordType::A, RecordType::AAAA],
                    self.config.timeout(),
                );
                let mut ips = Vec::new();
                let mut settled = true;
                let mut nxdomain = false;
                for outcome in outcomes {
                    match outcome {
                        Ok(msg) => match msg.response_code() {
                            ResponseCode::NoError => addresses(&msg, name, &mut ips),
                            ResponseCode::NXDomain => nxdomain = true,
                            code => {
                                settled = false;
                                last_err = Some(io::Error::other(format!(
                                    "{server} answered {code} for {name}"
                                )));
                            }
                        },
                        Err(err) => {
                            settled = false;
                            last_err = Some(io::Error::new(
                                err.kind(),
                                format!("asking {server} for {name}: {err}"),
                            ));
                        }
                    }
                }
                // Addresses win even if the other family failed: a server
                // (or middlebox) that drops AAAA must not cost the A answer.
                if !ips.is_empty() {
                    return Ok(ips);
                }
                if settled {
                    return Err(if nxdomain {
                        not_found(&name.to_string())
                    } else {
                        io::Error::new(io::ErrorKind::NotFound, format!("{name} has no address"))
                    });
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no name server")))
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such host {name:?}"))
}

/// The A and AAAA records for `name` in `msg`, following its CNAME chain.
fn addresses(msg: &Message, name: &Name, out: &mut Vec<IpAddr>) {
    let mut target = name.clone();
    let before = out.len();
    for _ in 0..MAX_CNAME_CHAIN {
        let mut alias = None;
        for record in msg.answers().iter().filter(|r| *r.name() == target) {
            let ip = match record.data() {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                RData::CNAME(cname) => {
                    alias = Some(cname.0.clone());
                    continue;
                }
                _ => continue,
            };
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        match alias {
            Some(next) if out.len() == before => target = next,
            _ => return,
        }
    }
}

/// Which resolver [`lookup_host`](crate::net::lookup_host) uses.
///
/// ```
/// use grove::net::resolver::{set_resolver, ResolverKind};
///
/// // This program needs nsswitch (say, LDAP hosts): use getaddrinfo.
/// set_resolver(ResolverKind::Thread);
/// let ips = grove::net::lookup_host("localhost").unwrap();
/// assert!(ips.iter().all(|ip| ip.is_loopback()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolverKind {
    /// This module's resolver, in the calling greenlet (the default with
    /// the `dns-resolver` feature; `GROVE_RESOLVER=native`).
    Native,
    /// `getaddrinfo` on grove's thread pool (`GROVE_RESOLVER=thread`).
    Thread,
}

const KIND_UNSET: u8 = 0;
const KIND_NATIVE: u8 = 1;
const KIND_THREAD: u8 = 2;
static KIND: AtomicU8 = AtomicU8::new(KIND_UNSET);

/// Chooses the resolver behind [`lookup_host`](crate::net::lookup_host)
/// for the whole process, overriding `GROVE_RESOLVER`. Lookups already in
/// flight finish with the resolver they started with.
///
/// # Examples
///
/// ```
/// use grove::net::resolver::{resolver_kind, set_resolver, ResolverKind};
///
/// set_resolver(ResolverKind::Thread);
/// assert_eq!(resolver_kind(), ResolverKind::Thread);
/// set_resolver(ResolverKind::Native);
/// ```
pub fn set_resolver(kind: ResolverKind) {
    KIND.store(kind.code(), Ordering::Relaxed);
}

impl ResolverKind {
    /// How `KIND` stores this choice.
    fn code(self) -> u8 {
        match self {
            ResolverKind::Native => KIND_NATIVE,
            ResolverKind::Thread => KIND_THREAD,
        }
    }
}

/// The resolver [`lookup_host`](crate::net::lookup_host) uses: the last
/// [`set_resolver`], else `GROVE_RESOLVER` (`native` or `thread`; anything
/// else is reported once on stderr and ignored), else `Native`.
///
/// ```
/// use grove::net::resolver::{resolver_kind, ResolverKind};
///
/// if std::env::var_os("GROVE_RESOLVER").is_none() {
///     assert_eq!(resolver_kind(), ResolverKind::Native); // the feature's default
/// }
/// ```
pub fn resolver_kind() -> ResolverKind {
    match KIND.load(Ordering::Relaxed) {
        KIND_NATIVE => ResolverKind::Native,
        KIND_THREAD => ResolverKind::Thread,
        _ => {
            let kind = match std::env::var("GROVE_RESOLVER").as_deref() {
                Ok("thread") => ResolverKind::Thread,
                Ok("native") | Err(_) => ResolverKind::Native,
                Ok(other) => {
                    eprintln!(
                        "grove: GROVE_RESOLVER={other:?} is not \"native\" or \"thread\"; using native"
                    );
                    ResolverKind::Native
                }
            };
            // Only the first reader stores (and so only it warned); a
            // concurrent `set_resolver` wins.
            let code = kind.code();
            let _ = KIND.compare_exchange(KIND_UNSET, code, Ordering::Relaxed, Ordering::Relaxed);
            kind
        }
    }
}

/// How often the system files' modification times are checked.
const RECHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct SystemResolver {
    resolver: Arc<Resolver>,
    stamps: [Option<SystemTime>; 2],
    checked: Instant,
}

static SYSTEM: Mutex<Option<SystemResolver>> = Mutex::new(None);

fn stamps() -> [Option<SystemTime>; 2] {
    [conf::RESOLV_CONF, hosts::HOSTS_FILE]
        .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
}

/// The system resolver, re-read when `/etc/resolv.conf` or `/etc/hosts`
/// changed (checked at most every [`RECHECK_EVERY`]).
fn system() -> io::Result<Arc<Resolver>> {
    // The lock is never held across a park: it only guards the swap.
    let mut cached = SYSTEM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    if let Some(sys) = cached.as_mut() {
        if now.duration_since(sys.checked) < RECHECK_EVERY {
            return Ok(sys.resolver.clone());
        }
        sys.checked = now;
        if stamps() == sys.stamps {
            return Ok(sys.resolver.clone());
        }
    }
    let current = stamps();
    let resolver = Arc::new(Resolver::system()?);
    *cached = Some(SystemResolver {
        resolver: resolver.clone(),
        stamps: current,
        checked: now,
    });
    Ok(resolver)
}

/// `lookup_host`'s native path.
pub(crate) fn lookup_system(host: &str) -> io::Result<Vec<IpAddr>> {
    system()?.lookup_ip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(conf: &str) -> Resolver {
        Resolver::new(ResolverConfig::parse(conf), Hosts::new())
    }

    fn names(r: &Resolver, host: &str) -> Vec<String> {
        r.candidates(host)
            .unwrap()
            .iter()
            .map(Name::to_string)
            .collect()
    }

    #[test]
    fn search_order_follows_ndots() {
        let r = resolver("search a.example b.example\n");
        assert_eq!(
            names(&r, "web"),
            ["web.a.example.", "web.b.example.", "web."]
        );
        assert_eq!(
            names(&r, "web.corp"),
            ["web.corp.", "web.corp.a.example.", "web.corp.b.example."]
        );
        assert_eq!(names(&r, "web.corp."), ["web.corp."]);
        let r = resolver("search a.example\noptions ndots:2\n");
        assert_eq!(names(&r, "web.corp"), ["web.corp.a.example.", "web.corp."]);
        assert_eq!(names(&resolver(""), "web"), ["web."]);
    }

    #[test]
    fn bad_names_are_invalid_input() {
        let r = resolver("");
        let long = "a".repeat(64);
        for bad in ["", ".", ".x", "a..b", long.as_str()] {
            let err = r.lookup_ip(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        }
    }

    #[test]
    fn special_names_stay_local() {
        let r = resolver("nameserver 192.0.2.1\n");
        assert!(r
            .lookup_ip("LocalHost.")
            .unwrap()
            .iter()
            .all(IpAddr::is_loopback));
        assert!(r
            .lookup_ip("app.localhost")
            .unwrap()
            .iter()
            .all(IpAddr::is_loopback));
        let err = r.lookup_ip("x.invalid").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            r.lookup_ip("192.0.2.7").unwrap(),
            ["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        let r = Resolver::new(
            ResolverConfig::default(),
            Hosts::parse("10.0.0.1 localhost\n"),
        );
        assert_eq!(
            r.lookup_ip("localhost").unwrap(),
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    proptest::proptest! {
        /// Whatever the files hold, parsing never panics and the results
        /// stay within glibc's bounds.
        #[test]
        fn any_file_text_parses(text in "(?s).{0,400}") {
            let conf = ResolverConfig::parse(&text);
            proptest::prop_assert!(!conf.nameservers().is_empty() && conf.nameservers().len() <= 3);
            proptest::prop_assert!(conf.search_domains().len() <= 6);
            proptest::prop_assert!((1..=5).contains(&conf.attempts()));
            let _ = Hosts::parse(&text);
        }

        /// Any host name gives an answer or an error — never a panic —
        /// without the network for special and invalid names.
        #[test]
        fn any_name_is_handled(name in "[a-zA-Z0-9.\\-_ ]{0,80}\\.invalid") {
            let r = resolver("nameserver 192.0.2.1\n");
            proptest::prop_assert!(r.lookup_ip(&name).is_err());
        }
    }

    #[test]
    fn switch_round_trips() {
        // Only this test touches the process-wide switch in this binary.
        let before = resolver_kind();
        set_resolver(ResolverKind::Thread);
        assert_eq!(resolver_kind(), ResolverKind::Thread);
        set_resolver(ResolverKind::Native);
        assert_eq!(resolver_kind(), ResolverKind::Native);
        set_resolver(before);
    }
}
