//! Hostile cases: each does what a misbehaving guest would, once, in a VM
//! of its own beside a well-behaved one. The hypervisor must answer each
//! per the specification or stop this VM with a line naming what it did;
//! it must never panic, reset the machine or reach the firmware. Lines
//! `hostile NAME: ...` say what the case saw. A case that is answered ends
//! with SYSTEM_OFF when every answer was right and with CPU_OFF of its
//! only vCPU when one was not, so the hypervisor's own report of how the VM
//! ended is the verdict (guests' lines may interleave on the shared UART).

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use super::calls::{self, fid};
use super::gic::{self, gicd};
use super::trap;
use crate::console::println;

/// Normal memory in the probe's stage-1 map that no VM region covers.
const UNMAPPED_NORMAL: u64 = 0x7000_0000;
/// A region the hostile configs give read access only.
const READ_ONLY: u64 = 0x4800_0000;
/// A region the hostile configs give no execute access.
const NO_EXEC: u64 = 0x4900_0000;
/// The distributor's guest-physical address.
const GICD: u64 = 0x0800_0000;

/// The cases, in entry-point order after the fixed modes.
pub const CASES: &[(&str, fn())] = &[
    ("fetch-unmapped", fetch_unmapped),
    ("vector-unmapped", vector_unmapped),
    ("smc-reset", smc_reset),
    ("smc-calls", smc_calls),
    ("ptimer", ptimer),
    ("mmio-no-syndrome", mmio_no_syndrome),
    ("cpu-off-last", cpu_off_last),
    ("cpu-on-bad", cpu_on_bad),
    ("read-only", read_only),
    ("no-exec", no_exec),
    ("vgic-abuse", vgic_abuse),
    ("hvc-flood", hvc_flood),
    ("pmu-debug", pmu_debug),
    ("foreign-spi", foreign_spi),
    ("spi-owner", spi_owner),
    ("reset-loop", reset_loop),
    ("virtio-blk", super::virtio_blk::run),
    ("virtio-console", super::virtio_console::run),
    ("virtio-net", super::virtio_net::run),
];

/// The case a mode runs: case k at mode 5 + k for the first twelve, at
/// 21 + (k - 12) after them (modes 17-20 are others).
pub fn case_of_mode(mode: u64) -> Option<&'static (&'static str, fn())> {
    let k = match mode {
        5..=16 => mode - 5,
        21.. => mode - 9,
        _ => return None,
    };
    CASES.get(k as usize)
}

/// Wrong answers seen so far.
static WRONG: AtomicU32 = AtomicU32::new(0);

pub(super) fn report(name: &str, what: &str, ok: bool, seen: u64) {
    let verdict = if ok { "ok" } else { "not ok" };
    if !ok {
        WRONG.fetch_add(1, Ordering::Relaxed);
    }
    println!("hostile {name}: {verdict}: {what} (saw {seen:#x})");
}

/// Ends an answered case: SYSTEM_OFF if every answer was right, else
/// CPU_OFF of the only vCPU (which the hypervisor reports differently).
pub fn finish() {
    if WRONG.load(Ordering::Relaxed) == 0 {
        calls::system_off();
    } else {
        calls::hvc(fid::CPU_OFF, 0, 0, 0);
    }
}

/// Branches to guest-physical memory no region covers.
fn fetch_unmapped() {
    println!("hostile fetch-unmapped: branching to {UNMAPPED_NORMAL:#x}");
    // SAFETY: deliberately invalid; the hypervisor must stop the VM here.
    unsafe { asm!("blr {0}", in(reg) UNMAPPED_NORMAL, clobber_abi("C")) };
    println!("hostile fetch-unmapped: not ok: the branch returned");
}

/// Points the exception vectors at unmapped memory and takes an exception.
fn vector_unmapped() {
    println!("hostile vector-unmapped: VBAR_EL1 = {UNMAPPED_NORMAL:#x}, then svc");
    // SAFETY: deliberately invalid; the exception's vector fetch must stop
    // the VM.
    unsafe { asm!("msr vbar_el1, {0}", "isb", "svc #0", in(reg) UNMAPPED_NORMAL, options(nostack)) };
    println!("hostile vector-unmapped: not ok: the exception returned");
}

