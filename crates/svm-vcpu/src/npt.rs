//! Nested page tables: guest-physical to host-physical translation in the
//! x86-64 long-mode format (four levels, 48-bit guest addresses), which
//! SVM walks from nCR3. Leaves are 2 MiB where both addresses and the
//! remaining size allow it, else 4 KiB.
//!
//! Table memory comes from a [`Frames`] source, so the logic runs on the
//! host in tests and on the hypervisor's page allocator in the VMM.

/// Present.
const P: u64 = 1 << 0;
/// Writable.
const RW: u64 = 1 << 1;
/// User: nested walks are user accesses, so every entry has it.
const US: u64 = 1 << 2;
/// A large (2 MiB) leaf in a page-directory entry.
const PS: u64 = 1 << 7;
/// No execute.
const NX: u64 = 1 << 63;
/// The address bits of an entry.
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;
/// Intermediate entries allow everything; leaves restrict.
const TABLE: u64 = P | RW | US;

const PAGE: u64 = 0x1000;
const LARGE: u64 = 0x20_0000;
/// Guest-physical addresses four levels translate.
const GPA_LIMIT: u64 = 1 << 48;
/// Host-physical addresses an entry holds.
const HPA_LIMIT: u64 = 1 << 52;

/// Where table frames come from.
pub trait Frames {
    /// A zeroed 4 KiB frame; its host-physical address.
    fn alloc(&mut self) -> Option<u64>;
    /// The 512 entries of the frame at `phys`, one `alloc` gave.
    fn table(&mut self, phys: u64) -> Option<&mut [u64; 512]>;
}

/// What a guest may do with a mapping (it may always read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Stores.
    pub write: bool,
    /// Instruction fetches.
    pub execute: bool,
}

/// Why a mapping was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NptError {
    /// An address or the size is not 4 KiB aligned, or is zero.
    Misaligned {
        /// Guest-physical start.
        gpa: u64,
        /// Host-physical start.
        hpa: u64,
        /// Size.
        size: u64,
    },
    /// Beyond 48-bit guest or 52-bit host addresses.
    TooWide {
        /// Guest-physical start.
        gpa: u64,
    },
    /// Part of the range is mapped already.
    Overlap {
        /// The first guest-physical address already mapped.
        gpa: u64,
    },
    /// No frame for a table.
    OutOfFrames,
}

impl core::fmt::Display for NptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Misaligned { gpa, hpa, size } => {
                write!(f, "[{gpa:#x}, +{size:#x}) -> {hpa:#x} is not 4 KiB aligned or is empty")
            }
            Self::TooWide { gpa } => write!(f, "{gpa:#x} is beyond what nested paging translates"),
            Self::Overlap { gpa } => write!(f, "{gpa:#x} is mapped already"),
            Self::OutOfFrames => write!(f, "no memory for nested page tables"),
        }
    }
}

/// One VM's nested page tables.
pub struct Npt<F: Frames> {
    root: u64,
    frames: F,
}

fn index(gpa: u64, level: u32) -> usize {
    ((gpa >> (12 + 9 * level)) & 0x1ff) as usize
}

fn leaf_bits(access: Access) -> u64 {
    P | US | if access.write { RW } else { 0 } | if access.execute { 0 } else { NX }
}

impl<F: Frames> Npt<F> {
    /// Empty tables (a root with nothing mapped).
    pub fn new(mut frames: F) -> Result<Self, NptError> {
        let root = frames.alloc().ok_or(NptError::OutOfFrames)?;
        Ok(Self { root, frames })
    }

    /// The root's host-physical address, for nCR3.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The frame source (to give the frames back).
    pub fn into_frames(self) -> F {
        self.frames
    }

