//! One block request (virtio 1.x §5.2.6): the 16-byte header in the
//! readable buffers, then data, then the status byte, the last writable
//! byte. Every field is checked before the backend is called.

use alloc::vec::Vec;

use virtio_core::{DescriptorChain, GuestMemory};

use crate::backend::{BlockBackend, ID_BYTES, SECTOR_SIZE};

/// Request type: read sectors into the writable buffers.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Request type: write the readable data to sectors.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Request type: make completed writes durable.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Request type: return the 20-byte device ID.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Status: success.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Status: the request failed.
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Status: the request type is not supported.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;
/// Size of the request header (`type`, `reserved`, `sector`).
pub const HEADER_SIZE: u64 = 16;

/// What a request may do, from the device's configuration.
pub(crate) struct Limits {
    /// Cap on the data bytes of one request.
    pub max_bytes: u64,
    /// Flush after every write (the driver did not accept `FLUSH`).
    pub write_through: bool,
}

/// The result of a request whose status byte was reachable.
pub(crate) struct Outcome {
    /// The status written.
    pub status: u8,
    /// Bytes written into the guest's buffers, the status byte included.
    pub used_len: u32,
}

/// Serves `chain`; `None` if it has no writable byte for the status (the
/// caller completes it with length 0) or the status could not be written.
pub(crate) fn serve<B: BlockBackend + ?Sized>(
    backend: &mut B,
    mem: &dyn GuestMemory,
    chain: &DescriptorChain,
    limits: &Limits,
    bounce: &mut Vec<u8>,
) -> Option<Outcome> {
    let status_at = chain.writable_len().checked_sub(1)?;
    let mut req = Request {
        backend,
        mem,
        chain,
        limits,
        bounce,
        data_room: status_at,
        written: 0,
    };
    let status = req.execute();
    let written = req.written;
    chain.write_at(mem, status_at, &[status]).ok()?;
    Some(Outcome {
        status,
        used_len: written.saturating_add(1),
    })
}

struct Request<'a, B: ?Sized> {
    backend: &'a mut B,
    mem: &'a dyn GuestMemory,
    chain: &'a DescriptorChain,
    limits: &'a Limits,
    bounce: &'a mut Vec<u8>,
    /// Writable bytes before the status byte.
    data_room: u64,
    /// Data bytes written into the guest so far.
    written: u32,
}

/// A request that fails with `IOERR`.
struct IoErr;

impl<B: BlockBackend + ?Sized> Request<'_, B> {
    fn execute(&mut self) -> u8 {
        let mut header = [0u8; HEADER_SIZE as usize];
        if self.chain.read_at(self.mem, 0, &mut header).is_err() {
            return VIRTIO_BLK_S_IOERR; // missing or short header
        }
        let [t0, t1, t2, t3, _, _, _, _, s0, s1, s2, s3, s4, s5, s6, s7] = header;
        let sector = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
        let result = match u32::from_le_bytes([t0, t1, t2, t3]) {
            VIRTIO_BLK_T_IN => self.read(sector),
            VIRTIO_BLK_T_OUT => self.write(sector),
            VIRTIO_BLK_T_FLUSH => self.backend.flush().map_err(|_| IoErr),
            VIRTIO_BLK_T_GET_ID => self.get_id(),
            _ => return VIRTIO_BLK_S_UNSUPP,
        };
        match result {
            Ok(()) => VIRTIO_BLK_S_OK,
            Err(IoErr) => VIRTIO_BLK_S_IOERR,
        }
    }

    /// Checks `len` data bytes at `sector`: whole sectors, under the cap,
    /// inside the disk.
    fn check_data(&self, sector: u64, len: u64) -> Result<(), IoErr> {
        if !len.is_multiple_of(SECTOR_SIZE) || len > self.limits.max_bytes {
            return Err(IoErr);
        }
        let end = sector.checked_add(len / SECTOR_SIZE).ok_or(IoErr)?;
        if end > self.backend.capacity_sectors() {
            return Err(IoErr);
        }
        Ok(())
    }

    /// The bounce buffer, grown to one chunk of a `len`-byte transfer.
    fn chunk_len(&mut self, len: u64) -> usize {
        let n = len.min(crate::device::BOUNCE_BYTES as u64) as usize;
        if self.bounce.len() < n {
            self.bounce.resize(n, 0);
        }
        n
    }

    fn read(&mut self, sector: u64) -> Result<(), IoErr> {
        let len = self.data_room;
        self.check_data(sector, len)?;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(crate::device::BOUNCE_BYTES as u64) as usize;
            let at = sector + done / SECTOR_SIZE;
            if let Some(held) = self.backend.held(at, n) {
                self.chain.write_at(self.mem, done, held).map_err(|_| IoErr)?;
            } else {
                let n = self.chunk_len(len - done);
                let buf = &mut self.bounce[..n];
                self.backend.read(at, buf).map_err(|_| IoErr)?;
                self.chain
                    .write_at(self.mem, done, buf)
                    .map_err(|_| IoErr)?;
            }
            done += n as u64;
            // `done` is bounded by `max_bytes`, a u32.
            self.written = u32::try_from(done).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    fn write(&mut self, sector: u64) -> Result<(), IoErr> {
        if self.backend.read_only() {
            return Err(IoErr);
        }
        let len = self.chain.readable_len() - HEADER_SIZE; // header was read
        self.check_data(sector, len)?;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(crate::device::BOUNCE_BYTES as u64) as usize;
            let from = HEADER_SIZE + done;
            let at = sector + done / SECTOR_SIZE;
            if let Some(held) = self.backend.held_mut(at, n) {
                // A failed copy leaves some of these sectors changed, as
                // a failed write may on a real disk.
                self.chain.read_at(self.mem, from, held).map_err(|_| IoErr)?;
            } else {
                let n = self.chunk_len(len - done);
                let buf = &mut self.bounce[..n];
                self.chain.read_at(self.mem, from, buf).map_err(|_| IoErr)?;
                self.backend.write(at, buf).map_err(|_| IoErr)?;
            }
            done += n as u64;
        }
        if self.limits.write_through {
            self.backend.flush().map_err(|_| IoErr)?;
        }
        Ok(())
    }

    fn get_id(&mut self) -> Result<(), IoErr> {
        let id = self.backend.id();
        let n = self.data_room.min(ID_BYTES as u64) as usize;
        self.chain
            .write_at(self.mem, 0, &id[..n])
            .map_err(|_| IoErr)?;
        self.written = n as u32;
        Ok(())
    }
}
