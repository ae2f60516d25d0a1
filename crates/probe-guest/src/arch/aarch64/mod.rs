//! aarch64 at EL1: PL011, generic timer (virtual), GICv2, PSCI and the
//! hypervisor's vendor calls through `hvc`.

mod calls;
mod console;
mod cpu;
pub mod doorbell;
mod fpcheck;
pub use fpcheck::{FP_CHECK, fp_count_wrong, fp_enable, fp_fill};
mod fuzz;
mod fuzz_virtio;
mod fuzz_virtio_check;
mod fuzz_virtio_gen;
mod gic;
mod gicconf;
mod hostile;
mod nowaker;
mod power;
mod ptimer;
mod trap;
mod virtio_blk;
mod virtio_blk_hostile;
mod virtio_case;
mod virtio_console;
mod virtio_console_hostile;
mod virtio_net;
mod virtio_net_cases;
mod virtio_net_hostile;
mod virtq;

pub use console::{UART_IRQ, put_byte, uart_irq_arm, uart_irq_disarm};
pub use cpu::{counter_hz, irq_disable, irq_enable, now, timer_arm, wfi};

use crate::irq;
use crate::suite::{Outcome, ensure};

core::arch::global_asm!(include_str!("boot.S"));

/// Guest-physical address in no region and no device of the probe's VM.
pub const UNMAPPED_GPA: usize = 0x3f00_0000;
/// The CPU the probe boots on.
pub fn first_cpu() -> u64 {
    0
}

/// The CPU the SMP check starts (the probe boots on CPU 0).
pub fn second_cpu() -> u64 {
    1
}

/// CPUs the suite's machine has (the SMP check starts the second).
pub const SUITE_CPUS: u32 = 2;
/// Name of the firmware-interface check.
pub const FIRMWARE_CHECK: &str = "psci-version-features";

/// Whether a hypervisor runs the probe: EL2 exists (the test machine has
/// `virtualization=on`) and we are not in it.
pub fn under_hypervisor() -> bool {
    cpu::el2_implemented()
}

/// Early per-CPU setup: the identity map and caches.
pub fn init_cpu(primary: bool) {
    cpu::mmu_enable(primary);
}

/// No mailbox: the entry point alone picks the mode.
pub fn mode_override() -> Option<u64> {
    None
}

/// The hypervisor's call `fid` (null 0, version 1, add 2): `Ok(x0)`, or
/// `Err(x0)` when it answered NOT_SUPPORTED.
pub fn hv_call(fid: u64, args: [u64; 3]) -> Result<u64, u64> {
    let r = calls::hvc(psci::HV_CALL_BASE + fid, args[0], args[1], args[2]);
    if r == psci::ret::NOT_SUPPORTED { Err(r) } else { Ok(r) }
}

/// Starts CPU `target` at `entry` with `context`; `Err(code)` on refusal.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> Result<(), u64> {
    match calls::hvc(calls::fid::CPU_ON, target, entry, context) {
        psci::ret::SUCCESS => Ok(()),
        code => Err(code),
    }
}

/// The refusal code for starting a CPU that is already on.
pub const ALREADY_ON: u64 = psci::ret::ALREADY_ON;

/// Whether CPU `target` is off (PSCI AFFINITY_INFO).
pub fn cpu_is_off(target: u64) -> bool {
    calls::hvc(calls::fid::AFFINITY_INFO, target, 0, 0) == 1
}

/// Turns the calling CPU off; returns only on failure.
pub fn cpu_off() {
    calls::hvc(calls::fid::CPU_OFF, 0, 0, 0);
}

/// Powers the machine (or VM) off; returns only on failure.
pub fn system_off() {
    calls::system_off();
}

/// The IPI the SMP check sends (an SGI).
const IPI_SGI: u32 = 1;

/// Lets this CPU take the timer interrupt.
pub fn timer_irq_enable_this_cpu() {
    gic::init_cpu(gic::VTIMER_PPI);
}

/// Lets this CPU take the IPI.
pub fn ipi_enable_this_cpu() {
    gic::init_cpu(IPI_SGI);
}

/// Sends the IPI to CPU `target`.
pub fn send_ipi(target: u64) {
    gic::send_sgi(IPI_SGI, 1 << target);
}

/// One emulated-MMIO read (the benchmark's): GICD_TYPER.
pub fn mmio_read() -> Option<u32> {
    Some(gic::gicd_read(gic::gicd::TYPER))
}

/// Check 2: the GIC distributor as the architecture specifies it:
/// TYPER counts this machine's CPUs and some SPIs; enable bits set through
/// ISENABLER read back and clear through ICENABLER; priorities are stored.
pub fn emulated_mmio_check() -> Option<Outcome> {
    Some(gic_distributor())
}

