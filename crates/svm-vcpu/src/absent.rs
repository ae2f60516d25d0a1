//! Performance-monitoring, branch-trace and debug-extension MSRs: the
//! guest's CPUID shows none of them ([`crate::cpuid`]), so an access to
//! one raises #GP in the guest, as on a CPU without them. The host's
//! counters, which count the hypervisor too, are never reached.

/// Whether `msr` is one of the performance-monitoring or trace MSRs a
/// guest sees as absent.
pub fn pmu_or_trace(msr: u32) -> bool {
    matches!(
        msr,
        // Intel architectural counters and their event selects, MPERF/APERF.
        0xC1..=0xC8 | 0xE7 | 0xE8 | 0x186..=0x18D
        // DEBUGCTL (LBR, BTF), the last-branch and last-exception records.
        | 0x1D9 | 0x1DB..=0x1DE
        // Fixed counters, PERF_CAPABILITIES, global control and status.
        | 0x309..=0x30B | 0x345 | 0x38D..=0x390
        // Full-width counters, processor trace, the debug-store area.
        | 0x4C1..=0x4C8 | 0x560..=0x58F | 0x600
        // AMD: PerfMonV2 global control and status.
        | 0xC000_0300..=0xC000_0303
        // AMD: legacy, core, L2I/L3 and data-fabric counters.
        | 0xC001_0000..=0xC001_0007 | 0xC001_0200..=0xC001_020B | 0xC001_0230..=0xC001_024F
        // AMD: breakpoint address masks, instruction-based sampling.
        | 0xC001_1019..=0xC001_101B | 0xC001_1027 | 0xC001_1030..=0xC001_103C
    )
}
