//! A vCPU's local APIC in x2APIC mode, reached through MSRs 800h-83Fh
//! (RDMSR/WRMSR exits give the register and value directly, so no
//! instruction needs decoding). Its timer's input clock is the clock
//! the caller gives times in (the hypervisor gives the TSC, so the timer
//! counts at the TSC's rate at divide-by-1).

/// The first x2APIC MSR; register n is `BASE + n`.
pub const BASE: u32 = 0x800;
/// IA32_APIC_BASE.
pub const MSR_APIC_BASE: u32 = 0x1B;

/// Register numbers (MSR - [`BASE`]).
mod reg {
    pub const ID: u32 = 0x02;
    pub const VERSION: u32 = 0x03;
    pub const TPR: u32 = 0x08;
    pub const PPR: u32 = 0x0A;
    pub const EOI: u32 = 0x0B;
    pub const LDR: u32 = 0x0D;
    pub const SVR: u32 = 0x0F;
    pub const ISR0: u32 = 0x10;
    pub const IRR7: u32 = 0x27;
    pub const ESR: u32 = 0x28;
    pub const LVT_CMCI: u32 = 0x2F;
    pub const ICR: u32 = 0x30;
    pub const LVT_TIMER: u32 = 0x32;
    pub const LVT_ERROR: u32 = 0x37;
    pub const INITIAL_COUNT: u32 = 0x38;
    pub const CURRENT_COUNT: u32 = 0x39;
    pub const DIVIDE: u32 = 0x3E;
    pub const SELF_IPI: u32 = 0x3F;
}

/// Version register: version 0x14, six LVT entries (max LVT index 5).
const VERSION: u32 = 0x0005_0014;
/// An LVT entry's mask bit, and the reset value of every LVT entry.
const LVT_MASKED: u32 = 1 << 16;
/// APIC_BASE: BSP, x2APIC enable, global enable, default base.
const APIC_BASE_BSP: u64 = 1 << 8;
const APIC_BASE_EXTD: u64 = 1 << 10;
const APIC_BASE_EN: u64 = 1 << 11;
const APIC_BASE_DEFAULT: u64 = 0xFEE0_0000;

/// An inter-processor interrupt an ICR write asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipi {
    /// A fixed interrupt `vector` to the vCPUs `to` names.
    Fixed {
        /// Vector.
        vector: u8,
        /// Destination.
        to: Destination,
    },
    /// INIT to the vCPUs `to` names.
    Init {
        /// Destination.
        to: Destination,
    },
    /// Start-up: begin at `page` * 4 KiB in real mode.
    Startup {
        /// The start page (the ICR's vector field).
        page: u8,
        /// Destination.
        to: Destination,
    },
}

/// Whom an IPI goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The vCPU with this x2APIC id (physical destination mode).
    Apic(u32),
    /// The sender.
    ToSelf,
    /// Everyone, the sender included.
    All,
    /// Everyone but the sender.
    Others,
}

/// What a register write did beyond storing a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Nothing more.
    Stored,
    /// End of interrupt.
    Eoi,
    /// An IPI to send.
    Ipi(Ipi),
    /// The timer was (re)programmed: its next deadline may have changed.
    Timer,
}

/// Why an access was refused (the guest is stopped for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a register of the x2APIC.
    NoSuchRegister,
    /// A read-only register, or a reserved bit set.
    BadWrite,
}

/// One vCPU's local APIC.
#[derive(Debug, Clone)]
pub struct X2Apic {
    id: u32,
    apic_base: u64,
    regs: [u32; 64],
    /// When the timer's current count was loaded, and whether it runs.
    timer_start: u64,
    timer_running: bool,
}

impl X2Apic {
    /// The APIC of the vCPU with id `id` in its reset state (vCPU 0 is the
    /// bootstrap processor).
    pub fn new(id: u32) -> Self {
        let mut regs = [0; 64];
        regs[reg::ID as usize] = id;
        regs[reg::VERSION as usize] = VERSION;
        regs[reg::SVR as usize] = 0xFF;
        regs[reg::LDR as usize] = ((id >> 4) << 16) | (1 << (id & 0xF));
        for lvt in reg::LVT_CMCI..=reg::LVT_ERROR {
            if lvt != reg::ICR && lvt != reg::ICR + 1 {
                regs[lvt as usize] = LVT_MASKED;
            }
        }
        let bsp = if id == 0 { APIC_BASE_BSP } else { 0 };
        Self { id, apic_base: APIC_BASE_DEFAULT | APIC_BASE_EN | APIC_BASE_EXTD | bsp, regs, timer_start: 0, timer_running: false }
    }

    /// IA32_APIC_BASE as the guest reads it.
    pub fn apic_base(&self) -> u64 {
        self.apic_base
    }

    /// A write of IA32_APIC_BASE: the APIC stays enabled in x2APIC mode at
    /// its default base (the only mode emulated); anything else is refused.
    pub fn set_apic_base(&mut self, value: u64) -> Result<(), Refused> {
        let keep = APIC_BASE_DEFAULT | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP;
        if value & !keep != 0 || value & (APIC_BASE_EN | APIC_BASE_EXTD) != APIC_BASE_EN | APIC_BASE_EXTD {
            return Err(Refused::BadWrite);
        }
        Ok(())
    }

    /// The timer's clock divider (the divide configuration register).
    fn divider(&self) -> u64 {
        let config = self.regs[reg::DIVIDE as usize];
        let code = (config & 0b11) | ((config >> 1) & 0b100);
        if code == 0b111 { 1 } else { 2 << code }
    }

