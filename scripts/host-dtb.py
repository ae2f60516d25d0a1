#!/usr/bin/env python3
"""Write the device tree the hypervisor boots with under QEMU.

QEMU's generated tree for the machine (same options as the run, dumped with
`-machine dumpdtb=`), with every PCIe host bridge disabled that no VM config
needs: the hypervisor's runtime probes every enabled bridge at boot and
enumerates all its buses (about 27 M instructions on QEMU virt), though
nothing the hypervisor or its guests use sits behind it. A bridge stays
enabled when a VM config passes through a device inside its windows.

  host-dtb.py OUT.dtb --vm-config A.toml ... -- qemu-system-aarch64 -machine ... -m ... -smp ...
"""
import argparse
import pathlib
import subprocess
import sys
import tomllib

PCI_HOST = "pci-host-ecam-generic"


def fdtget(dtb: str, *args: str) -> str:
    return subprocess.run(["fdtget", dtb, *args], check=True, capture_output=True, text=True).stdout.strip()


def cells(dtb: str, node: str, prop: str) -> list[int]:
    try:
        return [int(c, 16) for c in fdtget(dtb, "-t", "x", node, prop).split()]
    except subprocess.CalledProcessError:
        return []


def windows(dtb: str, node: str) -> list[tuple[int, int]]:
    """The bridge's config space (`reg`) and CPU-side windows (`ranges`:
    3 child cells, 2 parent cells, 2 size cells per entry)."""
    out = []
    reg = cells(dtb, node, "reg")
    for i in range(0, len(reg) - 3, 4):
        out.append(((reg[i] << 32) | reg[i + 1], (reg[i + 2] << 32) | reg[i + 3]))
    ranges = cells(dtb, node, "ranges")
    for i in range(0, len(ranges) - 6, 7):
        out.append(((ranges[i + 3] << 32) | ranges[i + 4], (ranges[i + 5] << 32) | ranges[i + 6]))
    return out


def passthrough(configs: list[str]) -> list[tuple[str, str, int]]:
    devices = []
    for path in configs:
        try:
            config = tomllib.loads(pathlib.Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            sys.exit(f"host-dtb: {path}: {e}")
        for dev in config.get("devices", {}).get("passthrough_devices", []):
            if len(dev) >= 3 and isinstance(dev[2], int):
                devices.append((path, str(dev[0]), dev[2]))
    return devices


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.exit("host-dtb: no QEMU command line after --")
    split = argv.index("--")
    qemu = argv[split + 1:]
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--vm-config", nargs="*", default=[])
    args = parser.parse_args(argv[:split])
    subprocess.run([*qemu, "-nographic", "-machine", f"dumpdtb={args.out}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    devices = passthrough(args.vm_config)
    for name in fdtget(args.out, "-l", "/").split():
        node = f"/{name}"
        try:
            compatible = fdtget(args.out, node, "compatible")
        except subprocess.CalledProcessError:
            continue
        if PCI_HOST not in compatible.split():
            continue
        users = [(path, dev) for path, dev, hpa in devices
                 if any(base <= hpa < base + size for base, size in windows(args.out, node))]
        if users:
            path, dev = users[0]
            print(f"host-dtb: {node} kept: {path} passes through {dev}")
        else:
            subprocess.run(["fdtput", "-t", "s", args.out, node, "status", "disabled"], check=True)
            print(f"host-dtb: {node} disabled (no VM config uses a device behind it)")


if __name__ == "__main__":
    main()
