//! Latency distributions: the probe's `NAME_hist tT=COUNT ...` lines (count
//! of samples per latency in counter ticks) under the hypervisor and bare,
//! in instructions, for the report's histograms.

use std::fmt::Write as _;

use crate::{Samples, json_number, json_string};

/// The probe's latency benchmarks that print a distribution.
const DISTRIBUTIONS: [(&str, &str); 3] = [
    (
        "timer_latency",
        "timer deadline -> guest handler (64 deadlines)",
    ),
    (
        "ptimer_latency",
        "EL1 physical timer 1 kHz x 30,000: deadline -> handler",
    ),
    (
        "timer_latency_shared",
        "timer deadline -> handler, CPU shared with a spinner (64 deadlines)",
    ),
];

/// One run's distribution: `(instructions, samples)` by latency, samples
/// the guest could not place (too many distinct values), and the worst.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(latency in instructions, samples)`, by latency.
    pub buckets: Vec<(f64, u64)>,
    /// Samples beyond the guest's distinct values (their latencies lost).
    pub other: u64,
    /// The worst latency (the summary line's `max`), in instructions.
    pub max: f64,
}

/// A latency benchmark's distribution under the hypervisor and bare.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// Benchmark name (its figure's key).
    pub name: &'static str,
    /// What is measured.
    pub description: &'static str,
    /// Under the hypervisor.
    pub hypervisor: Histogram,
    /// Bare.
    pub bare: Histogram,
}

impl Samples {
    /// The `{name}_hist` histogram of a run, in instructions at `hz`.
    fn histogram(&self, name: &str, hz: f64) -> Option<Histogram> {
        let fields = self.values.get(&format!("{name}_hist"))?;
        let insns = |ticks: u64| ticks as f64 * 1e9 / hz;
        let mut buckets: Vec<(f64, u64)> = fields
            .iter()
            .filter_map(|(key, &count)| Some((insns(key.strip_prefix('t')?.parse().ok()?), count)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let max = self.values.get(name)?.get("max").map_or(0.0, |&m| insns(m));
        Some(Histogram {
            buckets,
            other: fields.get("other").copied().unwrap_or(0),
            max,
        })
    }
}

/// The distributions both runs printed.
pub fn distributions(hv: &Samples, bare: &Samples) -> Vec<Distribution> {
    let hz = |s: &Samples| {
        s.values
            .get("counter_hz")
            .and_then(|f| f.get("value"))
            .map(|&v| v as f64)
            .filter(|&v| v > 0.0)
    };
    let (Some(hv_hz), Some(bare_hz)) = (hz(hv), hz(bare)) else {
        return Vec::new();
    };
    DISTRIBUTIONS
        .iter()
        .filter_map(|&(name, description)| {
            Some(Distribution {
                name,
                description,
                hypervisor: hv.histogram(name, hv_hz)?,
                bare: bare.histogram(name, bare_hz)?,
            })
        })
        .collect()
}

fn histogram_json(h: &Histogram) -> String {
    let buckets: Vec<String> = h
        .buckets
        .iter()
        .map(|&(insns, count)| format!("[{}, {count}]", json_number(Some(insns))))
        .collect();
    format!(
        "{{\"buckets\": [{}], \"other\": {}, \"max\": {}}}",
        buckets.join(", "),
        h.other,
        json_number(Some(h.max))
    )
}

/// The distributions as the body of a JSON object (`"name": {...}` lines).
pub fn distributions_json(distributions: &[Distribution]) -> String {
    let mut out = String::new();
    for (i, d) in distributions.iter().enumerate() {
        let _ = write!(
            out,
            "    {}: {{\"description\": {}, \"unit\": \"instructions\", \"hypervisor\": {}, \"bare\": {}}}",
            json_string(d.name),
            json_string(d.description),
            histogram_json(&d.hypervisor),
            histogram_json(&d.bare),
        );
        out += if i + 1 < distributions.len() {
            ",\n"
        } else {
            "\n"
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HV: &str = "bench name=counter_hz value=62500000\n\
        bench name=timer_latency iters=64 ticks=2848 min=40 max=76\n\
        bench name=timer_latency_hist t44=60 t40=1\n\
        [1 probe] bench name=timer_latency_hist t76=3 other=0\n\
        bench done\n";
    const BARE: &str = "bench name=counter_hz value=62500000\n\
        bench name=timer_latency iters=64 ticks=0 min=0 max=0\n\
        bench name=timer_latency_hist t0=64\n\
        bench done\n";

    #[test]
    fn histogram_lines_merge_into_instructions() {
        let hv = Samples::parse("hypervisor", HV).expect("parses");
        let bare = Samples::parse("bare", BARE).expect("parses");
        let dists = distributions(&hv, &bare);
        assert_eq!(dists.len(), 1);
        let d = &dists[0];
        assert_eq!(d.name, "timer_latency");
        // 16 instructions per tick at 62.5 MHz, sorted by latency.
        assert_eq!(
            d.hypervisor.buckets,
            vec![(640.0, 1), (704.0, 60), (1216.0, 3)]
        );
        assert_eq!(d.hypervisor.max, 1216.0);
        assert_eq!(d.bare.buckets, vec![(0.0, 64)]);
        let text = distributions_json(&dists);
        assert!(text.contains("\"hypervisor\": {\"buckets\": [[640, 1], [704, 60], [1216, 3]], \"other\": 0, \"max\": 1216}"));
    }

    #[test]
    fn a_run_without_histograms_has_no_distribution() {
        let hv = Samples::parse("hypervisor", HV).expect("parses");
        let bare = Samples::parse(
            "bare",
            &BARE.replace("bench name=timer_latency_hist t0=64\n", ""),
        )
        .expect("parses");
        assert!(distributions(&hv, &bare).is_empty());
    }
}
