//! Where an emulated device sits in guest-physical space.

/// A device's guest-physical window `[base, base + size)`.
pub struct Window {
    base: u64,
    size: u64,
}

impl Window {
    /// The window of `size` bytes at `base`.
    pub fn new(base: usize, size: usize) -> Self {
        Self { base: base as u64, size: size as u64 }
    }

    /// The first address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The device's offset of `gpa`, if the window holds it.
    pub fn offset_of(&self, gpa: u64) -> Option<usize> {
        gpa.checked_sub(self.base).filter(|&offset| offset < self.size).map(|offset| offset as usize)
    }
}
