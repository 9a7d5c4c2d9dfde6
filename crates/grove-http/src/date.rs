//! Dates: the `Date` header line (IMF-fixdate, cached per second and per
//! thread, with the whole head of the most common response built on it)
//! and the access log's timestamp.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`
pub(crate) const DATE_LINE_LEN: usize = 6 + 29 + 2;

/// The start of the most common response head, which the cache keeps in
/// front of its `Date` line so that both go out in one copy.
const OK_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: grove-http\r\n";

/// `OK_HEAD` and the `Date` line.
const LINE_LEN: usize = OK_HEAD.len() + DATE_LINE_LEN;

/// The longest `Content-Length: N\r\n\r\n` (a 20-digit `N`).
const LENGTH_TAIL_MAX: usize = 16 + 20 + 4;

/// The `Date` line of one second, behind [`OK_HEAD`]; and the whole head
/// of the most common response — a keep-alive `200` without headers of
/// the handler's — for the last body length asked for. A server keeps
/// one, which its reaper refreshes at least twice a second (see
/// `ConnHooks::date`); other connections use this thread's, brought up to
/// date on every use.
pub(crate) struct DateCache {
    secs: u64,
    /// `OK_HEAD` followed by the `Date` line.
    line: [u8; LINE_LEN],
    /// `line`, then `Content-Length: {framed_for}` and the blank line:
    /// `framed_len` bytes, valid while `framed_for` is `Some` (until the
    /// second changes).
    framed: [u8; LINE_LEN + LENGTH_TAIL_MAX],
    framed_len: usize,
    framed_for: Option<u64>,
}

impl DateCache {
    /// A cache that is not current yet (see [`refresh`](Self::refresh)).
    pub(crate) const fn new() -> DateCache {
        DateCache {
            secs: u64::MAX,
            line: [0; LINE_LEN],
            framed: [0; LINE_LEN + LENGTH_TAIL_MAX],
            framed_len: 0,
            framed_for: None,
        }
    }

    /// Brings the cache up to the current second.
    pub(crate) fn refresh(&mut self) {
        self.update(now_secs());
    }

    /// `HTTP/1.1 200 OK`, `Server: grove-http` and the `Date` line.
    pub(crate) fn ok_head(&self) -> &[u8] {
        &self.line
    }

    /// The `Date` line alone.
    pub(crate) fn date_line(&self) -> &[u8] {
        &self.line[OK_HEAD.len()..]
    }

    /// The whole head of a keep-alive `200` without headers of the
    /// handler's and with a body of `len` bytes: [`ok_head`](Self::ok_head),
    /// `Content-Length` and the blank line. Built when `len` differs from
    /// the last call's (or the second changed), so that a server answering
    /// with bodies of one length writes each head with a single copy.
    #[inline(always)]
    pub(crate) fn ok_head_framed(&mut self, len: u64) -> &[u8] {
        if self.framed_for != Some(len) {
            self.frame(len);
        }
        &self.framed[..self.framed_len]
    }

    /// Builds the head [`ok_head_framed`](Self::ok_head_framed) returns.
    #[inline(never)]
    fn frame(&mut self, len: u64) {
        let mut n = LINE_LEN;
        self.framed[..n].copy_from_slice(&self.line);
        for part in [
            &b"Content-Length: "[..],
            itoa::Buffer::new().format(len).as_bytes(),
            b"\r\n\r\n",
        ] {
            self.framed[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        self.framed_len = n;
        self.framed_for = Some(len);
    }

    fn update(&mut self, secs: u64) {
        if self.secs != secs {
            self.secs = secs;
            self.framed_for = None;
            let (head, date) = self.line.split_at_mut(OK_HEAD.len());
            head.copy_from_slice(OK_HEAD);
            date[..6].copy_from_slice(b"Date: ");
            date[6..35].copy_from_slice(&imf_fixdate(secs));
            date[35..].copy_from_slice(b"\r\n");
        }
    }
}

thread_local! {
    static CACHE: RefCell<DateCache> = const { RefCell::new(DateCache::new()) };
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Appends the `Date` header line for the current second: from `cache`,
/// which the caller keeps current, or else from this thread's cache after
/// reading the clock.
pub(crate) fn write_date_line(out: &mut Vec<u8>, cache: Option<&DateCache>) {
    match cache {
        Some(cache) => out.extend_from_slice(cache.date_line()),
        None => with_current(|cache| out.extend_from_slice(cache.date_line())),
    }
}

/// Appends `HTTP/1.1 200 OK`, `Server: grove-http` and the `Date` line
/// (with the date as [`write_date_line`] finds it).
pub(crate) fn write_ok_head(out: &mut Vec<u8>, cache: Option<&DateCache>) {
    match cache {
        Some(cache) => out.extend_from_slice(cache.ok_head()),
        None => with_current(|cache| out.extend_from_slice(cache.ok_head())),
    }
}

/// Appends the whole head of a keep-alive `200` without headers of the
/// handler's and with a body of `len` bytes (see
/// [`DateCache::ok_head_framed`]), with the date as [`write_date_line`]
/// finds it.
#[inline(always)]
pub(crate) fn write_ok_head_framed(
    out: &mut Vec<u8>,
    cache: Option<&RefCell<DateCache>>,
    len: u64,
) {
    match cache {
        Some(cache) => out.extend_from_slice(cache.borrow_mut().ok_head_framed(len)),
        None => write_ok_head_framed_now(out, len),
    }
}

/// [`write_ok_head_framed`] with this thread's cache, after reading the
/// clock.
#[inline(never)]
fn write_ok_head_framed_now(out: &mut Vec<u8>, len: u64) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.refresh();
        out.extend_from_slice(cache.ok_head_framed(len));
    });
}

