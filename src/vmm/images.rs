//! Where a VM's config and images come from: embedded in the hypervisor by
//! `build.rs` (from `VM_CONFIGS`), or read from the boot disk (`fs`).

use alloc::string::String;
#[cfg(feature = "fs")]
use alloc::vec::Vec;

use axvmconfig::AxVMCrateConfig;
use vmconfig_check::{ImageLocation, ImageSizes};

use super::create::VmError;

/// One config named in `VM_CONFIGS` at build time.
pub struct EmbeddedVm {
    /// Path of the config, as given to the build.
    pub file: &'static str,
    /// Its text, or `None` if it could not be read at build time.
    pub text: Option<&'static str>,
    /// Kernel, BIOS, DTB and ramdisk images, where embedded.
    pub images: [Option<&'static [u8]>; 4],
}

/// Every config named in `VM_CONFIGS`, in order.
pub static EMBEDDED_VMS: &[EmbeddedVm] = include!(concat!(env!("OUT_DIR"), "/embedded_vms.rs"));

/// A VM config to boot and where its images are.
#[derive(Clone)]
pub struct VmSource {
    /// Where the config came from (for messages).
    pub file: String,
    /// The config text, if it could be read.
    pub text: Option<String>,
    /// Images embedded with the config.
    embedded: [Option<&'static [u8]>; 4],
    /// Directory that relative image paths on the disk start from.
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    disk_dir: String,
}

impl From<&EmbeddedVm> for VmSource {
    fn from(vm: &EmbeddedVm) -> Self {
        Self { file: vm.file.into(), text: vm.text.map(String::from), embedded: vm.images, disk_dir: "/".into() }
    }
}

/// The bytes of one image, wherever they are.
pub enum ImageData {
    /// Embedded in the hypervisor.
    Embedded(&'static [u8]),
    /// Made at VM creation (a generated device tree).
    Generated(alloc::vec::Vec<u8>),
    /// A file on the boot disk, of the given size.
    #[cfg(feature = "fs")]
    OnDisk {
        /// Absolute path on the disk.
        path: String,
        /// Its size in bytes.
        size: usize,
    },
}

impl ImageData {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Embedded(bytes) => bytes.len(),
            Self::Generated(bytes) => bytes.len(),
            #[cfg(feature = "fs")]
            Self::OnDisk { size, .. } => *size,
        }
    }
}

/// Reads an image a piece at a time, in order: embedded and generated
/// images are lent as they are, a file on the boot disk is read as it goes
/// (outside any lock: the caller copies each piece into guest RAM).
pub struct ImageReader<'a> {
    image: &'a ImageData,
    #[cfg(feature = "fs")]
    file: Option<super::disk::DiskFile>,
    #[cfg(feature = "fs")]
    buf: alloc::vec::Vec<u8>,
}

impl<'a> ImageReader<'a> {
    /// A reader at the start of `image`.
    pub fn new(image: &'a ImageData) -> Result<Self, VmError> {
        #[cfg(feature = "fs")]
        let file = match image {
            ImageData::OnDisk { path, .. } => Some(super::disk::open(path).map_err(VmError::Disk)?),
            _ => None,
        };
        Ok(Self {
            image,
            #[cfg(feature = "fs")]
            file,
            #[cfg(feature = "fs")]
            buf: alloc::vec::Vec::new(),
        })
    }

    /// `[offset, offset + len)` of the image; pieces must be asked for in
    /// order, each starting where the previous one ended.
    pub fn piece(&mut self, offset: usize, len: usize) -> Result<&[u8], VmError> {
        let outside = VmError::ImagePlacement { load: offset, size: len };
        let lent = |bytes: &'a [u8]| bytes.get(offset..offset.saturating_add(len)).ok_or(outside);
        match self.image {
            ImageData::Embedded(bytes) => lent(bytes),
            ImageData::Generated(bytes) => lent(bytes),
            #[cfg(feature = "fs")]
            ImageData::OnDisk { .. } => {
                self.buf.resize(len, 0);
                let file = self.file.as_mut().ok_or(VmError::ImagePlacement { load: offset, size: len })?;
                file.read_next(&mut self.buf).map_err(VmError::Disk)?;
                Ok(&self.buf)
            }
        }
    }
}

