//! SGIs a guest raises by writing ICC_SGI1R_EL1 (or ICC_SGI0R_EL1,
//! ICC_ASGI1R_EL1: with one security state and Group 1 only, all three
//! reach the same vCPUs). Our vCPUs have their id in Aff0.


/// An SGI to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgiRequest {
    /// SGI id, 0-15.
    pub id: u8,
    /// Target vCPUs, one bit per vCPU id.
    pub targets: u16,
}

/// The SGI that vCPU `sender` of a VM with `vcpus` vCPUs raises by
/// writing `value`; `None` if it reaches no vCPU. Our vCPUs have their id
/// in Aff0 (Aff1-3 zero), so a target list names vCPUs directly.
pub fn sgi_request(sender: usize, vcpus: usize, value: u64) -> Option<SgiRequest> {
    let id = ((value >> 24) & 0xf) as u8;
    let all = if vcpus >= 16 { u16::MAX } else { (1u16 << vcpus) - 1 };
    let targets = if value & (1 << 40) != 0 {
        // IRM: every vCPU but the sender.
        all & !(1u16.checked_shl(sender as u32).unwrap_or(0))
    } else {
        let aff1 = (value >> 16) & 0xff;
        let aff2 = (value >> 32) & 0xff;
        let aff3 = (value >> 48) & 0xff;
        let range = (value >> 44) & 0xf;
        // Only Aff3.Aff2.Aff1 = 0.0.0 and range 0 hold vCPUs (Aff0 0-15).
        if aff1 | aff2 | aff3 | range != 0 { 0 } else { (value & 0xffff) as u16 & all }
    };
    (targets != 0).then_some(SgiRequest { id, targets })
}
