//! What a guest's CPUID shows: the host's answer with the hypervisor bit
//! set, the x2APIC the vCPU emulates, its own APIC id, and without the
//! features the guest may not use (SVM, VMX, MONITOR, XSAVE, TSC deadline,
//! RDPRU, performance counters, trace and debug extensions).

/// The hypervisor leaves' signature, in EBX, ECX, EDX of leaf 4000_0000h.
pub const SIGNATURE: &[u8; 12] = b"AxVisor SVM ";

/// Leaf 1 ECX bits.
mod leaf1_ecx {
    pub const DTES64: u32 = 1 << 2;
    pub const MONITOR: u32 = 1 << 3;
    pub const DS_CPL: u32 = 1 << 4;
    pub const PDCM: u32 = 1 << 15;
    pub const VMX: u32 = 1 << 5;
    pub const X2APIC: u32 = 1 << 21;
    pub const TSC_DEADLINE: u32 = 1 << 24;
    pub const XSAVE: u32 = 1 << 26;
    pub const OSXSAVE: u32 = 1 << 27;
    pub const HYPERVISOR: u32 = 1 << 31;
}
/// Leaf 1 EDX: an on-chip APIC; the debug store.
const LEAF1_EDX_APIC: u32 = 1 << 9;
const LEAF1_EDX_DS: u32 = 1 << 21;
/// Leaf 6 ECX: MPERF/APERF.
const LEAF6_ECX_APERFMPERF: u32 = 1;
/// Leaf 7 EBX: processor trace.
const LEAF7_EBX_PT: u32 = 1 << 25;
/// Leaf 8000_0001h ECX: SVM; IBS; core, data-fabric, TSC and L3
/// performance counters; breakpoint address masks.
const EXT1_ECX_SVM: u32 = 1 << 2;
const EXT1_ECX_HIDDEN: u32 = EXT1_ECX_SVM | 1 << 10 | 1 << 23 | 1 << 24 | 1 << 26 | 1 << 27 | 1 << 28;
/// Leaf 8000_0008h EBX: RDPRU.
const EXT8_EBX_RDPRU: u32 = 1 << 4;

/// The registers a CPUID leaf returns: EAX, EBX, ECX, EDX.
pub type Regs = [u32; 4];

/// The guest's answer to CPUID `leaf` (sub-leaf ECX is already in
/// `host`, the host's answer to the same pair) on the vCPU with APIC id
/// `apic_id`.
pub fn filter(leaf: u32, host: Regs, apic_id: u32) -> Regs {
    let [eax, ebx, ecx, edx] = host;
    match leaf {
        0x1 => {
            use leaf1_ecx::*;
            let hidden = DTES64 | MONITOR | DS_CPL | VMX | PDCM | TSC_DEADLINE | XSAVE | OSXSAVE;
            let ecx = (ecx & !hidden) | X2APIC | HYPERVISOR;
            [eax, (ebx & 0x00FF_FFFF) | (apic_id << 24), ecx, (edx | LEAF1_EDX_APIC) & !LEAF1_EDX_DS]
        }
        0x6 => [eax, ebx, ecx & !LEAF6_ECX_APERFMPERF, edx],
        // Bit 25 is reserved in the other sub-leaves.
        0x7 => [eax, ebx & !LEAF7_EBX_PT, ecx, edx],
        // Architectural performance monitoring, processor trace.
        0xA | 0x14 => [0; 4],
        // XSAVE's state leaf: hidden with XSAVE.
        0xD => [0; 4],
        // x2APIC topology: the vCPU's own id.
        0xB | 0x1F => [eax, ebx, ecx, apic_id],
        0x4000_0000 => {
            let word = |i: usize| u32::from_le_bytes([SIGNATURE[i], SIGNATURE[i + 1], SIGNATURE[i + 2], SIGNATURE[i + 3]]);
            [0x4000_0000, word(0), word(4), word(8)]
        }
        0x4000_0001..=0x4000_00FF => [0; 4],
        0x8000_0001 => [eax, ebx, ecx & !EXT1_ECX_HIDDEN, edx],
        0x8000_0008 => [eax, ebx & !EXT8_EBX_RDPRU, ecx, edx],
        // SVM's feature leaf; IBS; PerfMonV2.
        0x8000_000A | 0x8000_001B | 0x8000_0022 => [0; 4],
        _ => host,
    }
}
