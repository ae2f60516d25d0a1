# Entry points and the trap vector of the probe guest (S-mode / VS-mode).
#
# The image starts with a table of entries, one per mode, so that a VM
# config picks the mode with its entry point (load address + 4 * mode):
#   +0 conformance suite, +4 benchmarks, +8 isolation fault, +16
#   floating-point isolation, +20 + 4k hostile case k, +72 two vCPUs on one
#   CPU, +160 to +184 the shared-memory channel's roles (modes 40 to 46;
#   the other modes say they do not exist here).
# a0 = hart id, a1 = device tree (or 0) on entry.

.section .text.boot, "ax"
.option push
.option norvc
.global _start
_start:
.irp m, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46
    j       mode_entry_\m
.endr
.option pop

.irp m, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46
mode_entry_\m:
    rdtime  s1
    li      s0, \m
    j       primary_common
.endr

primary_common:
    mv      s2, a0
    la      sp, __stack0_top
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
    # The firmware may boot any hart (OpenSBI draws one): remember which.
2:  la      t0, BOOT_HART
    sd      s2, 0(t0)
    la      t0, trap_vector
    csrw    stvec, t0
    mv      a0, s0
    mv      a1, s1
    call    probe_main
3:  wfi
    j       3b

# SBI HSM hart_start entry of the second hart; a1 holds the opaque value.
.global secondary_entry
secondary_entry:
    la      sp, __stack1_top
    la      t0, trap_vector
    csrw    stvec, t0
    mv      a0, a1
    call    probe_secondary
4:  wfi
    j       4b

# Saves the caller-saved registers, calls trap_handler(scause, sepc, stval),
# restores, returns. The counter is read at the third instruction: the
# timer benchmark measures deadline -> here.
.balign 4
trap_vector:
    addi    sp, sp, -8 * 18
    sd      t0, 8 * 0(sp)
    rdtime  t0
    sd      t1, 8 * 1(sp)
    la      t1, IRQ_ENTRY_COUNTER
    sd      t0, 0(t1)
    sd      t2, 8 * 2(sp)
    sd      ra, 8 * 3(sp)
    sd      a0, 8 * 4(sp)
    sd      a1, 8 * 5(sp)
    sd      a2, 8 * 6(sp)
    sd      a3, 8 * 7(sp)
    sd      a4, 8 * 8(sp)
    sd      a5, 8 * 9(sp)
    sd      a6, 8 * 10(sp)
    sd      a7, 8 * 11(sp)
    sd      t3, 8 * 12(sp)
    sd      t4, 8 * 13(sp)
    sd      t5, 8 * 14(sp)
    sd      t6, 8 * 15(sp)
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    call    trap_handler
    ld      t0, 8 * 0(sp)
    ld      t1, 8 * 1(sp)
    ld      t2, 8 * 2(sp)
    ld      ra, 8 * 3(sp)
    ld      a0, 8 * 4(sp)
    ld      a1, 8 * 5(sp)
    ld      a2, 8 * 6(sp)
    ld      a3, 8 * 7(sp)
    ld      a4, 8 * 8(sp)
    ld      a5, 8 * 9(sp)
    ld      a6, 8 * 10(sp)
    ld      a7, 8 * 11(sp)
    ld      t3, 8 * 12(sp)
    ld      t4, 8 * 13(sp)
    ld      t5, 8 * 14(sp)
    ld      t6, 8 * 15(sp)
    addi    sp, sp, 8 * 18
    sret