fn with_current(f: impl FnOnce(&DateCache)) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.refresh();
        f(&cache);
    });
}

/// Broken-down UTC time.
struct Civil {
    year: u64,
    month: usize, // 1..=12
    day: u64,
    hour: u64,
    min: u64,
    sec: u64,
    weekday: usize, // 0 = Sunday
}

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn civil(secs: u64) -> Civil {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    Civil {
        year,
        month: month as usize,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        weekday: ((days + 4) % 7) as usize, // 1970-01-01 was a Thursday
    }
}

fn two(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

fn four(out: &mut [u8], n: u64) {
    two(&mut out[..2], n / 100);
    two(&mut out[2..], n % 100);
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
pub(crate) fn imf_fixdate(secs: u64) -> [u8; 29] {
    let c = civil(secs);
    let mut b = *b"Sun, 00 Jan 0000 00:00:00 GMT";
    b[..3].copy_from_slice(DAYS[c.weekday]);
    two(&mut b[5..7], c.day);
    b[8..11].copy_from_slice(MONTHS[c.month - 1]);
    four(&mut b[12..16], c.year);
    two(&mut b[17..19], c.hour);
    two(&mut b[20..22], c.min);
    two(&mut b[23..25], c.sec);
    b
}

/// `[10/Oct/2000:13:55:36 +0000]`, the common log format's timestamp.
pub(crate) fn clf_now() -> [u8; 28] {
    let c = civil(now_secs());
    let mut b = *b"[00/Jan/0000:00:00:00 +0000]";
    two(&mut b[1..3], c.day);
    b[4..7].copy_from_slice(MONTHS[c.month - 1]);
    four(&mut b[8..12], c.year);
    two(&mut b[13..15], c.hour);
    two(&mut b[16..18], c.min);
    two(&mut b[19..21], c.sec);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(
            &imf_fixdate(4_102_444_799),
            b"Thu, 31 Dec 2099 23:59:59 GMT"
        );
    }

    #[test]
    fn date_line_is_cached_and_well_formed() {
        let mut out = Vec::new();
        write_date_line(&mut out, None);
        let mut cache = DateCache::new();
        cache.refresh();
        write_date_line(&mut out, Some(&cache));
        assert_eq!(out.len(), 2 * DATE_LINE_LEN);
        assert!(out.starts_with(b"Date: ") && out.ends_with(b" GMT\r\n"));
        let mut head = Vec::new();
        write_ok_head(&mut head, Some(&cache));
        assert_eq!(&head[..OK_HEAD.len()], OK_HEAD);
        assert_eq!(&head[OK_HEAD.len()..], &out[DATE_LINE_LEN..]);
        let mut fresh = Vec::new();
        write_ok_head(&mut fresh, None);
        assert_eq!(fresh.len(), head.len());
        assert!(fresh.starts_with(OK_HEAD));
        let clf = clf_now();
        assert!(clf.starts_with(b"[") && clf.ends_with(b" +0000]"));
    }

    #[test]
    fn the_framed_head_follows_the_length_and_the_second() {
        let mut cache = DateCache::new();
        cache.update(784_111_777);
        let framed = |cache: &mut DateCache, len| cache.ok_head_framed(len).to_vec();
        let fourteen = framed(&mut cache, 14);
        assert_eq!(&fourteen[..LINE_LEN], cache.ok_head());
        assert_eq!(&fourteen[LINE_LEN..], b"Content-Length: 14\r\n\r\n");
        assert_eq!(framed(&mut cache, 14), fourteen);
        let max = framed(&mut cache, u64::MAX);
        assert!(max.ends_with(b"Content-Length: 18446744073709551615\r\n\r\n"));
        assert_eq!(
            framed(&mut cache, 0)[LINE_LEN..],
            *b"Content-Length: 0\r\n\r\n"
        );
        // A new second: the cached head is rebuilt with the new date.
        cache.update(784_111_778);
        let later = framed(&mut cache, 0);
        assert_eq!(&later[..LINE_LEN], cache.ok_head());
        assert!(later[..LINE_LEN].ends_with(b"08:49:38 GMT\r\n"));
        let mut out = Vec::new();
        write_ok_head_framed(&mut out, None, 3);
        assert!(out.starts_with(OK_HEAD) && out.ends_with(b" GMT\r\nContent-Length: 3\r\n\r\n"));
    }
}
