//! SBI calls by `ecall`.

pub const EID_BASE: u64 = 0x10;
pub const EID_TIME: u64 = 0x5449_4D45;
pub const EID_IPI: u64 = 0x0073_5049;
pub const EID_HSM: u64 = 0x0048_534D;
pub const EID_SRST: u64 = 0x5352_5354;
/// The hypervisor's own extension.
pub const EID_HYPERVISOR: u64 = 0x0A41_5856;
/// BASE implementation id of the hypervisor's SBI.
pub const AXVISOR_IMPL_ID: u64 = 0x4158;

/// `ecall` with `a0..a2`: `Ok(a1)` when `a0` is 0, else `Err(a0)`.
pub fn call(eid: u64, fid: u64, args: [u64; 3]) -> Result<u64, u64> {
    let (error, value): (u64, u64);
    // SAFETY: an SBI call; the callee may clobber only a0 and a1.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") args[0] => error, inlateout("a1") args[1] => value, in("a2") args[2],
            in("a6") fid, in("a7") eid, options(nostack),
        );
    }
    if error == 0 { Ok(value) } else { Err(error) }
}

/// Programs the timer (SBI TIME set_timer).
pub fn set_timer(deadline: u64) {
    let _ = call(EID_TIME, 0, [deadline, 0, 0]);
}

/// The SBI implementation id (BASE).
pub fn impl_id() -> u64 {
    call(EID_BASE, 1, [0; 3]).unwrap_or(0)
}

/// Debug console extension ("DBCN").
pub const EID_DBCN: u64 = 0x4442_434E;
/// Remote fence extension ("RFNC").
pub const EID_RFENCE: u64 = 0x5246_4E43;
/// SBI_ERR_INVALID_PARAM.
const INVALID_PARAM: u64 = -3i64 as u64;
/// SBI_ERR_INVALID_ADDRESS.
const INVALID_ADDRESS: u64 = -5i64 as u64;
/// sip bits: supervisor software and timer interrupt pending.
const SIP_SSIP: u64 = 1 << 1;
const SIP_STIP: u64 = 1 << 5;

/// A legacy (v0.1) call: `a0` in, `a0` out.
fn legacy(eid: u64, a0: u64, a1: u64, a2: u64) -> u64 {
    let ret: u64;
    // SAFETY: a legacy SBI call; the callee may clobber only a0.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") a0 => ret, in("a1") a1, in("a2") a2, in("a7") eid, options(nostack));
    }
    ret
}

/// Legacy SHUTDOWN (0x08); returns only on failure.
pub fn legacy_shutdown() {
    let _ = legacy(0x08, 0, 0, 0);
}

fn sip() -> u64 {
    let sip: u64;
    // SAFETY: reading sip has no side effects.
    unsafe { core::arch::asm!("csrr {0}, sip", out(reg) sip, options(nomem, nostack)) };
    sip
}

