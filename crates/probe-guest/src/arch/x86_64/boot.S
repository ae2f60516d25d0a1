# Entry points of the probe guest on x86_64, its 32-bit to 64-bit start,
# the second CPU's real-mode trampoline and the interrupt stubs.
#
# The image is a Multiboot kernel (the a.out kludge: loaded raw at its
# link address, 0x200000). Its entries, one per mode, are 16 bytes apart
# from _start + 64, so a VM config picks the mode with its entry point;
# bare, QEMU enters mode 0 and a mailbox may say another. At each entry
# the CPU is in flat 32-bit protected mode with paging off.

# Paging with the probe's tables, EFER.LME, then CR0.PG: the CPU is in
# compatibility mode until a far jump loads a 64-bit code segment.
.macro long_mode_on
    mov     eax, cr4
    or      eax, 0x20
    mov     cr4, eax
    mov     eax, offset pml4
    mov     cr3, eax
    mov     ecx, 0xC0000080
    rdmsr
    or      eax, 0x100
    wrmsr
    mov     eax, cr0
    or      eax, 0x80000001
    mov     cr0, eax
.endm

.section .text.boot, "ax"
.code32
.global _start
_start:
    jmp     mode_entry_0

.balign 8
multiboot_header:
    .long   0x1BADB002
    .long   0x00010000
    .long   -(0x1BADB002 + 0x00010000)
    .long   multiboot_header
    .long   _start
    .long   __load_end
    .long   __bss_end
    .long   mode_entry_0

.balign 64
.irp m, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24
.balign 16
mode_entry_\m:
    mov     edi, \m
    jmp     primary32
.endr

primary32:
    rdtsc
    mov     esi, eax
    mov     ebp, edx
    # The page directories map the low 4 GiB with 2 MiB pages, user
    # accessible (the #AC case runs at CPL 3; no SMEP or SMAP is on).
    xor     ecx, ecx
    mov     eax, 0x87
1:  mov     dword ptr [page_dirs + 8 * ecx], eax
    mov     dword ptr [page_dirs + 8 * ecx + 4], 0
    add     eax, 0x200000
    inc     ecx
    cmp     ecx, 2048
    jb      1b
    lgdt    [gdt_pointer]
    long_mode_on
    # Far jump to 64-bit code (EA ptr16:32).
    .byte   0xEA
    .long   primary64
    .word   0x08

.code64
primary64:
    mov     ax, 0x10
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    xor     eax, eax
    mov     fs, ax
    mov     gs, ax
    mov     rsp, offset __stack0_top
    # Zero .bss.
    mov     rdx, rdi
    mov     rdi, offset __bss_start
    mov     rcx, offset __bss_end
    sub     rcx, rdi
    xor     eax, eax
    rep     stosb
    mov     rdi, rdx
    # probe_main(mode, first counter)
    shl     rbp, 32
    mov     eax, esi
    or      rbp, rax
    mov     rsi, rbp
    call    probe_main
2:  cli
    hlt
    jmp     2b

# The second CPU's start: a start-up IPI with vector 8 begins it in real
# mode at 0x8000, where the probe copies [ap_trampoline, ap_trampoline_end).
.code16
.global ap_trampoline
ap_trampoline:
    cli
    xor     ax, ax
    mov     ds, ax
    # lgdt [disp16]
    .byte   0x0F, 0x01, 0x16
    .word   0x8000 + (ap_gdt_pointer - ap_trampoline)
    mov     eax, cr0
    or      eax, 1
    mov     cr0, eax
    # Far jump to 32-bit code at its copy (66 EA ptr16:32).
    .byte   0x66, 0xEA
    .long   0x8000 + (ap_protected - ap_trampoline)
    .word   0x18
.code32
ap_protected:
    mov     ax, 0x10
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    long_mode_on
    .byte   0xEA
    .long   ap_long
    .word   0x08
.balign 4
ap_gdt_pointer:
    .word   gdt_end - gdt - 1
    .long   gdt
.global ap_trampoline_end
ap_trampoline_end:

.code64
ap_long:
    mov     ax, 0x10
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    mov     rsp, offset __stack1_top
    mov     rdi, qword ptr [AP_CONTEXT]
    call    probe_secondary
3:  cli
    hlt
    jmp     3b

# Interrupt stubs, 16 bytes apart: each pushes a 0 in place of an error
# code (for the vectors whose exception pushes none), then its vector.
.macro stub v, code=0
.balign 16
.if \code == 0
    # push imm8 0
    .byte   0x6A, 0x00
.endif
    # push imm32
    .byte   0x68
    .long   \v
    jmp     interrupt_common
.endm

.balign 16
.global interrupt_stubs
interrupt_stubs:
.irp v, 0,1,2,3,4,5,6,7
    stub \v
.endr
    stub 8, 1
    stub 9
.irp v, 10,11,12,13,14
    stub \v, 1
.endr
.irp v, 15,16
    stub \v
.endr
    stub 17, 1
.irp v, 18,19,20
    stub \v
.endr
    stub 21, 1
.irp v, 22,23,24,25,26,27,28
    stub \v
.endr
    stub 29, 1
    stub 30, 1
.set vector, 31
.rept 225
    stub vector
.set vector, vector + 1
.endr

# Saves the caller-saved registers, calls x86_trap(vector, frame) with
# frame pointing at the error code (or the 0 in its place), restores,
# drops vector and error code, returns. The counter is read at the third
# instruction after the stub: the timer benchmark measures deadline -> here.
interrupt_common:
    push    rax
    push    rdx
    rdtsc
    shl     rdx, 32
    or      rax, rdx
    mov     qword ptr [IRQ_ENTRY_COUNTER], rax
    push    rcx
    push    rsi
    push    rdi
    push    r8
    push    r9
    push    r10
    push    r11
    mov     rdi, qword ptr [rsp + 9 * 8]
    lea     rsi, [rsp + 10 * 8]
    sub     rsp, 8
    call    x86_trap
    add     rsp, 8
    pop     r11
    pop     r10
    pop     r9
    pop     r8
    pop     rdi
    pop     rsi
    pop     rcx
    pop     rdx
    pop     rax
    add     rsp, 16
    iretq

.section .data
.balign 8
# Kernel code64 0x08, data 0x10, code32 0x18; user (DPL 3) data 0x20 and
# code64 0x28; the 64-bit TSS at 0x30, filled in by the #AC case.
.global gdt
gdt:
    .quad   0
    .quad   0x00AF9A000000FFFF
    .quad   0x00CF92000000FFFF
    .quad   0x00CF9A000000FFFF
    .quad   0x00CFF2000000FFFF
    .quad   0x00AFFA000000FFFF
    .quad   0, 0
gdt_end:
gdt_pointer:
    .word   gdt_end - gdt - 1
    .quad   gdt

.balign 4096
pml4:
    .quad   pdpt + 7
    .fill   511, 8, 0
pdpt:
    .quad   page_dirs + 7
    .quad   page_dirs + 0x1000 + 7
    .quad   page_dirs + 0x2000 + 7
    .quad   page_dirs + 0x3000 + 7
    .fill   508, 8, 0
page_dirs:
    .fill   2048, 8, 0