/// PSCI SYSTEM_RESET through SMC: this VM (only) restarts from its images,
/// with clean RAM: a word written before the reset, in a RAM chunk the
/// image does not cover, reads as zero after it (and before it was
/// written).
fn smc_reset() {
    /// Below the image, in the VM's first RAM chunk.
    const SCRATCH: *mut u64 = 0x4000_1000 as *mut u64;
    const MARK: u64 = 0xdead_beef_5eed_0001;
    let boots = calls::hvc(psci::HV_CALL_BOOTS, 0, 0, 0);
    // SAFETY: SCRATCH is RAM of this VM, normal memory in the probe's map,
    // used by nothing else.
    let seen = unsafe { SCRATCH.read_volatile() };
    if boots == 1 {
        if seen != 0 {
            report("smc-reset", "RAM never written reads as zero", false, seen);
            finish();
            return;
        }
        // SAFETY: as above.
        unsafe { SCRATCH.write_volatile(MARK) };
        println!("hostile smc-reset: SYSTEM_RESET by smc");
        calls::smc(0x8400_0009, 0, 0, 0);
        report("smc-reset", "SYSTEM_RESET returned", false, 0);
    } else {
        report("smc-reset", "restarted from its images after SYSTEM_RESET, boot 2", boots == 2, boots);
        report("smc-reset", "RAM written before the reset reads as zero after it", seen == 0, seen);
    }
    finish();
}

/// SYSTEM_RESET again and again: every boot starts from the images with
/// clean RAM, until boot [`RESET_LOOP_BOOTS`] powers off. The hypervisor
/// reloads the images each time (from the boot disk, for a config whose
/// images are there) while the other VMs go on.
fn reset_loop() {
    const SCRATCH: *mut u64 = 0x4000_1000 as *mut u64;
    const MARK: u64 = 0xdead_beef_5eed_0002;
    let boots = calls::hvc(psci::HV_CALL_BOOTS, 0, 0, 0);
    // SAFETY: SCRATCH is RAM of this VM, normal memory in the probe's map,
    // used by nothing else.
    let seen = unsafe { SCRATCH.read_volatile() };
    if seen != 0 {
        report("reset-loop", "RAM written before a reset reads as zero after it", false, seen);
        finish();
        return;
    }
    if boots < RESET_LOOP_BOOTS {
        // SAFETY: as above.
        unsafe { SCRATCH.write_volatile(MARK) };
        calls::smc(0x8400_0009, 0, 0, 0);
        report("reset-loop", "SYSTEM_RESET returned", false, boots);
    } else {
        report("reset-loop", "restarted from its images with clean RAM every time", boots == RESET_LOOP_BOOTS, boots);
    }
    finish();
}

/// Boots the reset-loop case goes through.
const RESET_LOOP_BOOTS: u64 = 20;

/// PSCI and SMCCC through SMC are answered by the hypervisor, about vCPUs.
fn smc_calls() {
    let version = calls::smc(fid::VERSION, 0, 0, 0);
    report("smc-calls", "PSCI_VERSION by smc is 1.1", version == 0x1_0001, version);
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {0}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    let on = calls::smc(fid::AFFINITY_INFO, mpidr & 0xff_00ff_ffff, 0, 0);
    report("smc-calls", "AFFINITY_INFO(self) by smc is ON", on == 0, on);
    let suspend = calls::smc(0xC400_0001, 0, 0, 0);
    report("smc-calls", "CPU_SUSPEND by smc returns SUCCESS", suspend == 0, suspend);
    let smccc = calls::smc(0x8000_0000, 0, 0, 0);
    report("smc-calls", "SMCCC_VERSION is 1.1", smccc == 0x1_0001, smccc);
    let workaround = calls::smc(0x8000_0001, 0x8000_8000, 0, 0);
    report("smc-calls", "ARCH_FEATURES(WORKAROUND_1) is NOT_SUPPORTED", workaround as i64 == -1, workaround);
    let unknown = calls::smc(0xC200_1234, 0, 0, 0);
    report("smc-calls", "an unknown SMC is NOT_SUPPORTED", unknown as i64 == -1, unknown);
    let unknown_hvc = calls::hvc(0x8600_0042, 1, 2, 3);
    report("smc-calls", "an unknown HVC is NOT_SUPPORTED", unknown_hvc as i64 == -1, unknown_hvc);
    if WRONG.load(Ordering::Relaxed) == 0 {
        println!("hostile smc-calls: SYSTEM_OFF by smc");
        calls::smc(fid::SYSTEM_OFF, 0, 0, 0);
    }
    finish();
}

