//! A bounded FIFO of frames, allocated once.

use alloc::vec;
use alloc::vec::Vec;

use crate::MAX_FRAME;

/// The most slots a [`FrameQueue`] has (about 6 MiB of frames).
pub const MAX_SLOTS: usize = 4096;

/// A FIFO of up to `capacity` frames of at most [`MAX_FRAME`] bytes each.
///
/// All memory is allocated by [`FrameQueue::new`]; pushing and popping
/// never allocate. `core::mem::swap` of two queues hands a whole batch
/// over in O(1).
#[derive(Debug, Default)]
pub struct FrameQueue {
    /// `capacity` slots of `MAX_FRAME` bytes.
    data: Vec<u8>,
    /// The length of the frame in each slot.
    lens: Vec<u16>,
    head: usize,
    len: usize,
    dropped: u64,
}

impl FrameQueue {
    /// An empty queue of `slots` frames (at most [`MAX_SLOTS`]).
    pub fn new(slots: usize) -> Self {
        let slots = slots.min(MAX_SLOTS);
        Self {
            data: vec![0; slots * MAX_FRAME],
            lens: vec![0; slots],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends a copy of `frame`; `false` (and counted in
    /// [`FrameQueue::dropped`]) if the queue is full or the frame longer
    /// than [`MAX_FRAME`].
    pub fn push(&mut self, frame: &[u8]) -> bool {
        self.push_with(frame.len(), |slot| {
            slot.copy_from_slice(frame);
            true
        })
    }

    /// Appends a frame of `len` bytes that `fill` writes in place (e.g.
    /// straight from guest memory). `false` if the queue is full or `len`
    /// is above [`MAX_FRAME`] (counted in [`FrameQueue::dropped`]; `fill`
    /// is not called), or if `fill` returns `false` (not counted: the
    /// queue is left as it was).
    pub fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> bool) -> bool {
        let Some(index) = self.slot_index(len) else {
            self.dropped += 1;
            return false;
        };
        let start = index * MAX_FRAME;
        let Some(slot) = self.data.get_mut(start..start + len) else {
            self.dropped += 1;
            return false;
        };
        if !fill(slot) {
            return false;
        }
        if let Some(l) = self.lens.get_mut(index) {
            // `len` <= MAX_FRAME fits.
            *l = len as u16;
        }
        self.len += 1;
        true
    }

    /// The slot the next frame of `len` bytes goes to, if it fits.
    fn slot_index(&self, len: usize) -> Option<usize> {
        if len > MAX_FRAME || self.is_full() {
            return None;
        }
        Some((self.head + self.len) % self.capacity())
    }

    /// The oldest frame.
    pub fn front(&self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        let len = usize::from(*self.lens.get(self.head)?);
        let start = self.head * MAX_FRAME;
        self.data.get(start..start + len)
    }

    /// Drops the oldest frame, if any.
    pub fn pop_front(&mut self) {
        if !self.is_empty() {
            self.head = (self.head + 1) % self.capacity();
            self.len -= 1;
        }
    }

    /// Frames queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no frame is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no frame can be pushed.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Frames that can still be pushed.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Frames the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// Drops every queued frame (the memory and [`FrameQueue::dropped`]
    /// are kept).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Frames refused by [`FrameQueue::push`]/[`FrameQueue::push_with`]
    /// because the queue was full or they were too long.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
