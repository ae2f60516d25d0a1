//! SBI calls (RISC-V Supervisor Binary Interface, v2.0) as a guest in
//! VS-mode makes them with `ecall`, decoded from the extension id (`a7`),
//! function id (`a6`) and arguments (`a0..a5`) into [`SbiCall`], plus the
//! hypervisor's own extension. The riscv64 arch module answers them.
#![no_std]
#![deny(unsafe_code)]

use exit_dispatch::{Answer, CallError, CpuPower};

/// The `(a0, a1)` an answer leaves: the error code, then the value.
pub fn encode(answer: Answer) -> (u64, u64) {
    let code = |e: i64| (e as u64, 0);
    match answer {
        Answer::Value(value) => (0, value),
        Answer::Status(CpuPower::On) => (0, hart_state::STARTED),
        Answer::Status(CpuPower::Off) => (0, hart_state::STOPPED),
        Answer::Status(CpuPower::OnPending) => (0, hart_state::START_PENDING),
        Answer::Status(CpuPower::Suspended) => (0, hart_state::SUSPENDED),
        Answer::Error(error) => code(match error {
            CallError::NotSupported => error::NOT_SUPPORTED,
            CallError::InvalidParameters => error::INVALID_PARAM,
            CallError::InvalidAddress => error::INVALID_ADDRESS,
            // hart_start of a hart that is started or being started.
            CallError::AlreadyOn | CallError::OnPending => error::ALREADY_AVAILABLE,
            CallError::Denied => error::DENIED,
            CallError::Failed => error::FAILED,
        }),
    }
}

/// SBI error codes (returned in `a0`; `a1` carries the value).
pub mod error {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Generic failure.
    pub const FAILED: i64 = -1;
    /// The call is not supported.
    pub const NOT_SUPPORTED: i64 = -2;
    /// A parameter is invalid.
    pub const INVALID_PARAM: i64 = -3;
    /// The caller may not do this.
    pub const DENIED: i64 = -4;
    /// An address parameter is not valid for the caller.
    pub const INVALID_ADDRESS: i64 = -5;
    /// HSM hart_start: the hart is already started.
    pub const ALREADY_AVAILABLE: i64 = -6;
    /// The hart is already started.
    pub const ALREADY_STARTED: i64 = -7;
}

/// Extension ids.
pub mod eid {
    /// Legacy SET_TIMER.
    pub const LEGACY_SET_TIMER: u64 = 0x00;
    /// Legacy CONSOLE_PUTCHAR.
    pub const LEGACY_PUTCHAR: u64 = 0x01;
    /// Legacy CONSOLE_GETCHAR.
    pub const LEGACY_GETCHAR: u64 = 0x02;
    /// Legacy CLEAR_IPI.
    pub const LEGACY_CLEAR_IPI: u64 = 0x03;
    /// Legacy SEND_IPI (`a0`: address of a hart mask).
    pub const LEGACY_SEND_IPI: u64 = 0x04;
    /// Legacy REMOTE_FENCE_I (`a0`: address of a hart mask).
    pub const LEGACY_REMOTE_FENCE_I: u64 = 0x05;
    /// Legacy REMOTE_SFENCE_VMA (`a0`: address of a hart mask).
    pub const LEGACY_REMOTE_SFENCE_VMA: u64 = 0x06;
    /// Legacy REMOTE_SFENCE_VMA_ASID (`a0`: address of a hart mask).
    pub const LEGACY_REMOTE_SFENCE_VMA_ASID: u64 = 0x07;
    /// Legacy SHUTDOWN.
    pub const LEGACY_SHUTDOWN: u64 = 0x08;
    /// Base extension.
    pub const BASE: u64 = 0x10;
    /// Timer extension ("TIME").
    pub const TIME: u64 = 0x5449_4D45;
    /// IPI extension ("sPI").
    pub const IPI: u64 = 0x0073_5049;
    /// Remote fence extension ("RFNC").
    pub const RFENCE: u64 = 0x5246_4E43;
    /// Hart state management ("HSM").
    pub const HSM: u64 = 0x0048_534D;
    /// System reset ("SRST").
    pub const SRST: u64 = 0x5352_5354;
    /// Debug console ("DBCN").
    pub const DBCN: u64 = 0x4442_434E;
    /// This hypervisor's own calls (firmware-specific range; "AXV").
    pub const HYPERVISOR: u64 = 0x0A41_5856;
}

/// Function ids of the hypervisor's extension.
pub mod hv {
    /// Returns 0, does nothing: the exit round trip.
    pub const NULL: u64 = 0;
    /// Returns the hypervisor ABI version.
    pub const VERSION: u64 = 1;
    /// Returns `a0 + a1 + a2` (wrapping).
    pub const ADD: u64 = 2;
    /// Returns how many times this VM has booted.
    pub const BOOTS: u64 = 3;
    /// Rings the doorbell of the VM's channel `a0` (its index among the
    /// VM's channels).
    pub const DOORBELL: u64 = 4;
    /// Returns the state of channel `a0`'s other members.
    pub const CHANNEL_STATUS: u64 = 5;
}

