//! The management shell on the host console (`make run SHELL=y`): the
//! commands and their rules are crate `vm-shell`'s, carried out against
//! [`Control`]; this is the input loop.

use core::time::Duration;

use vm_shell::{Key, LineEditor, Next, Vmm};

use super::control::{self, Control};
use crate::hal;

/// How often the input loop looks for typed bytes.
const POLL: Duration = Duration::from_millis(10);
/// The byte that leaves a VM's console (Ctrl-]).
const ESCAPE: u8 = 0x1d;
const PROMPT: &str = "axvisor> ";

/// Runs the shell until `exit` (or a shutdown the management API asked
/// for), then stops every VM.
pub fn run() {
    println!("axvisor: management shell ('help' lists the commands)");
    print!("{PROMPT}");
    let mut editor = LineEditor::new();
    let mut console: Option<usize> = None;
    let mut buf = [0u8; 64];
    loop {
        if control::shutdown_requested() {
            return control::stop_all();
        }
        let n = hal::console_input(&mut buf);
        if n == 0 {
            axtask::sleep(POLL);
            continue;
        }
        for &byte in &buf[..n] {
            if let Some(id) = console {
                if byte == ESCAPE {
                    console = None;
                    print!("\n{PROMPT}");
                } else {
                    // A VM that stopped meanwhile takes no input; Ctrl-] still leaves.
                    let _ = Control.console_input(id, &[byte]);
                }
                continue;
            }
            match editor.push(byte) {
                Key::Echo(bytes) => print!("{}", core::str::from_utf8(bytes).unwrap_or("")),
                Key::EchoByte(b) => print!("{}", b as char),
                Key::None => {}
                Key::Line(line) => {
                    println!();
                    let (lines, next) = match vm_shell::parse(&line) {
                        Ok(command) => vm_shell::execute(&Control, command),
                        Err(e) => (alloc::vec![alloc::format!("error: {e}")], Next::Prompt),
                    };
                    for line in &lines {
                        println!("{line}");
                    }
                    match next {
                        Next::Prompt => print!("{PROMPT}"),
                        Next::Console(id) => console = Some(id),
                        Next::Exit => return control::stop_all(),
                    }
                }
            }
        }
    }
}
