//! The shared-memory channel benchmark (issue 25): two probe VMs on two
//! CPUs share channel "bench" (configs/vms/channel-ping-aarch64.toml and
//! channel-pong-aarch64.toml). The pinger times, in its own VM, the null
//! hypercall, a self-IPI through the trapped distributor (one exit plus
//! one interrupt injection, write -> its handler) and the channel round
//! trip: its doorbell -> the ponger's handler, which rings back -> the
//! pinger's handler. Target: a round trip within twice the exit plus
//! injection (each leg is one doorbell call and one injection into the
//! other VM, on the other CPU). Both guests wait in WFI, so each leg also
//! wakes a vCPU asleep on the other CPU; the baseline for that is the
//! probe's IPI ping-pong (mode 18) between two vCPUs of one VM on two CPUs
//! (configs/vms/probe-ipi-aarch64.toml), shown as a round trip beside it.
//! The pinger also reports the first leg alone (the counter is the same
//! on both CPUs).

use crate::{BenchError, Figure, Samples, TargetOf, Timed};

/// The figures of the pinger's run, and of the IPI baseline run if given.
pub fn channel_figures(run: &Samples, baseline: Option<&Samples>) -> Result<Vec<Figure>, BenchError> {
    let timed = Timed::new(run)?;
    let exit_injection = timed.per_iter("self_ipi")?;
    let insn = "instructions";
    let ipi_round_trip = match baseline {
        Some(samples) => Some(2.0 * Timed::new(samples)?.per_iter("vcpu_switch")?),
        None => None,
    };
    Ok(vec![
        Figure {
            name: "channel_null_hypercall",
            description: "channel VM: null hypercall",
            unit: insn,
            hypervisor: Some(timed.per_iter("null_hypercall")?),
            bare: None,
            target: None,
        },
        Figure {
            name: "channel_exit_injection",
            description: "channel VM: exit + injection (self-IPI)",
            unit: insn,
            hypervisor: Some(exit_injection),
            bare: None,
            target: None,
        },
        Figure {
            name: "channel_round_trip",
            description: "channel round trip (doorbell, 2 CPUs)",
            unit: insn,
            hypervisor: Some(timed.per_iter("channel_round_trip")?),
            bare: None,
            target: Some((2.0 * exit_injection, TargetOf::Hypervisor)),
        },
        Figure {
            name: "channel_one_way",
            description: "channel: doorbell -> peer's handler (first leg)",
            unit: insn,
            hypervisor: timed.optional("channel_one_way")?,
            bare: None,
            target: None,
        },
        Figure {
            name: "ipi_round_trip_2cpu",
            description: "IPI round trip, two vCPUs of one VM on 2 CPUs (WFI)",
            unit: insn,
            hypervisor: ipi_round_trip,
            bare: None,
            target: None,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "[1 channel-ping] bench name=counter_hz value=62500000\n\
        [1 channel-ping] bench name=null_hypercall iters=1000 ticks=13688\n\
        [1 channel-ping] bench name=self_ipi iters=1000 ticks=56437\n\
        [1 channel-ping] bench name=channel_round_trip iters=1000 ticks=171742\n\
        [1 channel-ping] bench done\n\
        [2 channel-pong] channel ponger: answered 2001 doorbells\n";

    #[test]
    fn ticks_become_instructions_and_the_target_is_twice_the_exit_and_injection() {
        let figures = channel_figures(&Samples::parse("channel", RUN).unwrap(), None).unwrap();
        let close = |v: Option<f64>, e: f64| (v.unwrap() - e).abs() < 1e-6 * e;
        // 62.5 MHz counter, one instruction per ns: 16 instructions a tick.
        assert!(close(figures[0].hypervisor, 13688.0 * 16.0 / 1000.0));
        assert!(close(figures[1].hypervisor, 56437.0 * 16.0 / 1000.0));
        let round_trip = &figures[2];
        assert!(close(round_trip.hypervisor, 171742.0 * 16.0 / 1000.0));
        assert_eq!(round_trip.target.map(|(limit, _)| limit.round()), Some((2.0 * 56437.0 * 16.0 / 1000.0f64).round()));
        assert_eq!(round_trip.meets_target(), Some(false));
        assert_eq!((figures[3].hypervisor, figures[4].hypervisor), (None, None), "no one-way line, no baseline run");
    }

    #[test]
    fn the_baseline_is_two_vcpu_switches_and_the_first_leg_is_read_when_printed() {
        let run = RUN.replace("bench done", "bench name=channel_one_way iters=1000 ticks=83875\n[1 channel-ping] bench done");
        let baseline = "bench name=counter_hz value=62500000\nbench name=vcpu_switch iters=1000 ticks=74486\nbench done\n";
        let figures =
            channel_figures(&Samples::parse("channel", &run).unwrap(), Some(&Samples::parse("ipi", baseline).unwrap())).unwrap();
        let close = |v: Option<f64>, e: f64| (v.unwrap() - e).abs() < 1e-6 * e;
        assert!(close(figures[3].hypervisor, 83875.0 * 16.0 / 1000.0));
        assert!(close(figures[4].hypervisor, 2.0 * 74486.0 * 16.0 / 1000.0));
    }

    #[test]
    fn a_run_without_the_round_trip_is_refused() {
        let partial = RUN.replace("name=channel_round_trip iters=1000 ticks=171742", "name=channel_round_trip error=no-answer");
        assert!(channel_figures(&Samples::parse("channel", &partial).unwrap(), None).is_err());
        assert!(Samples::parse("channel", &RUN.replace("bench done", "")).is_err());
    }
}
