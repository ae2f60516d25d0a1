extern crate std;

use std::string::String;
use std::vec::Vec;

use crate::*;

mod pl011 {
    use super::*;

    const DR: usize = 0x000;
    const FR: usize = 0x018;
    const IMSC: usize = 0x038;
    const RIS: usize = 0x03c;
    const MIS: usize = 0x040;
    const ICR: usize = 0x044;

    #[test]
    fn writes_to_dr_are_transmitted_at_once() {
        let mut uart = Pl011::new();
        assert_eq!(uart.write(DR, 4, 0x141).tx, Some(0x41), "only the data byte");
        let (fr, _) = uart.read(FR, 4);
        assert_eq!(fr & (1 << 7), 1 << 7, "TXFE: the FIFO is empty");
        assert_eq!(fr & (1 << 5), 0, "TXFF: never full");
        assert_eq!(fr & (1 << 4), 1 << 4, "RXFE: nothing received");
    }

    #[test]
    fn a_backlog_feeds_a_long_input_as_the_guest_reads_it() {
        let mut uart = Pl011::new();
        uart.write(IMSC, 4, 1 << 4);
        let mut backlog = InputBacklog::new(64);
        let input: Vec<u8> = (0..70u8).collect();
        assert_eq!(backlog.push(&input), 64, "the backlog holds 64 bytes, the rest is refused");
        assert!(backlog.feed(&mut uart), "bytes in the FIFO raise RXIM");
        assert_eq!((uart.input_room(), backlog.len()), (0, 32), "the 32-byte FIFO is full, 32 wait");
        let mut read = Vec::new();
        while read.len() < 64 {
            let (fr, _) = uart.read(FR, 4);
            if fr & (1 << 4) != 0 {
                assert!(!backlog.is_empty(), "the FIFO ran dry with {} bytes read", read.len());
                backlog.feed(&mut uart);
                continue;
            }
            read.push(uart.read(DR, 4).0 as u8);
        }
        assert_eq!(read, input[..64], "every byte, in order, none lost at the FIFO's size");
        assert!(backlog.is_empty());
    }

    #[test]
    fn transmit_interrupt_follows_its_mask_and_icr() {
        let mut uart = Pl011::new();
        assert!(!uart.irq(), "masked after reset");
        assert!(uart.write(IMSC, 4, 1 << 5).irq, "TXIM on: the empty FIFO interrupts");
        assert_eq!(uart.read(MIS, 4).0, 1 << 5);
        assert!(!uart.write(ICR, 4, 1 << 5).irq, "cleared by ICR");
        assert_eq!(uart.read(RIS, 4).0 & (1 << 5), 0);
        assert!(uart.write(DR, 4, b'x'.into()).irq, "raised again once the byte has gone");
        assert!(!uart.write(IMSC, 4, 0).irq, "masked again");
    }

    #[test]
    fn input_is_read_in_order_and_interrupts_while_present() {
        let mut uart = Pl011::new();
        uart.write(IMSC, 4, 1 << 4);
        assert!(uart.push_input(b'a'));
        uart.push_input(b'b');
        assert_eq!(uart.read(FR, 4).0 & (1 << 4), 0, "RXFE clear");
        assert_eq!(uart.read(DR, 4).0, u64::from(b'a'));
        let (b, effect) = uart.read(DR, 4);
        assert_eq!(b, u64::from(b'b'));
        assert!(!effect.irq, "drained: no receive interrupt");
        for _ in 0..100 {
            uart.push_input(b'z');
        }
        let kept = (0..100).take_while(|_| uart.read(FR, 4).0 & (1 << 4) == 0 && uart.read(DR, 4).0 != 0).count();
        assert_eq!(kept, 32, "the FIFO holds 32 bytes");
    }

    #[test]
    fn identification_registers_say_pl011() {
        let mut uart = Pl011::new();
        let ids: Vec<u64> = (0..8).map(|i| uart.read(0xfe0 + 4 * i, 4).0).collect();
        assert_eq!(ids, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(uart.read(0xffe, 4).0, 0, "not a word of the ID block");
        assert_eq!(uart.read(0x800, 4).0, 0, "reserved");
    }

    #[test]
    fn configuration_registers_keep_what_is_written() {
        let mut uart = Pl011::new();
        for (offset, value) in [(0x024, 0x1a), (0x028, 0x3), (0x02c, 0x70), (0x030, 0x301), (0x034, 0x12)] {
            uart.write(offset, 4, value);
            assert_eq!(uart.read(offset, 4).0, value, "offset {offset:#x}");
        }
        uart.write(0x024, 4, 0xdead_beef);
        assert_eq!(uart.read(0x024, 4).0, 0xbeef, "IBRD is 16 bits");
    }
}

mod ns16550 {
    use super::*;

    const THR: usize = 0;
    const IER: usize = 1;
    const IIR: usize = 2;
    const LCR: usize = 3;
    const LSR: usize = 5;

    #[test]
    fn bytes_written_to_thr_go_out_and_lsr_says_empty() {
        let mut uart = Ns16550::new();
        assert_eq!(uart.write(THR, 1, 0x41).tx, Some(0x41));
        assert_eq!(uart.read(LSR, 1).0, 0x60, "THRE and TEMT, no data");
    }

