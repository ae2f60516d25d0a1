#!/usr/bin/env bash
# Boots a hypervisor image holding the fuzz VM and checks that it survived:
# every operation done, its virtio devices serving after a reset, the final
# unmapped read stopped only that VM, no panic, QEMU powered off by itself.
#   usage: run-fuzz.sh IMAGE OPS
set -euo pipefail
image=$1 ops=$2
log=${image%.bin}.log
# Some 10 to 35 s of wall time per 10,000 operations under TCG, plus boot
# (a loaded machine may take several times that).
limit=$((120 + ops / 200))
status=0
timeout "$limit" qemu-system-aarch64 -machine virt,virtualization=on,gic-version=2 -cpu cortex-a72 \
    -m 256M -smp 2 -nographic -nic none -kernel "$image" > "$log" 2>&1 || status=$?
fail() { echo "fuzz: FAILED: $*; log in $log"; echo "0 passed, 1 failed"; exit 1; }
[ "$status" -eq 0 ] || fail "QEMU exited with $status (124: the ${limit} s timeout)"
grep -q "panicked at" "$log" && fail "the hypervisor panicked"
grep -q "fuzz: $ops ops done" "$log" || fail "the fuzzer did not finish its $ops operations"
grep -q "not ok fuzz" "$log" && fail "$(grep -a -m1 'not ok fuzz' "$log")"
grep -q "fuzz: ok: virtio-blk after a reset" "$log" || fail "the virtio block device did not serve after the fuzzing"
grep -q "fuzz: ok: virtio-console after a reset" "$log" || fail "the virtio console did not serve after the fuzzing"
grep -q "VM\[2\] fuzz: stopped on a fault: VM\[2\] vCPU\[0\]: read of" "$log" || fail "the final unmapped read did not stop the fuzz VM"
grep -q "VM\[1\] arceos: powered off" "$log" || fail "the ArceOS guest beside it did not finish"
grep -q "all VMs stopped" "$log" || fail "the hypervisor did not report every VM stopped"
echo "fuzz: $ops operations survived ($(grep -a -o -m1 'fuzz: seed [0-9]*' "$log"))"
grep -a -o -m1 'fuzz: virtio: .*' "$log" || true
echo "1 passed, 0 failed"
