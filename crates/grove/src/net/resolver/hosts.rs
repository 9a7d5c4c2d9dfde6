//! `/etc/hosts`: static names, consulted before DNS.

use std::collections::HashMap;
use std::net::IpAddr;

/// Where the system keeps its static host table.
pub(crate) const HOSTS_FILE: &str = "/etc/hosts";

/// A parsed host table (`hosts(5)`): each line is an address followed by
/// a canonical name and aliases; `#` starts a comment. Names compare
/// case-insensitively; a name on several lines gets every address, in file
/// order.
///
/// # Examples
///
/// ```
/// use grove::net::resolver::Hosts;
///
/// let hosts = Hosts::parse("127.0.0.1 localhost\n10.0.0.7  db.internal db  # primary\n::1 localhost\n");
/// let ips: Vec<String> = hosts.get("LOCALHOST").unwrap().iter().map(|ip| ip.to_string()).collect();
/// assert_eq!(ips, ["127.0.0.1", "::1"]);
/// assert_eq!(hosts.get("db.").unwrap(), ["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]);
/// assert!(hosts.get("web").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    names: HashMap<String, Vec<IpAddr>>,
}

impl Hosts {
    /// An empty table: every name goes to DNS.
    ///
    /// ```
    /// let hosts = grove::net::resolver::Hosts::new();
    /// assert!(hosts.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `/etc/hosts`; a missing file is an empty table.
    ///
    /// ```
    /// let hosts = grove::net::resolver::Hosts::system().unwrap();
    /// let _ = hosts.get("localhost"); // usually there, but a hosts file may omit it
    /// ```
    ///
    /// # Errors
    /// Any read error other than "not found".
    pub fn system() -> std::io::Result<Self> {
        match std::fs::read_to_string(HOSTS_FILE) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(err) => Err(err),
        }
    }

    /// Parses the text of a hosts file. Lines whose first word is not an
    /// IP address are skipped (glibc skips them too).
    ///
    /// ```
    /// let hosts = grove::net::resolver::Hosts::parse("127.0.0.1 localhost\nnot-an-ip skipped\n");
    /// assert_eq!(hosts.len(), 1);
    /// ```
    pub fn parse(text: &str) -> Self {
        let mut hosts = Self::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in words {
                hosts.insert(name, ip);
            }
        }
        hosts
    }

    /// Adds `ip` to `name`'s addresses.
    ///
    /// ```
    /// let mut hosts = grove::net::resolver::Hosts::new();
    /// hosts.insert("api", "10.0.0.9".parse().unwrap());
    /// assert_eq!(hosts.get("API").unwrap().len(), 1);
    /// ```
    pub fn insert(&mut self, name: &str, ip: IpAddr) {
        let ips = self.names.entry(key(name)).or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    /// `name`'s addresses (case-insensitive, a trailing dot ignored).
    ///
    /// ```
    /// let hosts = grove::net::resolver::Hosts::parse("10.0.0.3 db\n");
    /// assert_eq!(hosts.get("db.").unwrap(), ["10.0.0.3".parse::<std::net::IpAddr>().unwrap()]);
    /// assert!(hosts.get("web").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&[IpAddr]> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.names.get(&name.to_ascii_lowercase())
        } else {
            self.names.get(name)
        }
        .map(Vec::as_slice)
    }

    /// How many names the table holds.
    ///
    /// ```
    /// let hosts = grove::net::resolver::Hosts::parse("10.0.0.1 a b c\n");
    /// assert_eq!(hosts.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table holds no name.
    ///
    /// ```
    /// assert!(grove::net::resolver::Hosts::parse("# only a comment\n").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_aliases_and_junk() {
        let hosts = Hosts::parse(
            "# comment only\n\
             \n\
             127.0.0.1\tlocalhost loopback\n\
             not-an-ip name\n\
             192.0.2.1 web.example web # trailing\n\
             192.0.2.1 WEB.example\n\
             192.0.2.2 web.example\n\
             fe80::1%eth0 linklocal\n\
             2001:db8::1 v6only\n",
        );
        assert_eq!(hosts.len(), 5);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(hosts.get("loopback").unwrap(), [ip("127.0.0.1")]);
        assert_eq!(
            hosts.get("Web.Example.").unwrap(),
            [ip("192.0.2.1"), ip("192.0.2.2")]
        );
        assert_eq!(hosts.get("web").unwrap(), [ip("192.0.2.1")]);
        assert_eq!(hosts.get("v6only").unwrap(), [ip("2001:db8::1")]);
        assert!(hosts.get("name").is_none());
        assert!(hosts.get("linklocal").is_none());
        assert!(Hosts::parse("").is_empty());
    }
}
