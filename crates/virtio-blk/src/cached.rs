//! [`CachedImage`]: a disk image held in memory in front of slower,
//! seek-costly storage (a file on the boot disk). Reads come from the
//! copy; writes go to the copy and mark their pages dirty; `flush` writes
//! the dirty runs back in ascending order and then syncs the store. Data a
//! flush did not get out stays dirty, so a later flush tries again.

use alloc::vec;
use alloc::vec::Vec;

use crate::backend::{BackendError, BlockBackend, ID_BYTES, MemBackend};

/// Bytes tracked by one dirty bit.
pub const DIRTY_PAGE: usize = 4096;
/// Dirty runs closer than this many clean pages are written as one, which
/// costs a little more data and saves a seek.
const MERGE_GAP_PAGES: usize = 16;

/// Where a [`CachedImage`] writes back to.
pub trait ImageStore {
    /// Writes `data` at byte `offset` of the image.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError>;
    /// Makes every write that returned durable.
    fn sync(&mut self) -> Result<(), BackendError>;
}

/// A disk whose contents live in memory and are written back to `S`.
#[derive(Debug)]
pub struct CachedImage<S> {
    mem: MemBackend,
    dirty: Vec<u64>,
    store: S,
}

impl<S: ImageStore> CachedImage<S> {
    /// A disk with the image's `contents`, written back to `store`.
    pub fn new(mem: MemBackend, store: S) -> Self {
        let pages = mem.bytes().len().div_ceil(DIRTY_PAGE);
        Self {
            mem,
            dirty: vec![0; pages.div_ceil(64)],
            store,
        }
    }

    /// Bytes written since the last successful flush (whole pages).
    pub fn dirty_bytes(&self) -> usize {
        let pages: u32 = self.dirty.iter().map(|w| w.count_ones()).sum();
        pages as usize * DIRTY_PAGE
    }

    /// The store written back to.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn is_dirty(&self, page: usize) -> bool {
        self.dirty[page / 64] & (1 << (page % 64)) != 0
    }

    fn mark(&mut self, start: usize, len: usize) {
        if len == 0 {
            return;
        }
        for page in start / DIRTY_PAGE..=(start + len - 1) / DIRTY_PAGE {
            self.dirty[page / 64] |= 1 << (page % 64);
        }
    }

    fn clear(&mut self, pages: core::ops::Range<usize>) {
        for page in pages {
            self.dirty[page / 64] &= !(1 << (page % 64));
        }
    }

    /// The next dirty run at or after `page`, merged over short clean gaps.
    fn next_run(&self, mut page: usize) -> Option<core::ops::Range<usize>> {
        let pages = self.mem.bytes().len().div_ceil(DIRTY_PAGE);
        while page < pages && !self.is_dirty(page) {
            page += 1;
        }
        if page == pages {
            return None;
        }
        let start = page;
        let mut end = page + 1;
        let mut probe = end;
        while probe < pages && probe - end <= MERGE_GAP_PAGES {
            if self.is_dirty(probe) {
                end = probe + 1;
            }
            probe += 1;
        }
        Some(start..end)
    }
}

impl<S: ImageStore> BlockBackend for CachedImage<S> {
    fn capacity_sectors(&self) -> u64 {
        self.mem.capacity_sectors()
    }