    /// Maps `[gpa, gpa + size)` to `[hpa, hpa + size)` with `access`.
    /// Nothing is mapped if any of it is mapped already.
    pub fn map(&mut self, gpa: u64, hpa: u64, size: u64, access: Access) -> Result<(), NptError> {
        let misaligned = NptError::Misaligned { gpa, hpa, size };
        if size == 0 || !(gpa | hpa | size).is_multiple_of(PAGE) {
            return Err(misaligned);
        }
        let too_wide = |end: Option<u64>, limit| end.is_none_or(|end| end > limit);
        if too_wide(gpa.checked_add(size), GPA_LIMIT) || too_wide(hpa.checked_add(size), HPA_LIMIT) {
            return Err(NptError::TooWide { gpa });
        }
        let steps = || {
            let mut done = 0;
            core::iter::from_fn(move || {
                (done < size).then(|| {
                    let (g, h, left) = (gpa + done, hpa + done, size - done);
                    let step = if g.is_multiple_of(LARGE) && h.is_multiple_of(LARGE) && left >= LARGE { LARGE } else { PAGE };
                    done += step;
                    (g, h, step)
                })
            })
        };
        // One look per leaf to be made: nothing may be mapped there yet.
        if let Some((mapped, _, _)) = steps().find(|&(g, _, step)| !self.is_free(g, step)) {
            return Err(NptError::Overlap { gpa: mapped });
        }
        for (g, h, step) in steps() {
            self.map_one(g, h, step, access)?;
        }
        Ok(())
    }

    /// Whether a leaf of `step` bytes at `gpa` can be made: no entry on
    /// its path is a leaf, and its own slot (a 2 MiB one: the whole
    /// directory entry) is empty.
    fn is_free(&mut self, gpa: u64, step: u64) -> bool {
        let leaf_level = if step == LARGE { 1 } else { 0 };
        let mut table = self.root;
        for level in (leaf_level..4).rev() {
            let Some(entries) = self.frames.table(table) else { return false };
            let entry = entries[index(gpa, level)];
            if entry & P == 0 {
                return true;
            }
            if level == leaf_level || entry & PS != 0 {
                return false;
            }
            table = entry & ADDR;
        }
        false
    }

    /// Maps one leaf of `step` bytes (checked free by `map`).
    fn map_one(&mut self, gpa: u64, hpa: u64, step: u64, access: Access) -> Result<(), NptError> {
        let leaf_level = if step == LARGE { 1 } else { 0 };
        let mut table = self.root;
        for level in (leaf_level + 1..4).rev() {
            table = self.next_table(table, index(gpa, level), gpa)?;
        }
        let large = if step == LARGE { PS } else { 0 };
        let entries = self.frames.table(table).ok_or(NptError::OutOfFrames)?;
        entries[index(gpa, leaf_level)] = (hpa & ADDR) | leaf_bits(access) | large;
        Ok(())
    }

    /// The table entry `slot` of `table` points to, made if absent.
    fn next_table(&mut self, table: u64, slot: usize, gpa: u64) -> Result<u64, NptError> {
        let entry = self.frames.table(table).ok_or(NptError::OutOfFrames)?[slot];
        if entry & P != 0 {
            return if entry & PS != 0 { Err(NptError::Overlap { gpa }) } else { Ok(entry & ADDR) };
        }
        let fresh = self.frames.alloc().ok_or(NptError::OutOfFrames)?;
        self.frames.table(table).ok_or(NptError::OutOfFrames)?[slot] = fresh | TABLE;
        Ok(fresh)
    }

    /// Where `gpa` goes and what the guest may do there, if it is mapped.
    pub fn translate(&mut self, gpa: u64) -> Option<(u64, Access)> {
        if gpa >= GPA_LIMIT {
            return None;
        }
        let mut table = self.root;
        for level in (0..4).rev() {
            let entry = self.frames.table(table)?[index(gpa, level)];
            if entry & P == 0 {
                return None;
            }
            let leaf = level == 0 || (level == 1 && entry & PS != 0);
            if leaf {
                let span = if level == 1 { LARGE } else { PAGE };
                let access = Access { write: entry & RW != 0, execute: entry & NX == 0 };
                return Some(((entry & ADDR & !(span - 1)) + gpa % span, access));
            }
            if entry & PS != 0 {
                // A 1 GiB leaf: never made here.
                return None;
            }
            table = entry & ADDR;
        }
        None
    }
}
