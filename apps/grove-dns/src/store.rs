//! Persistence: the cache outlives the process, in a redb file or Redis.
//!
//! Store I/O never runs on a hub. [`open`] returns at once and starts the
//! store's thread, which opens the backend and reads the live entries back
//! into the cache *while the server already serves* (a loaded entry never
//! replaces or evicts one the server cached meanwhile), then owns the
//! backend as its writer. Serving threads hand it new entries through a
//! bounded channel ([`StoreWriter::put`] never blocks: when the channel is
//! full the entry is simply not persisted). The writer batches what
//! arrives within [`BATCH_DELAY`] into one transaction (redb commits
//! fsync) or one pipeline (Redis).
//!
//! The redb file is bounded like the cache: it holds at most the cache's
//! capacity in entries (the oldest written go first, through a second
//! table that orders them by write), so under a flood of unique names its
//! live data stays that size and redb reuses the pages freed; it is
//! compacted after each start's load. redb's page cache, 1 GiB by default,
//! is held to [`redb_cache_bytes`] of the cache's memory bound. The memory
//! of the process is therefore the cache's `--cache-memory`, plus that,
//! plus the channel's [`CHANNEL`] entries at most.
//!
//! Failures degrade, they do not stop the server:
//! * a redb file that cannot be read is renamed aside
//!   (`cache.redb.corrupt-<unix time>`) and a new one started, said in the log;
//! * a redb file held by another running instance leaves this one with a
//!   memory-only cache (redb files are single-writer; share through Redis);
//! * a Redis that is unreachable at start, or goes away mid-run, leaves the
//!   server serving without persistence; the writer says so once, keeps
//!   the newest entries pending (up to [`MAX_PENDING`]) and reconnects
//!   every [`RETRY_EVERY`], writing them when Redis is back.
//!
//! With Redis, several instances share one cache: each loads it at start,
//! and a miss asks Redis ([`SharedReader`], off the hub) before going
//! upstream.
//!
//! Entries are stored by cache key in [`Entry::to_bytes`] form (the wire
//! answer, when it was stored, its lifetime); Redis expires them itself
//! (`SET … EX`), redb entries past their lifetime are deleted at the next
//! start (or evicted as the oldest before).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use grove_dns::cache::{Cache, Entry, TtlPolicy};
//! use grove_dns::config::StoreConfig;
//! use grove_dns::{store, wire};
//!
//! let dir = std::env::temp_dir().join(format!("grove-dns-doc-{}", std::process::id()));
//! let path = dir.join("cache.redb");
//! let mut answer = wire::build_query(1, b"\x01a\x00", 1, 1, None);
//! answer[2] |= 0x80;
//! answer[7] = 1;
//! answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 10, 1, 2, 3]);
//! let entry = Arc::new(Entry::from_response(&answer, &TtlPolicy::default(), Instant::now()).unwrap());
//!
//! let cache = Arc::new(Cache::new(1000, 1));
//! let store = store::open(&StoreConfig::Redb(path.clone()), cache.clone(), 1 << 20).unwrap();
//! assert_eq!(store.wait_loaded(), 0);
//! store.writer().put(b"key", &entry);
//! store.shutdown(); // flushes
//! let cache = Arc::new(Cache::new(1000, 1));
//! let store = store::open(&StoreConfig::Redb(path), cache.clone(), 1 << 20).unwrap();
//! assert_eq!(store.wait_loaded(), 1);
//! assert!(cache.get(b"key", Instant::now()).is_some());
//! store.shutdown();
//! # std::fs::remove_dir_all(dir).unwrap();
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::cache::{unix_now, Cache, Entry};
use crate::config::StoreConfig;

/// How long the writer gathers entries before one commit.
pub const BATCH_DELAY: Duration = Duration::from_millis(50);
/// Most entries in one commit.
pub const BATCH_MAX: usize = 2048;
/// Most entries kept while the backend is unavailable.
pub const MAX_PENDING: usize = 50_000;
/// How often an unavailable backend is retried.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Capacity of the channel from the serving threads to the writer.
pub const CHANNEL: usize = 65_536;

