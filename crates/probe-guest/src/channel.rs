//! Modes 40 to 44: VMs sharing one shared-memory channel (the VM configs
//! in `crates/qemu-boot-tests/configs/channel/` map it at [`BASE`]).
//!
//! 40 producer and 41 consumer: a single-producer, single-consumer ring in
//! the channel's pages. The producer writes batches of messages, publishes
//! its head (release) and rings the doorbell once per batch; when the ring
//! is full it waits for the consumer's doorbell. The consumer takes the
//! doorbell interrupt, reads the head (acquire), checks each message's
//! sequence number, value and the producer's running checksum, publishes
//! its tail (release) and rings back; it prints `CHANNEL msgs=N bad=B`.
//! 42 outsider (no channel): its doorbell and status calls get errors.
//! 43 read-only member: reads, rings a channel it lacks, then writes: the
//! hypervisor must stop it. 44 stormer: rings in a tight loop from before
//! the first message to after the last (at least 100,000 times), then
//! resets, after which the status call's generation must have grown.
//! 45 pinger and 46 ponger: the round-trip benchmark (`make bench`).
//!
//! Layout (the guests' own; the hypervisor writes nothing into it): head
//! u32 at 0x00, tail u32 at 0x40, the stormer's note at 0x80 and its
//! storm flag at 0x88, [`SLOTS`]
//! slots of 16 bytes (sequence u32, running checksum u32, value u64) from
//! 0x100.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::arch::{self, doorbell};
use crate::console::println;

/// The first and last channel mode.
pub const FIRST_MODE: u64 = 40;
/// See [`FIRST_MODE`].
pub const LAST_MODE: u64 = 46;

/// Guest-physical base of the channel in every member's config.
const BASE: usize = 0x4800_0000;
const HEAD: usize = 0x00;
const TAIL: usize = 0x40;
const NOTE: usize = 0x80;
/// Set by the stormer when its storm begins; the producer starts then.
const STORMING: usize = 0x88;
/// Set by the benchmark's ponger when it answers, and by the pinger when
/// it is done.
const PONG_READY: usize = 0x90;
const PING_DONE: usize = 0x94;
/// The pinger's round-trip number, and the last one the ponger answered.
const PING_SEQ: usize = 0x98;
const PONG_SEQ: usize = 0x9c;
/// The counter when the ponger's handler ran (the counter is the same on
/// every CPU), low and high halves.
const PONG_AT: usize = 0xa0;
const SLOT0: usize = 0x100;
const SLOT_BYTES: usize = 16;
/// Ring slots (a power of two).
const SLOTS: u32 = 64;
/// Messages per batch (one doorbell each).
const BATCH: u32 = 16;
/// Messages the producer sends.
const MSGS: u32 = 10_000;
/// Rings of the stormer.
const STORM: u32 = 100_000;
/// Round trips the benchmark times (after as many to warm up).
const ROUND_TRIPS: u64 = 1000;

/// Whether this VM answers every doorbell with one (the ponger).
static PONG: AtomicBool = AtomicBool::new(false);

/// Doorbell interrupts taken.
static DOORBELLS: AtomicU32 = AtomicU32::new(0);

/// The doorbell interrupt (the arch handler acknowledges it).
pub fn on_doorbell() {
    DOORBELLS.fetch_add(1, Ordering::AcqRel);
    if PONG.load(Ordering::Relaxed) {
        let at = arch::now();
        word(PONG_AT).store(at as u32, Ordering::Relaxed);
        word(PONG_AT + 4).store((at >> 32) as u32, Ordering::Relaxed);
        word(PONG_SEQ).store(word(PING_SEQ).load(Ordering::Acquire), Ordering::Release);
        doorbell::ring(0);
    }
}

/// Runs channel mode `mode`.
pub fn run(mode: u64) {
    let role = (mode - FIRST_MODE) as usize;
    let irq = doorbell::IRQS.get(role).copied().unwrap_or(0);
    if irq != 0 {
        doorbell::enable(irq);
        arch::irq_enable();
    }
    match role {
        0 => producer(),
        1 => consumer(),
        2 => outsider(),
        3 => read_only_member(),
        4 => stormer(),
        5 => pinger(),
        _ => ponger(),
    }
    arch::irq_disable();
}

