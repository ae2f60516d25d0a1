//! `[[devices.virtual]]`: upstream AxVisor's table for devices the
//! hypervisor emulates, read from the raw TOML (axvmconfig 0.2 has no such
//! field). Each virtio-blk or virtio-net table is placed in a virtio-mmio
//! slot and added to `devices.emu_devices` as a type 0xE1 (block) or 0xE2
//! (net) entry, so that every check and the device tree see it like a
//! hand-written entry.
//!
//! ```toml
//! [[devices.virtual]]
//! id = "root"
//! model = "virtio-blk"
//! path = "/guests/rootfs.ext4"   # a file on the boot disk
//! read_only = false
//!
//! [[devices.virtual]]
//! id = "net0"
//! model = "virtio-net"
//! guest_mac = [0x02, 0x00, 0x00, 0x00, 0x01, 0x01]   # optional
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceConfig, EmulatedDeviceType};
use toml::{Table, Value};

use crate::ConfigError;

/// A virtio-mmio window's size.
pub const VIRTIO_WINDOW: u64 = 0x200;
/// The largest disk held in host memory: 4 GiB.
pub const MAX_DISK_BYTES: u64 = 4 << 30;
/// A RAM disk's size when the table gives none: 2 MiB.
const DEFAULT_RAM_DISK_BYTES: u64 = 2 << 20;

/// Where a platform puts virtio-mmio devices whose table names no `base`
/// and `irq`: `count` windows `stride` apart from `base`, the n-th raising
/// interrupt `first_irq + n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioSlots {
    /// First window.
    pub base: u64,
    /// Distance between windows.
    pub stride: u64,
    /// Number of windows.
    pub count: u64,
    /// The first window's interrupt.
    pub first_irq: usize,
}

/// What a virtual disk keeps its sectors in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskBackend {
    /// Zeroed memory of `bytes`.
    RamDisk {
        /// Size in bytes (a multiple of 512).
        bytes: u64,
    },
    /// A file on the boot disk. With `write_back` false (upstream's
    /// `backend = "ramdisk"` with a path) the guest's writes stay in memory.
    File {
        /// Absolute path on the boot disk.
        path: String,
        /// The size the config expects, if it gives one.
        capacity: Option<u64>,
        /// Whether flushes reach the file.
        write_back: bool,
    },
}

/// One `[[devices.virtual]]` virtio-blk table, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualDisk {
    /// Its place in the config (`devices.virtual[index]`).
    pub index: usize,
    /// Its `id`.
    pub id: String,
    /// The virtio-mmio window's guest-physical base.
    pub base: u64,
    /// Its interrupt (GIC INTID, PLIC source).
    pub irq: usize,
    /// Where its sectors live.
    pub backend: DiskBackend,
    /// Whether the guest may not write.
    pub read_only: bool,
}

impl VirtualDisk {
    /// The config field this disk came from, for error messages.
    pub fn field(&self) -> String {
        format!("devices.virtual[{}]", self.index)
    }
}

/// One `[[devices.virtual]]` virtio-net table, placed: a port on the
/// hypervisor's switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNic {
    /// Its place in the config (`devices.virtual[index]`).
    pub index: usize,
    /// Its `id`.
    pub id: String,
    /// The virtio-mmio window's guest-physical base.
    pub base: u64,
    /// Its interrupt (GIC INTID, PLIC source).
    pub irq: usize,
    /// `guest_mac`; without it the hypervisor derives one from the VM id
    /// and the NIC's place among the VM's NICs.
    pub mac: Option<[u8; 6]>,
    /// `allow_mac_spoofing`: whether it may send frames from other MACs.
    pub any_source: bool,
}

impl VirtualNic {
    /// The config field this NIC came from, for error messages.
    pub fn field(&self) -> String {
        format!("devices.virtual[{}]", self.index)
    }
}

/// The `[[devices.virtual]]` tables of a config, placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualDevices {
    /// Its virtio-blk tables.
    pub disks: Vec<VirtualDisk>,
    /// Its virtio-net tables, in config order.
    pub nics: Vec<VirtualNic>,
}

impl VirtualDevices {
    /// `(field, base)` of every table, for checks that concern all.
    pub fn windows(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let disks = self.disks.iter().map(|d| (d.field(), d.base));
        disks.chain(self.nics.iter().map(|n| (n.field(), n.base)))
    }
}

