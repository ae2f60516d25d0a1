//! The interrupt vectors queued for one vCPU, one bit each.

use core::sync::atomic::{AtomicU64, Ordering};

/// What queueing a vector found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// It was not queued: the vCPU has to be told (woken, or its CPU
    /// kicked).
    New,
    /// It was queued already and the vCPU told then: nothing more to do.
    Already,
}

impl Queued {
    /// Whether the vCPU's CPU needs a physical kick (or its task a wake).
    pub fn needs_kick(self) -> bool {
        self == Self::New
    }
}

/// Vectors `0..64 * WORDS` queued for one vCPU. Lock-free: callable from
/// interrupt handlers on any CPU.
pub struct PendingSet<const WORDS: usize> {
    words: [AtomicU64; WORDS],
}

impl<const WORDS: usize> Default for PendingSet<WORDS> {
    fn default() -> Self {
        Self {
            words: [const { AtomicU64::new(0) }; WORDS],
        }
    }
}

impl<const WORDS: usize> PendingSet<WORDS> {
    fn word(&self, vector: usize) -> Option<(&AtomicU64, u64)> {
        self.words
            .get(vector / 64)
            .map(|word| (word, 1 << (vector % 64)))
    }

    /// Queues `vector`; `None` if it is out of range.
    pub fn insert(&self, vector: usize) -> Option<Queued> {
        let (word, bit) = self.word(vector)?;
        let before = word.fetch_or(bit, Ordering::AcqRel);
        Some(if before & bit == 0 {
            Queued::New
        } else {
            Queued::Already
        })
    }

    /// Whether `vector` is queued.
    pub fn contains(&self, vector: usize) -> bool {
        self.word(vector)
            .is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
    }

    /// Takes `vector` out.
    pub fn remove(&self, vector: usize) {
        if let Some((word, bit)) = self.word(vector) {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
    }

    /// Drops everything queued.
    pub fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Release);
        }
    }

    /// Whether anything is queued.
    pub fn any(&self) -> bool {
        self.words
            .iter()
            .any(|word| word.load(Ordering::Acquire) != 0)
    }

    /// Offers every queued vector to `deliver`, lowest first; those it
    /// refuses (returns false for) stay queued.
    pub fn drain(&self, mut deliver: impl FnMut(usize) -> bool) {
        for (index, word) in self.words.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::AcqRel);
            let mut kept = 0u64;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !deliver(index * 64 + bit) {
                    kept |= 1 << bit;
                }
            }
            if kept != 0 {
                word.fetch_or(kept, Ordering::AcqRel);
            }
        }
    }
}
