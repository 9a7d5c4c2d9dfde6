//! `/etc/resolv.conf`: which name servers to ask, how long to wait, and
//! which search domains to try.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Where the system keeps its resolver configuration.
pub(crate) const RESOLV_CONF: &str = "/etc/resolv.conf";

/// glibc's `MAXNS`: servers beyond the third are ignored, as glibc does.
const MAX_NAMESERVERS: usize = 3;
/// glibc's `MAXDNSRCH`.
const MAX_SEARCH: usize = 6;

/// How a [`Resolver`](super::Resolver) talks to DNS: the name servers, the
/// search list and the retry policy — the content of `resolv.conf(5)`.
///
/// [`ResolverConfig::system`] reads `/etc/resolv.conf`;
/// [`ResolverConfig::new`] starts from an explicit server list (tests, a
/// program with its own upstreams). The defaults are glibc's: a 5 s
/// timeout per try, 2 tries over the server list, `ndots` 1, no search
/// domains, and `127.0.0.1:53` when no server is named.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove::net::resolver::ResolverConfig;
///
/// let conf = ResolverConfig::parse(
///     "nameserver 192.0.2.53\nsearch corp.example example\noptions ndots:2 timeout:1 attempts:3 rotate\n",
/// );
/// assert_eq!(conf.nameservers(), ["192.0.2.53:53".parse().unwrap()]);
/// assert_eq!(conf.search_domains(), ["corp.example", "example"]);
/// assert_eq!((conf.ndots(), conf.timeout(), conf.attempts()), (2, Duration::from_secs(1), 3));
///
/// let conf = ResolverConfig::new(vec!["127.0.0.1:5353".parse().unwrap()])
///     .with_timeout(Duration::from_millis(500))
///     .with_attempts(1);
/// assert_eq!(conf.nameservers().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    nameservers: Vec<SocketAddr>,
    search: Vec<String>,
    ndots: u8,
    timeout: Duration,
    attempts: u32,
    rotate: bool,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        }
    }
}

impl ResolverConfig {
    /// A configuration that asks `nameservers` (in order, with failover),
    /// with glibc's defaults for everything else. An empty list means
    /// `127.0.0.1:53`, as in glibc.
    ///
    /// ```
    /// use grove::net::resolver::ResolverConfig;
    ///
    /// let config = ResolverConfig::new(vec!["9.9.9.9:53".parse().unwrap(), "1.1.1.1:53".parse().unwrap()]);
    /// assert_eq!(config.nameservers().len(), 2);
    /// assert_eq!(ResolverConfig::new(vec![]).nameservers(), ["127.0.0.1:53".parse().unwrap()]);
    /// ```
    pub fn new(nameservers: Vec<SocketAddr>) -> Self {
        ResolverConfig {
            nameservers,
            ..Self::default()
        }
    }

