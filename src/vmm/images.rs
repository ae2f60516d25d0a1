//! VM configs and images embedded by `build.rs` (from `VM_CONFIGS`).

use vmconfig_check::ImageSizes;

/// One config named in `VM_CONFIGS` at build time.
pub struct EmbeddedVm {
    /// Path of the config, as given to the build.
    pub file: &'static str,
    /// Its text, or `None` if it could not be read at build time.
    pub text: Option<&'static str>,
    /// Kernel, BIOS, DTB and ramdisk images, where embedded.
    pub images: [Option<&'static [u8]>; 4],
}

impl EmbeddedVm {
    /// Kernel image.
    pub fn kernel(&self) -> Option<&'static [u8]> {
        self.images[0]
    }

    /// All images that go into guest memory with the config field that
    /// places each: BIOS, DTB, ramdisk (the kernel is loaded separately).
    pub fn extra_images(&self) -> [Option<&'static [u8]>; 3] {
        [self.images[1], self.images[2], self.images[3]]
    }

    /// Sizes for validation.
    pub fn sizes(&self) -> ImageSizes {
        ImageSizes {
            kernel: self.images[0].map(<[u8]>::len),
            bios: self.images[1].map(<[u8]>::len),
            dtb: self.images[2].map(<[u8]>::len),
            ramdisk: self.images[3].map(<[u8]>::len),
        }
    }
}

/// Every config named in `VM_CONFIGS`, in order.
pub static EMBEDDED_VMS: &[EmbeddedVm] = include!(concat!(env!("OUT_DIR"), "/embedded_vms.rs"));
