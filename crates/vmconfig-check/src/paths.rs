//! Paths of images on the boot disk, as VM configs name them.

use alloc::{string::String, vec::Vec};

/// Resolves `path` as named in a config that lives in directory `base`
/// (`/` for configs embedded in the hypervisor): an absolute path stays,
/// a relative one is joined to `base`; `.` and `..` are folded, and `..`
/// never climbs above `/`.
pub fn resolve(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') { [path, ""] } else { [base, path] };
    for part in joined.iter().flat_map(|p| p.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = String::new();
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The directory part of a path on the disk (`/` at the top).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last part of a path (the whole path if it has no `/`).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_a_filesystem() {
        assert_eq!(resolve("/", "/guests/a.bin"), "/guests/a.bin");
        assert_eq!(resolve("/vms", "../guests/a.bin"), "/guests/a.bin");
        assert_eq!(resolve("/vms", "./a.bin"), "/vms/a.bin");
        assert_eq!(resolve("/vms", "a//b/../c"), "/vms/a/c");
        assert_eq!(resolve("/", "../../../etc/x"), "/etc/x");
        assert_eq!(resolve("/vms", ".."), "/");
    }

    #[test]
    fn parent_of_paths() {
        assert_eq!(parent("/vms/linux.toml"), "/vms");
        assert_eq!(parent("/linux.toml"), "/");
        assert_eq!(parent("linux.toml"), "/");
    }

    #[test]
    fn file_name_of_paths() {
        assert_eq!(file_name("../../configs/linux.toml"), "linux.toml");
        assert_eq!(file_name("linux.toml"), "linux.toml");
        assert_eq!(file_name("/vms/"), "");
    }
}
