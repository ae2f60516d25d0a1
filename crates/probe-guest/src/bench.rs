//! Benchmarks. Each prints one `bench name=... iters=... ticks=...` line
//! (virtual counter ticks); `make bench` turns ticks into instructions
//! (QEMU `-icount shift=0`: one instruction per nanosecond).

use core::sync::atomic::Ordering;

use crate::arch as cpu;
use crate::console::println;
use crate::hist::Histogram;
use crate::irq::{TIMER_ENTRY, TIMER_IRQS};
use crate::workload;

const CALLS: u64 = 10_000;
const MMIO_READS: u64 = 10_000;
const TIMER_SAMPLES: u64 = 64;
/// 4 KiB requests per direction of the virtio-blk benchmark.
const BLK_REQUESTS: u64 = 1_000;
/// Frames of each size the virtio-net benchmark forwards.
const NET_FRAMES: u64 = 1_000;

/// Runs every benchmark; hypercalls only under the hypervisor.
/// `first_counter` and `first_line` are the counter at the first
/// instruction and just before the first line was printed.
pub fn run(under_hv: bool, first_counter: u64, first_line: u64) {
    let hz = cpu::counter_hz();
    println!("bench name=counter_hz value={hz}");
    println!("bench name=first_instruction ticks={first_counter}");
    println!("bench name=first_line ticks={first_line}");
    if under_hv {
        report("null_hypercall", CALLS, null_hypercalls());
    }
    if let Some(ticks) = mmio_reads() {
        report("mmio_read", MMIO_READS, ticks);
    }
    timer_latency(hz, "timer_latency");
    let start = cpu::now();
    let checksum = workload::run();
    let ticks = cpu::now() - start;
    println!("bench name=compute iters=1 ticks={ticks} checksum={checksum:#x}");
    if let Some((taken, sum, min, max)) = cpu::physical_timer_bench() {
        println!("bench name=ptimer_latency iters={taken} ticks={sum} min={min} max={max}");
    }
    if let Some((read, write)) = cpu::virtio_blk_bench(BLK_REQUESTS) {
        report("virtio_blk_read_4k", BLK_REQUESTS, read);
        report("virtio_blk_write_4k", BLK_REQUESTS, write);
    }
    if let Some([small, large]) = cpu::virtio_net_bench(NET_FRAMES) {
        report("virtio_net_forward_64", NET_FRAMES, small);
        report("virtio_net_forward_1514", NET_FRAMES, large);
    }
    println!("bench done");
}

fn report(name: &str, iters: u64, ticks: u64) {
    println!("bench name={name} iters={iters} ticks={ticks}");
}

fn null_hypercalls() -> u64 {
    let start = cpu::now();
    for _ in 0..CALLS {
        let _ = core::hint::black_box(cpu::hv_call(0, [0; 3]));
    }
    cpu::now() - start
}

/// Reads of the arch's emulated register, if it has one.
fn mmio_reads() -> Option<u64> {
    cpu::mmio_read()?;
    let start = cpu::now();
    for _ in 0..MMIO_READS {
        core::hint::black_box(cpu::mmio_read());
    }
    Some(cpu::now() - start)
}

/// Arms the timer a little ahead, spins, and measures deadline -> first
/// instructions of the IRQ vector; reported as `name`.
pub fn timer_latency(hz: u64, name: &str) {
    cpu::timer_irq_enable_this_cpu();
    cpu::irq_enable();
    let (mut sum, mut min, mut max) = (0u64, u64::MAX, 0u64);
    static LATENCIES: Histogram = Histogram::new();
    LATENCIES.clear();
    for _ in 0..TIMER_SAMPLES {
        let before = TIMER_IRQS.load(Ordering::Acquire);
        let deadline = cpu::now() + hz / 10_000;
        cpu::timer_arm(deadline);
        let start = cpu::now();
        while TIMER_IRQS.load(Ordering::Acquire) == before {
            if cpu::now() - start > hz {
                println!("bench name={name} error=no-interrupt-within-1s");
                return;
            }
        }
        let latency = TIMER_ENTRY.load(Ordering::Relaxed).saturating_sub(deadline);
        sum += latency;
        min = min.min(latency);
        max = max.max(latency);
        LATENCIES.record(latency);
    }
    cpu::irq_disable();
    println!("bench name={name} iters={TIMER_SAMPLES} ticks={sum} min={min} max={max}");
    LATENCIES.print(name);
}