const NET_KEYS: [&str; 7] = ["id", "model", "transport", "guest_mac", "allow_mac_spoofing", "base", "irq"];

const KNOWN_KEYS: [&str; 12] = [
    "id",
    "model",
    "transport",
    "backend",
    "capacity",
    "capacity_sectors",
    "path",
    "image_path",
    "read_only",
    "filesystem",
    "base",
    "irq",
];

fn invalid(field: String, value: &Value, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        field,
        value: value.to_string(),
        reason,
    }
}

/// Reads the `[[devices.virtual]]` tables of `text`, places them (in
/// `slots` when they give no `base`/`irq`), appends them to `config`'s
/// `emu_devices`, and returns them.
pub fn place_virtual_devices(
    text: &str,
    config: &mut AxVMCrateConfig,
    slots: Option<&VirtioSlots>,
) -> Result<VirtualDevices, ConfigError> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_string()))?;
    let Some(list) = table.get("devices").and_then(|d| d.get("virtual")) else {
        return Ok(VirtualDevices::default());
    };
    let Some(list) = list.as_array() else {
        return Err(invalid("devices.virtual".into(), list, "must be an array of tables ([[devices.virtual]])"));
    };
    let mut placed = VirtualDevices::default();
    let mut ids: Vec<String> = Vec::new();
    for (index, entry) in list.iter().enumerate() {
        let field = |key: &str| format!("devices.virtual[{index}].{key}");
        let Some(t) = entry.as_table() else {
            return Err(invalid(format!("devices.virtual[{index}]"), entry, "must be a table"));
        };
        let id = str_of(t, "id", &field)?.unwrap_or_default();
        if id.is_empty() {
            return Err(invalid(field("id"), &Value::String(id.into()), "every devices.virtual table needs a non-empty id"));
        }
        if ids.iter().any(|other| other == id) {
            return Err(invalid(field("id"), &Value::String(id.into()), "another devices.virtual table has this id"));
        }
        ids.push(id.into());
        let is_net = matches!(str_of(t, "model", &field)?, Some("virtio-net" | "virtio-net-mmio"));
        let (emu_type, base, irq) = if is_net {
            let nic = read_nic(index, t, &field)?;
            if nic.mac.is_some() && placed.nics.iter().any(|n| n.mac == nic.mac) {
                return Err(invalid(field("guest_mac"), &t["guest_mac"], "another virtio-net table of this VM has this MAC"));
            }
            let (base, irq) = place(id, t, config, slots, &field)?;
            placed.nics.push(VirtualNic { id: id.into(), base, irq, ..nic });
            (EmulatedDeviceType::VirtioNet, base, irq)
        } else {
            let disk = read_disk(index, t, &field)?;
            let (base, irq) = place(id, t, config, slots, &field)?;
            placed.disks.push(VirtualDisk { id: id.into(), base, irq, ..disk });
            (EmulatedDeviceType::VirtioBlk, base, irq)
        };
        config.devices.emu_devices.push(EmulatedDeviceConfig {
            name: id.into(),
            base_gpa: base as usize,
            length: VIRTIO_WINDOW as usize,
            irq_id: irq,
            emu_type,
            cfg_list: vec![],
        });
    }
    Ok(placed)
}

/// A virtio-net table's own keys (`id`, `base` and `irq` are read by the caller).
fn read_nic(index: usize, t: &Table, field: &dyn Fn(&str) -> String) -> Result<VirtualNic, ConfigError> {
    if let Some(key) = t.keys().find(|k| !NET_KEYS.contains(&k.as_str())) {
        return Err(invalid(field(key), &t[key], "unknown virtio-net option"));
    }
    match str_of(t, "transport", field)? {
        None | Some("mmio") => {}
        Some(other) => {
            return Err(invalid(field("transport"), &Value::String(other.into()), "only the mmio transport is supported"));
        }
    }
    let any_source = match t.get("allow_mac_spoofing") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(v) => return Err(invalid(field("allow_mac_spoofing"), v, "must be true or false")),
    };
    let mac = match t.get("guest_mac") {
        None => None,
        Some(v) => Some(parse_mac(v).ok_or_else(|| invalid(field("guest_mac"), v, "must be 6 integers 0..=255, unicast (first octet even), not all zero"))?),
    };
    Ok(VirtualNic { index, id: String::new(), base: 0, irq: 0, mac, any_source })
}

