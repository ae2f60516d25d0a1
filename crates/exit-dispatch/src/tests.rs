//! Synthetic exits fed to [`handle`]: each test pins one decision.

extern crate std;

use core::cell::{Cell, RefCell};
use std::string::ToString;
use std::vec::Vec;

use crate::*;

const RAM: core::ops::Range<u64> = 0x4000_0000..0x4800_0000;
const DEVICE: u64 = 0x0900_0000;
const IRQCHIP: u64 = 0x0800_0000;
const SYSREG: u64 = 0x30_0000;
const PORT: u16 = 0x3f8;

/// A VM with `vcpus` vCPUs: vCPU 0 on, RAM at [`RAM`], one device at
/// [`DEVICE`] that reads 0xAB..., an interrupt controller at [`IRQCHIP`]
/// whose write of `v` raises IPI `v` to every vCPU.
struct MockVm {
    power: RefCell<Vec<CpuPower>>,
    started: RefCell<Vec<(usize, u64, u64)>>,
    queued: RefCell<Vec<(usize, usize)>>,
    accesses: RefCell<Vec<DeviceAccess>>,
    backed: RefCell<Vec<u64>>,
    rung: RefCell<Vec<u64>>,
    fail_device: Cell<bool>,
    fail_with: Cell<Option<DeviceError>>,
}

impl MockVm {
    fn new(vcpus: usize) -> Self {
        let mut power = std::vec![CpuPower::Off; vcpus];
        power[0] = CpuPower::On;
        Self {
            power: RefCell::new(power),
            started: RefCell::default(),
            queued: RefCell::default(),
            accesses: RefCell::default(),
            backed: RefCell::default(),
            rung: RefCell::default(),
            fail_device: Cell::new(false),
            fail_with: Cell::new(None),
        }
    }
}

impl GuestVm for MockVm {
    fn id(&self) -> usize {
        3
    }
    fn vcpu_count(&self) -> usize {
        self.power.borrow().len()
    }
    fn power(&self, vcpu: usize) -> Option<CpuPower> {
        self.power.borrow().get(vcpu).copied()
    }
    fn start_vcpu(&self, vcpu: usize, entry: u64, arg: u64) {
        self.power.borrow_mut()[vcpu] = CpuPower::OnPending;
        self.started.borrow_mut().push((vcpu, entry, arg));
    }
    fn is_ram(&self, gpa: u64) -> bool {
        RAM.contains(&gpa)
    }
    fn back_ram(&self, gpa: u64) -> bool {
        self.backed.borrow_mut().push(gpa);
        RAM.contains(&gpa)
    }
    fn queue_interrupt(&self, vcpu: usize, vector: usize) -> bool {
        self.queued.borrow_mut().push((vcpu, vector));
        vector < 1020
    }
    fn boots(&self) -> u64 {
        2
    }
    fn ring_doorbell(&self, channel: u64) -> Result<u64, CallError> {
        self.rung.borrow_mut().push(channel);
        if channel == 0 { Ok(1) } else { Err(CallError::InvalidParameters) }
    }
    fn channel_status(&self, channel: u64) -> Result<u64, CallError> {
        if channel == 0 { Ok(0x301) } else { Err(CallError::InvalidParameters) }
    }
    fn emulate(&self, _vcpu: usize, access: DeviceAccess) -> Emulated {
        self.accesses.borrow_mut().push(access);
        if let Some(error) = self.fail_with.get() {
            return Emulated::Failed(error);
        }
        if self.fail_device.get() {
            return Emulated::Failed(DeviceError::BadWidth);
        }
        match access {
            DeviceAccess::Mmio { addr: IRQCHIP, write: Some(v), .. } => {
                Emulated::WrittenIpi(Ipi { vector: v as usize, targets: u64::MAX })
            }
            DeviceAccess::Mmio { addr: DEVICE, write: None, .. } => Emulated::Read(0xABCD_EF01_8765_4321),
            DeviceAccess::Mmio { addr: DEVICE, write: Some(_), .. } => Emulated::Written,
            DeviceAccess::SysReg { id: SYSREG, write: None } => Emulated::Read(7),
            DeviceAccess::SysReg { id: SYSREG, write: Some(_) } => Emulated::Written,
            DeviceAccess::Port { port: PORT, write: None, .. } => Emulated::Read(0x41),
            DeviceAccess::Port { port: PORT, write: Some(_), .. } => Emulated::Written,
            _ => Emulated::NoDevice,
        }
    }
}