/// Kernel, BIOS, DTB and ramdisk, each if the config names it.
pub type Images = [Option<ImageData>; 4];

/// The config fields naming each image, in [`Images`] order.
fn image_paths(cfg: &AxVMCrateConfig) -> [Option<&str>; 4] {
    let k = &cfg.kernel;
    [Some(k.kernel_path.as_str()), k.bios_path.as_deref(), k.dtb_path.as_deref(), k.ramdisk_path.as_deref()]
}

impl VmSource {
    /// A config given as text (uploaded through the management API) under
    /// the name `file`. Its `"memory"` images are those embedded at build
    /// time whose file name matches, its `"fs"` images are looked up from
    /// `/vms` on the boot disk, as for a config kept there.
    pub fn uploaded(file: &str, text: &str) -> Self {
        let embedded = match vmconfig_check::parse(text) {
            Ok(cfg) => image_paths(&cfg).map(|path| path.and_then(embedded_image)),
            Err(_) => [None; 4],
        };
        Self { file: file.into(), text: Some(text.into()), embedded, disk_dir: "/vms".into() }
    }

    /// Finds the images `cfg` names: embedded ones for `"memory"`, files on
    /// the disk for `"fs"`. An image that is not there is left out, so
    /// that validation names it.
    pub fn images(&self, cfg: &AxVMCrateConfig) -> Result<Images, VmError> {
        let location = vmconfig_check::image_location(cfg).map_err(VmError::Config)?;
        let paths = image_paths(cfg);
        let mut images: Images = Default::default();
        for (slot, (path, embedded)) in images.iter_mut().zip(paths.into_iter().zip(self.embedded)) {
            let Some(path) = path else { continue };
            *slot = match location {
                ImageLocation::Memory => embedded.map(ImageData::Embedded),
                ImageLocation::Fs => self.on_disk(path)?,
            };
        }
        Ok(images)
    }

    #[cfg(feature = "fs")]
    fn on_disk(&self, path: &str) -> Result<Option<ImageData>, VmError> {
        let path = vmconfig_check::paths::resolve(&self.disk_dir, path);
        Ok(super::disk::size_of(&path).map(|size| ImageData::OnDisk { path, size }))
    }

    #[cfg(not(feature = "fs"))]
    fn on_disk(&self, _path: &str) -> Result<Option<ImageData>, VmError> {
        Err(VmError::Unsupported {
            field: "kernel.image_location",
            what: "\"fs\" needs the filesystem feature, which this build does not have (make FS=y)",
        })
    }
}

/// The image embedded at build time, by any config, whose file name is
/// that of `path`.
fn embedded_image(path: &str) -> Option<&'static [u8]> {
    let wanted = vmconfig_check::paths::file_name(path);
    EMBEDDED_VMS.iter().find_map(|vm| {
        let cfg = vmconfig_check::parse(vm.text?).ok()?;
        let paths = image_paths(&cfg);
        paths.iter().zip(vm.images).find_map(|(p, bytes)| {
            (p.map(vmconfig_check::paths::file_name) == Some(wanted)).then_some(bytes).flatten()
        })
    })
}

/// Sizes for validation.
pub fn sizes(images: &Images) -> ImageSizes {
    let len = |i: usize| images[i].as_ref().map(ImageData::len);
    ImageSizes { kernel: len(0), bios: len(1), dtb: len(2), ramdisk: len(3) }
}

/// The config at `path` on the boot disk (in `/vms` when relative), for
/// the shell's `vm create`.
#[cfg(feature = "fs")]
pub fn disk_config(path: &str) -> Option<VmSource> {
    let file = vmconfig_check::paths::resolve("/vms", path);
    disk_configs().into_iter().find(|source| source.file == file)
}

/// VM configs found in the disk's config directory.
#[cfg(feature = "fs")]
pub fn disk_configs() -> Vec<VmSource> {
    super::disk::configs()
        .into_iter()
        .map(|(file, text)| VmSource {
            disk_dir: String::from(vmconfig_check::paths::parent(&file)),
            file,
            text,
            embedded: [None; 4],
        })
        .collect()
}