fn gic_distributor() -> Outcome {
    use gic::{gicd, gicd_read, private_read, private_write};
    let bit = 1u32 << gic::VTIMER_PPI;
    let typer = gicd_read(gicd::TYPER);
    // GICv3 (affinity routing) leaves CPUNumber zero.
    let cpus_ok = gic::is_v3() || (typer >> 5) & 7 == SUITE_CPUS - 1;
    ensure(cpus_ok, "TYPER.CPUNumber is not the CPU count - 1", u64::from(typer))?;
    ensure(typer & 0x1f >= 1, "TYPER reports no SPIs", u64::from(typer))?;
    private_write(gicd::ISENABLER, bit);
    let set = private_read(gicd::ISENABLER);
    ensure(set & bit != 0, "ISENABLER bit did not read back set", u64::from(set))?;
    private_write(gicd::ICENABLER, bit);
    let cleared = private_read(gicd::ISENABLER);
    ensure(cleared & bit == 0, "ICENABLER did not clear the enable bit", u64::from(cleared))?;
    let word = gicd::IPRIORITYR + 24; // interrupts 24..27
    let old = private_read(word);
    private_write(word, (old & 0x00ff_ffff) | 0x8000_0000);
    let prio = private_read(word) >> 24;
    ensure(prio == 0x80, "IPRIORITYR byte did not read back", u64::from(prio))?;
    private_write(word, old);
    Ok(())
}

/// Check 6: PSCI VERSION and FEATURES answer valid values.
pub fn firmware_check() -> Outcome {
    use calls::{fid, hvc};
    use psci::ret;
    let version = hvc(fid::VERSION, 0, 0, 0);
    ensure(version >> 16 >= 1 && version >> 32 == 0, "PSCI version below 1.0", version)?;
    let cpu_on = hvc(fid::FEATURES, fid::CPU_ON, 0, 0);
    ensure(cpu_on == ret::SUCCESS, "FEATURES(CPU_ON) not SUCCESS", cpu_on)?;
    let off = hvc(fid::FEATURES, fid::SYSTEM_OFF, 0, 0);
    ensure(off == ret::SUCCESS, "FEATURES(SYSTEM_OFF) not SUCCESS", off)?;
    let bogus = hvc(fid::FEATURES, 0x8400_001f, 0, 0);
    ensure(bogus == ret::NOT_SUPPORTED, "FEATURES(undefined id) not NOT_SUPPORTED", bogus)
}

#[unsafe(no_mangle)]
extern "C" fn irq_handler() {
    let iar = gic::ack();
    let id = iar & 0x3ff;
    match id {
        gic::VTIMER_PPI => {
            // The timer stays asserted until disabled or re-armed.
            cpu::timer_disable();
            irq::on_timer();
        }
        ptimer::PPI => ptimer::on_tick(),
        power::IRQ => power::on_irq(),
        id if doorbell::is_doorbell(id) => crate::channel::on_doorbell(),
        0..16 => irq::on_ipi(),
        id if u64::from(id) == UART_IRQ => {
            console::uart_irq_ack();
            irq::on_device(UART_IRQ);
        }
        gic::SPURIOUS => return,
        other => irq::on_other(u64::from(other)),
    }
    gic::eoi(iar);
}

#[unsafe(no_mangle)]
extern "C" fn unexpected_exception(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    crate::unexpected(kind, esr, elr, far)
}

/// Address of the secondary CPU entry.
pub fn secondary_entry() -> u64 {
    unsafe extern "C" {
        fn secondary_entry();
    }
    secondary_entry as *const () as u64
}

/// Modes past the common ones: 3 fuzzer, 4 FP/SIMD isolation, 5 + k
/// hostile case k (k < 12), 17 physical-timer cyclic test, 18 two vCPUs on
/// one CPU, 19 waiting for the power button, 20 spinning without exits,
/// 21 + j hostile case 12 + j, 39 a GICv3 guest that never writes
/// GICR_WAKER, 40 to 46 the shared-memory channel's roles
/// (`crate::channel`). False if `mode` is none of them.
pub fn extra_mode(mode: u64) -> bool {
    match mode {
        3 => fuzz::run(),
        4 => crate::fpcheck::run(),
        17 => physical_timer_mode(),
        18 => crate::shared::run(),
        19 => power::run(),
        20 => spin_without_exits(),
        39 => nowaker::run(),
        crate::channel::FIRST_MODE..=crate::channel::LAST_MODE => crate::channel::run(mode),
        _ => match hostile::case_of_mode(mode) {
            Some((name, case)) => {
                crate::console::println!("probe: hostile case {name}");
                case();
            }
            None => return false,
        },
    }
    true
}

