//! Hostile cases about what the CPU does for a guest: loops of #AC and
//! #DB (delivered natively, one whose delivery raises it again keeps a
//! CPU in microcode, so the hypervisor must intercept and reflect them),
//! instructions the guest's CPU does not have (#UD), INVD and WBINVD
//! (no-ops), the performance counters it does not have (#GP). Each says
//! `hostile NAME: ok: ...` and powers off, or says `not ok`.
//!
//! Exceptions a case expects reach [`expected`] from the trap handler.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::console::println;

/// Which case's exceptions are expected.
static EXPECTING: AtomicU8 = AtomicU8::new(NONE);
const NONE: u8 = 0;
const XSETBV: u8 = 1;
const AC_LOOP: u8 = 2;
const DB_ICEBP: u8 = 3;
const DB_BREAKPOINT: u8 = 4;
const FAULTS: u8 = 5;

/// Where a case goes on after an instruction that faults (its address is
/// stored before the instruction runs).
static RESUME: AtomicU64 = AtomicU64::new(0);
/// Exceptions taken as expected, by vector; deliveries whose frame was
/// not what the architecture says.
static SEEN: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
static WRONG: AtomicU64 = AtomicU64::new(0);

const UD: usize = 6;
const GP: usize = 13;
const DB: usize = 1;
const AC: usize = 17;
const RFLAGS_RF: u64 = 1 << 16;
const RFLAGS_AC: u64 = 1 << 18;

/// The words an exception pushed after its error code: RIP, CS, RFLAGS.
struct Frame(*mut u64);

impl Frame {
    const RIP: usize = 0;
    const CS: usize = 1;
    const RFLAGS: usize = 2;

    fn get(&self, slot: usize) -> u64 {
        // SAFETY: the CPU pushed these words on the handler's stack.
        unsafe { self.0.add(slot).read() }
    }

    fn set(&self, slot: usize, value: u64) {
        // SAFETY: as in `get`; IRETQ takes the changed value.
        unsafe { self.0.add(slot).write(value) }
    }
}

/// An exception while a case runs: whether the case expected it (then it
/// is counted, and the frame says where the case goes on). `frame` points
/// at the error code (or the stub's 0 in its place), RIP after it.
pub fn expected(vector: u64, frame: *mut u64, error_code: Option<u64>) -> bool {
    let vector = vector as usize;
    let frame = Frame(frame.wrapping_add(1));
    match (EXPECTING.load(Ordering::Acquire), vector) {
        (XSETBV, UD) => {
            EXPECTING.store(NONE, Ordering::Release);
            println!("hostile xsetbv: ok: #UD, as for XSETBV with CR4.OSXSAVE clear");
            super::system_off();
        }
        (AC_LOOP, AC) => {
            let seen = SEEN[AC].fetch_add(1, Ordering::AcqRel) + 1;
            if error_code != Some(0) || frame.get(Frame::RIP) != ac_user_load() {
                WRONG.fetch_add(1, Ordering::AcqRel);
            }
            if seen >= AC_ROUNDS {
                frame.set(Frame::RFLAGS, frame.get(Frame::RFLAGS) & !RFLAGS_AC);
            }
        }
        (AC_LOOP, UD) => ac_loop_done(&frame),
        (DB_ICEBP, DB) => {
            SEEN[DB].fetch_add(1, Ordering::AcqRel);
            if frame.get(Frame::RIP) != RESUME.load(Ordering::Acquire) {
                WRONG.fetch_add(1, Ordering::AcqRel);
            }
        }
        (DB_BREAKPOINT, DB) => {
            let seen = SEEN[DB].fetch_add(1, Ordering::AcqRel) + 1;
            if frame.get(Frame::RIP) != RESUME.load(Ordering::Acquire) || read_dr6() & 0xF != 1 {
                WRONG.fetch_add(1, Ordering::AcqRel);
            }
            write_dr6(DR6_CLEAR);
            // RF lets the instruction run: only after the last round.
            let rflags = frame.get(Frame::RFLAGS) & !RFLAGS_RF;
            frame.set(Frame::RFLAGS, if seen >= DB_ROUNDS { rflags | RFLAGS_RF } else { rflags });
        }
        (FAULTS, UD | GP) => {
            SEEN[vector].fetch_add(1, Ordering::AcqRel);
            if vector == GP && error_code != Some(0) {
                WRONG.fetch_add(1, Ordering::AcqRel);
            }
            frame.set(Frame::RIP, RESUME.load(Ordering::Acquire));
        }
        _ => return false,
    }
    true
}

