use super::*;
use offset::*;

const S0: usize = 1; // hart 0's supervisor context
const S1: usize = 3;

fn enable(plic: &mut Plic, context: usize, source: usize) {
    let word = ENABLE + 0x80 * context + 4 * (source / 32);
    let old = plic.read(word);
    plic.write(word, old | (1 << (source % 32)));
}

#[test]
fn claim_takes_the_highest_priority_enabled_source() {
    let mut p = Plic::new(2);
    p.write(PRIORITY + 4 * 10, 2);
    p.write(PRIORITY + 4 * 11, 5);
    enable(&mut p, S0, 10);
    enable(&mut p, S0, 11);
    assert!(!p.line(0));
    p.raise(10);
    p.raise(11);
    assert!(p.line(0));
    assert!(!p.line(1), "hart 1 has nothing enabled");
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 11);
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 10);
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 0, "nothing left");
    assert!(!p.line(0));
    assert_eq!(p.write(CONTEXT + 0x1000 * S0 + 4, 11), Effect::Completed(11));
    assert_eq!(p.write(CONTEXT + 0x1000 * S0 + 4, 11), Effect::None, "completing twice does nothing");
}

#[test]
fn threshold_and_zero_priority_hold_sources_back() {
    let mut p = Plic::new(1);
    enable(&mut p, S0, 10);
    p.raise(10);
    assert!(!p.line(0), "priority 0 never interrupts");
    p.write(PRIORITY + 4 * 10, 3);
    assert!(p.line(0));
    p.write(CONTEXT + 0x1000 * S0, 3);
    assert!(!p.line(0), "priority must exceed the threshold");
    assert_eq!(p.read(CONTEXT + 0x1000 * S0), 3);
    p.write(CONTEXT + 0x1000 * S0, 2);
    assert!(p.line(0));
}

#[test]
fn pending_is_visible_and_read_only() {
    let mut p = Plic::new(1);
    p.raise(33);
    assert_eq!(p.read(PENDING + 4), 1 << 1);
    p.write(PENDING + 4, 0);
    assert_eq!(p.read(PENDING + 4), 1 << 1);
    assert!(!p.raise(0) && !p.raise(SOURCES));
}

#[test]
fn registers_store_what_the_spec_allows() {
    let mut p = Plic::new(2);
    p.write(PRIORITY + 4 * 7, 0xff);
    assert_eq!(p.read(PRIORITY + 4 * 7), 7, "3 priority bits");
    p.write(PRIORITY, 5);
    assert_eq!(p.read(PRIORITY), 0, "source 0 does not exist");
    p.write(ENABLE + 0x80 * S1, 0xffff_ffff);
    assert_eq!(p.read(ENABLE + 0x80 * S1), 0xffff_fffe, "source 0 cannot be enabled");
}

#[test]
fn undefined_accesses_are_harmless() {
    let mut p = Plic::new(1);
    for offset in [2, PENDING + 0x100, ENABLE + 0x80 * S0 + 0x10, CONTEXT + 0x1000 * S0 + 8, CONTEXT + 0x1000 * 5, usize::MAX - 3] {
        assert_eq!(p.read(offset), 0, "offset {offset:#x}");
        assert_eq!(p.write(offset, u32::MAX), Effect::None);
    }
    assert_eq!(p.read(CONTEXT + 0x1000 * 2 + 4), 0, "context of a hart the VM does not have");
}

#[test]
fn equal_priorities_go_to_the_lowest_source() {
    let mut p = Plic::new(1);
    for source in [40, 9, 70] {
        p.write(PRIORITY + 4 * source, 4);
        enable(&mut p, S0, source);
        p.raise(source);
    }
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 9);
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 40);
    assert_eq!(p.read(CONTEXT + 0x1000 * S0 + 4), 70);
}
