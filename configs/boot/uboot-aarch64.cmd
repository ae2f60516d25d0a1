# U-Boot boot script for the hypervisor (compiled into boot.scr with
# `mkimage -T script`; `make BOOT=uboot` does it). U-Boot's distro boot
# finds boot.scr at the top of a FAT partition and runs it with devtype,
# devnum and distro_bootpart naming that partition.
#
# The hypervisor image is an arm64 Image, started by `booti` at EL2 with
# the board's device tree; it then mounts the same partition and loads
# the VM configs in /vms and the guest images they name from /guests.
echo "boot.scr: loading /axvisor.bin from ${devtype} ${devnum}:${distro_bootpart}"
load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} /axvisor.bin
# The firmware's device tree (QEMU virt: the one QEMU wrote at fdt_addr).
# Its PCIe host has nothing the hypervisor or its guests use: disabled, the
# hypervisor does not enumerate its 256 buses at boot.
fdt addr ${fdt_addr}
fdt resize
fdt set /pcie@10000000 status disabled
booti ${kernel_addr_r} - ${fdt_addr}
