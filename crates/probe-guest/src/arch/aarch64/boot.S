// Entry points and exception vectors of the probe guest (EL1).
//
// The image starts with a table of entries, one per mode, so that a VM
// config picks the mode with its entry point (load address + 4 * mode):
//   +0 conformance suite, +4 benchmarks, +8 isolation fault, +12 fuzzer,
//   +16 FP/SIMD isolation, +20 + 4 * k hostile case k (k < 12), +68
//   physical-timer cyclic test, +72 two vCPUs on one CPU, +76 waiting for
//   the power button, +80 spinning two seconds without an exit, +84 + 4 * j
//   hostile case 12 + j, +156 a GICv3 guest that never writes GICR_WAKER
//   (mode 39), +160 to +176 the channel roles (modes 40 to 46).

.section .text.boot, "ax"
.global _start
_start:
.irp m, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46
    b       mode_entry_\m
.endr

.irp m, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46
mode_entry_\m:
    mrs     x20, cntvct_el0
    mov     x19, #\m
    b       primary_common
.endr

primary_common:
    ldr     x0, =__stack0_top
    mov     sp, x0
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  bl      install_vectors
    mov     x0, x19
    mov     x1, x20
    bl      probe_main
3:  wfe
    b       3b

// PSCI CPU_ON entry of the second CPU; x0 holds the context id.
.global secondary_entry
secondary_entry:
    ldr     x1, =__stack1_top
    mov     sp, x1
    mov     x19, x0
    bl      install_vectors
    mov     x0, x19
    bl      probe_secondary
4:  wfe
    b       4b

install_vectors:
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    ret

// Saves the caller-saved registers, calls a Rust handler, restores, erets.
.macro SAVE_AND_CALL handler
    sub     sp, sp, #(8 * 22)
    stp     x0, x1, [sp, #(8 * 0)]
    stp     x2, x3, [sp, #(8 * 2)]
    stp     x4, x5, [sp, #(8 * 4)]
    stp     x6, x7, [sp, #(8 * 6)]
    stp     x8, x9, [sp, #(8 * 8)]
    stp     x10, x11, [sp, #(8 * 10)]
    stp     x12, x13, [sp, #(8 * 12)]
    stp     x14, x15, [sp, #(8 * 14)]
    stp     x16, x17, [sp, #(8 * 16)]
    stp     x18, x29, [sp, #(8 * 18)]
    str     x30, [sp, #(8 * 20)]
    bl      \handler
    ldp     x0, x1, [sp, #(8 * 0)]
    ldp     x2, x3, [sp, #(8 * 2)]
    ldp     x4, x5, [sp, #(8 * 4)]
    ldp     x6, x7, [sp, #(8 * 6)]
    ldp     x8, x9, [sp, #(8 * 8)]
    ldp     x10, x11, [sp, #(8 * 10)]
    ldp     x12, x13, [sp, #(8 * 12)]
    ldp     x14, x15, [sp, #(8 * 14)]
    ldp     x16, x17, [sp, #(8 * 16)]
    ldp     x18, x29, [sp, #(8 * 18)]
    ldr     x30, [sp, #(8 * 20)]
    add     sp, sp, #(8 * 22)
    eret
.endm

.macro UNEXPECTED kind
.balign 0x80
    mov     x0, #\kind
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       unexpected_exception
.endm

.section .text.vectors, "ax"
.balign 0x800
exception_vectors:
    // Current EL with SP_EL0.
    UNEXPECTED 0
    UNEXPECTED 1
    UNEXPECTED 2
    UNEXPECTED 3
    // Current EL with SP_ELx: synchronous, IRQ, FIQ, SError.
.balign 0x80
sync_vector:
    SAVE_AND_CALL sync_exception
.balign 0x80
irq_vector:
    // The first instruction after the one that frees a register reads the
    // counter: the timer benchmark measures deadline -> here.
    str     x0, [sp, #-16]!
    mrs     x0, cntvct_el0
    str     x0, [sp, #8]
    b       irq_body
    UNEXPECTED 6
    UNEXPECTED 7
    // Lower EL (none: the probe has no EL0 code).
    UNEXPECTED 8
    UNEXPECTED 9
    UNEXPECTED 10
    UNEXPECTED 11
    UNEXPECTED 12
    UNEXPECTED 13
    UNEXPECTED 14
    UNEXPECTED 15

irq_body:
    ldr     x0, [sp, #8]
    str     x1, [sp, #8]
    ldr     x1, =IRQ_ENTRY_COUNTER
    str     x0, [x1]
    ldp     x0, x1, [sp], #16
    SAVE_AND_CALL irq_handler
