//! An ArceOS guest with a filesystem on its own disk: a virtio-blk device
//! over MMIO holding a GPT with one FAT partition (built by
//! scripts/make-guest-disk.sh). It lists the root, prints the file put there
//! when the disk was built, writes a file of its own (a boot counter and a
//! pattern spanning several sectors), reads it back and prints
//! `ARCEOS-FS-CHECK read=<ok|bad> write=<ok|bad> boot=N`. A file left by an
//! earlier boot on the same disk is reported and its counter carried on, so
//! two boots show that the first one's writes reached the disk.
//!
//! axfs 0.3.0-preview.3 takes a disk with no partition table for one
//! partition (a bare FAT works too; a disk with no filesystem panics it) and
//! mounts a RAM filesystem where its scan finds no partition at all: the
//! guest would then run as if nothing were wrong. A root without the seed
//! file gives that away, and the guest says so instead of passing.
#![no_std]
#![no_main]

#[macro_use]
extern crate axstd as std;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::string::String;
use std::vec::Vec;

/// Put on the disk when it is built; its first line is fixed.
const SEED_PATH: &str = "/seed.txt";
const SEED_FIRST_LINE: &str = "ArceOS guest disk seed";
/// Written by the guest, one boot after another.
const WRITTEN_PATH: &str = "/written.txt";
/// Bytes after the header line: more than one sector and one 4 KiB cluster.
const PATTERN_LEN: usize = 5000;

/// Nanoseconds since the machine's reset (under `-icount shift=0`, one
/// nanosecond is one instruction).
fn since_reset_ns() -> u128 {
    std::os::arceos::api::time::ax_monotonic_time().as_nanos()
}

/// The file's contents for boot `boot`: a header line, then a pattern that
/// differs from boot to boot.
fn contents(boot: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PATTERN_LEN + 32);
    bytes.extend_from_slice(format!("boot={boot}\n").as_bytes());
    bytes.extend((0..PATTERN_LEN).map(|i| b'a' + ((i as u64 * 7 + boot) % 26) as u8));
    bytes
}

/// The boot counter in a file written by an earlier boot, if it is whole.
fn earlier_boot(bytes: &[u8]) -> Option<u64> {
    let header = bytes.split(|&b| b == b'\n').next()?;
    let boot = core::str::from_utf8(header).ok()?.strip_prefix("boot=")?.parse().ok()?;
    (bytes == contents(boot).as_slice()).then_some(boot)
}

fn list_root() {
    let names: Vec<String> = match fs::read_dir("/") {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.file_name()).collect(),
        Err(e) => {
            println!("ARCEOS-FS-FAIL: cannot list /: {e:?}");
            return;
        }
    };
    println!("ARCEOS-FS-ROOT: {}", names.join(" "));
}

/// Prints the seed file; false if it is missing or wrong (the root is then
/// not the disk).
fn read_seed() -> bool {
    match fs::read_to_string(SEED_PATH) {
        Ok(text) if text.lines().next() == Some(SEED_FIRST_LINE) => {
            for line in text.lines() {
                println!("ARCEOS-FS-SEED: {line}");
            }
            true
        }
        Ok(text) => {
            println!("ARCEOS-FS-FAIL: {SEED_PATH} holds {} unexpected bytes", text.len());
            false
        }
        Err(e) => {
            println!(
                "ARCEOS-FS-FAIL: no {SEED_PATH} ({e:?}): the root is not the disk's FAT partition (a RAM filesystem?)"
            );
            false
        }
    }
}

/// Reports what an earlier boot left; returns its boot counter (0: none).
fn find_earlier() -> u64 {
    let mut bytes = Vec::new();
    match File::open(WRITTEN_PATH).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Err(_) => {
            println!("ARCEOS-FS-EARLIER: none ({WRITTEN_PATH} absent: first boot on this disk)");
            0
        }
        Ok(_) => match earlier_boot(&bytes) {
            Some(boot) => {
                println!("ARCEOS-FS-EARLIER: {WRITTEN_PATH} from boot {boot} found ({} bytes, intact)", bytes.len());
                boot
            }
            None => {
                println!("ARCEOS-FS-FAIL: {WRITTEN_PATH} is there but damaged ({} bytes)", bytes.len());
                0
            }
        },
    }
}

/// Writes this boot's file and reads it back: true if it came back whole.
fn write_and_check(boot: u64) -> bool {
    let expected = contents(boot);
    // No flush: axfs's FAT files refuse fsync (InvalidInput). Every write
    // goes to the device at once, and closing the file writes its entry.
    let written = File::create(WRITTEN_PATH).and_then(|mut f| f.write_all(&expected));
    if let Err(e) = written {
        println!("ARCEOS-FS-FAIL: writing {WRITTEN_PATH}: {e:?}");
        return false;
    }
    match fs::read(WRITTEN_PATH) {
        Ok(back) if back == expected => true,
        Ok(back) => {
            println!(
                "ARCEOS-FS-FAIL: {WRITTEN_PATH} read back {} bytes, not the {} written",
                back.len(),
                expected.len()
            );
            false
        }
        Err(e) => {
            println!("ARCEOS-FS-FAIL: reading {WRITTEN_PATH} back: {e:?}");
            false
        }
    }
}

#[unsafe(no_mangle)]
fn main() {
    let start = since_reset_ns();
    list_root();
    let read_ok = read_seed();
    // On a RAM filesystem nothing persists: writing would prove nothing.
    let (write_ok, boot) = if read_ok {
        let boot = find_earlier() + 1;
        (write_and_check(boot), boot)
    } else {
        (false, 0)
    };
    let verdict = |ok: bool| if ok { "ok" } else { "bad" };
    println!(
        "ARCEOS-FS-CHECK read={} write={} boot={boot} [{start} ns after reset at main, {} ns at the end]",
        verdict(read_ok),
        verdict(write_ok),
        since_reset_ns()
    );
}
