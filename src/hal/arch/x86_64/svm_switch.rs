//! The SVM world switch: the host's VMLOAD-state out, the guest's in,
//! VMRUN, and back. General-purpose registers other than RAX and RSP
//! (which the VMCB holds) are switched here; the x87/SSE state is the
//! guest's own across runs (the host uses none); DR0-DR3 are loaded and
//! saved around it by the vCPU.

/// A guest's general-purpose registers by x86 register number (RAX 0,
/// RCX 1, RDX 2, RBX 3, RSP 4, RBP 5, RSI 6, RDI 7, R8-R15 8-15); the RAX
/// and RSP slots are unused (the VMCB holds them).
#[repr(C)]
#[derive(Debug, Default, Clone)]
pub struct Gprs(pub [u64; 16]);

/// The guest's x87/SSE state, as FXSAVE writes it.
#[repr(C, align(16))]
pub struct FxArea(pub [u8; 512]);

impl Default for FxArea {
    /// x87 and SSE at their reset state: FCW 0x37F, MXCSR 0x1F80.
    fn default() -> Self {
        let mut area = [0u8; 512];
        area[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        Self(area)
    }
}

core::arch::global_asm!(
    ".global axvisor_svm_world_switch",
    "axvisor_svm_world_switch:",
    // rdi: *mut Gprs, rsi: guest VMCB (physical), rdx: host VMCB (physical)
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "push rsi",
    "push rdx",
    // No interrupt from here to the host state's return: GIF is clear,
    // and IF is set so that VMRUN lets physical interrupts end the guest's
    // run (V_INTR_MASKING makes the host's IF the one that counts).
    "clgi",
    "sti",
    "mov rax, rdx",
    "vmsave rax",
    "mov rax, rsi",
    "vmload rax",
    "mov rcx, [rdi + 8]",
    "mov rdx, [rdi + 16]",
    "mov rbx, [rdi + 24]",
    "mov rbp, [rdi + 40]",
    "mov rsi, [rdi + 48]",
    "mov r8, [rdi + 64]",
    "mov r9, [rdi + 72]",
    "mov r10, [rdi + 80]",
    "mov r11, [rdi + 88]",
    "mov r12, [rdi + 96]",
    "mov r13, [rdi + 104]",
    "mov r14, [rdi + 112]",
    "mov r15, [rdi + 120]",
    "mov rdi, [rdi + 56]",
    "vmrun rax",
    // The stack is the host's again: guest rdi, host VMCB, guest VMCB, gprs.
    "push rdi",
    "mov rdi, [rsp + 24]",
    "mov [rdi + 8], rcx",
    "mov [rdi + 16], rdx",
    "mov [rdi + 24], rbx",
    "mov [rdi + 40], rbp",
    "mov [rdi + 48], rsi",
    "mov [rdi + 64], r8",
    "mov [rdi + 72], r9",
    "mov [rdi + 80], r10",
    "mov [rdi + 88], r11",
    "mov [rdi + 96], r12",
    "mov [rdi + 104], r13",
    "mov [rdi + 112], r14",
    "mov [rdi + 120], r15",
    "pop rax",
    "mov [rdi + 56], rax",
    "mov rax, [rsp + 8]",
    "vmsave rax",
    "mov rax, [rsp]",
    "vmload rax",
    "cli",
    "stgi",
    "add rsp, 24",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
);

unsafe extern "C" {
    fn axvisor_svm_world_switch(gprs: *mut Gprs, guest_vmcb: u64, host_vmcb: u64);
}

/// Runs the guest of the VMCB at `guest_vmcb` until its next `#VMEXIT`,
/// with `gprs` and `fx` as its registers; returns with interrupts
/// disabled and the host's state back.
///
/// # Safety
/// SVM must be on for this CPU, interrupts disabled, `host_vmcb` this
/// CPU's host-state page and `guest_vmcb` a valid VMCB whose nested page
/// tables map only memory the guest may have.
pub unsafe fn run(gprs: &mut Gprs, fx: &mut FxArea, guest_vmcb: u64, host_vmcb: u64) {
    // SAFETY: `fx` is a 16-byte aligned 512-byte area, and the host keeps
    // no x87/SSE state of its own, so loading the guest's clobbers nothing.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) fx.0.as_ptr(), options(nostack, readonly)) };
    // SAFETY: the caller's contract; the switch saves and restores every
    // callee-saved register and the host's VMLOAD state.
    unsafe { axvisor_svm_world_switch(gprs, guest_vmcb, host_vmcb) };
    // SAFETY: as for FXRSTOR; the area is the guest's own.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) fx.0.as_mut_ptr(), options(nostack)) };
}

/// Loads a guest's DR0-DR3 into the CPU (VMRUN switches only DR6 and
/// DR7). The host sets no breakpoints of its own, and DR7 disables all of
/// them in the host after every `#VMEXIT`, so the guest's addresses never
/// fire there.
pub fn load_debug(dr: &[u64; 4]) {
    // SAFETY: writing a breakpoint address arms nothing while DR7 (the
    // host's after `#VMEXIT`, the guest's in the VMCB) leaves it disabled.
    unsafe {
        core::arch::asm!(
            "mov dr0, {}",
            "mov dr1, {}",
            "mov dr2, {}",
            "mov dr3, {}",
            in(reg) dr[0], in(reg) dr[1], in(reg) dr[2], in(reg) dr[3],
            options(nomem, nostack, preserves_flags),
        )
    };
}

/// The guest's DR0-DR3 as it left them (it writes them without exits).
pub fn save_debug() -> [u64; 4] {
    let dr: [u64; 4];
    // SAFETY: reading debug registers at CPL 0 has no side effects.
    unsafe {
        let (a, b, c, d): (u64, u64, u64, u64);
        core::arch::asm!(
            "mov {}, dr0",
            "mov {}, dr1",
            "mov {}, dr2",
            "mov {}, dr3",
            out(reg) a, out(reg) b, out(reg) c, out(reg) d,
            options(nomem, nostack, preserves_flags),
        );
        dr = [a, b, c, d];
    }
    dr
}