/// The EL1 physical timer: TVAL read, a flood of writes, then a real
/// interrupt through PPI 30.
fn ptimer() {
    let tval: u64;
    // SAFETY: reading the guest's physical timer.
    unsafe { asm!("mrs {0}, cntp_tval_el0", out(reg) tval, options(nomem, nostack)) };
    report("ptimer", "CNTP_TVAL_EL0 read", true, tval);
    for i in 0..100_000u64 {
        // SAFETY: programming the guest's own physical timer, masked.
        unsafe { asm!("msr cntp_ctl_el0, {1}", "msr cntp_tval_el0, {0}", in(reg) 1_000_000 + i, in(reg) 3u64, options(nomem, nostack)) };
    }
    report("ptimer", "100000 CNTP_TVAL_EL0 writes", true, 100_000);
    gic::init_cpu(30);
    let start = super::now();
    // SAFETY: arm the physical timer 1000 ticks ahead, unmasked.
    unsafe { asm!("msr cntp_tval_el0, {0}", "msr cntp_ctl_el0, {1}", "isb", in(reg) 1000u64, in(reg) 1u64, options(nomem, nostack)) };
    let mut fired = false;
    while super::now() - start < 10_000_000 {
        let ctl: u64;
        // SAFETY: reading the guest's physical timer status.
        unsafe { asm!("mrs {0}, cntp_ctl_el0", out(reg) ctl, options(nomem, nostack)) };
        if ctl & 4 != 0 && gic::pending_ack() == Some(30) {
            fired = true;
            break;
        }
    }
    // SAFETY: disable the physical timer.
    unsafe { asm!("msr cntp_ctl_el0, xzr", "isb", options(nomem, nostack)) };
    report("ptimer", "PPI 30 delivered through the virtual GIC", fired, u64::from(fired));
    finish();
}

/// Loads without a syndrome from the emulated distributor: a pre-indexed
/// load is decoded; a pair load must stop the VM, named.
fn mmio_no_syndrome() {
    let typer = gic::gicd_read(gicd::TYPER);
    let (value, base): (u64, u64);
    // SAFETY: a pre-indexed load of GICD_TYPER (GICD + 4).
    unsafe {
        asm!("ldr {v:w}, [{b}, #4]!", v = out(reg) value, b = inout(reg) GICD => base, options(nostack));
    }
    report("mmio-no-syndrome", "pre-indexed ldr reads GICD_TYPER", value == u64::from(typer), value);
    report("mmio-no-syndrome", "pre-indexed ldr writes its base back", base == GICD + 4, base);
    println!("hostile mmio-no-syndrome: ldp from the distributor");
    // SAFETY: deliberately an access the hypervisor cannot emulate; it must
    // stop the VM naming it.
    unsafe { asm!("ldp {a:w}, {b:w}, [{p}]", a = out(reg) _, b = out(reg) _, p = in(reg) GICD, options(nostack)) };
    println!("hostile mmio-no-syndrome: not ok: ldp returned");
}

/// CPU_OFF on the VM's only running vCPU.
fn cpu_off_last() {
    println!("hostile cpu-off-last: CPU_OFF on the only vCPU");
    calls::hvc(fid::CPU_OFF, 0, 0, 0);
    println!("hostile cpu-off-last: not ok: CPU_OFF returned");
}