fn word(offset: usize) -> &'static AtomicU32 {
    // SAFETY: every member's config maps the channel's pages at BASE, in
    // the identity map's normal memory; an aligned AtomicU32 there is
    // shared with the peer VM only through atomic accesses.
    unsafe { &*((BASE + offset) as *const AtomicU32) }
}

fn slot(index: u32) -> usize {
    BASE + SLOT0 + (index % SLOTS) as usize * SLOT_BYTES
}

/// The value message `seq` carries.
fn value_of(seq: u32) -> u64 {
    u64::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xa5a5_a5a5_a5a5_a5a5
}

/// The running checksum after message `seq`.
fn mix(check: u32, seq: u32) -> u32 {
    check.rotate_left(5) ^ seq.wrapping_mul(0x0100_0193)
}

/// Counter ticks a wait may last without a doorbell before the run fails.
fn patience() -> u64 {
    30 * arch::counter_hz()
}

/// Waits until a doorbell after the `seen`-th arrives; false if none came
/// within [`patience`]. Interrupts are masked between the check and WFI
/// (which a pending interrupt still ends), so none is missed.
fn wait_doorbell(seen: u32) -> bool {
    let deadline = arch::now() + patience();
    loop {
        arch::irq_disable();
        if DOORBELLS.load(Ordering::Acquire) != seen {
            arch::irq_enable();
            return true;
        }
        if arch::now() >= deadline {
            arch::irq_enable();
            return false;
        }
        arch::timer_arm(deadline);
        arch::wfi();
        arch::irq_enable();
    }
}

/// Waits for doorbells until `done` holds; false if none came within
/// [`patience`]. The count is read before `done`, so that a doorbell
/// after the check ends the wait.
fn wait_until(done: impl Fn() -> bool) -> bool {
    loop {
        let seen = DOORBELLS.load(Ordering::Acquire);
        if done() {
            return true;
        }
        if !wait_doorbell(seen) {
            return false;
        }
    }
}

/// [`wait_until`] with no deadline and the timer off: WFI until `done`
/// (the benchmark's waits: a guest timer armed while waiting costs the
/// hypervisor a host timer per wait, which is not the channel's cost).
fn wait_untimed(done: impl Fn() -> bool) {
    doorbell::timer_off();
    loop {
        arch::irq_disable();
        if done() {
            arch::irq_enable();
            return;
        }
        arch::wfi();
        arch::irq_enable();
    }
}

fn name(answer: u64) -> &'static str {
    match answer {
        doorbell::NOT_SUPPORTED => "NOT_SUPPORTED",
        doorbell::INVALID_PARAMETERS => "INVALID_PARAMETERS",
        _ => "a value",
    }
}

/// Mode 40: sends [`MSGS`] messages, then waits until they are consumed.
fn producer() {
    let (head, tail) = (word(HEAD), word(TAIL));
    let (mut seq, mut check, mut h) = (0u32, 0u32, head.load(Ordering::Relaxed));
    let (mut rings, mut waits) = (0u32, 0u32);
    // Wait for the stormer, so that the exchange runs through its storm
    // (whose rings end these waits).
    if !wait_until(|| word(STORMING).load(Ordering::Acquire) != 0) {
        println!("not ok: channel producer: the stormer never started");
        return;
    }
    println!("channel producer: sending {MSGS} messages through {SLOTS} slots");
    while seq < MSGS || tail.load(Ordering::Acquire) != h {
        let seen = DOORBELLS.load(Ordering::Acquire);
        let room = SLOTS - h.wrapping_sub(tail.load(Ordering::Acquire)).min(SLOTS);
        if room == 0 || seq == MSGS {
            waits += 1;
            if !wait_doorbell(seen) {
                println!("not ok: channel producer: no doorbell for 30 s (sent {seq}, head {h})");
                return;
            }
            continue;
        }
        for _ in 0..room.min(BATCH).min(MSGS - seq) {
            check = mix(check, seq);
            let at = slot(h);
            // SAFETY: a slot inside the channel (see `word`) that the
            // consumer does not read until the head passes it.
            unsafe {
                (at as *mut u32).write_volatile(seq);
                ((at + 4) as *mut u32).write_volatile(check);
                ((at + 8) as *mut u64).write_volatile(value_of(seq));
            }
            h = h.wrapping_add(1);
            seq += 1;
        }
        head.store(h, Ordering::Release);
        doorbell::ring(0);
        rings += 1;
    }
    println!("channel producer: sent {MSGS} messages, {rings} doorbells, {waits} waits");
}

