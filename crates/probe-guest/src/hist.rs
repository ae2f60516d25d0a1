//! A latency distribution in counter ticks, recorded without allocation
//! (also from an interrupt handler) and printed as
//! `bench name=NAME_hist tT=COUNT ...` lines, a few values a line, that
//! `make bench` merges and charts. Values beyond the table's distinct
//! slots are counted as `other` (the run's max is printed beside it).

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::console::{Console, println};

/// Distinct latency values kept.
const SLOTS: usize = 64;
/// Values printed per line (a VM's console line is at most 256 bytes).
const PER_LINE: usize = 8;

/// Counts by latency; slot `i` holds value `VALUES[i] - 1` (0 is free).
pub struct Histogram {
    values: [AtomicU64; SLOTS],
    counts: [AtomicU32; SLOTS],
    other: AtomicU32,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self {
            values: [const { AtomicU64::new(0) }; SLOTS],
            counts: [const { AtomicU32::new(0) }; SLOTS],
            other: AtomicU32::new(0),
        }
    }

    /// Forgets every value.
    pub fn clear(&self) {
        for (value, count) in self.values.iter().zip(&self.counts) {
            value.store(0, Ordering::Relaxed);
            count.store(0, Ordering::Relaxed);
        }
        self.other.store(0, Ordering::Relaxed);
    }

    /// Counts one `ticks`; one writer at a time (a loop or one CPU's handler).
    pub fn record(&self, ticks: u64) {
        let key = ticks.saturating_add(1);
        for (value, count) in self.values.iter().zip(&self.counts) {
            let held = value.load(Ordering::Relaxed);
            if held == 0 {
                value.store(key, Ordering::Relaxed);
            }
            if held == 0 || held == key {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }

    /// Prints the `NAME_hist` lines.
    pub fn print(&self, name: &str) {
        let used = self
            .values
            .iter()
            .take_while(|v| v.load(Ordering::Relaxed) != 0)
            .count();
        for start in (0..used).step_by(PER_LINE) {
            let _ = write!(Console, "bench name={name}_hist");
            for i in start..(start + PER_LINE).min(used) {
                let value = self.values[i].load(Ordering::Relaxed) - 1;
                let _ = write!(
                    Console,
                    " t{value}={}",
                    self.counts[i].load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(Console);
        }
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            println!("bench name={name}_hist other={other}");
        }
    }
}
