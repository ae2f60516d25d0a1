//! What a VM writes to its console: gathered into whole lines (so that
//! VMs writing at once do not interleave mid-line) and kept, the newest
//! lines only, for the management shell.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// A line longer than this is passed on in pieces.
pub const MAX_LINE: usize = 256;

/// Bytes gathered until a line is complete.
#[derive(Debug, Clone, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a byte; returns a line when it completes one (`\n`, or
    /// [`MAX_LINE`] bytes), without its line end. `\r` is dropped.
    pub fn push(&mut self, byte: u8) -> Option<String> {
        match byte {
            b'\r' => None,
            b'\n' => Some(self.take()),
            _ => {
                self.pending.push(byte);
                (self.pending.len() >= MAX_LINE).then(|| self.take())
            }
        }
    }

    /// Whatever has not ended in a line yet (at a VM's stop).
    pub fn flush(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let bytes = core::mem::take(&mut self.pending);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The newest lines of a console, at most `capacity` bytes of them.
#[derive(Debug, Clone)]
pub struct History {
    lines: VecDeque<String>,
    bytes: usize,
    capacity: usize,
    /// Lines ever pushed: the number the next line gets.
    next: u64,
}

impl History {
    /// An empty history of at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self { lines: VecDeque::new(), bytes: 0, capacity, next: 0 }
    }

    /// Keeps `line`, dropping the oldest ones to stay within the capacity.
    pub fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        self.next += 1;
        while self.bytes > self.capacity {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// Puts `older` (the console of this VM's previous run) before these
    /// lines: its lines are kept as far as the capacity allows, and these
    /// are numbered on from its last, so that a reader following the
    /// numbers across a restart never sees them go back.
    pub fn continue_after(&mut self, older: History) {
        let newer = core::mem::replace(self, older);
        for line in newer.lines {
            self.push(line);
        }
    }

    /// The number the next line pushed will get (lines are numbered from 0).
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The number of the first line still kept and the kept lines numbered
    /// `from` or later, oldest first.
    pub fn since(&self, from: u64) -> (u64, impl Iterator<Item = &str>) {
        let oldest = self.next - self.lines.len() as u64;
        let first = from.clamp(oldest, self.next);
        let skip = (first - oldest) as usize;
        (first, self.lines.iter().skip(skip).map(String::as_str))
    }
}