    #[test]
    fn dlab_switches_the_first_two_registers_to_the_divisor() {
        let mut uart = Ns16550::new();
        uart.write(LCR, 1, 0x83);
        assert_eq!(uart.write(THR, 1, 0x01).tx, None, "DLL, not THR");
        uart.write(IER, 1, 0x00);
        assert_eq!(uart.read(THR, 1).0, 0x01);
        uart.write(LCR, 1, 0x03);
        assert_eq!(uart.write(THR, 1, b'x'.into()).tx, Some(b'x'));
    }

    #[test]
    fn transmitter_empty_interrupt_is_taken_by_reading_iir() {
        let mut uart = Ns16550::new();
        assert_eq!(uart.read(IIR, 1).0, 0x01, "nothing pending");
        assert!(uart.write(IER, 1, 0x02).irq, "enabling it with THR empty raises it");
        assert_eq!(uart.read(IIR, 1).0, 0x02);
        assert!(!uart.irq(), "reading IIR took it");
        assert!(uart.write(THR, 1, b'y'.into()).irq, "the next byte raises it again");
    }

    #[test]
    fn received_data_comes_first_and_is_read_from_rbr() {
        let mut uart = Ns16550::new();
        uart.write(IER, 1, 0x03);
        let _ = uart.read(IIR, 1);
        assert!(uart.push_input(b'q'));
        assert_eq!(uart.read(IIR, 1).0, 0x04, "data available outranks THRE");
        assert_eq!(uart.read(LSR, 1).0 & 1, 1);
        assert_eq!(uart.read(THR, 1).0, u64::from(b'q'));
        assert_eq!(uart.read(LSR, 1).0 & 1, 0);
    }
}

mod lines {
    use super::*;

    #[test]
    fn bytes_become_lines_without_their_ends() {
        let mut buf = LineBuffer::new();
        let out: Vec<String> = b"one\r\ntwo\nthr".iter().filter_map(|&b| buf.push(b)).collect();
        assert_eq!(out, ["one", "two"]);
        assert_eq!(buf.flush().as_deref(), Some("thr"));
        assert_eq!(buf.flush(), None);
    }

    #[test]
    fn a_long_line_is_passed_on_in_pieces() {
        let mut buf = LineBuffer::new();
        let out: Vec<String> = core::iter::repeat_n(b'x', 600).filter_map(|b| buf.push(b)).collect();
        assert_eq!(out.iter().map(String::len).collect::<Vec<_>>(), [256, 256]);
        assert_eq!(buf.flush().map(|s| s.len()), Some(88));
    }

    #[test]
    fn history_keeps_the_newest_lines_within_its_capacity() {
        let mut history = History::new(10);
        for line in ["aaaa", "bbbb", "cccc"] {
            history.push(line.into());
        }
        assert_eq!(history.lines().collect::<Vec<_>>(), ["bbbb", "cccc"]);
        history.push("0123456789ab".into());
        assert_eq!(history.lines().count(), 0, "a line longer than the capacity is not kept either");
    }

    #[test]
    fn history_numbers_lines_and_answers_from_a_number_on() {
        let mut history = History::new(10);
        fn since(h: &History, from: u64) -> (u64, Vec<&str>) {
            let (first, lines) = h.since(from);
            (first, lines.collect())
        }
        assert_eq!(since(&history, 0), (0, Vec::<&str>::new()));
        for line in ["aaaa", "bbbb", "cccc"] {
            history.push(line.into());
        }
        assert_eq!(history.next(), 3);
        assert_eq!(since(&history, 0), (1, std::vec!["bbbb", "cccc"]), "line 0 was dropped: the answer starts at 1");
        assert_eq!(since(&history, 2), (2, std::vec!["cccc"]));
        assert_eq!(since(&history, 3), (3, Vec::<&str>::new()), "nothing new");
        assert_eq!(since(&history, 99), (3, Vec::<&str>::new()), "a number from the future is the next line's");
        let mut restarted = History::new(10);
        restarted.push("dddd".into());
        restarted.continue_after(history);
        assert_eq!(restarted.next(), 4, "numbered on from the previous run");
        assert_eq!(since(&restarted, 3), (3, std::vec!["dddd"]));
        assert_eq!(restarted.lines().collect::<Vec<_>>(), ["cccc", "dddd"], "within the capacity");
    }
}

#[test]
fn rx_fifo_keeps_order_and_drops_what_overflows() {
    let mut fifo = RxFifo::<4>::default();
    assert_eq!(fifo.pop(), None);
    for b in 1..=6 {
        fifo.push(b);
    }
    assert_eq!((fifo.pop(), fifo.pop()), (Some(1), Some(2)));
    fifo.push(7);
    assert_eq!([fifo.pop(), fifo.pop(), fifo.pop(), fifo.pop()], [Some(3), Some(4), Some(7), None], "5 and 6 overflowed");
    fifo.push(8);
    fifo.clear();
    assert!(fifo.is_empty());
}