    /// Nanoseconds one count lasts.
    /// Clock ticks one count lasts.
    fn count_ticks(&self) -> u64 {
        self.divider()
    }

    fn current_count(&self, now: u64) -> u32 {
        let initial = self.regs[reg::INITIAL_COUNT as usize];
        if !self.timer_running {
            return 0;
        }
        let elapsed = now.saturating_sub(self.timer_start) / self.count_ticks();
        if self.periodic() {
            let period = u64::from(initial).max(1);
            (u64::from(initial) - elapsed % period) as u32
        } else {
            u64::from(initial).saturating_sub(elapsed) as u32
        }
    }

    fn periodic(&self) -> bool {
        (self.regs[reg::LVT_TIMER as usize] >> 17) & 0b11 == 0b01
    }

    /// A read of x2APIC MSR `msr` at time `now`.
    pub fn read(&self, msr: u32, now: u64) -> Result<u64, Refused> {
        let r = msr.checked_sub(BASE).filter(|&r| r < 0x40).ok_or(Refused::NoSuchRegister)?;
        match r {
            reg::EOI | reg::SELF_IPI => Err(Refused::NoSuchRegister),
            reg::CURRENT_COUNT => Ok(u64::from(self.current_count(now))),
            reg::ICR => Ok(u64::from(self.regs[r as usize]) | (u64::from(self.regs[r as usize + 1]) << 32)),
            reg::PPR => Ok(u64::from(self.regs[reg::TPR as usize])),
            reg::ID | reg::VERSION | reg::TPR | reg::LDR | reg::SVR | reg::ESR | reg::LVT_CMCI..=reg::LVT_ERROR => {
                Ok(u64::from(self.regs[r as usize]))
            }
            reg::ISR0..=reg::IRR7 | reg::INITIAL_COUNT | reg::DIVIDE => Ok(u64::from(self.regs[r as usize])),
            _ => Err(Refused::NoSuchRegister),
        }
    }

    /// A write of `value` to x2APIC MSR `msr` at time `now`.
    pub fn write(&mut self, msr: u32, value: u64, now: u64) -> Result<Written, Refused> {
        let r = msr.checked_sub(BASE).filter(|&r| r < 0x40).ok_or(Refused::NoSuchRegister)?;
        let low = value as u32;
        // Only the ICR is 64 bits wide.
        if r != reg::ICR && value >> 32 != 0 {
            return Err(Refused::BadWrite);
        }
        match r {
            reg::EOI => Ok(Written::Eoi),
            reg::TPR => {
                self.regs[r as usize] = low & 0xFF;
                Ok(Written::Stored)
            }
            reg::SVR => {
                self.regs[r as usize] = low & 0x11FF;
                Ok(Written::Stored)
            }
            reg::ESR => {
                self.regs[r as usize] = 0;
                Ok(Written::Stored)
            }
            reg::LVT_CMCI..=reg::LVT_ERROR if r != reg::ICR && r != reg::ICR + 1 => {
                self.regs[r as usize] = low;
                Ok(if r == reg::LVT_TIMER { Written::Timer } else { Written::Stored })
            }
            reg::INITIAL_COUNT => {
                self.regs[r as usize] = low;
                self.timer_start = now;
                self.timer_running = low != 0;
                Ok(Written::Timer)
            }
            reg::DIVIDE => {
                self.regs[r as usize] = low & 0b1011;
                Ok(Written::Timer)
            }
            reg::ICR => {
                self.regs[r as usize] = low;
                self.regs[r as usize + 1] = (value >> 32) as u32;
                Ok(icr_ipi(value).map_or(Written::Stored, Written::Ipi))
            }
            reg::SELF_IPI => Ok(Written::Ipi(Ipi::Fixed { vector: low as u8, to: Destination::ToSelf })),
            _ => Err(Refused::BadWrite),
        }
    }

    /// When the timer next fires, if it is armed and unmasked.
    pub fn timer_deadline(&self) -> Option<u64> {
        let lvt = self.regs[reg::LVT_TIMER as usize];
        if !self.timer_running || lvt & LVT_MASKED != 0 {
            return None;
        }
        let initial = u64::from(self.regs[reg::INITIAL_COUNT as usize]);
        Some(self.timer_start.saturating_add(initial.saturating_mul(self.count_ticks())))
    }

    /// The timer fired at `now`: its vector, if unmasked; a one-shot timer
    /// stops, a periodic one reloads.
    pub fn timer_fired(&mut self, now: u64) -> Option<u8> {
        let deadline = self.timer_deadline()?;
        if now < deadline {
            return None;
        }
        if self.periodic() {
            self.timer_start = deadline;
        } else {
            self.timer_running = false;
        }
        Some(self.regs[reg::LVT_TIMER as usize] as u8)
    }

    /// The APIC id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// The IPI an ICR value asks for (fixed, INIT or start-up; other delivery
/// modes send nothing).
fn icr_ipi(icr: u64) -> Option<Ipi> {
    let vector = icr as u8;
    let mode = (icr >> 8) & 0b111;
    let to = match (icr >> 18) & 0b11 {
        0b00 => Destination::Apic((icr >> 32) as u32),
        0b01 => Destination::ToSelf,
        0b10 => Destination::All,
        _ => Destination::Others,
    };
    match mode {
        0b000 => Some(Ipi::Fixed { vector, to }),
        0b101 if (icr >> 14) & 1 == 1 => Some(Ipi::Init { to }),
        0b110 => Some(Ipi::Startup { page: vector, to }),
        _ => None,
    }
}