/// The SBI specification version this hypervisor implements (2.0).
pub const SPEC_VERSION: u64 = 2 << 24;
/// Implementation id reported by BASE (not a registered id: "AX").
pub const IMPL_ID: u64 = 0x4158;
/// HSM hart states.
pub mod hart_state {
    /// Running.
    pub const STARTED: u64 = 0;
    /// Stopped.
    pub const STOPPED: u64 = 1;
    /// Started by hart_start, not yet running.
    pub const START_PENDING: u64 = 2;
    /// In a retentive or non-retentive suspend.
    pub const SUSPENDED: u64 = 4;
}

/// A decoded SBI call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbiCall {
    /// Program the timer (legacy or TIME extension) for this absolute time.
    SetTimer(u64),
    /// Legacy console: write one byte.
    PutChar(u8),
    /// Legacy console: read one byte.
    GetChar,
    /// Legacy: clear the calling hart's pending software interrupt.
    ClearIpi,
    /// Legacy: the hart mask is the `unsigned long` at this guest-virtual
    /// address; send an IPI to those harts (`fence: false`) or make them
    /// fence (`fence: true`).
    LegacyMaskCall {
        /// Guest-virtual address of the mask (0: every hart).
        mask_addr: u64,
        /// A remote fence rather than an IPI.
        fence: bool,
    },
    /// DBCN: write `len` bytes from guest-physical `addr` to the console.
    ConsoleWrite {
        /// Number of bytes.
        len: u64,
        /// Guest-physical address of the first.
        addr: u64,
    },
    /// DBCN: read up to `len` bytes from the console.
    ConsoleRead,
    /// DBCN: write one byte.
    ConsoleWriteByte(u8),
    /// BASE: spec version, implementation id / version, vendor ids.
    BaseInfo(u64),
    /// BASE: is this extension available?
    ProbeExtension(u64),
    /// Raise a software interrupt on the harts in the mask.
    SendIpi(HartMask),
    /// Remote fence (any kind): the harts in the mask flush.
    RemoteFence(HartMask),
    /// HSM: start a hart at `start` with `opaque` in `a1`.
    HartStart {
        /// Target hart.
        hart: u64,
        /// Guest-physical start address.
        start: u64,
        /// Value for the started hart's `a1`.
        opaque: u64,
    },
    /// HSM: stop the calling hart.
    HartStop,
    /// HSM: state of a hart.
    HartStatus(u64),
    /// HSM: suspend the calling hart until an interrupt.
    HartSuspend {
        /// `suspend_type` (see [`SuspendKind::of`]).
        kind: u64,
        /// Where a non-retentive suspend resumes.
        resume: u64,
        /// `a1` when it resumes there.
        opaque: u64,
    },
    /// SRST / legacy shutdown: power off.
    Shutdown,
    /// SRST: cold or warm reboot.
    Reboot,
    /// The hypervisor's null call.
    HvNull,
    /// The hypervisor's ABI version query.
    HvVersion,
    /// The hypervisor's add call.
    HvAdd([u64; 3]),
    /// The hypervisor's boot-count query.
    HvBoots,
    /// The hypervisor's doorbell call on a channel index.
    HvDoorbell(u64),
    /// The hypervisor's channel-status call on a channel index.
    HvChannelStatus(u64),
    /// Anything else: answered NOT_SUPPORTED.
    Unknown {
        /// Extension id.
        eid: u64,
        /// Function id.
        fid: u64,
    },
}

/// A hart mask as SBI passes it: bit `i` names hart `base + i`; a base of
/// all ones means every hart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HartMask {
    /// The bits.
    pub mask: u64,
    /// The hart id of bit 0.
    pub base: u64,
}

/// What an HSM `suspend_type` asks for (SBI 2.0, table "HSM Hart Suspend
/// Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendKind {
    /// 0: the default retentive suspend (the call returns on wake-up).
    Retentive,
    /// 0x8000_0000: the default non-retentive suspend (the hart resumes
    /// at the resume address, as after hart_start).
    NonRetentive,
    /// A platform-specific type: none is implemented here.
    PlatformSpecific,
    /// A reserved value.
    Reserved,
}

impl SuspendKind {
    /// Classifies a `suspend_type`: a 32-bit value, so bits above 31 of
    /// `a0` are ignored.
    pub fn of(kind: u64) -> Self {
        match kind as u32 {
            0 => Self::Retentive,
            0x8000_0000 => Self::NonRetentive,
            0x1000_0000..=0x7fff_ffff | 0x9000_0000..=0xffff_ffff => Self::PlatformSpecific,
            _ => Self::Reserved,
        }
    }
}

/// A hart mask names a hart the VM does not have (SBI_ERR_INVALID_PARAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchHart(pub u64);

