# AxVisor: build, run and test the hypervisor.  `make help` lists the targets.

ARCH ?= aarch64
# kernel: QEMU loads the hypervisor (-kernel); uboot (aarch64): U-Boot
# firmware boots it from the FAT partition of the boot disk, which also
# holds the VM configs and guest images.
BOOT ?= kernel
ifeq ($(BOOT),uboot)
  VM_CONFIGS ?=
  DISK_VMS ?= configs/vms/arceos-aarch64-fs.toml
  FS := y
else ifneq ($(BOOT),kernel)
  $(error BOOT must be kernel or uboot, not '$(BOOT)')
endif
LOG ?= info
SMP ?= 2
# How long a vCPU keeps a CPU it shares with other vCPUs, in ms (1-10).
TIME_SLICE_MS ?= 5
# VMSET=multi: the configs in configs/vms/multi/ (ArceOS, the probe and
# Linux side by side, each with its own console); they need MEM=512M.
VMSET ?=
ifneq ($(VMSET),)
  VM_CONFIGS ?= $(sort $(wildcard configs/vms/$(VMSET)/*-$(ARCH).toml))
  MEM ?= 512M
endif
MEM ?= 256M
ACCEL ?= n
# aarch64: the host's GIC version, 2 or 3; VMs get a virtual GIC of the
# same version.
GIC ?= 2
ifeq ($(filter 2 3,$(GIC)),)
  $(error GIC must be 2 or 3, not '$(GIC)')
endif
# VM configs embedded in the hypervisor (space separated).
VM_CONFIGS ?= $(wildcard configs/vms/arceos-$(ARCH).toml)
# Seconds before `make run` gives up on QEMU (0: no limit).
TIMEOUT ?= 0
# y: build with the filesystem feature and boot with a disk attached.
FS ?= n
# y: the management HTTP API on the host NIC (feature `api`); `run` then
# adds a NIC whose user network forwards 127.0.0.1:API_PORT to the API's
# port 80, and passes API_TOKEN as the boot argument api.token=.
API ?= n
API_PORT ?= 8080
# The boot disk `make disk_img` builds, and what goes on it.
DISK_IMG ?= target/disk-$(ARCH).img
# riscv64: Linux with its ext4 root on our virtio-blk device (its images
# go on the disk too, DISK_EXTRA below).
DISK_VMS ?= $(if $(filter riscv64,$(ARCH)),crates/qemu-boot-tests/configs/storage/linux-riscv64-virtio-root.toml,configs/vms/linux-aarch64-smp2-fs.toml)
DISK ?= $(if $(filter y,$(FS)),$(DISK_IMG))
DISK_ARGS = -drive file=$(DISK),if=none,format=raw,id=disk0 -device virtio-blk-device,drive=disk0
UBOOT_BIN ?= /usr/lib/u-boot/qemu_arm64/u-boot.bin
BOOT_SCR = target/boot-$(ARCH).scr
# The device tree the hypervisor boots with (aarch64): QEMU's, with PCIe
# bridges no VM config uses disabled (scripts/host-dtb.py).
HOST_DTB = target/host-dtb/$(ARCH)-gic$(GIC)-$(MEM)-smp$(SMP).dtb

ROOT := $(CURDIR)
, := ,
# SHELL=y on the command line asks for the management shell; make's own
# SHELL (the recipes' shell) stays bash.
VM_SHELL := $(if $(filter command line,$(origin SHELL)),$(SHELL),n)
override SHELL := /bin/bash

# API=y (after SHELL is bash again: $(shell) runs it).
ifeq ($(API),y)
  ifeq ($(ARCH),x86_64)
    $(error API=y: x86_64 has no host NIC driver (its devices are on PCI); use ARCH=aarch64 or riscv64)
  endif
  # Default: a random token, made once and kept in target/api-token.
  ifeq ($(origin API_TOKEN),undefined)
    API_TOKEN := $(shell mkdir -p target && { [ -s target/api-token ] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > target/api-token; } && cat target/api-token)
  endif
endif
API_QEMU_ARGS = -netdev user,id=up,restrict=on,hostfwd=tcp:127.0.0.1:$(API_PORT)-:80 -device virtio-net-device,netdev=up \
  -append "api.token=$(API_TOKEN)"

# Every QEMU has `-nic none`: without it QEMU adds a network device with
# unrestricted user networking.
ifeq ($(ARCH),aarch64)
  TARGET := aarch64-unknown-none-softfloat
  QEMU := qemu-system-aarch64 -machine virt,virtualization=on,gic-version=$(GIC) -cpu cortex-a72 -nic none
  HOST_PLATFORM :=
else ifeq ($(ARCH),riscv64)
  TARGET := riscv64gc-unknown-none-elf
  QEMU := qemu-system-riscv64 -machine virt -bios default -cpu rv64,h=true -nic none
  HOST_PLATFORM := riscv64-qemu-virt
  # The platform crate assumes one hart and 128 MiB: the host config says
  # SMP harts (it waits for each) and 256 MiB (MEM must be at least 256M).
  # Its device ranges leave out the PCIe host's 1.25 GiB of windows: nothing
  # the hypervisor or a guest uses is behind it, and mapping them in 4 KiB
  # pages cost 40 M instructions at every boot.
  HOST_CONFIG_SETS = --set plat.max-cpu-num=$(SMP) --set plat.phys-memory-size=0x1000_0000 \
    --set 'devices.mmio-ranges=[[0x0010_1000, 0x1000], [0x0c00_0000, 0x21_0000], [0x1000_0000, 0x1000], [0x1000_1000, 0x8000]]'
else ifeq ($(ARCH),x86_64)
  TARGET := x86_64-unknown-none
  # TCG emulates AMD SVM with nested paging (this machine offers no VT-x).
  # One TCG thread: see crates/qemu-boot-tests/src/lib.rs.
  QEMU := qemu-system-x86_64 -machine q35 -nic none -cpu $(if $(filter y,$(ACCEL)),host,qemu64$(,)+svm$(,)+npt) \
    $(if $(filter y,$(ACCEL)),,-accel tcg$(,)thread=single)
  HOST_PLATFORM := x86-pc
  # The platform crate takes the TSC for 4 GHz; QEMU's TCG runs it at
  # 1 GHz under -icount (one tick per instruction), which the benchmarks
  # and tests count in.
  HOST_CONFIG_SETS = --set plat.max-cpu-num=$(SMP) --set devices.timer-frequency=1_000_000_000
else
  $(error ARCH must be aarch64, riscv64 or x86_64, not '$(ARCH)')
endif

ifeq ($(ACCEL),y)
  QEMU += -accel kvm
endif

ELF := target/$(TARGET)/release/axvisor
# QEMU's multiboot loader takes a 32-bit ELF on x86_64; the others a raw image.
BIN_FORMAT := $(if $(filter x86_64,$(ARCH)),elf32-i386,binary)
BIN ?= target/axvisor-$(ARCH).$(if $(filter x86_64,$(ARCH)),elf32,bin)
OBJCOPY = $(shell rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy
HOST_CONFIG := configs/platforms/$(HOST_PLATFORM)-smp$(SMP).generated.toml
TEST_IMAGES := target/test-images

BENCH_DIR := target/bench
# The guest-side fuzzer's seed and operation count (`make fuzz`; `make test`
# runs seed 1 with 10,000 operations).
SEED ?= 1
OPS ?= 100000
FUZZ_PARAMS := target/fuzz-params.bin
# More configs refused by name, beside the good one (containment: host
# RAM by passthrough, pages shared with another VM, VM ids, huge counts).
BAD_CONFIGS_2 := $(addprefix crates/qemu-boot-tests/configs/,device-shares-page.toml passthrough-gpa-in-ram.toml \
  passthrough-addresses-ram.toml vm-id-zero.toml vm-id-257.toml huge-cpu-num.toml \
  virtual-disk-in-passthrough.toml)
# The probe driving our virtio block and console devices beside the ArceOS guest (with
# a console of its own, so that no line interleaves), and a RAM disk too
# large for the host, refused.
VIRTIO_VMS := configs/vms/multi/arceos-aarch64.toml crates/qemu-boot-tests/configs/virtio/blk-probe.toml \
  crates/qemu-boot-tests/configs/virtio/blk-too-large.toml crates/qemu-boot-tests/configs/virtio/console-probe.toml
# The probe driving two of our virtio-net devices on the switch beside the ArceOS guest
VIRTIO_NET_VMS := configs/vms/multi/arceos-aarch64.toml crates/qemu-boot-tests/configs/virtio/net-probe.toml
# Shared-memory channel between VMs (probe modes 40 to 44) and a member of
# the wrong size, refused.
CHANNEL_VMS := $(sort $(wildcard crates/qemu-boot-tests/configs/channel/*.toml))
CHANNEL_RISCV64_VMS := $(sort $(wildcard crates/qemu-boot-tests/configs/channel-riscv64/*.toml))
# The channel round-trip benchmark: two probe VMs, one per CPU (`make bench`).
CHANNEL_BENCH_VMS := configs/vms/channel-ping-aarch64.toml configs/vms/channel-pong-aarch64.toml
# Linux with an ext4 root on our virtio-blk device, from the boot disk
# (the storage tests boot the FS=y hypervisor with no embedded config).
STORAGE_VM_aarch64 := crates/qemu-boot-tests/configs/storage/linux-aarch64-virtio-root.toml
STORAGE_VM_riscv64 := crates/qemu-boot-tests/configs/storage/linux-riscv64-virtio-root.toml
HOSTILE_VMS := configs/vms/arceos-aarch64.toml $(sort $(wildcard crates/qemu-boot-tests/configs/hostile/*.toml))
HOSTILE_X86_VMS := $(sort $(wildcard crates/qemu-boot-tests/configs/hostile-x86/*.toml))
HOSTILE_RISCV64_VMS := configs/vms/arceos-riscv64.toml $(sort $(wildcard crates/qemu-boot-tests/configs/hostile-riscv64/*.toml))
FUZZ_VMS := configs/vms/arceos-aarch64.toml crates/qemu-boot-tests/configs/fuzz/fuzz.toml

.PHONY: help setup build guests run test unit-test qemu-test stress-test bench clean clippy disk_img fuzz soak FORCE

help:
	@echo "AxVisor, a type-1 hypervisor on ArceOS."
	@echo
	@echo "Targets:"
	@echo "  build      build the hypervisor image ($(BIN)) with VM_CONFIGS embedded"
	@echo "  guests     build the guest images the VM configs name"
	@echo "  disk_img   FAT32 boot disk ($(DISK_IMG)): guest images in /guests,"
	@echo "             DISK_VMS configs in /vms (boot it with FS=y); with BOOT=uboot"
	@echo "             also the hypervisor and boot.scr at the top"
	@echo "  run        build and boot the hypervisor under QEMU"
	@echo "  test       host unit tests, then QEMU tests (aarch64, riscv64, x86_64 through SVM): boot,"
	@echo "             bad configs, Linux, boot disk, U-Boot boot, the probe's suite (hypervisor and bare),"
	@echo "             Linux on an ext4 root on our virtio-blk (aarch64, riscv64: boots counted across resets),"
	@echo "             an ArceOS guest's files and Starry-OS's shell on their own virtio disks (aarch64),"
	@echo "             two Linux VMs ping and move 64 MiB over virtio-net, one reaches QEMU's gateway (aarch64),"
	@echo "             the management API over QEMU's user network: every call, hostile requests, and"
	@echo "             the page in headless Chromium (aarch64, API=y),"
	@echo "             isolation; aarch64 and x86_64 also hostile guests; aarch64 FP/SIMD isolation,"
	@echo "             10,000 fuzz operations (hypercalls, vGIC, timers, virtqueues)"
	@echo "  bench      probe-guest benchmarks under the hypervisor and bare (every ARCH):"
	@echo "             table + $(BENCH_DIR)/$(ARCH).json; aarch64 also virtio-blk: the probe's 4 KiB"
	@echo "             request, Linux direct I/O against QEMU's own virtio-blk, and Linux VM-to-VM TCP"
	@echo "             and ping against the same guests bare (scripts/net-bare-baseline.sh)"
	@echo "             then charts of every arch's JSON: $(BENCH_DIR)/report.html (scripts/bench-report.py)"
	@echo "  stress-test  make test's QEMU tests, then RUNS=$(RUNS) more runs of them while"
	@echo "             another build loads every CPU; prints N passed, N failed"
	@echo "  soak       create, stop and delete a VM CYCLES times from the shell; free memory"
	@echo "             must not change (make test runs 5 cycles)"
	@echo "  fuzz       aarch64: the probe's guest-side fuzzer, OPS operations from SEED (virtqueues too),"
	@echo "             beside the ArceOS guest; fails on a panic or a missing line"
	@echo "  clippy     lint the hypervisor for ARCH and the host crates"
	@echo "  setup      install what is missing (QEMU 10, rustup targets, tools)"
	@echo "  clean      remove build output"
	@echo
	@echo "Variables (current value):"
	@echo "  ARCH=$(ARCH)  aarch64 | riscv64 | x86_64"
	@echo "  BOOT=$(BOOT)  kernel (QEMU -kernel) | uboot (aarch64: U-Boot boots it from the disk)"
	@echo "  LOG=$(LOG)  off | error | warn | info | debug | trace"
	@echo "  SMP=$(SMP)  host CPUs given to QEMU"
	@echo "  GIC=$(GIC)  aarch64: the host's GIC version (2 or 3); VMs get the same"
	@echo "  MEM=$(MEM)  host RAM given to QEMU"
	@echo "  TIME_SLICE_MS=$(TIME_SLICE_MS)  how long a vCPU keeps a CPU it shares (1-10 ms)"
	@echo "  VMSET=$(VMSET)  multi: ArceOS, the probe and Linux side by side (configs/vms/multi)"
	@echo "  VM_CONFIGS=$(VM_CONFIGS)"
	@echo "  ACCEL=$(ACCEL)  y: use KVM for the host (needs a matching host CPU)"
	@echo "  TIMEOUT=$(TIMEOUT)  seconds before 'run' stops QEMU (0: never)"
	@echo "  FS=$(FS)  y: filesystem feature, guest images and configs from DISK"
	@echo "  SHELL=$(VM_SHELL)  y: the management shell on the console (vm list/stop/start/...);"
	@echo "             the hypervisor then runs until 'exit' instead of powering off"
	@echo "  API=$(API)  y: the management HTTP API (aarch64, riscv64): run forwards"
	@echo "             127.0.0.1:API_PORT to it and prints its URL and token"
	@echo "  API_PORT=$(API_PORT)  the host port run forwards to the API's port 80"
	@echo "  API_TOKEN  the API's token, passed as boot argument api.token= (default with"
	@echo "             API=y: a random one made once into target/api-token)"
	@echo "  DISK=$(DISK)  disk image attached as virtio-blk"
	@echo "  DISK_VMS=$(DISK_VMS)"
	@echo "  SEED=$(SEED) OPS=$(OPS)  the fuzzer's seed and operation count (make fuzz)"

setup:
	@scripts/setup.sh

LINUX_IMAGES_aarch64 := target/guests/linux-aarch64.Image target/guests/linux-aarch64-initramfs.cpio.gz
LINUX_IMAGES_riscv64 := target/guests/linux-riscv64.Image target/guests/linux-riscv64-initramfs.cpio.gz
LINUX_IMAGES := $(LINUX_IMAGES_$(ARCH))
# Configs that name the Linux images get them fetched (once; cached).
NEEDS_LINUX := $(if $(LINUX_IMAGES),$(findstring linux-$(ARCH),$(shell cat $(VM_CONFIGS) /dev/null 2>/dev/null)))

$(LINUX_IMAGES_aarch64) &: scripts/fetch-linux-guest.sh
	scripts/fetch-linux-guest.sh target/guests aarch64
$(LINUX_IMAGES_riscv64) &: scripts/fetch-linux-guest.sh
	scripts/fetch-linux-guest.sh target/guests riscv64
# The storage test's Linux guest: an initramfs that mounts an ext4 root
# from virtio-blk and counts its boots there, and that ext4 image.
STORAGE_IMAGES_aarch64 := target/guests/linux-aarch64-storage-initramfs.cpio.gz target/guests/linux-aarch64-rootfs.ext4
STORAGE_IMAGES_riscv64 := target/guests/linux-riscv64-storage-initramfs.cpio.gz target/guests/linux-riscv64-rootfs.ext4
$(STORAGE_IMAGES_aarch64) &: scripts/make-linux-rootfs.sh $(LINUX_IMAGES_aarch64)
	scripts/make-linux-rootfs.sh target/guests aarch64
$(STORAGE_IMAGES_riscv64) &: scripts/make-linux-rootfs.sh $(LINUX_IMAGES_riscv64)
	scripts/make-linux-rootfs.sh target/guests riscv64
# The network tests' Linux guest (issue 25): an initramfs whose /init
# (scripts/net-init.sh) takes its role (server, client, uplink) and
# addresses from the kernel command line; its VMs, and the bare baseline.
NET_INITRD_aarch64 := target/guests/linux-aarch64-net-initramfs.cpio.gz
NET_INITRD_riscv64 := target/guests/linux-riscv64-net-initramfs.cpio.gz
NET_GUEST_SCRIPTS := scripts/make-linux-rootfs.sh scripts/net-init.sh scripts/net-stream.sh
# The management API test's shell VM (issue 30): an initramfs whose /init
# keeps a busybox sh on the console; its VMs (the shell and the probe
# waiting for its power button).
SHELL_INITRD_aarch64 := target/guests/linux-aarch64-shell-initramfs.cpio.gz
$(SHELL_INITRD_aarch64): scripts/make-linux-rootfs.sh $(LINUX_IMAGES_aarch64)
	scripts/make-linux-rootfs.sh target/guests aarch64 shell
API_TEST_VMS := $(addprefix crates/qemu-boot-tests/configs/api/,shell.toml power-button.toml)
$(NET_INITRD_aarch64): $(NET_GUEST_SCRIPTS) $(LINUX_IMAGES_aarch64)
	scripts/make-linux-rootfs.sh target/guests aarch64 net
$(NET_INITRD_riscv64): $(NET_GUEST_SCRIPTS) $(LINUX_IMAGES_riscv64)
	scripts/make-linux-rootfs.sh target/guests riscv64 net
NET_VMS_aarch64 := $(addprefix crates/qemu-boot-tests/configs/net/linux-aarch64-net-,a.toml b.toml)
NET_UPLINK_VM_aarch64 := crates/qemu-boot-tests/configs/net/linux-aarch64-net-uplink.toml
NET_VMS_riscv64 := $(addprefix crates/qemu-boot-tests/configs/net/linux-riscv64-net-,a.toml b.toml)
NET_UPLINK_VM_riscv64 := crates/qemu-boot-tests/configs/net/linux-riscv64-net-uplink.toml

# The ArceOS guest with a filesystem on its own disk (an 8 MiB GPT + FAT16
# image): it probes only the first virtio-mmio slot, where its VM's one
# virtio-blk device is, and maps no PCIe windows (35 M instructions at boot).
ARCEOS_FS_VM := crates/qemu-boot-tests/configs/storage/arceos-fs-disk-aarch64.toml
ARCEOS_FS_SETS := --set 'devices.virtio-mmio-ranges=[[0x0a00_0000, 0x200]]' \
  --set 'devices.mmio-ranges=[[0x0800_0000, 0x2_0000], [0x0900_0000, 0x1000], [0x0a00_0000, 0x4000]]'
ARCEOS_FS_DISK := target/guests/arceos-fs-disk.img
$(ARCEOS_FS_DISK): scripts/make-guest-disk.sh guests/arceos-fs/seed.txt
	scripts/make-guest-disk.sh $@ guests/arceos-fs/seed.txt

# Starry-OS (guests/starry) with an ext4 root on our virtio-blk device: its
# VM config (Starry's platform config is derived from it) and the rootfs.
STARRY_VM := crates/qemu-boot-tests/configs/storage/starry-aarch64.toml
STARRY_ROOTFS := target/guests/starry-aarch64-rootfs.ext4
$(STARRY_ROOTFS): scripts/make-starry-rootfs.sh
	scripts/make-starry-rootfs.sh $@

guests: setup $(if $(NEEDS_LINUX),$(LINUX_IMAGES))
ifeq ($(ARCH),aarch64)
	@scripts/build-arceos-guest.sh aarch64 configs/vms/arceos-aarch64.toml target/guests/arceos-hello-aarch64.bin
	@scripts/build-arceos-guest.sh aarch64 configs/vms/arceos-aarch64-upstream.toml target/guests/arceos-hello-aarch64-upstream.bin
	@scripts/build-arceos-guest.sh --guest arceos-fs $(ARCEOS_FS_SETS) aarch64 $(ARCEOS_FS_VM) target/guests/arceos-fs-aarch64.bin
	@scripts/build-probe-guest.sh target/guests
	@scripts/build-starry-guest.sh $(STARRY_VM) target/guests/starry-aarch64.bin
else ifeq ($(ARCH),riscv64)
	@scripts/build-arceos-guest.sh riscv64 configs/vms/arceos-riscv64.toml target/guests/arceos-hello-riscv64.bin
	@scripts/build-probe-guest.sh target/guests riscv64
else
	@scripts/build-arceos-guest.sh x86_64 configs/vms/arceos-x86_64.toml target/guests/arceos-hello-x86_64.bin
	@scripts/build-probe-guest.sh target/guests x86_64
endif

$(HOST_CONFIG): configs/platforms/defaults.toml scripts/platform-config.py Cargo.lock Makefile
	@python3 scripts/platform-config.py --manifest Cargo.toml --package axplat-$(HOST_PLATFORM) $(HOST_CONFIG_SETS) -o $@

build: guests $(if $(HOST_PLATFORM),$(HOST_CONFIG))
	AXVISOR_VM_CONFIGS="$(VM_CONFIGS)" AXVISOR_TIME_SLICE_MS=$(TIME_SLICE_MS) AX_LOG=$(LOG) SMP=$(SMP) \
	  $(if $(HOST_PLATFORM),AX_CONFIG_PATH=$(ROOT)/$(HOST_CONFIG)) \
	  cargo build --release --locked --target $(TARGET) $(if $(filter y,$(FS)),--features fs) \
	  $(if $(filter y,$(VM_SHELL)),--features shell) $(if $(filter aarch64-3,$(ARCH)-$(GIC)),--features gicv3) \
	  $(if $(filter y,$(API)),--features api)
	@mkdir -p $(dir $(BIN))
	@$(OBJCOPY) -O $(BIN_FORMAT) $(ELF) $(BIN)
	@echo "hypervisor: $(BIN) ($$(stat -c %s $(BIN)) bytes) with VM configs: $(VM_CONFIGS)"

# More images for the disk's /guests (made by their own rules).
DISK_EXTRA ?= $(if $(filter riscv64,$(ARCH)),$(LINUX_IMAGES_riscv64) $(STORAGE_IMAGES_riscv64))
DISK_IMAGES = target/guests/arceos-hello-$(ARCH).bin $(if $(filter aarch64,$(ARCH)),$(LINUX_IMAGES) target/guests/probe-aarch64.bin) \
  $(DISK_EXTRA)

disk_img: guests $(if $(filter aarch64,$(ARCH)),$(LINUX_IMAGES)) $(DISK_EXTRA) $(if $(filter uboot,$(BOOT)),build $(BOOT_SCR))
	scripts/make-disk-img.sh $(DISK_IMG) $(foreach vm,$(DISK_VMS),--vm $(vm)) \
	  $(if $(filter uboot,$(BOOT)),--root $(BIN)=axvisor.bin --root $(BOOT_SCR)=boot.scr) $(DISK_IMAGES)

$(BOOT_SCR): configs/boot/uboot-$(ARCH).cmd
	@mkdir -p $(dir $@)
	mkimage -A arm64 -T script -C none -n axvisor -d $< $@ >/dev/null

$(HOST_DTB): FORCE
	@mkdir -p $(dir $@)
	@scripts/host-dtb.py $@ --vm-config $(VM_CONFIGS) $(if $(filter y,$(FS)),$(DISK_VMS)) -- $(QEMU) -m $(MEM) -smp $(SMP)

FORCE:

run: build $(if $(filter $(DISK_IMG),$(DISK)),disk_img) $(if $(filter aarch64-kernel,$(ARCH)-$(BOOT)),$(HOST_DTB))
ifeq ($(BOOT),uboot)
	$(if $(filter aarch64,$(ARCH)),,@echo "run: BOOT=uboot is aarch64 only (see docs/boards.md)"; exit 2)
	$(if $(filter-out 0,$(TIMEOUT)),timeout --foreground $(TIMEOUT)) \
	  $(QEMU) -m $(MEM) -smp $(SMP) -nographic -bios $(UBOOT_BIN) $(DISK_ARGS)
else
	$(if $(filter y,$(API)),@echo "management API: http://127.0.0.1:$(API_PORT)/ token $(API_TOKEN)")
	$(if $(filter-out 0,$(TIMEOUT)),timeout --foreground $(TIMEOUT)) \
	  $(QEMU) -m $(MEM) -smp $(SMP) -nographic -kernel $(BIN) \
	  $(if $(filter aarch64,$(ARCH)),-dtb $(HOST_DTB)) $(if $(DISK),$(DISK_ARGS)) $(if $(filter y,$(API)),$(API_QEMU_ARGS))
endif

clippy: setup $(if $(HOST_PLATFORM),$(HOST_CONFIG))
	cargo clippy --locked --workspace --exclude axvisor -- -D warnings
	AXVISOR_VM_CONFIGS= $(if $(HOST_PLATFORM),AX_CONFIG_PATH=$(ROOT)/$(HOST_CONFIG)) \
	  cargo clippy --locked --release --target $(TARGET) -p axvisor -- -D warnings
ifeq ($(ARCH),aarch64)
	AXVISOR_VM_CONFIGS= cargo clippy --locked --release --target $(TARGET) -p axvisor --features fs -- -D warnings
	AXVISOR_VM_CONFIGS= cargo clippy --locked --release --target $(TARGET) -p axvisor --features gicv3 -- -D warnings
	AXVISOR_VM_CONFIGS= cargo clippy --locked --release --target $(TARGET) -p axvisor --features api -- -D warnings
	cargo clippy --locked --release --target $(TARGET) -p a64-vcpu -- -D warnings
	scripts/build-probe-guest.sh --clippy aarch64
else ifeq ($(ARCH),riscv64)
	AXVISOR_VM_CONFIGS= AX_CONFIG_PATH=$(ROOT)/$(HOST_CONFIG) \
	  cargo clippy --locked --release --target $(TARGET) -p axvisor --features fs -- -D warnings
	AXVISOR_VM_CONFIGS= AX_CONFIG_PATH=$(ROOT)/$(HOST_CONFIG) \
	  cargo clippy --locked --release --target $(TARGET) -p axvisor --features api -- -D warnings
	cargo clippy --locked --release --target $(TARGET) -p rvh-vcpu -- -D warnings
	scripts/build-probe-guest.sh --clippy riscv64
else
	scripts/build-probe-guest.sh --clippy x86_64
endif

unit-test: setup
	cargo test --locked --workspace --exclude axvisor

# The QEMU tests, once their images are built.
QEMU_TEST_RUN = env AXVISOR_TEST_IMAGES=$(ROOT)/$(TEST_IMAGES) \
	  cargo test --locked -p qemu-boot-tests --test riscv64_boot --test riscv64_probe --test aarch64_boot --test aarch64_probe --test aarch64_hostile --test aarch64_linux --test aarch64_gicv3 --test aarch64_fs --test aarch64_uboot --test aarch64_shell --test aarch64_virtio --test aarch64_virtio_net --test aarch64_channel --test riscv64_channel --test aarch64_arceos_disk --test aarch64_storage --test aarch64_net --test aarch64_api --test riscv64_net --test aarch64_starry --test riscv64_storage --test x86_64_boot --test x86_64_probe -- --include-ignored

# Images the QEMU tests boot (each test names the one it boots): per
# architecture the default VM set, bad configs beside a good one, the probe
# suite, isolation; on aarch64 also Linux and the boot disks.
qemu-test: setup
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 \
	  VM_CONFIGS=configs/vms/arceos-aarch64.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-arceos.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 \
	  VM_CONFIGS="crates/qemu-boot-tests/configs/zero-vcpus.toml configs/vms/arceos-aarch64.toml crates/qemu-boot-tests/configs/image-too-large.toml crates/qemu-boot-tests/configs/no-such-file.toml crates/qemu-boot-tests/configs/passthrough-ram.toml crates/qemu-boot-tests/configs/no-such-cpu.toml crates/qemu-boot-tests/configs/too-much-ram.toml crates/qemu-boot-tests/configs/device-owner.toml crates/qemu-boot-tests/configs/device-taken.toml $(BAD_CONFIGS_2)" \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-bad-configs.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/probe-aarch64.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-probe.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 \
	  VM_CONFIGS=crates/qemu-boot-tests/configs/ptimer-cyclic.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-ptimer.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS="$(sort $(wildcard crates/qemu-boot-tests/configs/consoles/*.toml))" BIN=$(TEST_IMAGES)/axvisor-aarch64-consoles.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 SHELL=y \
	  VM_CONFIGS="$(SHELL_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-shell.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(sort $(wildcard configs/vms/multi/*-aarch64.toml)) crates/qemu-boot-tests/configs/spinner.toml" \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-multi.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-shared-aarch64.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-probe-shared.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-shared-riscv64.toml BIN=$(TEST_IMAGES)/axvisor-riscv64-probe-shared.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS="configs/vms/arceos-aarch64.toml configs/vms/probe-isolation-aarch64.toml" \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-isolation.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/linux-aarch64-smp2.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-linux.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=1 \
	  VM_CONFIGS=configs/vms/arceos-aarch64.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-arceos.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 \
	  VM_CONFIGS=configs/vms/arceos-aarch64-upstream.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-upstream.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=1 \
	  VM_CONFIGS=configs/vms/arceos-aarch64-upstream.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-upstream.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/linux-aarch64-upstream.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-linux-upstream.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/probe-aarch64.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-probe.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=1 \
	  VM_CONFIGS=crates/qemu-boot-tests/configs/gicv3-no-waker.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-no-waker.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/linux-aarch64-smp2.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-linux.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 \
	  VM_CONFIGS=crates/qemu-boot-tests/configs/linux-fpcheck.toml BIN=$(TEST_IMAGES)/axvisor-aarch64-linux-fpcheck.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 FS=y \
	  VM_CONFIGS="configs/vms/arceos-aarch64-fs.toml crates/qemu-boot-tests/configs/fs-missing-kernel.toml crates/qemu-boot-tests/configs/fs-image-too-large.toml crates/qemu-boot-tests/configs/fs-reset-loop.toml" \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-fs.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 FS=y VM_CONFIGS= \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-fs-only.bin
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 DISK_VMS=$(STARRY_VM) \
	  DISK_EXTRA="target/guests/starry-aarch64.bin $(STARRY_ROOTFS)" DISK_IMG=$(TEST_IMAGES)/disk-starry-aarch64.img
	cp target/guests/starry-aarch64.bin $(STARRY_ROOTFS) $(TEST_IMAGES)/
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 BOOT=uboot LOG=info SMP=2 \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-fs-only.bin DISK_IMG=$(TEST_IMAGES)/disk-uboot.img
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 DISK_VMS= DISK_IMG=$(TEST_IMAGES)/disk-guests.img
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 DISK_VMS=configs/vms/linux-aarch64-smp2-fs.toml \
	  DISK_IMG=$(TEST_IMAGES)/disk-linux-vm.img
	rm -f $(TEST_IMAGES)/probe-disk.img && truncate -s 1M $(TEST_IMAGES)/probe-disk.img
	scripts/make-disk-img.sh $(TEST_IMAGES)/disk-blk-file.img --vm crates/qemu-boot-tests/configs/storage/blk-probe-file.toml \
	  --vm crates/qemu-boot-tests/configs/storage/blk-same-file.toml target/guests/probe-aarch64.bin $(TEST_IMAGES)/probe-disk.img
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 DISK_VMS=$(STORAGE_VM_aarch64) \
	  DISK_EXTRA="$(STORAGE_IMAGES_aarch64)" DISK_IMG=$(TEST_IMAGES)/disk-storage-aarch64.img
	$(MAKE) --no-print-directory $(NET_INITRD_aarch64)
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(NET_VMS_aarch64)" BIN=$(TEST_IMAGES)/axvisor-aarch64-net.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 \
	  VM_CONFIGS=$(NET_UPLINK_VM_aarch64) BIN=$(TEST_IMAGES)/axvisor-aarch64-net-uplink.bin
	$(MAKE) --no-print-directory $(SHELL_INITRD_aarch64)
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 API=y \
	  VM_CONFIGS="$(API_TEST_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-api.bin
	$(MAKE) --no-print-directory $(NET_INITRD_riscv64)
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(NET_VMS_riscv64)" BIN=$(TEST_IMAGES)/axvisor-riscv64-net.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=1 \
	  VM_CONFIGS=$(NET_UPLINK_VM_riscv64) BIN=$(TEST_IMAGES)/axvisor-riscv64-net-uplink.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 FS=y VM_CONFIGS= \
	  BIN=$(TEST_IMAGES)/axvisor-riscv64-fs-only.bin
	$(MAKE) --no-print-directory disk_img ARCH=riscv64 DISK_VMS=$(STORAGE_VM_riscv64) \
	  DISK_EXTRA="$(LINUX_IMAGES_riscv64) $(STORAGE_IMAGES_riscv64)" DISK_IMG=$(TEST_IMAGES)/disk-storage-riscv64.img
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 FS=y \
	  VM_CONFIGS=$(ARCEOS_FS_VM) BIN=$(TEST_IMAGES)/axvisor-aarch64-arceos-disk.bin
	$(MAKE) --no-print-directory disk_img ARCH=aarch64 DISK_VMS= DISK_EXTRA=$(ARCEOS_FS_DISK) \
	  DISK_IMG=$(TEST_IMAGES)/disk-arceos-fs.img
	cp target/guests/arceos-fs-aarch64.bin $(ARCEOS_FS_DISK) $(TEST_IMAGES)/
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS="$(VIRTIO_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-virtio.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS="$(VIRTIO_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-virtio.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS="$(VIRTIO_NET_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-virtio-net.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS="$(VIRTIO_NET_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-virtio-net.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=2 \
	  VM_CONFIGS="$(CHANNEL_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-channel.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=info SMP=2 \
	  VM_CONFIGS="$(CHANNEL_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-channel.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 \
	  VM_CONFIGS="$(CHANNEL_RISCV64_VMS)" BIN=$(TEST_IMAGES)/axvisor-riscv64-channel.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=info SMP=1 SHELL=y \
	  VM_CONFIGS="$(sort $(wildcard crates/qemu-boot-tests/configs/channel-shell/*.toml))" \
	  BIN=$(TEST_IMAGES)/axvisor-aarch64-channel-shell.bin
	cp target/guests/probe-aarch64.elf $(TEST_IMAGES)/
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(HOSTILE_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-hostile.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=warn SMP=2 \
	  VM_CONFIGS="$(HOSTILE_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-gicv3-hostile.bin
	scripts/fuzz-params.sh $(FUZZ_PARAMS) 1 10000
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(FUZZ_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-fuzz.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=1 \
	  VM_CONFIGS=configs/vms/arceos-riscv64.toml BIN=$(TEST_IMAGES)/axvisor-riscv64-arceos.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/linux-riscv64-smp2.toml BIN=$(TEST_IMAGES)/axvisor-riscv64-linux.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=1 \
	  VM_CONFIGS=crates/qemu-boot-tests/configs/fp-riscv64.toml BIN=$(TEST_IMAGES)/axvisor-riscv64-fp.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/probe-riscv64.toml BIN=$(TEST_IMAGES)/axvisor-riscv64-probe.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 \
	  VM_CONFIGS="configs/vms/arceos-riscv64.toml configs/vms/probe-isolation-riscv64.toml" \
	  BIN=$(TEST_IMAGES)/axvisor-riscv64-isolation.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=info SMP=2 \
	  VM_CONFIGS="$(HOSTILE_RISCV64_VMS)" BIN=$(TEST_IMAGES)/axvisor-riscv64-hostile.bin
	cp target/guests/probe-riscv64.elf $(TEST_IMAGES)/
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/arceos-x86_64.toml BIN=$(TEST_IMAGES)/axvisor-x86_64-arceos.elf32
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=info SMP=2 \
	  VM_CONFIGS="configs/vms/arceos-x86_64.toml crates/qemu-boot-tests/configs/x86-boot-info-high.toml" \
	  BIN=$(TEST_IMAGES)/axvisor-x86_64-bad-configs.elf32
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=info SMP=2 \
	  VM_CONFIGS=configs/vms/probe-x86_64.toml BIN=$(TEST_IMAGES)/axvisor-x86_64-probe.elf32
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=info SMP=2 \
	  VM_CONFIGS="configs/vms/arceos-x86_64.toml configs/vms/probe-isolation-x86_64.toml $(HOSTILE_X86_VMS)" \
	  BIN=$(TEST_IMAGES)/axvisor-x86_64-hostile.elf32
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=warn SMP=1 \
	  VM_CONFIGS=crates/qemu-boot-tests/configs/fp-x86_64.toml BIN=$(TEST_IMAGES)/axvisor-x86_64-fp.elf32
	cp target/guests/probe-x86_64.bin $(TEST_IMAGES)/
	$(QEMU_TEST_RUN)

# The probe guest's benchmarks: the hypervisor with logging at warn (no log
# line is on the exit path either way), then the same probe bare. Then the
# boot table: the ArceOS hello guest with 16 MiB / 128 MiB / 1 GiB of RAM
# (one hypervisor image each) at several host RAM sizes, each aarch64 run
# with the host device tree for its RAM size (scripts/host-dtb.py).
BOOT_GUESTS_aarch64 := 16:crates/probe-bench/configs/arceos-aarch64-16m.toml \
  128:configs/vms/arceos-aarch64.toml 1024:crates/probe-bench/configs/arceos-aarch64-1g.toml
BOOT_GUESTS_riscv64 := 16:crates/probe-bench/configs/arceos-riscv64-16m.toml \
  128:crates/probe-bench/configs/arceos-riscv64-128m.toml
BOOT_GUESTS_x86_64 := 16:crates/probe-bench/configs/arceos-x86_64-16m.toml \
  128:configs/vms/arceos-x86_64.toml 1024:crates/probe-bench/configs/arceos-x86_64-1g.toml
BOOT_HOST_MEMS := 256M 1G 2G 4G 8G
BIN_EXT := $(if $(filter x86_64,$(ARCH)),elf32,bin)
BOOT_ARGS = $(foreach g,$(BOOT_GUESTS_$(ARCH)),--boot-image $(word 1,$(subst :, ,$(g)))=$(BENCH_DIR)/axvisor-$(ARCH)-boot-$(word 1,$(subst :, ,$(g))).$(BIN_EXT)) \
  $(if $(filter aarch64,$(ARCH)),$(foreach m,$(BOOT_HOST_MEMS),--boot-dtb $(m)=$(BENCH_DIR)/host-aarch64-$(m).dtb) \
  --boot-bare target/guests/arceos-hello-aarch64.bin@0x40200000) \
  $(if $(filter x86_64,$(ARCH)),--boot-bare target/guests/arceos-hello-x86_64.elf32@0x200000)

# The Linux block benchmark (aarch64, issue 24): its initramfs, its VM
# (FS=y: the 64 MiB zeroed raw image is a file on the boot disk) and that
# image, also given bare to QEMU's own virtio-blk (crates/probe-bench/src/blk.rs).
BLKBENCH_INITRD := target/guests/linux-aarch64-blkbench-initramfs.cpio.gz
BLKBENCH_VM := crates/probe-bench/configs/linux-aarch64-blkbench.toml
BLKBENCH_IMG := $(BENCH_DIR)/blkbench-aarch64.img
$(BLKBENCH_INITRD): scripts/make-linux-rootfs.sh scripts/blkbench-init.sh $(LINUX_IMAGES_aarch64)
	scripts/make-linux-rootfs.sh target/guests aarch64 blkbench

bench: setup $(if $(filter aarch64,$(ARCH)),$(BLKBENCH_INITRD) $(NET_INITRD_aarch64))
	$(foreach g,$(BOOT_GUESTS_$(ARCH)),$(MAKE) --no-print-directory build ARCH=$(ARCH) LOG=warn SMP=1 \
	  VM_CONFIGS=$(word 2,$(subst :, ,$(g))) BIN=$(BENCH_DIR)/axvisor-$(ARCH)-boot-$(word 1,$(subst :, ,$(g))).$(BIN_EXT) &&) true
ifeq ($(ARCH),aarch64)
	$(foreach m,$(BOOT_HOST_MEMS),scripts/host-dtb.py $(BENCH_DIR)/host-aarch64-$(m).dtb \
	  --vm-config $(foreach g,$(BOOT_GUESTS_aarch64),$(word 2,$(subst :, ,$(g)))) -- $(QEMU) -m $(m) -smp 1 &&) true
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-bench-aarch64.toml BIN=$(BENCH_DIR)/axvisor-aarch64-probe-bench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-shared-aarch64.toml BIN=$(BENCH_DIR)/axvisor-aarch64-probe-shared.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS=configs/vms/linux-aarch64-smp2.toml BIN=$(BENCH_DIR)/axvisor-aarch64-linux-bench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 FS=y \
	  VM_CONFIGS=$(BLKBENCH_VM) BIN=$(BENCH_DIR)/axvisor-aarch64-blkbench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(NET_VMS_aarch64)" BIN=$(BENCH_DIR)/axvisor-aarch64-net-bench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(CHANNEL_BENCH_VMS)" BIN=$(BENCH_DIR)/axvisor-aarch64-channel-bench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS=configs/vms/probe-ipi-aarch64.toml BIN=$(BENCH_DIR)/axvisor-aarch64-probe-ipi.bin
	rm -f $(BLKBENCH_IMG) && truncate -s 64M $(BLKBENCH_IMG)
	scripts/make-disk-img.sh $(BENCH_DIR)/disk-blkbench-aarch64.img $(BLKBENCH_IMG)
	cargo run --quiet --release --locked -p probe-bench -- --arch aarch64 \
	  --hypervisor $(BENCH_DIR)/axvisor-aarch64-probe-bench.bin --bare target/guests/probe-aarch64.elf \
	  --shared-hypervisor $(BENCH_DIR)/axvisor-aarch64-probe-shared.bin \
	  --linux-hypervisor $(BENCH_DIR)/axvisor-aarch64-linux-bench.bin \
	  --linux-kernel target/guests/linux-aarch64.Image \
	  --linux-initrd target/guests/linux-aarch64-initramfs.cpio.gz \
	  --blk-hypervisor $(BENCH_DIR)/axvisor-aarch64-blkbench.bin --blk-boot-disk $(BENCH_DIR)/disk-blkbench-aarch64.img \
	  --blk-image $(BLKBENCH_IMG) --blk-kernel target/guests/linux-aarch64.Image --blk-initrd $(BLKBENCH_INITRD) \
	  --net-hypervisor $(BENCH_DIR)/axvisor-aarch64-net-bench.bin --net-bare-script scripts/net-bare-baseline.sh \
	  --channel-hypervisor $(BENCH_DIR)/axvisor-aarch64-channel-bench.bin \
	  --channel-baseline $(BENCH_DIR)/axvisor-aarch64-probe-ipi.bin \
	  $(BOOT_ARGS) --out $(BENCH_DIR)/aarch64.json
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-bench-aarch64.toml BIN=$(BENCH_DIR)/axvisor-aarch64-gicv3-probe-bench.bin
	$(MAKE) --no-print-directory build ARCH=aarch64 GIC=3 LOG=warn SMP=2 \
	  VM_CONFIGS=configs/vms/linux-aarch64-smp2.toml BIN=$(BENCH_DIR)/axvisor-aarch64-gicv3-linux-bench.bin
	scripts/host-dtb.py $(BENCH_DIR)/host-aarch64-gicv3-256M.dtb --vm-config configs/vms/probe-bench-aarch64.toml \
	  -- $(subst gic-version=$(GIC),gic-version=3,$(QEMU)) -m 256M -smp 1
	cargo run --quiet --release --locked -p probe-bench -- --arch aarch64-gicv3 \
	  --hypervisor $(BENCH_DIR)/axvisor-aarch64-gicv3-probe-bench.bin --bare target/guests/probe-aarch64.elf \
	  --boot-dtb 256M=$(BENCH_DIR)/host-aarch64-gicv3-256M.dtb \
	  --linux-hypervisor $(BENCH_DIR)/axvisor-aarch64-gicv3-linux-bench.bin \
	  --linux-kernel target/guests/linux-aarch64.Image \
	  --linux-initrd target/guests/linux-aarch64-initramfs.cpio.gz \
	  --out $(BENCH_DIR)/aarch64-gicv3.json
else ifeq ($(ARCH),riscv64)
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-bench-riscv64.toml BIN=$(BENCH_DIR)/axvisor-riscv64-probe-bench.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-shared-riscv64.toml BIN=$(BENCH_DIR)/axvisor-riscv64-probe-shared.bin
	$(MAKE) --no-print-directory build ARCH=riscv64 LOG=warn SMP=2 \
	  VM_CONFIGS=configs/vms/linux-riscv64-smp2.toml BIN=$(BENCH_DIR)/axvisor-riscv64-linux-bench.bin
	cargo run --quiet --release --locked -p probe-bench -- --arch riscv64 \
	  --hypervisor $(BENCH_DIR)/axvisor-riscv64-probe-bench.bin --bare target/guests/probe-riscv64.elf \
	  --shared-hypervisor $(BENCH_DIR)/axvisor-riscv64-probe-shared.bin \
	  --linux-hypervisor $(BENCH_DIR)/axvisor-riscv64-linux-bench.bin \
	  --linux-kernel target/guests/linux-riscv64.Image \
	  --linux-initrd target/guests/linux-riscv64-initramfs.cpio.gz \
	  $(BOOT_ARGS) --out $(BENCH_DIR)/riscv64.json
else
	$(MAKE) --no-print-directory build ARCH=x86_64 LOG=warn SMP=1 \
	  VM_CONFIGS=configs/vms/probe-bench-x86_64.toml BIN=$(BENCH_DIR)/axvisor-x86_64-probe-bench.elf32
	cargo run --quiet --release --locked -p probe-bench -- --arch x86_64 \
	  --hypervisor $(BENCH_DIR)/axvisor-x86_64-probe-bench.elf32 --bare target/guests/probe-x86_64.bin \
	  $(BOOT_ARGS) --out $(BENCH_DIR)/x86_64.json
endif
	scripts/bench-report.py $(BENCH_DIR)

# The shell soak: CYCLES times create, stop and delete a VM from the
# management shell; free host memory must be the same before and after
# (`make test` runs 5 cycles).
CYCLES ?= 100
# The shell's VMs: the probe's 30-second timer test (no power button) and
# the probe waiting for its power button.
SHELL_VMS := crates/qemu-boot-tests/configs/ptimer-cyclic.toml crates/qemu-boot-tests/configs/power-button.toml
soak: setup
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=1 SHELL=y \
	  VM_CONFIGS="$(SHELL_VMS)" BIN=$(TEST_IMAGES)/axvisor-aarch64-shell.bin
	AXVISOR_SOAK_CYCLES=$(CYCLES) AXVISOR_TEST_IMAGES=$(ROOT)/$(TEST_IMAGES) \
	  cargo test --locked -p qemu-boot-tests --test aarch64_shell soak -- --include-ignored --nocapture

# The fuzzer with SEED and OPS, beside the ArceOS guest; bounded by a timeout.
fuzz: setup
	scripts/fuzz-params.sh $(FUZZ_PARAMS) $(SEED) $(OPS)
	$(MAKE) --no-print-directory build ARCH=aarch64 LOG=warn SMP=2 \
	  VM_CONFIGS="$(FUZZ_VMS)" BIN=target/axvisor-aarch64-fuzz.bin
	scripts/run-fuzz.sh target/axvisor-aarch64-fuzz.bin $(OPS)

test: unit-test qemu-test

# `make test`'s QEMU tests once (which builds their images), then RUNS
# more times in a row while another build loads every CPU.
RUNS ?= 10
stress-test: qemu-test
	scripts/stress-test.sh $(RUNS) -- $(QEMU_TEST_RUN)

clean:
	cargo clean
	cargo clean --manifest-path guests/arceos-hello/Cargo.toml
	cargo clean --manifest-path guests/arceos-fs/Cargo.toml
	cargo clean --manifest-path guests/starry/Cargo.toml
	rm -f configs/platforms/*.generated.toml
