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
