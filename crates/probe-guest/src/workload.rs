//! A CPU- and memory-bound workload: build a random cyclic permutation of
//! 4 MiB of indices, chase pointers through it, and hash the buffer. The
//! checksum must be the same bare and under the hypervisor.

const ENTRIES: usize = 1 << 19; // 512 Ki x 8 bytes = 4 MiB
const CHASE_STEPS: usize = 1 << 20;
const HASH_PASSES: usize = 2;

#[repr(C, align(4096))]
struct Buffer([u64; ENTRIES]);

#[unsafe(link_section = ".work")]
static mut BUFFER: Buffer = Buffer([0; ENTRIES]);

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the workload once; returns its checksum.
pub fn run() -> u64 {
    let buffer = &raw mut BUFFER;
    // SAFETY: only CPU 0 runs the workload, once at a time; nothing else
    // refers to BUFFER.
    let buf = unsafe { &mut (*buffer).0 };
    for (i, slot) in buf.iter_mut().enumerate() {
        *slot = i as u64;
    }
    // Sattolo's shuffle: one cycle through every entry.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..ENTRIES).rev() {
        let j = (xorshift(&mut rng) % i as u64) as usize;
        buf.swap(i, j);
    }
    let mut at = 0usize;
    for _ in 0..CHASE_STEPS {
        at = buf[at] as usize % ENTRIES;
    }
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ at as u64;
    for _ in 0..HASH_PASSES {
        for word in buf.iter() {
            for byte in word.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    hash
}