    /// Reads `/etc/resolv.conf`. A missing file gives the defaults (a
    /// local server on port 53), as glibc does.
    ///
    /// Blocking file I/O on a small local file, like gevent's resolvers.
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::system().unwrap();
    /// assert!(config.attempts() >= 1);
    /// ```
    ///
    /// # Errors
    /// Any read error other than "not found".
    pub fn system() -> std::io::Result<Self> {
        match std::fs::read_to_string(RESOLV_CONF) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err),
        }
    }

    /// Parses the text of a `resolv.conf(5)` file: `nameserver`,
    /// `search`, `domain` and `options` (`ndots:n`, `timeout:n`,
    /// `attempts:n`, `rotate`; others are ignored). Lines that do not parse
    /// are skipped, as glibc skips them; comments start with `#` or `;`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::net::resolver::ResolverConfig;
    ///
    /// let config = ResolverConfig::parse(
    ///     "# managed by hand\n\
    ///      nameserver 10.0.0.2\n\
    ///      search corp.example lab.example\n\
    ///      options ndots:2 timeout:3 attempts:4 rotate\n",
    /// );
    /// assert_eq!(config.nameservers(), ["10.0.0.2:53".parse().unwrap()]);
    /// assert_eq!(config.search_domains(), ["corp.example", "lab.example"]);
    /// assert_eq!((config.ndots(), config.attempts(), config.rotate()), (2, 4, true));
    /// assert_eq!(config.timeout(), Duration::from_secs(3));
    /// ```
    pub fn parse(text: &str) -> Self {
        let mut conf = Self::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(addr) = words.next().and_then(parse_nameserver) {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(addr);
                        }
                    }
                }
                // The last `search` or `domain` line wins (resolv.conf(5)).
                Some("search") => {
                    conf.search = words
                        .filter(|d| *d != ".")
                        .take(MAX_SEARCH)
                        .map(normalize_domain)
                        .collect();
                }
                Some("domain") => {
                    conf.search = words.next().map(normalize_domain).into_iter().collect();
                }
                Some("options") => {
                    for option in words {
                        conf.apply_option(option);
                    }
                }
                _ => {}
            }
        }
        conf
    }

    fn apply_option(&mut self, option: &str) {
        let (key, value) = option.split_once(':').unwrap_or((option, ""));
        let number = value.parse::<u32>().ok();
        // Bounds as glibc's RES_MAXNDOTS, RES_MAXRETRANS and RES_MAXRETRY.
        match (key, number) {
            ("ndots", Some(n)) => self.ndots = n.min(15) as u8,
            ("timeout", Some(n)) => self.timeout = Duration::from_secs(u64::from(n.clamp(1, 30))),
            ("attempts", Some(n)) => self.attempts = n.clamp(1, 5),
            ("rotate", _) => self.rotate = true,
            _ => {}
        }
    }

    /// Replaces the search list (domains tried for names with fewer than
    /// `ndots` dots first, and after the name itself otherwise).
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]).with_search(["svc.cluster.local"]);
    /// assert_eq!(config.search_domains(), ["svc.cluster.local"]);
    /// ```
    pub fn with_search<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.search = domains
            .into_iter()
            .map(|d| normalize_domain(d.as_ref()))
            .collect();
        self
    }

    /// Sets `ndots`.
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]).with_ndots(5);
    /// assert_eq!(config.ndots(), 5);
    /// ```
    pub fn with_ndots(mut self, ndots: u8) -> Self {
        self.ndots = ndots;
        self
    }

    /// Sets how long one try waits for one server (at least 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]).with_timeout(Duration::from_millis(500));
    /// assert_eq!(config.timeout(), Duration::from_millis(500));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets how many times the whole server list is tried (at least 1).
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]).with_attempts(0);
    /// assert_eq!(config.attempts(), 1); // at least one
    /// ```
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets `rotate`: spread queries over the servers instead of always
    /// asking the first one first.
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]).with_rotate(true);
    /// assert!(config.rotate());
    /// ```
    pub fn with_rotate(mut self, rotate: bool) -> Self {
        self.rotate = rotate;
        self
    }

    /// The servers, in order (`127.0.0.1:53` when none was named).
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::parse("nameserver ::1\n");
    /// assert_eq!(config.nameservers(), ["[::1]:53".parse().unwrap()]);
    /// ```
    pub fn nameservers(&self) -> &[SocketAddr] {
        const LOCAL: &[SocketAddr] = &[SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            53,
        )];
        if self.nameservers.is_empty() {
            LOCAL
        } else {
            &self.nameservers
        }
    }

    /// The search domains, without trailing dots.
    ///
    /// ```
    /// let config = grove::net::resolver::ResolverConfig::parse("domain example.com.\n");
    /// assert_eq!(config.search_domains(), ["example.com"]);
    /// ```
    pub fn search_domains(&self) -> &[String] {
        &self.search
    }

    /// Names with at least this many dots are tried as given before the
    /// search list.
    ///
    /// ```
    /// assert_eq!(grove::net::resolver::ResolverConfig::new(vec![]).ndots(), 1); // glibc's default
    /// ```
    pub fn ndots(&self) -> u8 {
        self.ndots
    }

    /// How long one try waits for one server.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = grove::net::resolver::ResolverConfig::new(vec![]);
    /// assert_eq!(config.timeout(), Duration::from_secs(5)); // glibc's default
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times the server list is tried.
    ///
    /// ```
    /// assert_eq!(grove::net::resolver::ResolverConfig::new(vec![]).attempts(), 2); // glibc's default
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether queries are spread over the servers.
    ///
    /// ```
    /// assert!(!grove::net::resolver::ResolverConfig::new(vec![]).rotate());
    /// ```
    pub fn rotate(&self) -> bool {
        self.rotate
    }
}

/// `192.0.2.1`, `2001:db8::1`, `fe80::1%eth0` (scope ids by name are
/// not supported and skip the line), or with a port for tests written as a
/// socket address (`127.0.0.1:5353`, `[::1]:5353`) — a grove extension.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    word.parse::<SocketAddr>().ok()
}

fn normalize_domain(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_glibc_defaults() {
        let conf = ResolverConfig::parse("");
        assert_eq!(conf.nameservers(), ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(conf.timeout(), Duration::from_secs(5));
        assert_eq!(
            (conf.attempts(), conf.ndots(), conf.rotate()),
            (2, 1, false)
        );
        assert!(conf.search_domains().is_empty());
    }

    #[test]
    fn full_file() {
        let conf = ResolverConfig::parse(
            "# generated\n\
             nameserver 10.0.0.1\n\
             nameserver 2001:db8::53 ; comment\n\
             nameserver not-an-ip\n\
             nameserver fe80::1%eth0\n\
             nameserver 10.0.0.2\n\
             nameserver 10.0.0.3\n\
             domain ignored.example\n\
             search A.Example. b.example\n\
             options rotate ndots:3 timeout:0 attempts:9 edns0 bogus:x\n",
        );
        assert_eq!(
            conf.nameservers(),
            [
                "10.0.0.1:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
                "10.0.0.2:53".parse().unwrap(),
            ]
        );
        assert_eq!(conf.search_domains(), ["a.example", "b.example"]);
        assert_eq!(conf.ndots(), 3);
        assert_eq!(conf.timeout(), Duration::from_secs(1));
        assert_eq!(conf.attempts(), 5);
        assert!(conf.rotate());
    }

    #[test]
    fn last_of_domain_and_search_wins() {
        let conf = ResolverConfig::parse("search a.example\ndomain b.example\n");
        assert_eq!(conf.search_domains(), ["b.example"]);
        let conf = ResolverConfig::parse("options ndots:99\nnameserver 127.0.0.1:5300\n");
        assert_eq!(conf.ndots(), 15);
        assert_eq!(conf.nameservers(), ["127.0.0.1:5300".parse().unwrap()]);
    }
}
