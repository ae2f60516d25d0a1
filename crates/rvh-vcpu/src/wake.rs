//! When a waiting guest hart resumes: the rule for a retentive SBI
//! `hart_suspend` and for a trapped WFI. Pure, host-tested.
//!
//! A hart waits until an interrupt it enables (`vsie`, whatever
//! `vsstatus.SIE` says) is pending: a software or external interrupt the
//! hypervisor raised in `hvip`, or its timer, which Sstc raises while
//! `time >= vstimecmp`. A host timer firing, early or on another CPU, is
//! no wake-up by itself: only the pending bits count. A hart that enables
//! no interrupt could never resume that way; it resumes on any wake-up
//! event instead, as WFI allows.

/// `hip`/`hvip` bits of the VS software, timer and external interrupts.
pub const VSSIP: u64 = 1 << 2;
/// VS timer interrupt pending.
pub const VSTIP: u64 = 1 << 6;
/// VS external interrupt pending.
pub const VSEIP: u64 = 1 << 10;
const VS_INTERRUPTS: u64 = VSSIP | VSTIP | VSEIP;

/// What the rule looks at, as the hart holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HartInterrupts {
    /// `hvip`: what the hypervisor raised (VSSIP, VSEIP).
    pub hvip: u64,
    /// `vsie` as the guest sees it (SSIE bit 1, STIE 5, SEIE 9).
    pub vsie: u64,
    /// The guest's timer deadline (all ones: none).
    pub vstimecmp: u64,
    /// The time now, as the guest reads it.
    pub time: u64,
}

/// What a waiting hart does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// An interrupt it enables is pending: it resumes.
    Now,
    /// It keeps waiting; its enabled timer fires at `timer` (ticks of
    /// `time`), if it has one.
    Wait {
        /// The deadline of its timer, if enabled and set.
        timer: Option<u64>,
    },
    /// It enables no interrupt: any wake-up event resumes it.
    AnyEvent,
}

impl HartInterrupts {
    /// The interrupts pending for the hart, in `hip` bits.
    pub fn pending(&self) -> u64 {
        let timer = if self.time >= self.vstimecmp { VSTIP } else { 0 };
        (self.hvip | timer) & VS_INTERRUPTS
    }

    /// The interrupts the hart enables, in `hip` bits (`vsie` shifted
    /// left by one).
    pub fn enabled(&self) -> u64 {
        (self.vsie << 1) & VS_INTERRUPTS
    }

    /// The wake-up rule.
    pub fn wake(&self) -> Wake {
        let enabled = self.enabled();
        if enabled == 0 {
            return Wake::AnyEvent;
        }
        if self.pending() & enabled != 0 {
            return Wake::Now;
        }
        let timer_on = enabled & VSTIP != 0 && self.vstimecmp != u64::MAX;
        Wake::Wait { timer: timer_on.then_some(self.vstimecmp) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSIE: u64 = 1 << 1;
    const STIE: u64 = 1 << 5;
    const SEIE: u64 = 1 << 9;

    fn hart(hvip: u64, vsie: u64, vstimecmp: u64, time: u64) -> HartInterrupts {
        HartInterrupts { hvip, vsie, vstimecmp, time }
    }

    #[test]
    fn a_timer_not_yet_due_keeps_the_hart_waiting_until_its_deadline() {
        // The case of the probe's check 11: the host woke the vCPU one tick
        // before its deadline.
        assert_eq!(hart(0, STIE, 1000, 999).wake(), Wake::Wait { timer: Some(1000) });
        assert_eq!(hart(0, STIE, 1000, 1000).wake(), Wake::Now);
        assert_eq!(hart(0, STIE, 1000, 5000).wake(), Wake::Now);
    }

    #[test]
    fn a_due_timer_the_guest_masks_is_no_wake_up() {
        assert_eq!(hart(0, SSIE, 1000, 2000).wake(), Wake::Wait { timer: None });
    }

    #[test]
    fn a_raised_interrupt_wakes_only_when_enabled() {
        assert_eq!(hart(VSSIP, SSIE, u64::MAX, 0).wake(), Wake::Now);
        assert_eq!(hart(VSEIP, SEIE, u64::MAX, 0).wake(), Wake::Now);
        assert_eq!(hart(VSSIP, SEIE | STIE, u64::MAX, 0).wake(), Wake::Wait { timer: None });
        assert_eq!(hart(VSEIP, SSIE, 1000, 0).wake(), Wake::Wait { timer: None });
    }

    #[test]
    fn no_timer_set_means_no_timer_deadline() {
        assert_eq!(hart(0, STIE, u64::MAX, u64::MAX - 1).wake(), Wake::Wait { timer: None });
    }

    #[test]
    fn a_hart_that_enables_nothing_resumes_on_any_event() {
        assert_eq!(hart(VSSIP | VSEIP, 0, 0, 1).wake(), Wake::AnyEvent);
        // Bits outside SSIE, STIE, SEIE enable nothing here.
        assert_eq!(hart(VSSIP, !(SSIE | STIE | SEIE), 0, 1).wake(), Wake::AnyEvent);
    }

    #[test]
    fn pending_and_enabled_use_hip_bits() {
        let h = hart(VSSIP | (1 << 12), SSIE | STIE | SEIE, 10, 10);
        assert_eq!(h.pending(), VSSIP | VSTIP);
        assert_eq!(h.enabled(), VSSIP | VSTIP | VSEIP);
    }
}