/// The first format's table: unbounded, dropped when found.
const TABLE_V1: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("answers");
/// Cache key → the write's sequence number (8 bytes) and the entry.
const ANSWERS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("answers-v2");
/// Sequence number → cache key: the order entries were written in, to
/// evict the oldest. A key written again leaves a stale row behind, which
/// eviction skips (its number no longer matches the answer's).
const ORDER: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("write-order");

/// redb's page cache for a cache of `cache_bytes`: a sixteenth of it,
/// between 4 and 64 MiB (redb's own default is 1 GiB).
pub fn redb_cache_bytes(cache_bytes: usize) -> usize {
    (cache_bytes / 16).clamp(4 << 20, 64 << 20)
}
const REDIS_PREFIX: &[u8] = b"grove-dns:v1:";

enum Msg {
    Put(Box<[u8]>, Arc<Entry>),
    Shutdown,
}

/// The serving threads' side of the store: cheap to clone, never blocks.
#[derive(Clone)]
pub struct StoreWriter {
    tx: SyncSender<Msg>,
    overflow: Arc<AtomicU64>,
}

impl fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreWriter")
            .field("overflow", &self.overflow.load(Relaxed))
            .finish()
    }
}

impl StoreWriter {
    /// Queues `entry` for persistence under `key`; if the writer is far
    /// behind, the entry is not persisted (counted, never waited for).
    pub fn put(&self, key: &[u8], entry: &Arc<Entry>) {
        match self.tx.try_send(Msg::Put(key.into(), entry.clone())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.overflow.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// An open store: the writer thread and the handle to feed it.
pub struct Store {
    writer: StoreWriter,
    reader: Option<SharedReader>,
    thread: Option<JoinHandle<()>>,
    description: String,
    loaded: Arc<(Mutex<Option<usize>>, Condvar)>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl Store {
    /// A handle for the serving threads.
    pub fn writer(&self) -> StoreWriter {
        self.writer.clone()
    }

    /// For a store other instances write to as well (Redis): a handle to
    /// look up what they cached since this one started.
    pub fn shared_reader(&self) -> Option<SharedReader> {
        self.reader.clone()
    }

    /// What the store is (`redb file /…/cache.redb`, `redis redis://…`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Waits until the store has been read back and returns how many
    /// entries went into the cache. Blocks the calling OS thread (tests,
    /// tools): serving never needs to wait for it.
    pub fn wait_loaded(&self) -> usize {
        let (count, done) = &*self.loaded;
        let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(n) = *count {
                return n;
            }
            count = done.wait(count).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Writes everything queued so far and stops the writer thread.
    /// Blocks the calling OS thread: from a hub, call it through
    /// `grove::threadpool::spawn_blocking`.
    pub fn shutdown(mut self) {
        let _ = self.writer.tx.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A place entries are written to.
trait Backend: Send {
    fn write(&mut self, batch: &HashMap<Box<[u8]>, Arc<Entry>>) -> Result<(), String>;
    /// Makes the backend usable again after a failed write.
    fn reconnect(&mut self) -> Result<(), String>;
}

/// Live entries read back from a store.
pub type Loaded = Vec<(Box<[u8]>, Entry)>;

/// Opens the configured store on its own thread and returns at once: the
/// thread connects, reads the live entries back into `cache` (as many as
/// it has room for), logs how many, then writes behind. `cache_bytes` is
/// the cache's memory bound (see [`redb_cache_bytes`]).
///
/// Failures that leave the server usable (see the module doc) are logged
/// and leave the cache empty.
///
/// # Errors
/// A Redis URL that cannot be parsed (a configuration mistake), or no
/// thread for the store.
pub fn open(config: &StoreConfig, cache: Arc<Cache>, cache_bytes: usize) -> Result<Store, String> {
    let mut reader = None;
    let mut redis = None;
    let description = match config {
        StoreConfig::None => "memory only".to_string(),
        StoreConfig::Redb(path) => format!("redb file {}", path.display()),
        StoreConfig::Redis(url) => {
            let store = RedisStore::new(url)?;
            reader = Some(SharedReader {
                inner: Arc::new(ReaderInner {
                    client: store.client.clone(),
                    conn: Mutex::new(None),
                    retry_at: Mutex::new(None),
                }),
            });
            redis = Some(store);
            format!("redis {url}")
        }
    };
    let (tx, rx) = mpsc::sync_channel(CHANNEL);
    let overflow = Arc::new(AtomicU64::new(0));
    let loaded = Arc::new((Mutex::new(None), Condvar::new()));
    let thread = {
        let (overflow, loaded, config) = (overflow.clone(), loaded.clone(), config.clone());
        std::thread::Builder::new()
            .name("grove-dns-store".into())
            .spawn(move || {
                let started = Instant::now();
                let (backend, healthy, description, count) =
                    connect_and_load(&config, redis, &cache, cache_bytes);
                crate::log!(
                    "cache store: {description} ({count} live entries loaded in {} ms)",
                    started.elapsed().as_millis()
                );
                *loaded.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(count);
                loaded.1.notify_all();
                write_behind(backend, rx, healthy, &description, &overflow);
            })
            .map_err(|e| format!("cannot start the store's thread: {e}"))?
    };
    Ok(Store {
        writer: StoreWriter { tx, overflow },
        reader,
        thread: Some(thread),
        description,
        loaded,
    })
}

/// Opens the backend and reads it back into `cache`: the backend, whether
/// it is reachable, what it is, how many entries were loaded.
fn connect_and_load(
    config: &StoreConfig,
    redis: Option<RedisStore>,
    cache: &Cache,
    cache_bytes: usize,
) -> (Box<dyn Backend>, bool, String, usize) {
    let capacity = cache.capacity();
    let memory_only = || -> (Box<dyn Backend>, bool, String, usize) {
        (Box::new(Nowhere), true, "memory only".into(), 0)
    };
    match (config, redis) {
        (StoreConfig::Redb(path), _) => match open_redb(path, cache, cache_bytes) {
            Some((db, count)) => (
                Box::new(db),
                true,
                format!("redb file {}", path.display()),
                count,
            ),
            None => memory_only(),
        },
        (StoreConfig::Redis(url), Some(mut redis)) => {
            let description = format!("redis {url}");
            match redis.connect().and_then(|()| redis.load(capacity)) {
                Ok(loaded) => {
                    let count = loaded
                        .into_iter()
                        .map(|(key, entry)| cache.insert_if_room(&key, Arc::new(entry)))
                        .filter(|&stored| stored)
                        .count();
                    (Box::new(redis), true, description, count)
                }
                Err(e) => {
                    crate::log!(
                        "redis at {url} is unavailable ({e}): starting with an empty cache, \
                         serving without persistence, retrying every {}s",
                        RETRY_EVERY.as_secs()
                    );
                    (Box::new(redis), false, description, 0)
                }
            }
        }
        _ => memory_only(),
    }
}

/// The writer thread: gathers entries, commits them in batches, rides out
/// an unavailable backend.
fn write_behind(
    mut backend: Box<dyn Backend>,
    rx: mpsc::Receiver<Msg>,
    mut healthy: bool,
    description: &str,
    overflow: &AtomicU64,
) {
    let mut pending: HashMap<Box<[u8]>, Arc<Entry>> = HashMap::new();
    let mut flush_at: Option<Instant> = (!healthy).then(|| Instant::now() + RETRY_EVERY);
    let mut lost = 0u64;
    loop {
        let (msg, due) = match flush_at {
            None => (rx.recv().ok().or(Some(Msg::Shutdown)), false),
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(msg) => (Some(msg), false),
                Err(RecvTimeoutError::Timeout) => (None, true),
                Err(RecvTimeoutError::Disconnected) => (Some(Msg::Shutdown), false),
            },
        };
        let shutting_down = matches!(msg, Some(Msg::Shutdown));
        if let Some(Msg::Put(key, entry)) = msg {
            if pending.len() >= MAX_PENDING && !pending.contains_key(&key) {
                lost += 1;
            } else {
                pending.insert(key, entry);
            }
            if flush_at.is_none() {
                flush_at = Some(Instant::now() + BATCH_DELAY);
            }
        }
        let full = healthy && pending.len() >= BATCH_MAX;
        if !(due || full || shutting_down) {
            continue;
        }
        if !healthy {
            match backend.reconnect() {
                Ok(()) => {
                    healthy = true;
                    crate::log!(
                        "{description} is back: writing {} pending entries{}",
                        pending.len(),
                        if lost > 0 {
                            format!(" ({lost} were dropped meanwhile)")
                        } else {
                            String::new()
                        }
                    );
                    lost = 0;
                }
                Err(_) if shutting_down => {
                    crate::log!(
                        "{description} is unavailable at shutdown: {} entries not saved",
                        pending.len()
                    );
                    return;
                }
                Err(_) => {
                    flush_at = Some(Instant::now() + RETRY_EVERY);
                    continue;
                }
            }
        }
        if !pending.is_empty() {
            match backend.write(&pending) {
                Ok(()) => pending.clear(),
                Err(e) => {
                    healthy = false;
                    crate::log!(
                        "{description} failed ({e}): serving without persistence, retrying every {}s",
                        RETRY_EVERY.as_secs()
                    );
                    if shutting_down {
                        crate::log!("{} entries not saved", pending.len());
                    }
                }
            }
        }
        flush_at = if healthy {
            None
        } else {
            Some(Instant::now() + RETRY_EVERY)
        };
        if shutting_down {
            let overflowed = overflow.load(Relaxed);
            if overflowed > 0 {
                crate::log!("{overflowed} entries were not persisted: the writer fell behind");
            }
            return;
        }
    }
}

/// The backend of a memory-only cache.
struct Nowhere;

impl Backend for Nowhere {
    fn write(&mut self, _: &HashMap<Box<[u8]>, Arc<Entry>>) -> Result<(), String> {
        Ok(())
    }
    fn reconnect(&mut self) -> Result<(), String> {
        Ok(())
    }
}

struct RedbStore {
    db: redb::Database,
    /// Most entries kept (the cache's capacity).
    capacity: u64,
    /// The next write's sequence number.
    next_seq: u64,
}

impl Backend for RedbStore {
    fn write(&mut self, batch: &HashMap<Box<[u8]>, Arc<Entry>>) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        let mut seq = self.next_seq;
        {
            let mut answers = txn.open_table(ANSWERS).map_err(|e| e.to_string())?;
            let mut order = txn.open_table(ORDER).map_err(|e| e.to_string())?;
            let mut value = Vec::new();
            for (key, entry) in batch {
                value.clear();
                value.extend_from_slice(&seq.to_be_bytes());
                value.extend_from_slice(&entry.to_bytes());
                answers
                    .insert(&**key, value.as_slice())
                    .map_err(|e| e.to_string())?;
                order.insert(seq, &**key).map_err(|e| e.to_string())?;
                seq += 1;
            }
            evict_oldest(&mut answers, &mut order, self.capacity).map_err(|e| e.to_string())?;
        }
        txn.commit().map_err(|e| e.to_string())?;
        self.next_seq = seq;
        Ok(())
    }
    fn reconnect(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Removes the oldest-written entries until at most `capacity` remain,
/// and stale order rows until there are at most twice that many (each
/// live entry has exactly one current row, so this never orphans one).
fn evict_oldest(
    answers: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    order: &mut redb::Table<'_, u64, &'static [u8]>,
    capacity: u64,
) -> Result<(), redb::StorageError> {
    while answers.len()? > capacity || order.len()? > capacity.saturating_mul(2) {
        let Some((seq, key)) = order.pop_first()? else {
            break;
        };
        let (seq, key) = (seq.value(), key.value().to_vec());
        let current = answers.get(key.as_slice())?.map(|v| seq_of(v.value()));
        if current == Some(seq) {
            answers.remove(key.as_slice())?;
        }
    }
    Ok(())
}

/// The sequence number an `ANSWERS` value starts with.
fn seq_of(value: &[u8]) -> u64 {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

/// Opens `path` with redb's page cache bounded (see [`redb_cache_bytes`]).
fn create_redb(path: &Path, cache_bytes: usize) -> Result<redb::Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(redb_cache_bytes(cache_bytes))
        .create(path)
}

/// Opens (creating if needed) the redb file and reads it back into
/// `cache`; a file that cannot be read is set aside. `None`: memory only
/// (logged).
fn open_redb(path: &Path, cache: &Cache, cache_bytes: usize) -> Option<(RedbStore, usize)> {
    let capacity = cache.capacity() as u64;
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            crate::log!(
                "cannot create {}: {e}; the cache is kept in memory only",
                dir.display()
            );
            return None;
        }
    }
    match create_redb(path, cache_bytes) {
        Ok(mut db) => match load_redb(&mut db, cache, capacity) {
            Ok((count, next_seq)) => {
                return Some((
                    RedbStore {
                        db,
                        capacity,
                        next_seq,
                    },
                    count,
                ))
            }
            Err(e) => {
                drop(db);
                set_aside(path, &e)?;
            }
        },
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            crate::log!(
                "{} is in use by another grove-dns: this one keeps its cache in memory only \
                 (use --redis to share a cache between instances)",
                path.display()
            );
            return None;
        }
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
            if e.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            crate::log!(
                "cannot open {}: {e}; the cache is kept in memory only",
                path.display()
            );
            return None;
        }
        Err(e) => set_aside(path, &e.to_string())?,
    }
    match create_redb(path, cache_bytes) {
        Ok(db) => Some((
            RedbStore {
                db,
                capacity,
                next_seq: 0,
            },
            0,
        )),
        Err(e) => {
            crate::log!(
                "cannot create {}: {e}; the cache is kept in memory only",
                path.display()
            );
            None
        }
    }
}

/// Renames an unreadable store file aside, saying so.
fn set_aside(path: &Path, error: &dyn fmt::Display) -> Option<()> {
    let mut aside = PathBuf::from(path);
    aside.set_file_name(format!(
        "{}.corrupt-{}",
        path.file_name()
            .map_or("cache".into(), |n| n.to_string_lossy()),
        unix_now()
    ));
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            crate::log!(
                "cannot read the cache file {} ({error}): moved it to {} and starting with an empty cache",
                path.display(),
                aside.display()
            );
            Some(())
        }
        Err(e) => {
            crate::log!(
                "cannot read the cache file {} ({error}) nor move it aside ({e}): the cache is kept in memory only",
                path.display()
            );
            None
        }
    }
}

/// Reads the live entries into `cache` (as many as it has room for),
/// deletes the expired ones and a first-format table, trims the file to
/// `capacity` entries and compacts it. Returns how many entries were
/// loaded and the next sequence number.
fn load_redb(
    db: &mut redb::Database,
    cache: &Cache,
    capacity: u64,
) -> Result<(usize, u64), String> {
    let err = |e: &dyn fmt::Display| e.to_string();
    let (now, unix) = (Instant::now(), unix_now());
    let mut count = 0;
    let mut expired = Vec::new();
    let mut next_seq = 0;
    {
        let txn = db.begin_read().map_err(|e| err(&e))?;
        match txn.open_table(ANSWERS) {
            Ok(table) => {
                for item in table.iter().map_err(|e| err(&e))? {
                    let (key, value) = item.map_err(|e| err(&e))?;
                    let value = value.value();
                    let live = value
                        .get(8..)
                        .and_then(|bytes| Entry::from_bytes(bytes, now, unix));
                    match live {
                        Some(entry) => {
                            if cache.insert_if_room(key.value(), Arc::new(entry)) {
                                count += 1;
                            }
                        }
                        None => expired.push(key.value().to_vec()),
                    }
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err(&e)),
        }
        match txn.open_table(ORDER) {
            Ok(order) => {
                if let Some((seq, _)) = order.last().map_err(|e| err(&e))? {
                    next_seq = seq.value() + 1;
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err(&e)),
        }
    }
    let txn = db.begin_write().map_err(|e| err(&e))?;
    let dropped_v1 = txn.delete_table(TABLE_V1).map_err(|e| err(&e))?;
    {
        let mut answers = txn.open_table(ANSWERS).map_err(|e| err(&e))?;
        let mut order = txn.open_table(ORDER).map_err(|e| err(&e))?;
        for key in &expired {
            answers.remove(key.as_slice()).map_err(|e| err(&e))?;
        }
        // A smaller --cache-size than last time: keep the newest.
        evict_oldest(&mut answers, &mut order, capacity).map_err(|e| err(&e))?;
    }
    txn.commit().map_err(|e| err(&e))?;
    if dropped_v1 {
        crate::log!("dropped the store's first-format table (it grew without bound)");
    }
    // Give the pages freed by expiry, eviction or the old table back to
    // the file system: a file that grew stays that size otherwise.
    if let Err(e) = db.compact() {
        crate::log!("cannot compact the cache file: {e}");
    }
    Ok((count, next_seq))
}

struct RedisStore {
    client: redis::Client,
    conn: Option<redis::Connection>,
}

const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisStore {
    fn new(url: &str) -> Result<RedisStore, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("bad --redis URL {url:?}: {e}"))?;
        Ok(RedisStore { client, conn: None })
    }

    fn connect(&mut self) -> Result<(), String> {
        let conn = self
            .client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT))
            .map_err(|e| e.to_string())?;
        conn.set_write_timeout(Some(REDIS_TIMEOUT))
            .map_err(|e| e.to_string())?;
        self.conn = Some(conn);
        Ok(())
    }

    fn load(&mut self, capacity: usize) -> Result<Loaded, String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let (now, unix) = (Instant::now(), unix_now());
        let mut pattern = REDIS_PREFIX.to_vec();
        pattern.push(b'*');
        let mut loaded = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(conn)
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(&keys)
                    .query(conn)
                    .map_err(|e| e.to_string())?;
                for (key, value) in keys.iter().zip(values) {
                    let Some(value) = value else { continue };
                    if let Some(entry) = Entry::from_bytes(&value, now, unix) {
                        loaded.push((key[REDIS_PREFIX.len()..].into(), entry));
                    }
                }
            }
            cursor = next;
            if cursor == 0 || loaded.len() >= capacity {
                break;
            }
        }
        loaded.truncate(capacity);
        Ok(loaded)
    }
}

