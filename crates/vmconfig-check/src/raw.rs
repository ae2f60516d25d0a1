//! Checks made on the raw TOML table before deserializing, where the
//! field path and the value as written are still known.
//!
//! axvmconfig maps unknown enum numbers to defaults with only a log line;
//! here they are rejected instead, and so are the known values that would
//! reach the host: partial-passthrough interrupt controllers (axdevice
//! panics on their arguments and they hand the guest host GIC state), a
//! second interrupt controller, and regions of reserved host memory.

use alloc::{format, string::ToString};

use axvmconfig::EmulatedDeviceType;
use toml::{Table, Value};

use crate::ConfigError;

/// Device types that give a guest part of the host's interrupt controller.
fn is_partial_passthrough(value: i64) -> bool {
    use EmulatedDeviceType as T;
    [T::GPPTRedistributor, T::GPPTDistributor, T::GPPTITS, T::PPPTGlobal].iter().any(|t| *t as i64 == value)
}

/// Known `devices.emu_devices[i][4]` values.
fn is_known_device_type(value: i64) -> bool {
    use EmulatedDeviceType as T;
    [
        T::Dummy,
        T::InterruptController,
        T::Console,
        T::IVCChannel,
        T::GPPTRedistributor,
        T::GPPTDistributor,
        T::GPPTITS,
        T::PPPTGlobal,
        T::VirtioBlk,
        T::VirtioNet,
        T::VirtioConsole,
    ]
    .iter()
    .any(|t| *t as i64 == value)
}

fn invalid(field: alloc::string::String, value: &Value, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        field,
        value: value.to_string(),
        reason,
    }
}

pub(crate) fn check_raw_fields(text: &str) -> Result<(), ConfigError> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_string()))?;

    if let Some(v) = table.get("base").and_then(|b| b.get("vm_type"))
        && !matches!(v.as_integer(), Some(0..=2))
    {
        return Err(invalid("base.vm_type".into(), v, "unknown VM type (0, 1 or 2)"));
    }

    let devices = table.get("devices").and_then(Value::as_table);
    let emu = devices.and_then(|d| d.get("emu_devices")).and_then(Value::as_array);
    let mut irqchips = 0;
    for (i, dev) in emu.into_iter().flatten().enumerate() {
        let ty = match dev {
            Value::Array(fields) => fields.get(4),
            Value::Table(t) => t.get("emu_type"),
            _ => None,
        };
        if let Some(ty) = ty
            && !ty.as_integer().is_some_and(is_known_device_type)
        {
            return Err(invalid(
                format!("devices.emu_devices[{i}].emu_type"),
                ty,
                "unknown device type",
            ));
        }
        let field = || format!("devices.emu_devices[{i}].emu_type");
        match ty.and_then(Value::as_integer) {
            Some(t) if is_partial_passthrough(t) => {
                return Err(invalid(
                    field(),
                    &Value::String(format!("{t:#x}")),
                    "partial-passthrough interrupt controllers are not supported; use 0x1 (emulated)",
                ));
            }
            Some(t) if t == EmulatedDeviceType::InterruptController as i64 => {
                irqchips += 1;
                if irqchips > 1 {
                    return Err(invalid(field(), &Value::String("0x1".into()), "a VM has one interrupt controller"));
                }
            }
            _ => {}
        }
    }

    let kernel = table.get("kernel").and_then(Value::as_table);
    let regions = kernel.and_then(|k| k.get("memory_regions")).and_then(Value::as_array);
    for (i, region) in regions.into_iter().flatten().enumerate() {
        let map_type = match region {
            Value::Array(fields) => fields.get(3),
            Value::Table(t) => t.get("map_type"),
            _ => None,
        };
        if let Some(mt) = map_type
            && !matches!(mt.as_integer(), Some(0..=2))
        {
            return Err(invalid(
                format!("kernel.memory_regions[{i}].map_type"),
                mt,
                "unknown mapping type (0 alloc, 1 identity, 2 reserved)",
            ));
        }
        if let Some(mt) = map_type
            && mt.as_integer() == Some(2)
        {
            return Err(invalid(
                format!("kernel.memory_regions[{i}].map_type"),
                mt,
                "2 (reserved host memory) would give the guest host memory; use 0 (allocated)",
            ));
        }
    }
    Ok(())
}
