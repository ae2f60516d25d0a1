//! The guest-side fuzzer: a seeded random stream of HVC and SMC calls,
//! emulated-distributor reads and writes of every width and offset, timer
//! system-register accesses and virtqueue operations on the VM's virtio
//! devices (`fuzz_virtio`), each printed before it is done. Then the
//! virtio devices must still serve after a reset, and the last operation
//! reads unmapped memory, which must stop the VM. Seed and
//! operation count come from a parameter block the VM config loads at
//! [`PARAMS`] (two little-endian u64: seed, operations).

use core::arch::asm;

use super::calls;
use super::fuzz_virtio::VirtioFuzz;
use super::gic;
use crate::console::println;

/// Where the VM config loads the parameter block (its ramdisk).
const PARAMS: usize = 0x4010_0000;
/// Operations when no parameter block is there.
const DEFAULT_OPS: u64 = 10_000;

/// xorshift64*: small, and the same stream for the same seed everywhere.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn params() -> (u64, u64) {
    // SAFETY: the region holding PARAMS is guest RAM; without a parameter
    // block it holds zeroes.
    let (seed, ops) = unsafe { ((PARAMS as *const u64).read_volatile(), ((PARAMS + 8) as *const u64).read_volatile()) };
    (if seed == 0 { 1 } else { seed }, if ops == 0 || ops > 100_000_000 { DEFAULT_OPS } else { ops })
}

/// A function id for a call: PSCI, SMCCC, our vendor range or anything,
/// never one that powers a CPU or the VM off or on.
fn function_id(rng: &mut Rng) -> u64 {
    loop {
        let id = match rng.below(5) {
            0 => 0x8400_0000 + rng.below(0x20),
            1 => 0xC400_0000 + rng.below(0x20),
            2 => 0x8000_0000 + rng.below(4),
            3 => psci::HV_CALL_BASE + rng.below(8),
            _ => rng.next(),
        };
        if !matches!(id & !0x4000_0000, 0x8400_0002 | 0x8400_0003 | 0x8400_0008 | 0x8400_0009) {
            return id;
        }
    }
}


/// One aligned access of `width` bytes to an emulated device (the
/// distributor, a virtio window) or to unmapped memory.
pub(super) fn mmio_access(addr: usize, width: u64, write: Option<u64>) -> u64 {
    // SAFETY: aligned accesses to device memory of the identity map that
    // no Rust object lives in; the hypervisor decides what each does.
    unsafe {
        match (width, write) {
            (1, None) => u64::from((addr as *const u8).read_volatile()),
            (2, None) => u64::from((addr as *const u16).read_volatile()),
            (4, None) => u64::from((addr as *const u32).read_volatile()),
            (_, None) => (addr as *const u64).read_volatile(),
            (1, Some(v)) => { (addr as *mut u8).write_volatile(v as u8); 0 }
            (2, Some(v)) => { (addr as *mut u16).write_volatile(v as u16); 0 }
            (4, Some(v)) => { (addr as *mut u32).write_volatile(v as u32); 0 }
            (_, Some(v)) => { (addr as *mut u64).write_volatile(v); 0 }
        }
    }
}

fn timer_sysreg(rng: &mut Rng) -> u64 {
    let v: u64;
    // SAFETY: the guest's own timer registers; writes leave the timers
    // masked (IMASK) so no interrupt storm follows.
    unsafe {
        match rng.below(6) {
            0 => asm!("mrs {0}, cntp_ctl_el0", out(reg) v, options(nomem, nostack)),
            1 => asm!("mrs {0}, cntv_ctl_el0", out(reg) v, options(nomem, nostack)),
            2 => asm!("mrs {0}, cntpct_el0", out(reg) v, options(nomem, nostack)),
            3 => asm!("mrs {0}, cntp_tval_el0", out(reg) v, options(nomem, nostack)),
            4 => {
                v = rng.next();
                asm!("msr cntp_cval_el0, {0}", "msr cntp_ctl_el0, {1}", in(reg) v, in(reg) 3u64, options(nomem, nostack));
            }
            _ => {
                v = rng.next() & 0xffff;
                asm!("msr cntv_tval_el0, {0}", "msr cntv_ctl_el0, {1}", in(reg) v, in(reg) 3u64, options(nomem, nostack));
            }
        }
    }
    v
}

/// Mode entry.
pub fn run() {
    let (seed, ops) = params();
    println!("fuzz: seed {seed}, {ops} operations");
    let mut rng = Rng(seed);
    let mut virtio = VirtioFuzz::new();
    for n in 0..ops {
        match rng.below(8) {
            0 | 1 => {
                let id = function_id(&mut rng);
                let (a1, a2, a3) = (rng.next(), rng.next(), rng.next());
                let by_smc = rng.below(2) == 1;
                println!("fuzz {n}: {} {id:#x} {a1:#x} {a2:#x} {a3:#x}", if by_smc { "smc" } else { "hvc" });
                let _ = if by_smc { calls::smc(id, a1, a2, a3) } else { calls::hvc(id, a1, a2, a3) };
            }
            2 | 3 => {
                let width = 1 << rng.below(4);
                let offset = (rng.below(0x1000) as usize) & !(width as usize - 1);
                let write = (rng.below(2) == 1).then(|| rng.next());
                println!("fuzz {n}: gicd {offset:#x} width {width} {write:?}");
                mmio_access(0x0800_0000 + offset, width, write);
            }
            4 => {
                let v = timer_sysreg(&mut rng);
                println!("fuzz {n}: timer sysreg {v:#x}");
            }
            _ => virtio.op(&mut rng, n),
        }
    }
    // Leave the distributor and timers quiet, then the last operation.
    for i in 0..32 {
        gic::gicd_write(gic::gicd::ICENABLER + 4 * i, u32::MAX);
    }
    virtio.summary();
    virtio.still_serves();
    println!("fuzz: {ops} ops done");
    let width = 1 << rng.below(4);
    let addr = 0x3f00_0000 + (rng.below(0x1000) as usize & !(width as usize - 1));
    println!("fuzz: last op: read of {width} bytes at unmapped {addr:#x}");
    mmio_access(addr, width, None);
    println!("not ok fuzz: the unmapped read returned");
}
