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

/// Defines an SMCCC call through one conduit: `x0..x3` in, `x0` out.
macro_rules! smccc_call {
    ($(#[$doc:meta])* $name:ident, $insn:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(fid: u64, a1: u64, a2: u64, a3: u64) -> u64 {
            let r: u64;
            // SAFETY: an SMCCC call; the callee may clobber x0-x17, declared here.
            unsafe {
                core::arch::asm!(
                    $insn,
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
    };
}

smccc_call!(
    /// `hvc #0` with `x0..x3`; returns `x0`.
    hvc,
    "hvc #0"
);
smccc_call!(
    /// `smc #0` with `x0..x3`; returns `x0` (trapped and answered by the
    /// hypervisor; bare, QEMU's firmware answers PSCI).
    smc,
    "smc #0"
);

/// Powers the machine (or VM) off; returns only if that failed.
pub fn system_off() {
    hvc(fid::SYSTEM_OFF, 0, 0, 0);
}