/// CPU_ON with an entry outside guest RAM, and to a CPU the VM lacks.
fn cpu_on_bad() {
    let bad_entry = calls::hvc(fid::CPU_ON, 1, 0x3f00_0000, 0);
    report("cpu-on-bad", "CPU_ON outside RAM is INVALID_ADDRESS", bad_entry as i64 == -9, bad_entry);
    let bad_target = calls::hvc(fid::CPU_ON, 7, 0x4020_0000, 0);
    report("cpu-on-bad", "CPU_ON to a missing CPU is INVALID_PARAMETERS", bad_target as i64 == -2, bad_target);
    let off = calls::hvc(fid::AFFINITY_INFO, 1, 0, 0);
    report("cpu-on-bad", "the refused CPU is still OFF", off == 1, off);
    finish();
}

/// A store to a region the config makes read-only.
fn read_only() {
    // SAFETY: reading the region is allowed.
    let value = unsafe { (READ_ONLY as *const u32).read_volatile() };
    report("read-only", "reading the read-only region", true, u64::from(value));
    println!("hostile read-only: storing to {READ_ONLY:#x}");
    // SAFETY: deliberately forbidden by stage 2; the VM must be stopped.
    unsafe { (READ_ONLY as *mut u32).write_volatile(0xdead) };
    println!("hostile read-only: not ok: the store went through");
}

/// A branch into a region the config makes non-executable.
fn no_exec() {
    // SAFETY: the region is writable; `ret` is written, cleaned to the
    // point of unification and the instruction cache invalidated.
    unsafe {
        (NO_EXEC as *mut u32).write_volatile(0xd65f_03c0);
        asm!("dc cvau, {0}", "dsb ish", "ic ivau, {0}", "dsb ish", "isb", in(reg) NO_EXEC, options(nostack));
    }
    println!("hostile no-exec: branching to {NO_EXEC:#x}");
    // SAFETY: deliberately forbidden by stage 2; the VM must be stopped.
    unsafe { asm!("blr {0}", in(reg) NO_EXEC, clobber_abi("C")) };
    println!("hostile no-exec: not ok: the branch returned");
}

/// Every enable bit, targets past the vCPUs, SGIs to all, 64-bit and byte
/// accesses, offsets past the registers.
fn vgic_abuse() {
    for i in 0..32 {
        gic::gicd_write(gicd::ISENABLER + 4 * i, u32::MAX);
        gic::gicd_write(gicd::ITARGETSR + 4 * (8 + i), u32::MAX);
    }
    gic::gicd_write(gicd::SGIR, (1 << 24) | 0xf); // all but self
    gic::gicd_write(gicd::SGIR, (0xff << 16) | 0xf); // every target bit
    gic::gicd_write(gicd::SGIR, (3 << 24) | 0xf); // reserved filter
    let mut wide = 0u64;
    for offset in (0..0x1000u64).step_by(8) {
        let v: u64;
        // SAFETY: 64-bit loads from the emulated distributor.
        unsafe { asm!("ldr {0}, [{1}]", out(reg) v, in(reg) GICD + offset, options(nostack)) };
        wide |= v;
    }
    for offset in (0..0x1000u64).step_by(7) {
        // SAFETY: byte stores across the emulated distributor frame.
        unsafe { asm!("strb {0:w}, [{1}]", in(reg) 0xffu64, in(reg) GICD + offset, options(nostack)) };
    }
    let past = gic::gicd_read(0xffc);
    report("vgic-abuse", "64-bit loads read as zero", wide == 0, wide);
    report("vgic-abuse", "a register past the map reads as zero", past == 0, u64::from(past));
    for i in 0..32 {
        gic::gicd_write(gicd::ICENABLER + 4 * i, u32::MAX);
    }
    finish();
}

/// A million null hypercalls.
fn hvc_flood() {
    let mut failures = 0u64;
    for _ in 0..1_000_000u32 {
        if calls::hvc(psci::HV_CALL_NULL, 0, 0, 0) != 0 {
            failures += 1;
        }
    }
    report("hvc-flood", "1000000 null hypercalls answered 0", failures == 0, failures);
    finish();
}