impl Backend for RedisStore {
    fn write(&mut self, batch: &HashMap<Box<[u8]>, Arc<Entry>>) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let now = Instant::now();
        let mut pipe = redis::pipe();
        for (key, entry) in batch {
            let remaining = entry.remaining(now);
            if remaining == 0 {
                continue;
            }
            let mut full_key = REDIS_PREFIX.to_vec();
            full_key.extend_from_slice(key);
            pipe.cmd("SET")
                .arg(full_key)
                .arg(entry.to_bytes())
                .arg("EX")
                .arg(remaining)
                .ignore();
        }
        let result: redis::RedisResult<()> = pipe.query(conn);
        result.map_err(|e| {
            self.conn = None;
            e.to_string()
        })
    }

    fn reconnect(&mut self) -> Result<(), String> {
        if self.conn.is_some() {
            return Ok(());
        }
        self.connect()
    }
}

/// How long a shared lookup may take before the miss goes upstream.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(250);

/// Looks entries up in a store shared with other instances (Redis), so a
/// miss here can be a hit there. Blocking: call [`get`](SharedReader::get)
/// through `grove::threadpool::spawn_blocking`. One connection; a lookup
/// that finds it busy does not wait for it (the miss goes upstream), and
/// after a failure lookups are skipped for [`RETRY_EVERY`].
#[derive(Clone)]
pub struct SharedReader {
    inner: Arc<ReaderInner>,
}