/// Starts expecting `what`, with nothing counted yet.
fn expect(what: u8) {
    for seen in &SEEN {
        seen.store(0, Ordering::Release);
    }
    WRONG.store(0, Ordering::Release);
    EXPECTING.store(what, Ordering::Release);
}

/// Runs one instruction (raw bytes) that is to fault: the handler resumes
/// after it.
macro_rules! faulting {
    ($bytes:literal $(, $($operands:tt)*)?) => {
        // SAFETY: each instruction only faults (the case expects it), or,
        // run by a CPU that has it, acts on no memory of the probe's.
        unsafe {
            asm!(
                "lea {resume}, [rip + 2f]",
                "mov [{slot}], {resume}",
                $bytes,
                "2:",
                resume = out(reg) _,
                slot = in(reg) RESUME.as_ptr(),
                $($($operands)*)?
            )
        }
    };
}

/// Expects #UD from the next instruction (XSETBV's case); the handler
/// reports it and powers off.
pub fn expect_xsetbv_ud() {
    expect(XSETBV);
}

/// VMRUN, whose SVM the guest's CPU does not show: #UD.
pub fn vmrun_undefined() {
    println!("hostile svm-instruction: VMRUN");
    expect(FAULTS);
    faulting!(".byte 0x0f, 0x01, 0xd8", in("rax") 0u64);
    report_faults("svm-instruction", "VMRUN", 1, 0);
}

/// The SVM instructions besides VMRUN, SKINIT, INVLPGA, RSM (no SMM),
/// RDPRU, MONITOR and MWAIT: none of them is the guest's, each raises #UD.
pub fn undefined_instructions() {
    println!("hostile undefined-instructions: VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA RSM RDPRU MONITOR MWAIT");
    expect(FAULTS);
    faulting!(".byte 0x0f, 0x01, 0xda", in("rax") 0u64);
    faulting!(".byte 0x0f, 0x01, 0xdb", in("rax") 0u64);
    faulting!(".byte 0x0f, 0x01, 0xdc");
    faulting!(".byte 0x0f, 0x01, 0xdd");
    faulting!(".byte 0x0f, 0x01, 0xde", in("rax") 0u64);
    faulting!(".byte 0x0f, 0x01, 0xdf", in("rax") 0u64, in("rcx") 0u64);
    faulting!(".byte 0x0f, 0xaa");
    faulting!(".byte 0x0f, 0x01, 0xfd", in("rcx") 0u64, out("rax") _, out("rdx") _);
    faulting!(".byte 0x0f, 0x01, 0xc8", in("rax") 0u64, in("rcx") 0u64, in("rdx") 0u64);
    faulting!(".byte 0x0f, 0x01, 0xc9", in("rax") 0u64, in("rcx") 0u64);
    report_faults("undefined-instructions", "each", 10, 0);
}

/// The performance counters (AMD's and Intel's MSRs, RDPMC), which the
/// guest's CPUID does not show: #GP(0) for each access.
pub fn pmu() {
    println!("hostile pmu: RDMSR of four counter MSRs, WRMSR of PERF_CTL0, RDPMC 0");
    expect(FAULTS);
    for msr in [0xC001_0000u32, 0xC001_0004, 0xC001_0201, 0xC1] {
        faulting!("rdmsr", in("ecx") msr, out("eax") _, out("edx") _);
    }
    // Counting cycles at every level, enabled.
    faulting!("wrmsr", in("ecx") 0xC001_0000u32, in("eax") 0x0043_0076u32, in("edx") 0u32);
    faulting!("rdpmc", in("ecx") 0u32, out("eax") _, out("edx") _);
    report_faults("pmu", "each", 0, 6);
}

