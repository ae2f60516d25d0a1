//! What the probe's virtio cases share: a wrong answer stops the case,
//! identifying the device, the status steps a driver takes, and judging
//! a completion. Lines `hostile NAME: ...` through the hostile cases'
//! `report`.

use super::hostile::report;
use super::virtq::{
    Completion, Device, POLLS, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER,
    STATUS_DRIVER_OK, STATUS_FEATURES_OK, reg,
};
use crate::console::println;

/// "virt" in little endian, the virtio-mmio magic value.
const MAGIC: u32 = 0x7472_6976;
/// The virtio 1.x feature bit.
pub const F_VERSION_1: u64 = 1 << 32;
/// A guest-physical address no region of the probe's configs covers.
pub const OUTSIDE_RAM: u64 = 0x7000_0000;
/// Every status bit of a working driver.
pub const STATUS_ALL: u32 =
    STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK;

/// A wrong answer the case cannot go on after (already reported).
pub struct Stop;

/// One virtio case, by the name its lines carry.
#[derive(Clone, Copy)]
pub struct Case(pub &'static str);

impl Case {
    /// Reports a check; a wrong answer stops the case.
    pub fn check(self, what: &str, ok: bool, seen: u64) -> Result<(), Stop> {
        report(self.0, what, ok, seen);
        if ok { Ok(()) } else { Err(Stop) }
    }

    /// A check reported only when `verbose` or wrong.
    pub fn step(self, verbose: bool, what: &str, ok: bool, seen: u64) -> Result<(), Stop> {
        if verbose || !ok {
            report(self.0, what, ok, seen);
        }
        if ok { Ok(()) } else { Err(Stop) }
    }

    /// MagicValue, Version 2 and the device id (`what` names it).
    pub fn identify(self, dev: Device, device_id: u32, what: &str) -> Result<(), Stop> {
        let magic = dev.read(reg::MAGIC_VALUE);
        self.check("MagicValue is 0x74726976", magic == MAGIC, magic.into())?;
        let version = dev.read(reg::VERSION);
        self.check("Version is 2", version == 2, version.into())?;
        let id = dev.read(reg::DEVICE_ID);
        self.check(what, id == device_id, id.into())
    }

    /// From a reset (`status` read after it) to the features offered:
    /// ACKNOWLEDGE, DRIVER, VERSION_1 among them.
    pub fn offered_features(self, dev: Device, status: u32, verbose: bool) -> Result<u64, Stop> {
        self.step(
            verbose,
            "Status reads 0 after a reset",
            status == 0,
            status.into(),
        )?;
        dev.set_status(STATUS_ACKNOWLEDGE);
        let status = dev.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        self.step(
            verbose,
            "ACKNOWLEDGE and DRIVER read back",
            status == 3,
            status.into(),
        )?;
        let offered = dev.device_features();
        self.step(
            verbose,
            "VERSION_1 is offered",
            offered & F_VERSION_1 != 0,
            offered,
        )?;
        Ok(offered)
    }

    /// Accepts `features` and checks FEATURES_OK stays set (`what`).
    pub fn accept_features(
        self,
        dev: Device,
        features: u64,
        what: &str,
        verbose: bool,
    ) -> Result<(), Stop> {
        dev.set_driver_features(features);
        let status = dev.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        self.step(
            verbose,
            what,
            status & STATUS_FEATURES_OK != 0,
            status.into(),
        )
    }

    /// Sets DRIVER_OK and checks it reads back without DEVICE_NEEDS_RESET.
    pub fn driver_ok(self, dev: Device, verbose: bool) -> Result<(), Stop> {
        let status = dev.set_status(STATUS_ALL);
        self.step(
            verbose,
            "DRIVER_OK reads back, without DEVICE_NEEDS_RESET",
            status == STATUS_ALL,
            status.into(),
        )
    }

    /// Judges a descriptor loop's completion: used with length 0, or the
    /// device asking for a reset, is right; `Stop` if it never completed.
    pub fn descriptor_loop(self, completion: Completion) -> Result<(), Stop> {
        let name = self.0;
        match completion {
            Completion::Used { id, len } => report(
                name,
                "a descriptor loop is completed with used length 0",
                id == 0 && len == 0,
                u64::from(id) << 32 | u64::from(len),
            ),
            Completion::NeedsReset(status) => report(
                name,
                "a descriptor loop sets DEVICE_NEEDS_RESET",
                status & STATUS_DEVICE_NEEDS_RESET != 0,
                status.into(),
            ),
            Completion::TimedOut => {
                println!("hostile {name}: a descriptor loop: timed out after {POLLS} polls");
                return self.check("a descriptor loop is completed", false, POLLS);
            }
        }
        Ok(())
    }

    /// The used length of a completion of head 0; any other outcome is
    /// reported and stops the case.
    pub fn completed(self, what: &str, completion: Completion) -> Result<u32, Stop> {
        let name = self.0;
        let seen = match completion {
            Completion::Used { id: 0, len } => return Ok(len),
            Completion::Used { id, .. } => {
                println!("hostile {name}: {what}: the used ring names head {id}, not 0");
                id.into()
            }
            Completion::NeedsReset(status) => {
                println!("hostile {name}: {what}: the device set DEVICE_NEEDS_RESET instead");
                status.into()
            }
            Completion::TimedOut => {
                println!("hostile {name}: {what}: timed out after {POLLS} polls");
                POLLS
            }
        };
        report(name, what, false, seen);
        Err(Stop)
    }
}