/// `[0x02, 0, 0, 0, 1, 1]`: see [`unicast_mac`].
fn parse_mac(v: &Value) -> Option<[u8; 6]> {
    let octets: Vec<i64> = v.as_array()?.iter().map(Value::as_integer).collect::<Option<_>>()?;
    unicast_mac(&octets)
}

/// A guest NIC's MAC from a config's list: six octets (each 0..=255),
/// unicast, not all zero.
pub fn unicast_mac<T: Copy>(octets: &[T]) -> Option<[u8; 6]>
where
    u8: TryFrom<T>,
{
    let mut mac = [0u8; 6];
    if octets.len() != mac.len() {
        return None;
    }
    for (octet, value) in mac.iter_mut().zip(octets) {
        *octet = u8::try_from(*value).ok()?;
    }
    (mac[0] & 1 == 0 && mac != [0; 6]).then_some(mac)
}

fn str_of<'a>(t: &'a Table, key: &str, field: &dyn Fn(&str) -> String) -> Result<Option<&'a str>, ConfigError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(invalid(field(key), v, "must be a string")),
    }
}

fn read_disk(index: usize, t: &Table, field: &dyn Fn(&str) -> String) -> Result<VirtualDisk, ConfigError> {
    if let Some(key) = t.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(invalid(field(key), &t[key], "unknown virtio-blk option"));
    }
    match str_of(t, "model", field)? {
        Some("virtio-blk" | "virtio-blk-mmio") => {}
        Some(other) => {
            return Err(invalid(field("model"), &Value::String(other.into()), "unknown model (this hypervisor has virtio-blk and virtio-net)"));
        }
        None => return Err(invalid(field("model"), &Value::String(String::new()), "missing: the device's model")),
    }
    match str_of(t, "transport", field)? {
        None | Some("mmio") => {}
        Some(other) => {
            return Err(invalid(field("transport"), &Value::String(other.into()), "only the mmio transport is supported"));
        }
    }
    if let Some(fs) = t.get("filesystem")
        && !fs.is_str()
    {
        return Err(invalid(field("filesystem"), fs, "must be a string"));
    }
    let read_only = match t.get("read_only") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(v) => return Err(invalid(field("read_only"), v, "must be true or false")),
    };
    let capacity = capacity(t, field)?;
    let path = match (str_of(t, "path", field)?, str_of(t, "image_path", field)?) {
        (Some(_), Some(_)) => {
            return Err(invalid(field("image_path"), &t["image_path"], "give path or image_path, not both"));
        }
        (p, q) => p.or(q),
    };
    let path_key = if t.contains_key("path") { "path" } else { "image_path" };
    if let Some(p) = path
        && !p.starts_with('/')
    {
        return Err(invalid(field(path_key), &Value::String(p.into()), "must be an absolute path on the boot disk"));
    }
    let backend = match (str_of(t, "backend", field)?, path) {
        (None | Some("file"), Some(p)) => DiskBackend::File {
            path: p.into(),
            capacity,
            write_back: true,
        },
        (Some("file"), None) => {
            return Err(invalid(field("path"), &Value::String(String::new()), "a file backend needs the image's path"));
        }
        (Some("ramdisk"), Some(p)) => DiskBackend::File {
            path: p.into(),
            capacity,
            write_back: false,
        },
        (None | Some("ramdisk"), None) => DiskBackend::RamDisk {
            bytes: capacity.unwrap_or(DEFAULT_RAM_DISK_BYTES),
        },
        (Some(other), _) => {
            return Err(invalid(field("backend"), &Value::String(other.into()), "must be \"file\" or \"ramdisk\""));
        }
    };
    Ok(VirtualDisk {
        index,
        id: String::new(),
        base: 0,
        irq: 0,
        backend,
        read_only,
    })
}