struct ReaderInner {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    retry_at: Mutex<Option<Instant>>,
}

impl fmt::Debug for SharedReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedReader")
    }
}

impl SharedReader {
    /// The live entry another instance stored under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        let inner = &self.inner;
        if let Some(at) = *inner.retry_at.lock().unwrap_or_else(|p| p.into_inner()) {
            if Instant::now() < at {
                return None;
            }
        }
        let Ok(mut conn) = inner.conn.try_lock() else {
            return None;
        };
        let result = (|| {
            if conn.is_none() {
                let c = inner
                    .client
                    .get_connection_with_timeout(LOOKUP_TIMEOUT)
                    .map_err(|e| e.to_string())?;
                c.set_read_timeout(Some(LOOKUP_TIMEOUT))
                    .map_err(|e| e.to_string())?;
                c.set_write_timeout(Some(LOOKUP_TIMEOUT))
                    .map_err(|e| e.to_string())?;
                *conn = Some(c);
            }
            let mut full_key = REDIS_PREFIX.to_vec();
            full_key.extend_from_slice(key);
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(full_key)
                .query(conn.as_mut().expect("connected above"))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(value)
        })();
        let mut retry_at = inner.retry_at.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(value) => {
                *retry_at = None;
                value.and_then(|v| Entry::from_bytes(&v, Instant::now(), unix_now()))
            }
            Err(_) => {
                // The writer thread says so in the log; lookups just pause.
                *conn = None;
                *retry_at = Some(Instant::now() + RETRY_EVERY);
                None
            }
        }
    }
}