/// One line on a FAULTS case: `ud` #UD and `gp` #GP(0) expected.
fn report_faults(name: &str, what: &str, ud: u64, gp: u64) {
    EXPECTING.store(NONE, Ordering::Release);
    let (seen_ud, seen_gp) = (SEEN[UD].load(Ordering::Acquire), SEEN[GP].load(Ordering::Acquire));
    let wrong = WRONG.load(Ordering::Acquire);
    if (seen_ud, seen_gp, wrong) == (ud, gp, 0) {
        let fault = if ud > 0 { "#UD" } else { "#GP(0)" };
        println!("hostile {name}: ok: {fault} for {what} of {}", ud + gp);
        super::system_off();
        return;
    }
    println!(
        "hostile {name}: not ok: {seen_ud} #UD, {seen_gp} #GP ({wrong} with an error code), expected {ud} and {gp}"
    );
}

/// INVD, WBINVD and WBNOINVD: the guest goes on after each, and what it
/// wrote before INVD is still there.
pub fn cache_flush() {
    static CELL: AtomicU64 = AtomicU64::new(0);
    CELL.store(0x1DE4_11A5, Ordering::Release);
    println!("hostile cache-flush: INVD, WBINVD, WBNOINVD");
    // SAFETY: cache maintenance only (emulated as no-ops by the
    // hypervisor; INVD is the case's point).
    unsafe { asm!("invd", "wbinvd", ".byte 0xf3, 0x0f, 0x09", options(nostack)) };
    let value = CELL.load(Ordering::Acquire);
    if value == 0x1DE4_11A5 {
        println!("hostile cache-flush: ok: all three returned, memory kept");
        super::system_off();
        return;
    }
    println!("hostile cache-flush: not ok: memory read {value:#x} after INVD");
}

/// ICEBP and DR0 breakpoint rounds of the #DB case.
const DB_ROUNDS: u64 = 100;
/// DR6 with no cause recorded.
const DR6_CLEAR: u64 = 0xFFFF_0FF0;

fn read_dr6() -> u64 {
    let dr6: u64;
    // SAFETY: reading DR6 at CPL 0 has no side effects.
    unsafe { asm!("mov {}, dr6", out(reg) dr6, options(nomem, nostack)) };
    dr6
}

fn write_dr6(value: u64) {
    // SAFETY: DR6 only records debug-exception causes.
    unsafe { asm!("mov dr6, {}", in(reg) value, options(nomem, nostack)) };
}

/// #DB in bounded loops: ICEBP (INT1) 100 times, each #DB after it, then
/// an execute breakpoint in DR0 on one instruction, hit 100 times (RF
/// left clear, so it fires again) with DR6.B0 each time.
pub fn db_loop() {
    println!("hostile db-loop: {DB_ROUNDS} ICEBP, then a DR0 breakpoint hit {DB_ROUNDS} times");
    write_dr6(DR6_CLEAR);
    expect(DB_ICEBP);
    for _ in 0..DB_ROUNDS {
        faulting!(".byte 0xf1");
    }
    let icebp = (SEEN[DB].swap(0, Ordering::AcqRel), WRONG.swap(0, Ordering::AcqRel));
    EXPECTING.store(DB_BREAKPOINT, Ordering::Release);
    // SAFETY: the breakpoint is on the NOP below; the handler lets it
    // run after the last round, and DR7 is cleared again after it.
    unsafe {
        asm!(
            "lea {t}, [rip + 2f]",
            "mov [{slot}], {t}",
            "mov dr0, {t}",
            "mov {t}, 0x401",
            "mov dr7, {t}",
            "2: nop",
            "mov {t}, 0x400",
            "mov dr7, {t}",
            t = out(reg) _,
            slot = in(reg) RESUME.as_ptr(),
            options(nostack),
        )
    };
    EXPECTING.store(NONE, Ordering::Release);
    let breakpoint = (SEEN[DB].load(Ordering::Acquire), WRONG.load(Ordering::Acquire));
    if icebp == (DB_ROUNDS, 0) && breakpoint == (DB_ROUNDS, 0) {
        println!("hostile db-loop: ok: {DB_ROUNDS} #DB after ICEBP, {DB_ROUNDS} at the DR0 breakpoint with DR6.B0");
        super::system_off();
        return;
    }
    println!("hostile db-loop: not ok: ICEBP {icebp:?}, breakpoint {breakpoint:?} (#DB taken, wrong)");
}

/// #AC rounds of the #AC case.
const AC_ROUNDS: u64 = 1000;