impl HartMask {
    /// The harts named, one bit per hart id, for a VM with harts
    /// `0..harts`; a base of all ones names them all. A named hart the VM
    /// lacks (or a base past the last hart id) makes the whole call
    /// invalid, as the SBI specification says for IPI and RFENCE.
    pub fn targets(&self, harts: usize) -> Result<u64, NoSuchHart> {
        let harts = harts.min(64) as u64;
        let all = if harts == 64 { u64::MAX } else { (1 << harts) - 1 };
        if self.base == u64::MAX {
            return Ok(all);
        }
        let mut targets = 0;
        let mut bits = self.mask;
        while bits != 0 {
            let bit = u64::from(bits.trailing_zeros());
            bits &= bits - 1;
            let hart = self.base.checked_add(bit).ok_or(NoSuchHart(u64::MAX))?;
            if hart >= harts {
                return Err(NoSuchHart(hart));
            }
            targets |= 1 << hart;
        }
        Ok(targets)
    }

    /// Whether `hart` is named.
    pub fn contains(&self, hart: u64) -> bool {
        if self.base == u64::MAX {
            return true;
        }
        hart.checked_sub(self.base).is_some_and(|bit| bit < 64 && self.mask & (1 << bit) != 0)
    }
}

impl SbiCall {
    /// Decodes a call from `a7` (extension), `a6` (function) and `a0..a5`.
    pub fn decode(eid: u64, fid: u64, a: [u64; 6]) -> Self {
        let mask = HartMask { mask: a[0], base: a[1] };
        match (eid, fid) {
            (eid::LEGACY_SET_TIMER, _) | (eid::TIME, 0) => Self::SetTimer(a[0]),
            (eid::LEGACY_PUTCHAR, _) => Self::PutChar(a[0] as u8),
            (eid::LEGACY_GETCHAR, _) => Self::GetChar,
            (eid::LEGACY_CLEAR_IPI, _) => Self::ClearIpi,
            (eid::LEGACY_SEND_IPI, _) => Self::LegacyMaskCall { mask_addr: a[0], fence: false },
            (eid::LEGACY_REMOTE_FENCE_I..=eid::LEGACY_REMOTE_SFENCE_VMA_ASID, _) => {
                Self::LegacyMaskCall { mask_addr: a[0], fence: true }
            }
            (eid::DBCN, 0) => Self::ConsoleWrite { len: a[0], addr: a[1] | (a[2] << 32) },
            (eid::DBCN, 1) => Self::ConsoleRead,
            (eid::DBCN, 2) => Self::ConsoleWriteByte(a[0] as u8),
            (eid::LEGACY_SHUTDOWN, _) => Self::Shutdown,
            (eid::BASE, 3) => Self::ProbeExtension(a[0]),
            (eid::BASE, 0..=6) => Self::BaseInfo(fid),
            (eid::IPI, 0) => Self::SendIpi(mask),
            (eid::RFENCE, 0..=6) => Self::RemoteFence(mask),
            (eid::HSM, 0) => Self::HartStart { hart: a[0], start: a[1], opaque: a[2] },
            (eid::HSM, 1) => Self::HartStop,
            (eid::HSM, 2) => Self::HartStatus(a[0]),
            (eid::HSM, 3) => Self::HartSuspend { kind: a[0], resume: a[1], opaque: a[2] },
            (eid::SRST, 0) => match a[0] {
                0 => Self::Shutdown,
                1 | 2 => Self::Reboot,
                _ => Self::Unknown { eid, fid },
            },
            (eid::HYPERVISOR, hv::NULL) => Self::HvNull,
            (eid::HYPERVISOR, hv::VERSION) => Self::HvVersion,
            (eid::HYPERVISOR, hv::ADD) => Self::HvAdd([a[0], a[1], a[2]]),
            (eid::HYPERVISOR, hv::BOOTS) => Self::HvBoots,
            (eid::HYPERVISOR, hv::DOORBELL) => Self::HvDoorbell(a[0]),
            (eid::HYPERVISOR, hv::CHANNEL_STATUS) => Self::HvChannelStatus(a[0]),
            _ => Self::Unknown { eid, fid },
        }
    }

    /// BASE `probe_extension`: 1 for the extensions answered here.
    pub fn extension_available(eid: u64) -> bool {
        matches!(
            eid,
            eid::LEGACY_SET_TIMER
                | eid::LEGACY_PUTCHAR
                | eid::LEGACY_GETCHAR
                | eid::LEGACY_CLEAR_IPI..=eid::LEGACY_SHUTDOWN
                | eid::DBCN
                | eid::BASE
                | eid::TIME
                | eid::IPI
                | eid::RFENCE
                | eid::HSM
                | eid::SRST
                | eid::HYPERVISOR
        )
    }

    /// BASE information functions: spec version (0), implementation id
    /// (1) and version (2); vendor, architecture and implementation ids
    /// (4-6) read as 0.
    pub fn base_info(fid: u64, impl_version: u64) -> u64 {
        match fid {
            0 => SPEC_VERSION,
            1 => IMPL_ID,
            2 => impl_version,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;