/// The probe's own hart mask for the legacy calls, which take its address.
static LEGACY_MASK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Check 11: SBI as the specification says, where the probe can see it:
/// masks naming a hart the machine lacks are refused; every legacy call
/// (but shutdown) does what v0.1 says; HSM suspend waits for its wake-up
/// and checks its type and resume address, and another hart sees a
/// suspended one SUSPENDED (`hsm`); the debug console writes guest
/// memory, reads nothing, and refuses memory that is not RAM. Interrupts
/// stay masked: pending bits are read from `sip`.
pub fn conformance(me: u64, under_hv: bool) -> crate::suite::Outcome {
    use crate::suite::ensure;
    super::irq_disable();
    // IPI and RFENCE with a hart the machine does not have (QEMU's OpenSBI
    // answers success here, bare; the SBI 2.0 specification says
    // INVALID_PARAM, which is what the hypervisor must answer).
    if under_hv {
        let e = call(EID_IPI, 0, [1 << 40, 0, 0]).err().unwrap_or(0);
        ensure(e == INVALID_PARAM, "send_ipi to a missing hart: not SBI_ERR_INVALID_PARAM", e)?;
        let e = call(EID_IPI, 0, [1, 100, 0]).err().unwrap_or(0);
        ensure(e == INVALID_PARAM, "send_ipi with a base past the last hart: not SBI_ERR_INVALID_PARAM", e)?;
        let e = call(EID_RFENCE, 0, [1 << 40, 0, 0]).err().unwrap_or(0);
        ensure(e == INVALID_PARAM, "remote_fence_i to a missing hart: not SBI_ERR_INVALID_PARAM", e)?;
    }
    // Legacy clear_ipi (0x03) clears what an IPI to ourselves raised.
    let _ = call(EID_IPI, 0, [1 << me, 0, 0]);
    ensure(sip() & SIP_SSIP != 0, "an IPI to this hart left sip.SSIP clear", sip())?;
    let r = legacy(0x03, 0, 0, 0);
    ensure(r == 0 && sip() & SIP_SSIP == 0, "legacy clear_ipi: sip.SSIP still set", sip())?;
    // Legacy send_ipi (0x04) through a pointer to the mask.
    LEGACY_MASK.store(1 << me, core::sync::atomic::Ordering::SeqCst);
    let mask_addr = LEGACY_MASK.as_ptr() as u64;
    let r = legacy(0x04, mask_addr, 0, 0);
    ensure(r == 0 && sip() & SIP_SSIP != 0, "legacy send_ipi to this hart: no sip.SSIP", r)?;
    let _ = legacy(0x03, 0, 0, 0);
    // Legacy remote fences (0x05-0x07) answer 0.
    for (eid, what) in [(0x05, "legacy remote_fence_i"), (0x06, "legacy remote_sfence_vma"), (0x07, "legacy remote_sfence_vma_asid")] {
        let r = legacy(eid, mask_addr, 0, u64::MAX);
        ensure(r == 0, what, r)?;
    }
    // Legacy set_timer (0x00): a past deadline raises sip.STIP, the
    // farthest one clears it.
    let _ = legacy(0x00, 0, 0, 0);
    let pending = crate::suite::wait_for(super::counter_hz() / 1000, || sip() & SIP_STIP != 0);
    ensure(pending, "legacy set_timer(0): no sip.STIP", sip())?;
    let _ = legacy(0x00, u64::MAX, 0, 0);
    ensure(sip() & SIP_STIP == 0, "legacy set_timer(-1): sip.STIP still set", sip())?;
    // Legacy console_putchar (0x01) writes; console_getchar (0x02) has
    // nothing to read (-1).
    for &b in b"# legacy console_putchar\n" {
        let r = legacy(0x01, u64::from(b), 0, 0);
        ensure(r == 0, "legacy console_putchar: not 0", r)?;
    }
    let r = legacy(0x02, 0, 0, 0);
    ensure(r == u64::MAX, "legacy console_getchar without input: not -1", r)?;
    // HSM hart_suspend: a retentive suspend returns success once the
    // timer (armed 2 ms ahead, masked by sstatus.SIE) is pending, not
    // before; a reserved type is refused; a non-retentive one needs a
    // resume address in RAM.
    let start = super::now();
    let deadline = start + super::counter_hz() / 500;
    set_timer(deadline);
    super::timer_irq_enable_this_cpu();
    let suspended = call(EID_HSM, 3, [0, 0, 0]);
    let woke = super::now();
    ensure(suspended == Ok(0), "retentive hart_suspend: not SBI_SUCCESS", suspended.unwrap_or_else(|e| e))?;
    ensure(woke >= deadline, "retentive hart_suspend returned before its wake-up timer", deadline - woke)?;
    ensure(sip() & SIP_STIP != 0, "retentive hart_suspend: woke without a pending interrupt", sip())?;
    set_timer(u64::MAX);
    let e = call(EID_HSM, 3, [1, 0, 0]).err().unwrap_or(0);
    ensure(e == INVALID_PARAM, "hart_suspend of a reserved type: not SBI_ERR_INVALID_PARAM", e)?;
    if under_hv {
        let e = call(EID_HSM, 3, [0x8000_0000, 0x10_7000_0000, 0]).err().unwrap_or(0);
        ensure(e == INVALID_ADDRESS, "non-retentive hart_suspend to no RAM: not SBI_ERR_INVALID_ADDRESS", e)?;
    }
    super::hsm::check(super::counter_hz())?;
    // DBCN.
    let offered = call(EID_BASE, 3, [EID_DBCN, 0, 0]).unwrap_or(0);
    ensure(offered == 1, "DBCN not offered", offered)?;
    let line = b"# dbcn console_write\n";
    let written = call(EID_DBCN, 0, [line.len() as u64, line.as_ptr() as u64, 0]);
    ensure(written == Ok(line.len() as u64), "DBCN console_write: not every byte written", written.unwrap_or_else(|e| e))?;
    let byte = call(EID_DBCN, 2, [u64::from(b'\n'), 0, 0]);
    ensure(byte == Ok(0), "DBCN console_write_byte: not SBI_SUCCESS", byte.unwrap_or_else(|e| e))?;
    let mut buf = [0u8; 8];
    let read = call(EID_DBCN, 1, [buf.len() as u64, buf.as_mut_ptr() as u64, 0]);
    ensure(read == Ok(0), "DBCN console_read without input: not 0 bytes", read.unwrap_or_else(|e| e))?;
    // Memory that is not RAM: refused (bare, OpenSBI faults on it and
    // answers SBI_ERR_FAILED, which the specification also allows).
    let wild = call(EID_DBCN, 0, [4, 0x7000_0000, 0x10]).err().unwrap_or(0);
    let refused = if under_hv { wild == INVALID_PARAM } else { wild != 0 };
    ensure(refused, "DBCN console_write from no RAM: not refused with SBI_ERR_INVALID_PARAM", wild)
}