global_asm!(
    ".global probe_ac_user",
    "probe_ac_user:",
    "mov rax, qword ptr [rsi]",
    ".global probe_ac_user_done",
    "probe_ac_user_done:",
    "ud2",
);

unsafe extern "C" {
    fn probe_ac_user();
    fn probe_ac_user_done();
    #[link_name = "gdt"]
    static mut GDT: [u64; 8];
}

fn ac_user_load() -> u64 {
    probe_ac_user as *const () as u64
}

/// The stack exceptions from CPL 3 switch to, and the user stack.
static mut KERNEL_STACK: [u64; 2048] = [0; 2048];
static mut USER_STACK: [u64; 512] = [0; 512];
/// The 64-bit TSS (104 bytes): RSP0 at byte 4, no I/O bitmap.
static TSS: [AtomicU32; 26] = [const { AtomicU32::new(0) }; 26];
/// A misaligned quadword's address is `&ALIGNED + 1`.
static ALIGNED: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// #AC in a bounded loop: CR0.AM and RFLAGS.AC set, a misaligned load at
/// CPL 3, taken again 1000 times (the handler returns to the load), then
/// AC cleared; the #UD after the load ends the case. (QEMU's TCG checks
/// no alignment: there the load just runs.)
pub fn ac_loop() {
    println!("hostile ac-loop: a misaligned load at CPL 3 with alignment checking, {AC_ROUNDS} times");
    let kernel_top = (&raw mut KERNEL_STACK) as u64 + 2048 * 8;
    TSS[1].store(kernel_top as u32, Ordering::Release);
    TSS[2].store((kernel_top >> 32) as u32, Ordering::Release);
    TSS[25].store(104 << 16, Ordering::Release);
    let base = TSS.as_ptr() as u64;
    let low = 103 | (base & 0xFF_FFFF) << 16 | 0x89 << 40 | ((base >> 24) & 0xFF) << 56;
    let gdt = &raw mut GDT;
    // SAFETY: entries 6-7 of the GDT are the TSS's, unused until LTR.
    unsafe {
        (*gdt)[6] = low;
        (*gdt)[7] = base >> 32;
        asm!("ltr {:x}", in(reg) 0x30u16, options(nostack));
    }
    expect(AC_LOOP);
    let user_top = (&raw mut USER_STACK) as u64 + 512 * 8;
    let misaligned = ALIGNED.as_ptr() as u64 + 1;
    // SAFETY: CR0.AM enables alignment checks (with RFLAGS.AC) only.
    unsafe {
        asm!("mov {t}, cr0", "or {t}, {am}", "mov cr0, {t}", t = out(reg) _, am = in(reg) 1u64 << 18, options(nomem, nostack))
    };
    // SAFETY: IRETQ enters the user code at CPL 3 (every page is
    // user-accessible), which ends in #UD; the handler powers off there.
    unsafe {
        asm!(
            "push 0x23",
            "push {stack}",
            "push {flags}",
            "push 0x2b",
            "push {entry}",
            "iretq",
            stack = in(reg) user_top,
            flags = in(reg) 0x2 | RFLAGS_AC,
            entry = in(reg) ac_user_load(),
            in("rsi") misaligned,
            options(noreturn),
        )
    }
}

/// The #UD that ends the #AC case: reports and powers off.
fn ac_loop_done(frame: &Frame) {
    EXPECTING.store(NONE, Ordering::Release);
    let (seen, wrong) = (SEEN[AC].load(Ordering::Acquire), WRONG.load(Ordering::Acquire));
    let at = frame.get(Frame::RIP);
    let cpl = frame.get(Frame::CS) & 3;
    let ended_right = wrong == 0 && at == probe_ac_user_done as *const () as u64 && cpl == 3;
    if ended_right && seen == AC_ROUNDS {
        println!("hostile ac-loop: ok: {seen} #AC at CPL 3, each with error code 0 at the load");
    } else if ended_right && seen == 0 {
        println!("hostile ac-loop: ok: no #AC (this CPU checks no alignment, as QEMU's TCG), then #UD at CPL 3");
    } else {
        println!("hostile ac-loop: not ok: {seen} #AC, {wrong} wrong, then #UD at {at:#x} CPL {cpl}");
    }
    super::system_off();
}
