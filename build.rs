//! Embeds the VM configs named in `AXVISOR_VM_CONFIGS` (space-separated
//! paths, relative to the workspace root) and, for configs whose images are
//! loaded from memory, those images.
//!
//! Nothing is rejected here: a config that cannot be read or an image that
//! is missing is recorded as such and rejected at boot with a line naming
//! the file, so that the other VMs still boot. Cargo warnings flag them early.

use std::{env, fmt::Write as _, fs, path::{Path, PathBuf}};

const IMAGE_FIELDS: [&str; 4] = ["kernel_path", "bios_path", "dtb_path", "ramdisk_path"];

fn main() {
    println!("cargo:rerun-if-env-changed=AXVISOR_VM_CONFIGS");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let list = env::var("AXVISOR_VM_CONFIGS").unwrap_or_default();
    let mut out = String::from("&[\n");
    for name in list.split_whitespace() {
        let path = root.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        out += &embed_one(name, &path);
    }
    out += "]\n";
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("embedded_vms.rs"), out).expect("write embedded_vms.rs");
    fs::write(out_dir.join("time_slice.rs"), format!("{}\n", time_slice_ms())).expect("write time_slice.rs");
}

/// How long a vCPU keeps a CPU it shares (`AXVISOR_TIME_SLICE_MS`, 1 to
/// 10 ms: the host tick, 10 ms, preempts in any case). Default 5.
fn time_slice_ms() -> u64 {
    const VAR: &str = "AXVISOR_TIME_SLICE_MS";
    println!("cargo:rerun-if-env-changed={VAR}");
    let Ok(text) = env::var(VAR) else { return 5 };
    match text.trim().parse::<u64>() {
        Ok(ms @ 1..=10) => ms,
        _ => panic!("{VAR} (make TIME_SLICE_MS) = {text:?}: a whole number of milliseconds from 1 to 10 (the host tick is 10 ms)"),
    }
}

fn embed_one(name: &str, path: &Path) -> String {
    let mut s = format!("    EmbeddedVm {{\n        file: {name:?},\n");
    let Ok(text) = fs::read_to_string(path) else {
        println!("cargo:warning=VM config {name}: cannot be read; it will be rejected at boot");
        s += "        text: None,\n        images: [None, None, None, None],\n    },\n";
        return s;
    };
    let _ = writeln!(s, "        text: Some(include_str!({:?})),", path.display().to_string());
    let table: Option<toml::Table> = text.parse().ok();
    let kernel = table.as_ref().and_then(|t| t.get("kernel")).and_then(|k| k.as_table());
    let in_memory = kernel
        .and_then(|k| k.get("image_location"))
        .and_then(|v| v.as_str())
        .is_none_or(|loc| loc == "memory");
    s += "        images: [";
    for field in IMAGE_FIELDS {
        let image = kernel.and_then(|k| k.get(field)).and_then(|v| v.as_str());
        match image {
            Some(image) if in_memory => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let image_path = dir.join(image);
                println!("cargo:rerun-if-changed={}", image_path.display());
                if image_path.is_file() {
                    let _ = write!(s, "Some(include_bytes!({:?})), ", image_path.display().to_string());
                } else {
                    println!("cargo:warning=VM config {name}: kernel.{field} {image} not found; the VM will be rejected at boot");
                    s += "None, ";
                }
            }
            _ => s += "None, ",
        }
    }
    s += "],\n    },\n";
    s
}