/// Mode 41: takes [`MSGS`] messages, checking each.
fn consumer() {
    let (head, tail) = (word(HEAD), word(TAIL));
    let (mut taken, mut bad, mut check, mut t) = (0u32, 0u32, 0u32, tail.load(Ordering::Relaxed));
    while taken < MSGS {
        let seen = DOORBELLS.load(Ordering::Acquire);
        let h = head.load(Ordering::Acquire);
        if h == t {
            if !wait_doorbell(seen) {
                println!("not ok: channel consumer: no doorbell for 30 s (took {taken})");
                break;
            }
            continue;
        }
        // A head more than the ring ahead is a broken producer: count it.
        let ready = h.wrapping_sub(t).min(SLOTS);
        for _ in 0..ready {
            let at = slot(t);
            // SAFETY: a slot inside the channel that the producer has
            // published (the acquire load of the head orders these reads).
            let (seq, sum, value) = unsafe {
                ((at as *const u32).read_volatile(), ((at + 4) as *const u32).read_volatile(), ((at + 8) as *const u64).read_volatile())
            };
            check = mix(check, taken);
            if seq != taken || sum != check || value != value_of(taken) {
                bad += 1;
            }
            taken += 1;
            t = t.wrapping_add(1);
        }
        tail.store(t, Ordering::Release);
        doorbell::ring(0);
    }
    let status = doorbell::status(0);
    println!(
        "channel consumer: status answered {} (peers {}, generation {}), {} doorbells taken",
        name(status),
        status & 0xff,
        status >> 8,
        DOORBELLS.load(Ordering::Relaxed)
    );
    println!("CHANNEL msgs={taken} bad={bad}");
}

/// Mode 42: a VM with no channel rings and asks.
fn outsider() {
    let (r0, r7, s0) = (doorbell::ring(0), doorbell::ring(7), doorbell::status(0));
    println!("channel outsider: doorbell(0) = {}, doorbell(7) = {}, status(0) = {}", name(r0), name(r7), name(s0));
}

/// Mode 43: a read-only member reads, rings a channel it lacks, writes.
fn read_only_member() {
    let head = word(HEAD).load(Ordering::Acquire);
    let r7 = doorbell::ring(7);
    let r0 = doorbell::ring(0);
    println!("channel reader: read head {head}; doorbell(7) = {}, doorbell(0) = {}", name(r7), name(r0));
    println!("channel reader: writing the read-only channel");
    word(NOTE + 4).store(1, Ordering::Release);
    println!("not ok: channel reader: the write to a read-only channel went through");
}

