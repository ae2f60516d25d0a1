//! Links the probe with the link script of its target architecture.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    println!("cargo:rerun-if-changed=link-{arch}.ld");
    println!("cargo:rustc-link-arg-bins=-T{dir}/link-{arch}.ld");
}