/// `capacity` ("64MiB", "1GB", or bytes) or `capacity_sectors`.
fn capacity(t: &Table, field: &dyn Fn(&str) -> String) -> Result<Option<u64>, ConfigError> {
    let bytes = match (t.get("capacity"), t.get("capacity_sectors")) {
        (Some(_), Some(v)) => return Err(invalid(field("capacity_sectors"), v, "give capacity or capacity_sectors, not both")),
        (Some(v), None) => {
            let bytes = match v {
                Value::String(s) => parse_size(s),
                Value::Integer(n) => u64::try_from(*n).ok(),
                _ => None,
            };
            (v, "capacity", bytes.ok_or_else(|| invalid(field("capacity"), v, "must be a size like \"64MiB\" or a byte count"))?)
        }
        (None, Some(v)) => {
            let bytes = v.as_integer().and_then(|n| u64::try_from(n).ok()).and_then(|n| n.checked_mul(512));
            (v, "capacity_sectors", bytes.ok_or_else(|| invalid(field("capacity_sectors"), v, "must be a sector count"))?)
        }
        (None, None) => return Ok(None),
    };
    let (v, key, bytes) = bytes;
    if bytes == 0 || bytes % 512 != 0 {
        return Err(invalid(field(key), v, "must be a non-zero multiple of 512 bytes"));
    }
    if bytes > MAX_DISK_BYTES {
        return Err(invalid(field(key), v, "larger than the 4 GiB a disk may have (it is held in host memory)"));
    }
    Ok(Some(bytes))
}

/// "64MiB", "1GB", "4096", "2KiB"...
fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn int_of(t: &Table, key: &str, field: &dyn Fn(&str) -> String) -> Result<Option<u64>, ConfigError> {
    match t.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(field(key), v, "must be a non-negative integer")),
    }
}

/// Whether `[base, base + VIRTIO_WINDOW)` or `irq` is taken by a device
/// already in the config.
fn taken(config: &AxVMCrateConfig, base: u64, irq: Option<usize>) -> Option<String> {
    let d = &config.devices;
    let overlaps = |b: usize, len: usize| {
        let (b, len) = (b as u64, len as u64);
        b < base + VIRTIO_WINDOW && base < b.saturating_add(len)
    };
    let same_irq = |i: usize| irq.is_some_and(|irq| irq == i && i != 0);
    for (i, r) in config.kernel.memory_regions.iter().enumerate() {
        if overlaps(r.gpa, r.size) {
            return Some(format!("kernel.memory_regions[{i}]"));
        }
    }
    for (i, e) in d.emu_devices.iter().enumerate() {
        if overlaps(e.base_gpa, e.length) || same_irq(e.irq_id) {
            return Some(format!("devices.emu_devices[{i}] (\"{}\")", e.name));
        }
    }
    for (i, p) in d.passthrough_devices.iter().enumerate() {
        if overlaps(p.base_gpa, p.length) || same_irq(p.irq_id) {
            return Some(format!("devices.passthrough_devices[{i}] (\"{}\")", p.name));
        }
    }
    None
}

/// The window and interrupt of table `id`: its own `base` and `irq`, or
/// the first free slot of `slots`.
fn place(
    id: &str,
    t: &Table,
    config: &AxVMCrateConfig,
    slots: Option<&VirtioSlots>,
    field: &dyn Fn(&str) -> String,
) -> Result<(u64, usize), ConfigError> {
    let base = int_of(t, "base", field)?;
    let irq = int_of(t, "irq", field)?.map(|i| i as usize);
    match (base, irq) {
        (Some(base), Some(irq)) => {
            if base % 0x200 != 0 || base.checked_add(VIRTIO_WINDOW).is_none() {
                return Err(invalid(field("base"), &t["base"], "must be 0x200-aligned"));
            }
            if let Some(other) = taken(config, base, Some(irq)) {
                return Err(ConfigError::InvalidValue {
                    field: field("base"),
                    value: format!("{base:#x} (irq {irq}; {other} uses it)"),
                    reason: "window or interrupt already used by another device of this VM",
                });
            }
            Ok((base, irq))
        }
        (None, None) => {
            let Some(s) = slots else {
                return Err(invalid(field("base"), &Value::String(String::new()), "this platform has no default virtio-mmio slots: give base and irq"));
            };
            let free = (0..s.count).find(|n| taken(config, s.base + n * s.stride, Some(s.first_irq + *n as usize)).is_none());
            let Some(n) = free else {
                return Err(invalid(field("id"), &Value::String(id.into()), "every virtio-mmio slot of the platform is taken"));
            };
            Ok((s.base + n * s.stride, s.first_irq + n as usize))
        }
        _ => Err(invalid(field(if base.is_some() { "irq" } else { "base" }), &Value::String(String::new()), "give both base and irq, or neither")),
    }
}