/// Mode 20: two seconds of counter time spent spinning with interrupts
/// masked, nothing that exits (the counter read does not trap); then the
/// caller powers off. Beside other VMs it shows a vCPU that never gives
/// its CPU up by itself is still preempted.
fn spin_without_exits() {
    crate::console::println!("probe: spinning for 2 s with interrupts masked");
    cpu::irq_disable();
    let end = now() + 2 * counter_hz();
    while now() < end {
        core::hint::spin_loop();
    }
    crate::console::println!("probe: spun 2 s without an exit");
}

/// A second CPU started for one of the extra modes goes there instead of
/// the suite's check.
pub fn secondary_mode(context: u64) {
    match context {
        crate::fpcheck::CONTEXT => crate::fpcheck::secondary(),
        gicconf::SGI_BACK_CONTEXT => gicconf::send_back(),
        crate::shared::CONTEXT => crate::shared::secondary(),
        _ => {}
    }
}

/// The suite's power-off (check 8): PSCI SYSTEM_OFF.
pub fn suite_system_off() {
    system_off();
}

/// Ticks of the physical-timer mode (30 s at 1 kHz) and of the suite's
/// shorter check.
const PTIMER_MODE_TICKS: u32 = 30_000;
const PTIMER_CHECK_TICKS: u32 = 300;
const PTIMER_HZ: u64 = 1000;

/// Whether a physical-timer run kept time: every tick taken, none before
/// its deadline, none lost for 100 ms (QEMU without `-icount` runs on
/// wall-clock time, where a busy host delays ticks by milliseconds; the
/// benchmark measures latency exactly).
fn physical_timer_verdict(stats: &ptimer::Stats, ticks: u32) -> Outcome {
    crate::console::println!(
        "# physical timer: {} ticks at {PTIMER_HZ} Hz (CVAL and TVAL alternately), latency mean {}, min {}, max {} counter ticks",
        stats.taken, stats.mean, stats.min, stats.max
    );
    ensure(stats.taken == ticks, "ticks missing", u64::from(stats.taken))?;
    ensure(stats.early == 0, "ticks taken before their deadline", u64::from(stats.early))?;
    ensure(stats.max < counter_hz() / 10, "a tick came 100 ms late", stats.max)
}

/// Mode 17: the 30,000-tick cyclic test on the physical timer, reported
/// as one check with its latency figures.
fn physical_timer_mode() {
    let stats = ptimer::run(PTIMER_MODE_TICKS, PTIMER_HZ);
    crate::console::println!("probe: physical-timer cyclic test took {} counter ticks", stats.elapsed);
    match physical_timer_verdict(&stats, PTIMER_MODE_TICKS) {
        Ok(()) => crate::console::println!("ok 1 physical-timer-cyclic"),
        Err(why) => crate::console::println!("not ok 1 physical-timer-cyclic: {} (saw {:#x})", why.0, why.1),
    }
}

/// Check 12: a short cyclic test on the EL1 physical timer.
pub fn physical_timer_check() -> Option<Outcome> {
    Some(physical_timer_verdict(&ptimer::run(PTIMER_CHECK_TICKS, PTIMER_HZ), PTIMER_CHECK_TICKS))
}

/// The virtio-blk benchmark: (read ticks, write ticks) of `iters` 4 KiB
/// requests each, if a block device is at the probe's slot.
pub fn virtio_blk_bench(iters: u64) -> Option<(u64, u64)> {
    virtio_blk::bench(iters)
}

/// The virtio-net benchmark: counter ticks of `frames` frames forwarded
/// net0 -> net1 of 64 and of 1514 bytes, if two NICs are at the probe's
/// benchmark slots.
pub fn virtio_net_bench(frames: u64) -> Option<[u64; 2]> {
    virtio_net::bench(frames)
}

/// The benchmark's physical-timer run: (ticks, latency sum, min, max).
pub fn physical_timer_bench() -> Option<(u32, u64, u64, u64)> {
    let stats = ptimer::run(PTIMER_MODE_TICKS, PTIMER_HZ);
    ptimer::LATENCIES.print("ptimer_latency");
    Some((stats.taken, stats.mean * u64::from(stats.taken), stats.min, stats.max))
}

/// Check 11 is about SBI.
pub fn sbi_conformance_check() -> Option<Outcome> {
    None
}

/// Check 10: the virtual GIC's conformance where emulations cut corners.
pub fn gic_conformance_check() -> Option<Outcome> {
    Some(gicconf::check())
}