/// The PMU, trace and debug registers: the ID register shows no PMU and
/// no trace unit, and their registers are UNDEFINED (the exception taken
/// here and stepped over); the debug registers read as zero and ignore
/// writes. Nothing counts or records the hypervisor's or another vCPU's
/// work; the VM goes on.
fn pmu_debug() {
    let dfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {0}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack)) };
    report("pmu-debug", "ID_AA64DFR0_EL1 shows no PMU and no trace unit", (dfr0 >> 4) & 0xff == 0, dfr0);
    let mut cycles = 0x5a5a_u64;
    let taken = trap::undefined_taken_by(|| {
        // SAFETY: reading the cycle counter (or taking the UNDEFINED
        // exception, stepped over); no memory is involved.
        unsafe { asm!("mrs {0}, pmccntr_el0", inout(reg) cycles, options(nomem, nostack)) };
    });
    report("pmu-debug", "reading PMCCNTR_EL0 is UNDEFINED", taken == 1, cycles);
    let taken = trap::undefined_taken_by(|| {
        // SAFETY: enabling the counters, if there were any.
        unsafe { asm!("msr pmcr_el0, {0}", "isb", in(reg) 1u64, options(nomem, nostack)) };
    });
    report("pmu-debug", "writing PMCR_EL0 is UNDEFINED", taken == 1, taken);
    let taken = trap::undefined_taken_by(|| {
        // SAFETY: reading TRCPRGCTLR of a trace unit, if there were one.
        unsafe { asm!("mrs {0}, s2_1_c0_c1_0", out(reg) _, options(nomem, nostack)) };
    });
    report("pmu-debug", "reading a trace-unit register is UNDEFINED", taken == 1, taken);
    let (mut bvr, mut mdscr) = (0u64, 0u64);
    let taken = trap::undefined_taken_by(|| {
        // SAFETY: a breakpoint value and the monitor enables, written and
        // read back; with them ignored nothing can trigger.
        unsafe {
            asm!(
                "msr dbgbvr0_el1, {addr}",
                "msr mdscr_el1, {mde}",
                "isb",
                "mrs {bvr}, dbgbvr0_el1",
                "mrs {mdscr}, mdscr_el1",
                addr = in(reg) 0x4020_0000u64,
                mde = in(reg) 1u64 << 15,
                bvr = out(reg) bvr,
                mdscr = out(reg) mdscr,
                options(nomem, nostack),
            );
        }
    });
    report("pmu-debug", "DBGBVR0_EL1 reads as zero after a write", taken == 0 && bvr == 0, bvr);
    report("pmu-debug", "MDSCR_EL1 reads as zero after a write", taken == 0 && mdscr == 0, mdscr);
    finish();
}

/// The PL031 RTC's interrupt, which the `spi-owner` VM owns.
const RTC_SPI: u32 = 34;
/// The PL031's registers: data, match, interrupt mask, raw status, clear.
const RTC: usize = 0x0901_0000;
const RTC_DR: usize = 0x00;
const RTC_MR: usize = 0x04;
const RTC_IMSC: usize = 0x10;
const RTC_RIS: usize = 0x14;
const RTC_ICR: usize = 0x1c;

