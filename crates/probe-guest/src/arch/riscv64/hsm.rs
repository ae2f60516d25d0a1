//! Part of check 11: SBI HSM states and suspend types as another hart sees
//! them. The second hart suspends retentively (type 0, then a type with
//! bits above 31 set, which count for nothing: `suspend_type` is 32 bits
//! wide); each time the boot hart sees it SUSPENDED through
//! hart_get_status, then wakes it with an IPI; at the end it stops itself.

use core::sync::atomic::{AtomicU64, Ordering};

use super::sbi::{EID_HSM, call};
use crate::suite::{Outcome, ensure, wait_for};

/// The context the second hart is started with for this check.
pub const CONTEXT: u64 = 0x4853_4d53;
/// hart_get_status values.
const STOPPED: u64 = 1;
const SUSPENDED: u64 = 4;
/// The suspend types the second hart uses, in order.
const TYPES: [u64; 2] = [0, 0xffff_ffff_0000_0000];
/// SBI error codes.
const NOT_SUPPORTED: u64 = -2i64 as u64;
const INVALID_PARAM: u64 = -3i64 as u64;
const SIP_SSIP: u64 = 1 << 1;
/// What the second hart saw after each suspend: `WOKE` when it returned
/// SBI_SUCCESS with its IPI pending, else the error code (or 1 for a
/// success without the IPI); 0 until then.
static WOKEN: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
const WOKE: u64 = 0x600d;

fn status(hart: u64) -> u64 {
    call(EID_HSM, 2, [hart, 0, 0]).unwrap_or_else(|e| e)
}

fn sip() -> u64 {
    let sip: u64;
    // SAFETY: reading sip has no side effects.
    unsafe { core::arch::asm!("csrr {0}, sip", out(reg) sip, options(nomem, nostack)) };
    sip
}

fn clear_ssip() {
    // SAFETY: clearing the pending software interrupt only acknowledges it.
    unsafe { core::arch::asm!("csrc sip, {0}", in(reg) SIP_SSIP, options(nomem, nostack)) };
}

/// The boot hart's side: suspend types the hart refuses at once, then the
/// second hart's suspends as seen from here.
pub fn check(hz: u64) -> Outcome {
    let e = call(EID_HSM, 3, [0xffff_ffff_0000_0001, 0, 0]).err().unwrap_or(0);
    ensure(e == INVALID_PARAM, "hart_suspend of reserved type 1 (bits above 31 set): not SBI_ERR_INVALID_PARAM", e)?;
    // A platform-specific type this platform lacks (OpenSBI: NOT_SUPPORTED).
    let e = call(EID_HSM, 3, [0x1000_0000, 0, 0]).err().unwrap_or(0);
    ensure(e == NOT_SUPPORTED, "hart_suspend of a platform-specific type: not SBI_ERR_NOT_SUPPORTED", e)?;
    let second = super::second_cpu();
    let started = super::cpu_on(second, super::secondary_entry(), CONTEXT);
    ensure(started.is_ok(), "hart_start of the second hart for HSM: refused", started.err().unwrap_or(0))?;
    for (i, woken) in WOKEN.iter().enumerate() {
        let message = if i == 0 {
            "retentive hart_suspend woken by an IPI: not SBI_SUCCESS with the IPI pending"
        } else {
            "hart_suspend(0xffff_ffff_0000_0000) (bits above 31 ignored: retentive): not SBI_SUCCESS with the IPI pending"
        };
        let returned = || woken.load(Ordering::Acquire);
        let seen = wait_for(hz, || status(second) == SUSPENDED || returned() != 0);
        // A suspend that returned before the IPI was refused (or woke early).
        ensure(returned() == 0, message, returned())?;
        ensure(seen, "hart_get_status of a suspended hart: not SUSPENDED within 1 s", status(second))?;
        super::send_ipi(second);
        let back = wait_for(hz, || returned() != 0);
        ensure(back, "a suspended hart did not resume within 1 s of an IPI", i as u64)?;
        ensure(returned() == WOKE, message, returned())?;
    }
    let off = wait_for(hz, || status(second) == STOPPED);
    ensure(off, "the second hart not reported STOPPED after hart_stop", status(second))
}

/// The second hart's side: suspend with each of [`TYPES`], interrupts
/// masked (sstatus.SIE clear) but the IPI enabled, so that it resumes the
/// hart; report; stop.
pub fn secondary() -> ! {
    super::irq_disable();
    super::ipi_enable_this_cpu();
    clear_ssip();
    for (woken, kind) in WOKEN.iter().zip(TYPES) {
        let result = call(EID_HSM, 3, [kind, 0, 0]);
        let pending = sip() & SIP_SSIP != 0;
        clear_ssip();
        let what = match result {
            Ok(0) if pending => WOKE,
            Ok(_) => 1,
            Err(e) => e,
        };
        woken.store(what, Ordering::Release);
    }
    super::cpu_off();
    loop {
        super::wfi();
    }
}