/// Mode 44: at least [`STORM`] rings in a tight loop, through the whole
/// exchange (the producer starts when the storm does); then a reset,
/// after which the channel's generation must have grown past the one
/// noted before it.
fn stormer() {
    let note = word(NOTE);
    if doorbell::boots() >= 2 {
        let before = note.load(Ordering::Acquire);
        let status = doorbell::status(0);
        let after = (status >> 8) as u32;
        let verdict = if name(status) == "a value" && after > before { "ok" } else { "not ok" };
        println!("channel stormer: {verdict}: after the reset the generation is {after}, before it {before}");
        return;
    }
    // At least STORM rings, and on until the consumer has taken every
    // message (bounded in rings and time).
    let tail = word(TAIL);
    word(STORMING).store(1, Ordering::Release);
    let (before, deadline) = (tail.load(Ordering::Acquire), arch::now() + 2 * patience());
    let (mut rings, mut errors) = (0u32, 0u32);
    while rings < STORM || (tail.load(Ordering::Acquire) != MSGS && rings < 100 * STORM && arch::now() < deadline) {
        if name(doorbell::ring(0)) != "a value" {
            errors += 1;
        }
        rings += 1;
    }
    let after = tail.load(Ordering::Acquire);
    let verdict = if before < MSGS && after == MSGS { "ok" } else { "not ok" };
    println!("channel stormer: {verdict}: the consumer took messages {before} to {after} during the storm");
    let status = doorbell::status(0);
    println!("channel stormer: {rings} doorbells rung (at least {STORM}), {errors} refused; resetting");
    note.store((status >> 8) as u32, Ordering::Release);
    doorbell::system_reset();
    println!("not ok: channel stormer: the reset returned");
}

/// Mode 45, the channel benchmark: null hypercalls, self-IPIs (one
/// trapped write raising an interrupt in the writer: an exit plus an
/// injection) and channel round trips (doorbell -> the ponger's handler,
/// which rings back -> this VM's handler), each timed over
/// [`ROUND_TRIPS`]; printed as `bench` lines for `make bench`.
fn pinger() {
    println!("bench name=counter_hz value={}", arch::counter_hz());
    if !wait_until(|| word(PONG_READY).load(Ordering::Acquire) != 0) {
        println!("bench name=channel_round_trip error=no-ponger");
        return;
    }
    let start = arch::now();
    for _ in 0..ROUND_TRIPS {
        let _ = core::hint::black_box(arch::hv_call(0, [0; 3]));
    }
    println!("bench name=null_hypercall iters={ROUND_TRIPS} ticks={}", arch::now() - start);
    arch::ipi_enable_this_cpu();
    let mut ticks = 0;
    for _ in 0..ROUND_TRIPS {
        let seen = crate::irq::IPIS.load(Ordering::Acquire);
        let start = arch::now();
        arch::send_ipi(0);
        while crate::irq::IPIS.load(Ordering::Acquire) == seen {
            core::hint::spin_loop();
        }
        ticks += arch::now() - start;
    }
    println!("bench name=self_ipi iters={ROUND_TRIPS} ticks={ticks}");
    let (mut ticks, mut one_way) = (0, 0);
    for i in 1..=2 * ROUND_TRIPS as u32 {
        let start = arch::now();
        word(PING_SEQ).store(i, Ordering::Release);
        doorbell::ring(0);
        // Doorbells of other causes (a member booting) end a wait early:
        // the answer is the one that carries this round trip's number.
        wait_untimed(|| word(PONG_SEQ).load(Ordering::Acquire) == i);
        if u64::from(i) > ROUND_TRIPS {
            ticks += arch::now() - start;
            let at = u64::from(word(PONG_AT).load(Ordering::Acquire)) | u64::from(word(PONG_AT + 4).load(Ordering::Acquire)) << 32;
            one_way += at.saturating_sub(start);
        }
    }
    println!("bench name=channel_round_trip iters={ROUND_TRIPS} ticks={ticks}");
    println!("bench name=channel_one_way iters={ROUND_TRIPS} ticks={one_way}");
    word(PING_DONE).store(1, Ordering::Release);
    doorbell::ring(0);
    println!("bench done");
}

/// Mode 46: answers every doorbell with one, from its handler, until the
/// pinger is done.
fn ponger() {
    PONG.store(true, Ordering::Relaxed);
    word(PONG_READY).store(1, Ordering::Release);
    doorbell::ring(0);
    wait_untimed(|| word(PING_DONE).load(Ordering::Acquire) != 0);
    println!("channel ponger: answered {} doorbells", DOORBELLS.load(Ordering::Relaxed));
}

// The layout's offsets: 8-byte aligned slots after the note.
const _: () = assert!(SLOT0.is_multiple_of(8) && NOTE + 8 <= SLOT0 && SLOTS.is_power_of_two());
