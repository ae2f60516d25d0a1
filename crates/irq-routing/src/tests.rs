//! Host tests: ownership with VM id 0, release and re-enable reaching
//! only the owner's interrupts, and kicks for new queueings only.

use crate::{ClaimError, OwnerTable, PendingSet, Queued};

/// A table like the aarch64 one: SPIs 32 and up.
fn spis() -> OwnerTable<1020> {
    OwnerTable::new(32)
}

#[test]
fn vm_zero_is_an_owner_like_any_other() {
    let table = spis();
    assert_eq!(table.owner(33), None);
    table.claim(33, 0).unwrap();
    assert_eq!(table.owner(33), Some(0));
    assert!(table.owns(33, 0));
    assert_eq!(table.claim(33, 1), Err(ClaimError::Taken));
    assert!(!table.owns(34, 0), "an unowned interrupt is not VM 0's");
}

#[test]
fn release_of_vm_zero_touches_its_own_interrupts_only() {
    let table = spis();
    table.claim(33, 0).unwrap();
    table.claim(40, 7).unwrap();
    let mut released = [0usize; 4];
    let mut count = 0;
    table.release_all(0, |irq| {
        // Still VM 0's while the host unregisters it.
        assert!(table.owns(irq, 0));
        released[count] = irq;
        count += 1;
    });
    assert_eq!(
        &released[..count],
        &[33],
        "free interrupts and VM 7's are left alone"
    );
    assert_eq!(table.owner(33), None);
    assert_eq!(table.owner(40), Some(7));
}

#[test]
fn reset_reenables_only_what_the_vm_owns() {
    // A guest SYSTEM_RESET re-enables `owned_by(vm)`: for VM 0 that must
    // not be every free id (the host timer among them).
    let table = spis();
    assert_eq!(table.owned_by(0).count(), 0);
    table.claim(48, 0).unwrap();
    table.claim(49, 2).unwrap();
    assert!(table.owned_by(0).eq([48]));
    assert!(table.owned_by(2).eq([49]));
    assert_eq!(table.owned_by(usize::MAX).count(), 0);
}

#[test]
fn claims_outside_the_table_or_with_an_unrecordable_id_fail() {
    let table = spis();
    assert_eq!(table.claim(27, 1), Err(ClaimError::NotForwardable), "a PPI");
    assert_eq!(table.claim(1020, 1), Err(ClaimError::NotForwardable));
    assert_eq!(table.claim(33, usize::MAX), Err(ClaimError::BadVmId));
    assert_eq!(table.owner(usize::MAX), None);
}

#[test]
fn unclaim_needs_the_owner() {
    let table = spis();
    table.claim(35, 3).unwrap();
    assert!(!table.unclaim(35, 4));
    assert!(!table.unclaim(35, 0));
    assert_eq!(table.owner(35), Some(3));
    assert!(table.unclaim(35, 3));
    assert!(!table.unclaim(35, 3));
}

#[test]
fn another_vms_spi_is_never_the_writers() {
    // The rule the GIC paths apply: VM 2 setting SPI 33 pending (or
    // enabling, activating, completing it) while VM 1 owns it acts on its
    // virtual copy only; VM 1's own actions may reach the host.
    let table = spis();
    table.claim(33, 1).unwrap();
    assert!(!table.owns(33, 2));
    assert!(table.owns(33, 1));
    // Nobody owns SPI 34: no guest may touch it at the host.
    assert!((0..4).all(|vm| !table.owns(34, vm)));
}

#[test]
fn only_the_first_queueing_needs_a_kick() {
    let set = PendingSet::<6>::default();
    assert_eq!(set.insert(27), Some(Queued::New));
    assert!(set.insert(27).is_some_and(|q| !q.needs_kick()));
    assert_eq!(set.insert(27), Some(Queued::Already));
    assert_eq!(set.insert(300), Some(Queued::New));
    assert_eq!(set.insert(384), None, "out of range");
    assert!(set.contains(27) && set.contains(300));
    // Delivered: the next queueing is new again.
    let mut seen = [0usize; 2];
    let mut n = 0;
    set.drain(|v| {
        seen[n] = v;
        n += 1;
        true
    });
    assert_eq!(seen, [27, 300]);
    assert!(!set.any());
    assert!(set.insert(27).is_some_and(Queued::needs_kick));
}

#[test]
fn a_refused_vector_stays_queued_and_is_not_kicked_again() {
    let set = PendingSet::<6>::default();
    set.insert(33);
    set.insert(34);
    set.drain(|v| v != 33);
    assert!(set.contains(33) && !set.contains(34));
    assert_eq!(set.insert(33), Some(Queued::Already));
    set.remove(33);
    assert!(!set.any());
    set.insert(1);
    set.clear();
    assert!(!set.contains(1));
}
