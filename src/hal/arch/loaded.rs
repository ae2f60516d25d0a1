//! Which vCPU's state a physical CPU holds. An architecture keeps a vCPU's
//! heavier state (system registers, timers, floating point, interrupt
//! state) in the CPU while it runs, and saves it out only when another vCPU
//! takes the CPU; this records whose it is.

/// The address of the vCPU whose state this CPU holds (0: none). Set by
/// [`load`] from the vCPU task pinned to this CPU; cleared by [`release`],
/// which that task runs before it stops using the vCPU; or replaced by
/// another vCPU's `load` on this CPU after saving it out.
#[percpu::def_percpu]
static LOADED: usize = 0;

fn address<V>(vcpu: &V) -> usize {
    vcpu as *const V as usize
}

/// Whether this CPU holds `vcpu`'s state.
#[inline]
pub fn holds<V>(vcpu: &V) -> bool {
    LOADED.read_current() == address(vcpu)
}

/// Makes this CPU hold `vcpu`'s state: the vCPU whose state it holds is
/// `save`d out first, then `vcpu`'s is `restore`d. `V` is the
/// architecture's one vCPU type.
#[inline]
pub fn load<V>(vcpu: &V, save: impl FnOnce(&V), restore: impl FnOnce(&V)) {
    let current = LOADED.read_current();
    if current == address(vcpu) {
        return;
    }
    // SAFETY: see `LOADED`: a non-zero address there is a vCPU of the one
    // vCPU type whose task is pinned to this CPU and has not yet passed its
    // `release`, so it still exists (that task holds its VM); that task is
    // not running now: we are, on this CPU.
    if let Some(previous) = unsafe { (current as *const V).as_ref() } {
        save(previous);
    }
    restore(vcpu);
    LOADED.write_current(address(vcpu));
}

/// If this CPU holds `vcpu`'s state, `save`s it out and leaves the CPU
/// holding nobody's.
pub fn release<V>(vcpu: &V, save: impl FnOnce(&V)) {
    if holds(vcpu) {
        save(vcpu);
        LOADED.write_current(0);
    }
}