#[derive(Default)]
struct MockVcpu {
    gprs: RefCell<Vec<(usize, u64)>>,
    answers: RefCell<Vec<Answer>>,
    timer: Cell<Option<u64>>,
}

impl GuestVcpu for MockVcpu {
    fn set_gpr(&self, reg: usize, value: u64) {
        self.gprs.borrow_mut().push((reg, value));
    }
    fn answer(&self, answer: Answer) {
        self.answers.borrow_mut().push(answer);
    }
    fn set_timer(&self, deadline: u64) {
        self.timer.set(Some(deadline));
    }
}

fn run(vm: &MockVm, exit: Exit) -> (Action, MockVcpu) {
    let vcpu = MockVcpu::default();
    let action = handle(vm, 0, &vcpu, exit);
    (action, vcpu)
}

fn fault_of(action: Action) -> Fault {
    match action {
        Action::Stop(StopReason::Fault(fault)) => fault,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn call(vm: &MockVm, request: GuestRequest) -> (Action, Answer) {
    let (action, vcpu) = run(vm, Exit::Call(request));
    let answers = vcpu.answers.borrow();
    assert_eq!(answers.len(), 1, "a call is answered exactly once");
    (action, answers[0])
}

fn read(addr: u64, width: u8, signed: bool, reg_64: bool) -> Exit {
    Exit::MmioRead(MmioRead { addr, width, reg: 5, reg_64, signed })
}

// --- memory-mapped I/O ---

#[test]
fn unmapped_mmio_read_stops_the_vm_with_its_line() {
    let vm = MockVm::new(1);
    let fault = fault_of(run(&vm, read(0x3f00_0000, 4, false, true)).0);
    assert_eq!(fault.kind, FaultKind::Unmapped { access: Access::Read, width: Some(4), addr: 0x3f00_0000 });
    assert_eq!(
        fault.to_string(),
        "VM[3] vCPU[0]: read of 4 bytes at unmapped guest-physical address 0x3f000000"
    );
}

#[test]
fn unmapped_mmio_write_stops_the_vm_and_writes_nothing() {
    let vm = MockVm::new(1);
    let (action, vcpu) = run(&vm, Exit::MmioWrite { addr: 0xdead_0000, width: 8, value: 1 });
    assert_eq!(
        fault_of(action).to_string(),
        "VM[3] vCPU[0]: write of 8 bytes at unmapped guest-physical address 0xdead0000"
    );
    assert!(vcpu.gprs.borrow().is_empty());
}

#[test]
fn emulated_read_lands_in_the_named_register_truncated_to_its_width() {
    let vm = MockVm::new(1);
    let (action, vcpu) = run(&vm, read(DEVICE, 2, false, true));
    assert_eq!(action, Action::Continue);
    assert_eq!(*vcpu.gprs.borrow(), [(5, 0x4321)]);
}

#[test]
fn signed_byte_read_is_sign_extended() {
    let vm = MockVm::new(1);
    let (_, vcpu) = run(&vm, read(DEVICE, 1, true, true));
    // 0x21 has its top bit clear: no extension.
    assert_eq!(*vcpu.gprs.borrow(), [(5, 0x21)]);
    let (_, vcpu) = run(&vm, read(DEVICE, 4, true, true));
    // 0x8765_4321 has its top bit set.
    assert_eq!(*vcpu.gprs.borrow(), [(5, 0xffff_ffff_8765_4321)]);
}

#[test]
fn signed_read_into_a_32_bit_register_clears_the_upper_half() {
    let vm = MockVm::new(1);
    let (_, vcpu) = run(&vm, read(DEVICE, 2, true, false));
    assert_eq!(*vcpu.gprs.borrow(), [(5, 0x4321)]);
    let (_, vcpu) = run(&vm, read(DEVICE, 8, false, false));
    assert_eq!(*vcpu.gprs.borrow(), [(5, 0x8765_4321)]);
}

#[test]
fn device_that_refuses_an_access_stops_the_vm_naming_it() {
    let vm = MockVm::new(1);
    vm.fail_device.set(true);
    let fault = fault_of(run(&vm, Exit::MmioWrite { addr: DEVICE, width: 1, value: 0 }).0);
    assert_eq!(fault.kind, FaultKind::Device { access: Access::Write, addr: DEVICE, error: DeviceError::BadWidth });
    assert!(fault.to_string().contains("emulated device write at guest-physical address 0x9000000 failed"));
}

#[test]
fn irqchip_write_that_raises_an_sgi_queues_it_for_existing_vcpus_only() {
    let vm = MockVm::new(3);
    let (action, _) = run(&vm, Exit::MmioWrite { addr: IRQCHIP, width: 4, value: 9 });
    assert_eq!(action, Action::Continue);
    assert_eq!(*vm.queued.borrow(), [(0, 9), (1, 9), (2, 9)]);
}

// --- page faults and traps ---

#[test]
fn first_touch_of_ram_backs_it_and_retries_the_access() {
    let vm = MockVm::new(1);
    for access in [Access::Read, Access::Write, Access::Execute] {
        let (action, vcpu) = run(&vm, Exit::RamMiss { addr: 0x4012_3456, access });
        assert_eq!(action, Action::Continue);
        assert!(vcpu.gprs.borrow().is_empty() && vcpu.answers.borrow().is_empty(), "the access is retried, not emulated");
    }
    assert_eq!(*vm.backed.borrow(), [0x4012_3456; 3]);
    assert!(vm.accesses.borrow().is_empty(), "no device sees a RAM access");
}

#[test]
fn ram_that_cannot_be_backed_stops_the_vm_naming_the_address() {
    let vm = MockVm::new(1);
    let fault = fault_of(run(&vm, Exit::RamMiss { addr: 0x5000_0000, access: Access::Write }).0);
    assert_eq!(fault.to_string(), "VM[3] vCPU[0]: write at guest-physical address 0x50000000: its RAM could not be mapped");
}

#[test]
fn fetch_from_unmapped_memory_stops_the_vm() {
    let vm = MockVm::new(1);
    let fault = fault_of(run(&vm, Exit::PageFault { addr: 0x1_0000_0000, access: Access::Execute }).0);
    assert_eq!(
        fault.to_string(),
        "VM[3] vCPU[0]: instruction fetch at unmapped guest-physical address 0x100000000"
    );
}

#[test]
fn unhandled_trap_stops_the_vm_naming_it_and_its_registers() {
    let vm = MockVm::new(1);
    let trap = Trap { what: "SError", names: &["ESR", "FAR", "", "pc"], values: [0xbe00_0000, 0, 7, 0x4020_0010] };
    let fault = fault_of(run(&vm, Exit::Unhandled(trap)).0);
    assert_eq!(fault.to_string(), "VM[3] vCPU[0]: SError (ESR 0xbe000000, FAR 0x0, pc 0x40200010)");
    let bare = Trap { what: "unknown exit", names: Trap::NO_NAMES, values: [1, 2, 3, 4] };
    assert_eq!(fault_of(run(&vm, Exit::Unhandled(bare)).0).to_string(), "VM[3] vCPU[0]: unknown exit");
}

#[test]
fn halt_waits_for_an_interrupt() {
    assert_eq!(run(&MockVm::new(1), Exit::Halt).0, Action::WaitForInterrupt);
}

#[test]
fn a_spin_wait_hint_yields_without_touching_the_vcpu() {
    let (action, vcpu) = run(&MockVm::new(1), Exit::Yield);
    assert_eq!(action, Action::Yield);
    assert!(vcpu.gprs.borrow().is_empty() && vcpu.answers.borrow().is_empty());
}

#[test]
fn nothing_continues_without_touching_the_vcpu() {
    let (action, vcpu) = run(&MockVm::new(1), Exit::Nothing);
    assert_eq!(action, Action::Continue);
    assert!(vcpu.gprs.borrow().is_empty() && vcpu.answers.borrow().is_empty());
}

#[test]
fn host_interrupt_goes_to_the_host() {
    assert_eq!(run(&MockVm::new(1), Exit::HostInterrupt { vector: 30 }).0, Action::HostInterrupt(30));
}

#[test]
fn interrupt_storm_neither_queues_nor_grows_anything() {
    let vm = MockVm::new(2);
    let vcpu = MockVcpu::default();
    for vector in 0..100_000 {
        assert_eq!(handle(&vm, 1, &vcpu, Exit::HostInterrupt { vector: vector % 1024 }), Action::HostInterrupt(vector % 1024));
    }
    assert!(vm.queued.borrow().is_empty() && vcpu.gprs.borrow().is_empty());
}

// --- system registers and ports ---

#[test]
fn unemulated_system_register_reads_as_zero() {
    let (action, vcpu) = run(&MockVm::new(1), Exit::SysRegRead { id: 0x1234, reg: 3 });
    assert_eq!(action, Action::Continue);
    assert_eq!(*vcpu.gprs.borrow(), [(3, 0)]);
}

#[test]
fn emulated_system_register_read_and_write() {
    let vm = MockVm::new(1);
    let (_, vcpu) = run(&vm, Exit::SysRegRead { id: SYSREG, reg: 2 });
    assert_eq!(*vcpu.gprs.borrow(), [(2, 7)]);
    assert_eq!(run(&vm, Exit::SysRegWrite { id: SYSREG, value: 1 }).0, Action::Continue);
    assert_eq!(vm.accesses.borrow()[1], DeviceAccess::SysReg { id: SYSREG, write: Some(1) });
}

#[test]
fn unemulated_port_reads_as_all_ones_of_its_width() {
    let vm = MockVm::new(1);
    let (_, vcpu) = run(&vm, Exit::PortRead { port: 0x80, width: 1, reg: 0 });
    assert_eq!(*vcpu.gprs.borrow(), [(0, 0xff)]);
    let (_, vcpu) = run(&vm, Exit::PortRead { port: 0x80, width: 4, reg: 0 });
    assert_eq!(*vcpu.gprs.borrow(), [(0, 0xffff_ffff)]);
    let (_, vcpu) = run(&vm, Exit::PortRead { port: PORT, width: 1, reg: 0 });
    assert_eq!(*vcpu.gprs.borrow(), [(0, 0x41)]);
}

#[test]
fn output_to_an_unemulated_port_is_ignored() {
    assert_eq!(run(&MockVm::new(1), Exit::PortWrite { port: 0x80, width: 1, value: 1 }).0, Action::Continue);
}

// --- guest calls ---

#[test]
fn unknown_hypercall_answered_not_supported() {
    let (action, answer) = call(&MockVm::new(1), GuestRequest::Fail(CallError::NotSupported));
    assert_eq!(action, Action::Continue);
    assert_eq!(answer, Answer::Error(CallError::NotSupported));
}

#[test]
fn value_call_is_answered_with_its_value() {
    assert_eq!(call(&MockVm::new(1), GuestRequest::Return(42)).1, Answer::Value(42));
}

#[test]
fn cpu_on_starts_an_off_vcpu_at_its_entry() {
    let vm = MockVm::new(2);
    let (_, answer) = call(&vm, GuestRequest::CpuOn { target: Some(1), entry: RAM.start + 0x80, arg: 7 });
    assert_eq!(answer, Answer::Value(0));
    assert_eq!(*vm.started.borrow(), [(1, RAM.start + 0x80, 7)]);
}

#[test]
fn cpu_on_to_a_missing_vcpu_is_invalid_parameters() {
    let vm = MockVm::new(2);
    for target in [None, Some(2), Some(usize::MAX)] {
        let (_, answer) = call(&vm, GuestRequest::CpuOn { target, entry: RAM.start, arg: 0 });
        assert_eq!(answer, Answer::Error(CallError::InvalidParameters));
    }
    assert!(vm.started.borrow().is_empty());
}

#[test]
fn cpu_on_to_a_running_vcpu_is_already_on() {
    let vm = MockVm::new(2);
    let (_, answer) = call(&vm, GuestRequest::CpuOn { target: Some(0), entry: RAM.start, arg: 0 });
    assert_eq!(answer, Answer::Error(CallError::AlreadyOn));
    assert!(vm.started.borrow().is_empty());
}

#[test]
fn second_cpu_on_before_the_vcpu_runs_is_on_pending() {
    let vm = MockVm::new(2);
    call(&vm, GuestRequest::CpuOn { target: Some(1), entry: RAM.start, arg: 0 });
    let (_, answer) = call(&vm, GuestRequest::CpuOn { target: Some(1), entry: RAM.start, arg: 0 });
    assert_eq!(answer, Answer::Error(CallError::OnPending));
    assert_eq!(vm.started.borrow().len(), 1);
}

#[test]
fn cpu_on_with_an_entry_outside_guest_ram_is_invalid_address() {
    let vm = MockVm::new(2);
    for entry in [0, RAM.end, u64::MAX, DEVICE] {
        let (_, answer) = call(&vm, GuestRequest::CpuOn { target: Some(1), entry, arg: 0 });
        assert_eq!(answer, Answer::Error(CallError::InvalidAddress), "entry {entry:#x}");
    }
    assert!(vm.started.borrow().is_empty());
}

#[test]
fn cpu_status_reports_each_vcpu_and_rejects_missing_ones() {
    let vm = MockVm::new(2);
    assert_eq!(call(&vm, GuestRequest::CpuStatus { target: Some(0) }).1, Answer::Status(CpuPower::On));
    assert_eq!(call(&vm, GuestRequest::CpuStatus { target: Some(1) }).1, Answer::Status(CpuPower::Off));
    vm.power.borrow_mut()[1] = CpuPower::Suspended;
    assert_eq!(call(&vm, GuestRequest::CpuStatus { target: Some(1) }).1, Answer::Status(CpuPower::Suspended));
    let (_, answer) = call(&vm, GuestRequest::CpuOn { target: Some(1), entry: 0x4020_0000, arg: 0 });
    assert_eq!(answer, Answer::Error(CallError::AlreadyOn), "a suspended vCPU is on");
    assert_eq!(
        call(&vm, GuestRequest::CpuStatus { target: Some(9) }).1,
        Answer::Error(CallError::InvalidParameters)
    );
    assert_eq!(call(&vm, GuestRequest::CpuStatus { target: None }).1, Answer::Error(CallError::InvalidParameters));
}

#[test]
fn cpu_off_turns_the_caller_off_without_an_answer() {
    let (action, vcpu) = run(&MockVm::new(2), Exit::Call(GuestRequest::CpuOff));
    assert_eq!(action, Action::CpuOff);
    assert!(vcpu.answers.borrow().is_empty());
}

#[test]
fn system_off_and_reset_stop_the_vm() {
    let vm = MockVm::new(1);
    assert_eq!(run(&vm, Exit::Call(GuestRequest::SystemOff)).0, Action::Stop(StopReason::PowerOff));
    assert_eq!(run(&vm, Exit::Call(GuestRequest::SystemReset)).0, Action::Stop(StopReason::Reset));
}

#[test]
fn boot_count_is_answered_from_the_vm() {
    assert_eq!(call(&MockVm::new(1), GuestRequest::BootCount).1, Answer::Value(2));
}

#[test]
fn set_timer_programs_the_vcpu_and_succeeds() {
    let (_, vcpu) = run(&MockVm::new(1), Exit::Call(GuestRequest::SetTimer(123_456)));
    assert_eq!(vcpu.timer.get(), Some(123_456));
    assert_eq!(*vcpu.answers.borrow(), [Answer::Value(0)]);
}

// --- inter-processor interrupts ---

#[test]
fn ipi_call_reaches_each_named_vcpu_and_succeeds() {
    let vm = MockVm::new(4);
    let (_, answer) = call(&vm, GuestRequest::SendIpi(Ipi { vector: 1, targets: 0b1010 }));
    assert_eq!(answer, Answer::Value(0));
    assert_eq!(*vm.queued.borrow(), [(1, 1), (3, 1)]);
}

#[test]
fn ipi_to_vcpus_the_vm_lacks_is_dropped_without_harm() {
    let vm = MockVm::new(2);
    let (action, _) = run(&vm, Exit::SendIpi(Ipi { vector: 3, targets: u64::MAX }));
    assert_eq!(action, Action::Continue);
    assert_eq!(*vm.queued.borrow(), [(0, 3), (1, 3)]);
}

#[test]
fn ipi_storm_queues_once_per_target_per_ipi() {
    let vm = MockVm::new(2);
    for _ in 0..10_000 {
        assert_eq!(run(&vm, Exit::SendIpi(Ipi { vector: 5, targets: 0b10 })).0, Action::Continue);
    }
    let queued = vm.queued.borrow();
    assert_eq!(queued.len(), 10_000);
    assert!(queued.iter().all(|&q| q == (1, 5)));
}

#[test]
fn ipi_with_a_vector_the_vm_refuses_does_not_stop_it() {
    let vm = MockVm::new(2);
    let (action, _) = run(&vm, Exit::SendIpi(Ipi { vector: 5000, targets: 0b11 }));
    assert_eq!(action, Action::Continue);
}

#[test]
fn retentive_suspend_answers_success_and_waits() {
    let vm = MockVm::new(1);
    let (action, vcpu) = run(&vm, Exit::Call(GuestRequest::Suspend { resume: None }));
    assert_eq!(action, Action::Suspend { resume: None });
    assert_eq!(*vcpu.answers.borrow(), [Answer::Value(0)], "the call returns success when the vCPU wakes");
}

#[test]
fn non_retentive_suspend_resumes_in_ram_only() {
    let vm = MockVm::new(1);
    let (action, vcpu) = run(&vm, Exit::Call(GuestRequest::Suspend { resume: Some((0x4020_0000, 9)) }));
    assert_eq!(action, Action::Suspend { resume: Some((0x4020_0000, 9)) });
    assert!(vcpu.answers.borrow().is_empty(), "a non-retentive suspend does not return");
    let (action, answer) = call(&vm, GuestRequest::Suspend { resume: Some((0x1000, 9)) });
    assert_eq!((action, answer), (Action::Continue, Answer::Error(CallError::InvalidAddress)));
}

// --- shared-memory channels ---

#[test]
fn a_doorbell_is_rung_and_answered_with_the_vms_value() {
    let vm = MockVm::new(1);
    assert_eq!(call(&vm, GuestRequest::Doorbell { channel: 0 }), (Action::Continue, Answer::Value(1)));
    assert_eq!(*vm.rung.borrow(), [0]);
}

#[test]
fn a_doorbell_on_no_channel_is_an_error_and_the_vm_goes_on() {
    let vm = MockVm::new(1);
    for channel in [7, u64::MAX] {
        assert_eq!(
            call(&vm, GuestRequest::Doorbell { channel }),
            (Action::Continue, Answer::Error(CallError::InvalidParameters))
        );
    }
}

#[test]
fn channel_status_answers_the_vms_value_or_its_error() {
    let vm = MockVm::new(1);
    assert_eq!(call(&vm, GuestRequest::ChannelStatus { channel: 0 }).1, Answer::Value(0x301));
    assert_eq!(call(&vm, GuestRequest::ChannelStatus { channel: 1 }).1, Answer::Error(CallError::InvalidParameters));
}

#[test]
fn a_store_the_vm_may_not_make_stops_it_named_read_only() {
    let vm = MockVm::new(1);
    vm.fail_with.set(Some(DeviceError::ReadOnly));
    let fault = fault_of(run(&vm, Exit::MmioWrite { addr: DEVICE, width: 4, value: 1 }).0);
    assert_eq!(
        fault.to_string(),
        "VM[3] vCPU[0]: emulated device write at guest-physical address 0x9000000 failed: a write to a read-only region"
    );
}
