//! Guest calls on x86_64 (VMMCALL on SVM, VMCALL on VT-x): RAX names the
//! call, RBX, RCX, RDX carry its arguments, and the answer comes back in
//! RAX (a value, or a negative errno).

use exit_dispatch::{Answer, CallError, CpuPower, GuestRequest};

/// Call numbers: the same four vendor calls the other architectures have.
pub mod nr {
    /// Does nothing, answers 0.
    pub const NULL: u64 = 0;
    /// Answers the hypervisor ABI version.
    pub const VERSION: u64 = 1;
    /// Answers the sum of its three arguments.
    pub const ADD: u64 = 2;
    /// Answers how many times the VM has booted.
    pub const BOOTS: u64 = 3;
    /// Rings the doorbell of the VM's channel RBX (its index).
    pub const DOORBELL: u64 = 4;
    /// Answers the state of channel RBX's other members.
    pub const CHANNEL_STATUS: u64 = 5;
}

/// The hypervisor ABI version `nr::VERSION` answers.
const ABI_VERSION: u64 = 1;

/// Decodes a call: `nr` from RAX, `args` from RBX, RCX, RDX.
pub fn decode(nr: u64, args: [u64; 3]) -> GuestRequest {
    match nr {
        nr::NULL => GuestRequest::Return(0),
        nr::VERSION => GuestRequest::Return(ABI_VERSION),
        nr::ADD => GuestRequest::Return(args[0].wrapping_add(args[1]).wrapping_add(args[2])),
        nr::BOOTS => GuestRequest::BootCount,
        nr::DOORBELL => GuestRequest::Doorbell { channel: args[0] },
        nr::CHANNEL_STATUS => GuestRequest::ChannelStatus { channel: args[0] },
        _ => {
            debug!("unknown hypercall {nr:#x}: answered -ENOSYS");
            GuestRequest::Fail(CallError::NotSupported)
        }
    }
}

/// The value an answer leaves in RAX: the value, or a negative errno.
pub fn encode(answer: Answer) -> u64 {
    let errno = |e: i64| (-e) as u64;
    match answer {
        Answer::Value(value) => value,
        Answer::Status(CpuPower::On | CpuPower::Suspended) => 0,
        Answer::Status(CpuPower::Off) => 1,
        Answer::Status(CpuPower::OnPending) => 2,
        Answer::Error(CallError::NotSupported) => errno(38),
        Answer::Error(CallError::InvalidParameters | CallError::InvalidAddress) => errno(22),
        Answer::Error(CallError::AlreadyOn | CallError::OnPending) => errno(16),
        Answer::Error(CallError::Denied) => errno(1),
        Answer::Error(CallError::Failed) => errno(5),
    }
}
