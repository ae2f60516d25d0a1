//! Everything architecture-specific in the probe, behind one set of names:
//! console, counter and timer, interrupt masking, the hypervisor's calls,
//! CPU start/stop and IPIs, power-off, and the checks that only make sense
//! on one architecture.

#[cfg(target_arch = "aarch64")]
#[path = "aarch64/mod.rs"]
mod imp;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64/mod.rs"]
mod imp;
#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod imp;

pub use imp::*;
