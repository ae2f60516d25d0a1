//! Events the hypervisor injects (EVENTINJ, AMD64 APM vol. 2, 15.20):
//! the exceptions it reflects into the guest or raises there, and what a
//! reflected #DB does to the guest's DR6 and DR7.

/// EVENTINJ / EXITINTINFO: valid.
pub const VALID: u64 = 1 << 31;
/// The type field (bits 8-10): 0 an external interrupt, 3 an exception.
const TYPE_MASK: u64 = 7 << 8;
const TYPE_EXCEPTION: u64 = 3 << 8;
/// An error code is pushed (it is bits 32-63).
const ERROR_CODE_VALID: u64 = 1 << 11;

/// Exception `vector`, pushing `error_code` if it has one.
pub fn exception(vector: u8, error_code: Option<u32>) -> u64 {
    let event = VALID | TYPE_EXCEPTION | u64::from(vector);
    match error_code {
        Some(code) => event | ERROR_CODE_VALID | u64::from(code) << 32,
        None => event,
    }
}

/// The vector of `event` if it is a valid external interrupt.
pub fn external_interrupt(event: u64) -> Option<u8> {
    (event & VALID != 0 && event & TYPE_MASK == 0).then_some(event as u8)
}

/// DR6.BD: the #DB is a general-detect one (a DR access with DR7.GD).
const DR6_BD: u64 = 1 << 13;
/// DR6 bit 12 reads as zero; bits 32-63 must be zero for VMRUN.
const DR6_ZERO: u64 = 0xFFFF_FFFF_0000_0000 | 1 << 12;
/// DR7.GD.
const DR7_GD: u64 = 1 << 13;

/// The guest's DR6 and DR7 for a #DB the hypervisor intercepted and now
/// reflects. The CPU recorded the cause in DR6 before the intercept (so
/// it is kept); delivering the #DB would have cleared DR7.GD on a
/// general-detect one, so that the handler can reach the debug
/// registers, and that is done here.
pub fn reflected_debug(dr6: u64, dr7: u64) -> (u64, u64) {
    let dr7 = if dr6 & DR6_BD != 0 { dr7 & !DR7_GD } else { dr7 };
    (dr6 & !DR6_ZERO, dr7)
}
