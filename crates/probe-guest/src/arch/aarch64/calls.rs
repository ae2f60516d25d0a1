//! Guest calls through `hvc`: PSCI (the hypervisor's, or QEMU's on the bare
//! machine) and the hypervisor's own vendor calls.


/// PSCI function ids.
pub mod fid {
    /// PSCI_VERSION.
    pub const VERSION: u64 = 0x8400_0000;
    /// CPU_OFF.
    pub const CPU_OFF: u64 = 0x8400_0002;
    /// CPU_ON (SMC64).
    pub const CPU_ON: u64 = 0xC400_0003;
    /// AFFINITY_INFO (SMC64).
    pub const AFFINITY_INFO: u64 = 0xC400_0004;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u64 = 0x8400_0008;
    /// PSCI_FEATURES.
    pub const FEATURES: u64 = 0x8400_000A;
}

/// `hvc #0` with `x0..x3`; returns `x0`.
#[inline(always)]
pub fn hvc(fid: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let r: u64;
    // SAFETY: an SMCCC call; the callee may clobber x0-x17, declared here.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inlateout("x0") fid => r, inlateout("x1") a1 => _, inlateout("x2") a2 => _,
            inlateout("x3") a3 => _, lateout("x4") _, lateout("x5") _, lateout("x6") _,
            lateout("x7") _, lateout("x8") _, lateout("x9") _, lateout("x10") _,
            lateout("x11") _, lateout("x12") _, lateout("x13") _, lateout("x14") _,
            lateout("x15") _, lateout("x16") _, lateout("x17") _,
            options(nostack),
        );
    }
    r
}

/// Powers the machine (or VM) off; returns only if that failed.
pub fn system_off() {
    hvc(fid::SYSTEM_OFF, 0, 0, 0);
}