    fn read_only(&self) -> bool {
        self.mem.read_only()
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.mem.read(sector, buf)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        self.mem.write(sector, data)?;
        // In range: the write above checked it.
        self.mark(sector as usize * crate::SECTOR_SIZE as usize, data.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        let mut page = 0;
        let mut wrote = false;
        while let Some(run) = self.next_run(page) {
            let bytes = self.mem.bytes();
            let start = run.start * DIRTY_PAGE;
            let end = (run.end * DIRTY_PAGE).min(bytes.len());
            self.store.write_at(start as u64, &bytes[start..end])?;
            self.clear(run.clone());
            page = run.end;
            wrote = true;
        }
        if wrote { self.store.sync() } else { Ok(()) }
    }

    fn id(&self) -> [u8; ID_BYTES] {
        self.mem.id()
    }

    fn held(&self, sector: u64, len: usize) -> Option<&[u8]> {
        self.mem.held(sector, len)
    }

    fn held_mut(&mut self, sector: u64, len: usize) -> Option<&mut [u8]> {
        // Checked (range, read-only) before anything is marked.
        self.mem.held_mut(sector, len)?;
        self.mark(sector as usize * crate::SECTOR_SIZE as usize, len);
        self.mem.held_mut(sector, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SECTOR_SIZE;

    /// A store that records writes and can be told to fail.
    #[derive(Default)]
    struct Recorder {
        image: Vec<u8>,
        writes: Vec<(u64, usize)>,
        syncs: usize,
        fail: bool,
    }

    impl ImageStore for Recorder {
        fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
            if self.fail {
                return Err(BackendError::Io);
            }
            let at = offset as usize;
            self.image[at..at + data.len()].copy_from_slice(data);
            self.writes.push((offset, data.len()));
            Ok(())
        }

        fn sync(&mut self) -> Result<(), BackendError> {
            if self.fail {
                return Err(BackendError::Io);
            }
            self.syncs += 1;
            Ok(())
        }
    }

    fn disk(bytes: usize) -> CachedImage<Recorder> {
        let image: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
        let store = Recorder { image: image.clone(), ..Recorder::default() };
        CachedImage::new(MemBackend::from_bytes(image, false), store)
    }

    #[test]
    fn reads_come_from_the_image_and_writes_stay_until_a_flush() {
        let mut d = disk(64 * 1024);
        let mut buf = [0u8; 512];
        d.read(1, &mut buf).unwrap();
        assert_eq!(buf[0], (512 % 251) as u8);
        d.write(3, &[7; 512]).unwrap();
        assert_eq!(d.store().writes.len(), 0);
        assert_eq!(d.dirty_bytes(), DIRTY_PAGE);
        d.flush().unwrap();
        assert_eq!(d.store().writes, vec![(0, DIRTY_PAGE)]);
        assert_eq!(&d.store().image[3 * 512..4 * 512], &[7; 512]);
        assert_eq!(d.store().syncs, 1);
        assert_eq!(d.dirty_bytes(), 0);
    }

    #[test]
    fn a_flush_with_nothing_dirty_touches_nothing() {
        let mut d = disk(8192);
        d.flush().unwrap();
        assert_eq!((d.store().writes.len(), d.store().syncs), (0, 0));
    }

    #[test]
    fn near_runs_merge_and_far_ones_do_not() {
        let mut d = disk(1024 * 1024);
        let sectors_per_page = (DIRTY_PAGE as u64) / SECTOR_SIZE;
        for page in [0, 2, 100] {
            d.write(page * sectors_per_page, &[1; 512]).unwrap();
        }
        d.flush().unwrap();
        assert_eq!(
            d.store().writes,
            vec![(0, 3 * DIRTY_PAGE), (100 * DIRTY_PAGE as u64, DIRTY_PAGE)]
        );
    }

    #[test]
    fn a_write_across_pages_marks_both() {
        let mut d = disk(16 * 1024);
        d.write(7, &[9; 1024]).unwrap();
        assert_eq!(d.dirty_bytes(), 2 * DIRTY_PAGE);
    }

    #[test]
    fn the_last_short_page_is_written_to_the_end_of_the_image_only() {
        let mut d = disk(4096 + 1024);
        d.write(9, &[5; 512]).unwrap();
        d.flush().unwrap();
        assert_eq!(d.store().writes, vec![(4096, 1024)]);
    }

    #[test]
    fn a_failed_flush_keeps_the_data_dirty_for_the_next() {
        let mut d = disk(8192);
        d.write(0, &[3; 512]).unwrap();
        d.store.fail = true;
        assert_eq!(d.flush(), Err(BackendError::Io));
        assert_eq!(d.dirty_bytes(), DIRTY_PAGE);
        d.store.fail = false;
        d.flush().unwrap();
        assert_eq!(&d.store().image[..512], &[3; 512]);
        assert_eq!(d.dirty_bytes(), 0);
    }

    #[test]
    fn bytes_filled_in_place_are_dirty_and_flushed() {
        let mut d = disk(16 * 1024);
        d.held_mut(8, 512).expect("in range").fill(4);
        assert_eq!(d.dirty_bytes(), DIRTY_PAGE);
        d.flush().unwrap();
        assert_eq!(d.store().writes, vec![(4096, DIRTY_PAGE)]);
        assert_eq!(&d.store().image[4096..4608], &[4; 512]);
        assert!(d.held_mut(32, 512).is_none());
        assert_eq!(d.held(1, 512).map(|b| b[0]), Some((512 % 251) as u8));
    }

    #[test]
    fn out_of_range_and_read_only_writes_mark_nothing() {
        let mut d = disk(4096);
        assert!(d.write(8, &[0; 512]).is_err());
        let mut ro = CachedImage::new(MemBackend::from_bytes(vec![0; 4096], true), Recorder::default());
        assert_eq!(ro.write(0, &[0; 512]), Err(BackendError::ReadOnly));
        assert_eq!((d.dirty_bytes(), ro.dirty_bytes()), (0, 0));
    }
}
