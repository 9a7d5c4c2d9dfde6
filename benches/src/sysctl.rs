//! Raising `vm.max_map_count` for the largest memory runs, and putting it back.
//!
//! Peers that map one guard-paged stack per task (may, raw corosensei) need
//! about two mappings per task, far beyond the default limit of 65530 at a
//! million tasks. Raising it needs root; the original value is restored when
//! the rows that need it are done and again when the harness exits.

use std::fs;

const PATH: &str = "/proc/sys/vm/max_map_count";

#[derive(Debug)]
pub struct MapCount {
    pub original: u64,
    current: u64,
}

impl MapCount {
    /// The current setting, if readable.
    pub fn read() -> Option<MapCount> {
        let original = fs::read_to_string(PATH).ok()?.trim().parse().ok()?;
        Some(MapCount {
            original,
            current: original,
        })
    }

    /// Sets the limit to `to` (never lowers it); returns what was done.
    pub fn raise(&mut self, to: u64) -> Result<String, String> {
        if self.current >= to {
            return Ok(format!("vm.max_map_count is already {}", self.current));
        }
        set(to)?;
        self.current = to;
        Ok(format!(
            "raised vm.max_map_count from {} to {to} (sysctl -w) for this run",
            self.original
        ))
    }

    /// Puts the original value back if it was changed.
    pub fn restore(&mut self) {
        if self.current != self.original {
            match set(self.original) {
                Ok(()) => {
                    eprintln!("[harness] restored vm.max_map_count to {}", self.original);
                    self.current = self.original;
                }
                Err(e) => eprintln!("[harness] could not restore vm.max_map_count: {e}"),
            }
        }
    }
}

impl Drop for MapCount {
    fn drop(&mut self) {
        self.restore();
    }
}

/// `sysctl -w vm.max_map_count=value`, done by writing the proc file directly.
fn set(value: u64) -> Result<(), String> {
    fs::write(PATH, format!("{value}\n"))
        .map_err(|e| format!("writing {PATH} failed: {e} (needs root)"))
}
