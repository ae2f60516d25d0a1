//! Guest calls on x86_64 (VMCALL): none are defined for x86 guests yet.

use exit_dispatch::{Answer, CallError, CpuPower, GuestRequest};

/// Every VMCALL is answered "not supported".
pub fn decode(nr: u64) -> GuestRequest {
    debug!("unknown VMCALL {nr:#x}: answered -ENOSYS");
    GuestRequest::Fail(CallError::NotSupported)
}

/// The value an answer leaves in RAX: the value, or a negative errno.
pub fn encode(answer: Answer) -> u64 {
    let errno = |e: i64| (-e) as u64;
    match answer {
        Answer::Value(value) => value,
        Answer::Status(CpuPower::On) => 0,
        Answer::Status(CpuPower::Off) => 1,
        Answer::Status(CpuPower::OnPending) => 2,
        Answer::Error(CallError::NotSupported) => errno(38),
        Answer::Error(CallError::InvalidParameters | CallError::InvalidAddress) => errno(22),
        Answer::Error(CallError::AlreadyOn | CallError::OnPending) => errno(16),
        Answer::Error(CallError::Denied) => errno(1),
        Answer::Error(CallError::Failed) => errno(5),
    }
}