/// Sets pending, enables, activates and clears every SPI in a loop for
/// two seconds, through the distributor, routed at itself: the PL011's 33
/// (the host console's), the RTC's 34 (which the `spi-owner` VM beside it
/// owns and holds asserted) and every other it has no device for. Its
/// virtual GIC delivers them to it; the physical interrupts stay
/// untouched, and the VMs beside it go on.
fn foreign_spi() {
    const WORDS: core::ops::Range<usize> = 1..8;
    gic::init_cpu(1);
    for word in WORDS {
        if gic::is_v3() {
            for spi in 32 * word..32 * word + 32 {
                gic::gicd_write(0x6000 + 8 * spi, 0);
            }
        } else {
            for byte in 0..8 {
                gic::gicd_write(gicd::ITARGETSR + 32 * word + 4 * byte, u32::MAX);
            }
        }
    }
    let (mut rounds, mut delivered, mut saw_33, mut saw_34) = (0u64, 0u64, false, false);
    let end = super::now() + 2 * super::counter_hz();
    while super::now() < end || rounds < 100 {
        rounds += 1;
        for word in WORDS {
            gic::gicd_write(gicd::ISENABLER + 4 * word, u32::MAX);
            gic::gicd_write(gicd::ISPENDR + 4 * word, u32::MAX);
        }
        while let Some(id) = gic::pending_ack() {
            delivered += 1;
            saw_33 |= id == 33;
            saw_34 |= id == RTC_SPI;
        }
        for word in WORDS {
            gic::gicd_write(gicd::ISACTIVER + 4 * word, u32::MAX);
            gic::gicd_write(gicd::ICACTIVER + 4 * word, u32::MAX);
            gic::gicd_write(gicd::ICPENDR + 4 * word, u32::MAX);
            gic::gicd_write(gicd::ICENABLER + 4 * word, u32::MAX);
        }
    }
    while gic::pending_ack().is_some() {}
    let left = WORDS.fold(0u32, |bits, word| {
        bits | gic::gicd_read(gicd::ISPENDR + 4 * word) | gic::gicd_read(gicd::ISENABLER + 4 * word)
    });
    report("foreign-spi", "SPIs set pending were delivered to this VM", delivered >= rounds, delivered);
    report("foreign-spi", "SPIs 33 and 34 were among them", saw_33 && saw_34, u64::from(saw_33) | u64::from(saw_34) << 1);
    report("foreign-spi", "none left pending or enabled once cleared", left == 0, u64::from(left));
    finish();
}

fn rtc_read(offset: usize) -> u32 {
    // SAFETY: the PL031 passed through to this VM, device memory.
    unsafe { ((RTC + offset) as *const u32).read_volatile() }
}

fn rtc_write(offset: usize, value: u32) {
    // SAFETY: as in `rtc_read`; match, mask and clear only move its
    // interrupt line (the counter is never written).
    unsafe { ((RTC + offset) as *mut u32).write_volatile(value) }
}

/// The victim beside `foreign-spi`, on the same CPU: it owns the RTC's SPI
/// 34, raises it (match = now), holds it asserted and active for 20 ms,
/// clears it at the device and EOIs it, ten times. The other VM's pending,
/// enable and EOI of its own 34 must not let the physical SPI in while
/// this one holds it: that would deliver 34 again after its EOI with the
/// device quiet (a spurious interrupt).
fn spi_owner() {
    const ROUNDS: u64 = 10;
    let ms = super::counter_hz() / 1000;
    let spin = |ticks: u64| {
        let end = super::now() + ticks;
        while super::now() < end {}
    };
    gic::init_cpu(1);
    gic::route_spi(RTC_SPI);
    rtc_write(RTC_IMSC, 1);
    let (mut delivered, mut spurious) = (0u64, 0u64);
    for _ in 0..ROUNDS {
        // Match the counter now (again if it ticked in between).
        for _ in 0..100 {
            if rtc_read(RTC_RIS) & 1 != 0 {
                break;
            }
            rtc_write(RTC_MR, rtc_read(RTC_DR));
        }
        let deadline = super::now() + 100 * ms;
        let iar = loop {
            let iar = gic::ack();
            if iar & 0x3ff == RTC_SPI || super::now() > deadline {
                break iar;
            }
            if iar & 0x3ff != gic::SPURIOUS {
                gic::eoi(iar);
            }
        };
        if iar & 0x3ff != RTC_SPI {
            break;
        }
        delivered += 1;
        spin(20 * ms);
        rtc_write(RTC_ICR, 1);
        gic::eoi(iar);
        let quiet_until = super::now() + 5 * ms;
        while super::now() < quiet_until {
            if gic::pending_ack() == Some(RTC_SPI) && rtc_read(RTC_RIS) & 1 == 0 {
                spurious += 1;
            }
        }
    }
    rtc_write(RTC_IMSC, 0);
    report("spi-owner", "the RTC's SPI 34 raised ten times was delivered ten times", delivered == ROUNDS, delivered);
    report("spi-owner", "no SPI 34 came with the device quiet", spurious == 0, spurious);
    finish();
}
