//! Exits for what a guest may not do on the host's CPU, answered as the
//! architecture says: #AC and #DB reflected into the guest (intercepted
//! so that an exception raised again by its own delivery cannot keep the
//! CPU in microcode), #UD for instructions its CPU does not have, #GP for
//! performance counters, INVD and WBINVD as no-ops (INVD never runs on
//! the host: it would drop the host's dirty cache lines).

use exit_dispatch::Exit;
use svm_vcpu::exit::code;
use svm_vcpu::vmcb::{exception, save};
use svm_vcpu::{event, insn};

use super::State;
use super::exits::{code_at_rip, trap};
use crate::hal::arch::RamMap;

/// Raises exception `vector` in the guest at its RIP.
pub(super) fn raise(st: &mut State, vector: u8, error_code: Option<u32>) -> Exit {
    st.raise(event::exception(vector, error_code));
    Exit::Nothing
}

/// An intercepted exception: #AC (its error code is always 0) and #DB
/// go back to the guest; a machine check is the host's, and stops the VM.
pub(super) fn exception(st: &mut State, vector: u8, exit_code: u64, rip: u64) -> Exit {
    match vector {
        exception::AC => raise(st, exception::AC, Some(0)),
        exception::DB => {
            let vmcb = st.vmcb();
            let (dr6, dr7) = event::reflected_debug(vmcb.read_u64(save::DR6), vmcb.read_u64(save::DR7));
            vmcb.write_u64(save::DR6, dr6);
            vmcb.write_u64(save::DR7, dr7);
            raise(st, exception::DB, None)
        }
        exception::MC => trap("machine check while the guest ran", &["RIP", "", "", ""], [rip, 0, 0, 0]),
        _ => trap("exception", &["exit code", "RIP", "", ""], [exit_code, rip, 0, 0]),
    }
}

/// The length of the instruction at RIP if it is `opcode` (after any
/// prefixes), read from the guest's memory: TCG saves no next RIP.
fn length_at_rip(st: &mut State, ram: &RamMap, opcode: &[u8]) -> Option<u64> {
    let (mode, bytes, fetched) = code_at_rip(st, ram);
    // 16-bit code has the same prefixes and no REX.
    let mode = mode.unwrap_or(insn::Mode::Protected32);
    insn::length_of(&bytes[..fetched], mode, opcode).map(u64::from)
}

/// INVD or WBINVD: nothing to do for a VM whose memory no device reaches
/// behind the caches; the guest goes on after it.
pub(super) fn cache_flush(st: &mut State, exit_code: u64, ram: &RamMap, rip: u64) -> Exit {
    let opcode: &[u8] = if exit_code == code::INVD { &[0x0F, 0x08] } else { &[0x0F, 0x09] };
    match length_at_rip(st, ram, opcode) {
        Some(len) => {
            st.skip(len);
            Exit::Nothing
        }
        None => trap("INVD/WBINVD whose bytes cannot be read", &["exit code", "RIP", "", ""], [exit_code, rip, 0, 0]),
    }
}

/// ICEBP (INT1): the #DB it raises, delivered after the instruction (a
/// trap; DR6 is not changed by it).
pub(super) fn icebp(st: &mut State, ram: &RamMap, rip: u64) -> Exit {
    match length_at_rip(st, ram, &[0xF1]) {
        Some(len) => {
            st.skip(len);
            raise(st, exception::DB, None)
        }
        None => trap("ICEBP whose bytes cannot be read", &["RIP", "", "", ""], [rip, 0, 0, 0]),
    }
}
