#!/usr/bin/env python3
"""Draw `make bench`'s figures: SVG charts and an HTML page beside them.

Reads the JSON files `probe-bench` wrote (BENCH_DIR/<arch>.json, whichever
architectures have been run) and writes into OUT_DIR (default BENCH_DIR):

  boot-host-ram.svg      reset -> ArceOS guest's hello line against host RAM
  boot-guest-ram.svg     the same against guest RAM (on a 2 GiB host)
  exit-path.svg          null hypercall, emulated MMIO read and timer latency
                         per architecture, beside the guide's targets
  latency-<name>-<arch>.svg  a timer-latency histogram under the hypervisor
                         and bare, with the worst case marked (timer: 64
                         deadlines; ptimer: aarch64's 30,000 physical-timer
                         ticks; timer-shared: beside a spinning vCPU)
  report.html            all of them, with where each figure came from

Every value drawn is read from the JSON; only the targets are constants.
Python 3 standard library only; the SVG is written by hand.

  bench-report.py BENCH_DIR [OUT_DIR]
"""
import datetime
import html
import json
import math
import pathlib
import re
import sys

ARCHES = ["aarch64", "riscv64", "x86_64"]
COLORS = {"aarch64": "#1f77b4", "riscv64": "#d62728", "x86_64": "#2ca02c", "aarch64-gicv3": "#9467bd"}
HV_COLOR, BARE_COLOR, TARGET_COLOR = "#1f77b4", "#ff7f0e", "#444444"

# The guide's exit-path targets on aarch64 (instructions); riscv64 and
# x86_64 are to be within EXIT_RATIO of aarch64's measured figures.
EXIT_TARGETS = {"null_hypercall": 150, "mmio_read": 200, "timer_latency": 500}
EXIT_RATIO = 1.3
EXIT_LABELS = {"null_hypercall": "null hypercall", "mmio_read": "emulated MMIO read", "timer_latency": "timer latency (mean)"}
# The boot target (crates/probe-bench/src/boot.rs): 5 M at 256 MiB host /
# 128 MiB guest RAM, 1 M more per extra GiB of either.
BOOT_TARGET, PER_GIB_TARGET = 5e6, 1e6

W, H = 880, 420
LEFT, RIGHT, TOP, BOTTOM = 90, 250, 50, 60


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def fmt(v: float) -> str:
    """A figure for a label: 19.8 M, 45 k, 1,216, 6.3."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f} M"
    if a >= 1e4:
        return f"{v / 1e3:.0f} k"
    if a >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.1f}"


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


class Chart:
    """One plot area with linear (or log2 x) axes, drawn as SVG elements."""

    def __init__(self, title: str, xlabel: str, ylabel: str, x_range, y_range, log2_x=False, x_ticks=None, x_tick_labels=None,
                 log10_y=False):
        self.parts = []
        self.legend = []
        self.log2_x = log2_x
        self.log10_y = log10_y
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.pw, self.ph = W - LEFT - RIGHT, H - TOP - BOTTOM
        self.parts.append(f'<rect width="{W}" height="{H}" fill="white"/>')
        self.parts.append(f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{esc(title)}</text>')
        if log10_y:
            yt = [10 ** e for e in range(0, math.ceil(math.log10(self.y1)) + 1)]
        else:
            yt = nice_ticks(self.y0, self.y1)
        self.y1 = max(self.y1, yt[-1])
        for t in yt:
            y = self.sy(t)
            self.parts.append(f'<line x1="{LEFT}" x2="{LEFT + self.pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            self.parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">{esc(fmt(t))}</text>')
        xt = x_ticks if x_ticks is not None else nice_ticks(self.x0, self.x1)
        if x_ticks is None:
            self.x1 = max(self.x1, xt[-1])
        labels = x_tick_labels or [fmt(t) for t in xt]
        for t, label in zip(xt, labels):
            x = self.sx(t)
            self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + self.ph}" y2="{TOP + self.ph + 5}" stroke="black"/>')
            self.parts.append(f'<text x="{x:.1f}" y="{TOP + self.ph + 19}" text-anchor="middle" font-size="12">{esc(label)}</text>')
        self.parts.append(f'<line x1="{LEFT}" x2="{LEFT + self.pw}" y1="{TOP + self.ph}" y2="{TOP + self.ph}" stroke="black"/>')
        self.parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + self.ph}" stroke="black"/>')
        self.parts.append(f'<text x="{LEFT + self.pw / 2}" y="{H - 14}" text-anchor="middle" font-size="13">{esc(xlabel)}</text>')
        self.parts.append(
            f'<text x="20" y="{TOP + self.ph / 2}" text-anchor="middle" font-size="13" '
            f'transform="rotate(-90 20 {TOP + self.ph / 2})">{esc(ylabel)}</text>'
        )

    def sx(self, v: float) -> float:
        if self.log2_x:
            lo, hi, v = math.log2(self.x0), math.log2(self.x1), math.log2(v)
        else:
            lo, hi = self.x0, self.x1
        return LEFT + (v - lo) / (hi - lo) * self.pw

    def sy(self, v: float) -> float:
        if self.log10_y:
            lo, hi = math.log10(self.y0), math.log10(self.y1)
            return TOP + self.ph - (math.log10(max(v, self.y0)) - lo) / (hi - lo) * self.ph
        return TOP + self.ph - (v - self.y0) / (self.y1 - self.y0) * self.ph

    def add(self, svg: str):
        self.parts.append(svg)

    def key(self, label: str, color: str, dash: str = "", bar=False):
        self.legend.append((label, color, dash, bar))

    def note(self, text: str, line: int = 0):
        """A remark under the legend (missing data, what a marker means)."""
        y = TOP + 22 * (len(self.legend) + 1) + 16 * line + 10
        self.parts.append(f'<text x="{LEFT + self.pw + 14}" y="{y}" font-size="11" fill="#555">{esc(text)}</text>')

    def sources(self, runs: dict, arches):
        """Which JSON files the chart was drawn from, and when they were written."""
        files = [f"{runs[a]['_file']} {runs[a]['_time']}" for a in arches if a in runs]
        for i, text in enumerate(reversed(["measured by make bench:"] + files)):
            self.parts.append(f'<text x="{LEFT + self.pw + 14}" y="{H - 12 - 14 * i}" font-size="10" fill="#777">{esc(text)}</text>')

    def svg(self) -> str:
        out = list(self.parts)
        lx = LEFT + self.pw + 14
        for i, (label, color, dash, bar) in enumerate(self.legend):
            y = TOP + 10 + 22 * i
            if bar:
                out.append(f'<rect x="{lx}" y="{y - 6}" width="22" height="12" fill="{color}" fill-opacity="0.75"/>')
            else:
                out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}"/>')
            out.append(f'<text x="{lx + 28}" y="{y + 4}" font-size="12">{esc(label)}</text>')
        body = "\n".join(out)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n{body}\n</svg>\n'
        )


def load(bench_dir: pathlib.Path) -> dict:
    runs = {}
    for arch in ARCHES + ["aarch64-gicv3"]:
        path = bench_dir / f"{arch}.json"
        if path.exists():
            data = json.loads(path.read_text())
            data["_file"] = path.name
            data["_time"] = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            runs[arch] = data
    return runs


def hv(run: dict, name: str):
    fig = run.get("figures", {}).get(name)
    return None if fig is None else fig.get("hypervisor")


BOOT_NAME = re.compile(r"^boot_host(\d+)([mg])_guest(\d+)([mg])$")


def boot_points(run: dict) -> list[tuple[int, int, float]]:
    """(host MiB, guest MiB, instructions) of each boot run."""
    out = []
    for name, fig in run.get("figures", {}).items():
        m = BOOT_NAME.match(name)
        if m and fig.get("hypervisor") is not None:
            mib = lambda n, u: int(n) * (1024 if u == "g" else 1)
            out.append((mib(m[1], m[2]), mib(m[3], m[4]), fig["hypervisor"]))
    return sorted(out)


def polyline(chart: Chart, points, color: str, dash: str = "", marks=True) -> str:
    xy = " ".join(f"{chart.sx(x):.1f},{chart.sy(y):.1f}" for x, y in points)
    out = f'<polyline points="{xy}" fill="none" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}"/>'
    if marks:
        for x, y in points:
            out += f'<circle cx="{chart.sx(x):.1f}" cy="{chart.sy(y):.1f}" r="4" fill="{color}"><title>{esc(fmt(y))}</title></circle>'
    return out


def boot_chart(runs: dict, vary: str) -> str:
    """Boot cost against host RAM (guest 128 MiB) or guest RAM (host 2 GiB)."""
    series = {}
    for arch in ARCHES:
        if arch not in runs:
            continue
        pts = boot_points(runs[arch])
        if vary == "host":
            sel = [(h, t) for h, g, t in pts if g == 128]
        else:
            sel = [(g, t) for h, g, t in pts if h == 2048]
        if sel:
            series[arch] = sorted(sel)
    if vary == "host":
        title, xlabel = "Boot: reset -> guest's hello line, against host RAM", "host RAM (MiB), guest 128 MiB"
        x_range, log2, ticks = (0, 8192), False, [0, 1024, 2048, 4096, 6144, 8192]
        target = [(256, BOOT_TARGET), (8192, BOOT_TARGET + PER_GIB_TARGET * (8192 - 256) / 1024)]
    else:
        title, xlabel = "Boot: reset -> guest's hello line, against guest RAM", "guest RAM (MiB, log scale), host 2 GiB"
        x_range, log2, ticks = (16, 1024), True, [16, 32, 64, 128, 256, 512, 1024]
        target = None
    ymax = max([t for s in series.values() for _, t in s] + [BOOT_TARGET * 2])
    chart = Chart(title, xlabel, "instructions", x_range, (0, ymax * 1.08), log2_x=log2, x_ticks=ticks)
    for arch, pts in series.items():
        chart.add(polyline(chart, pts, COLORS[arch]))
        chart.key(f"{arch} (hypervisor)", COLORS[arch])
    if target:
        chart.add(polyline(chart, target, TARGET_COLOR, dash="6 4", marks=False))
        chart.key("target: 5 M + 1 M/GiB", TARGET_COLOR, dash="6 4")
    else:
        base = [(16, BOOT_TARGET), (1024, BOOT_TARGET + PER_GIB_TARGET * (1024 - 16) / 1024)]
        chart.add(polyline(chart, base, TARGET_COLOR, dash="6 4", marks=False))
        chart.key("target: 5 M + 1 M/GiB", TARGET_COLOR, dash="6 4")
    lines = 0
    for arch in ARCHES:
        if arch not in series:
            why = "no run" if arch not in runs else "no such boot runs"
            chart.note(f"{arch}: {why}", lines)
            lines += 1
    bare = {a: runs[a]["figures"].get("boot_host256m_guest128m", {}).get("bare") for a in series}
    for arch, b in bare.items():
        if b:
            chart.note(f"{arch} guest bare: {fmt(b)}", lines)
            lines += 1
    chart.sources(runs, ARCHES)
    return chart.svg()


def exit_chart(runs: dict) -> str:
    names = list(EXIT_TARGETS)
    base = runs.get("aarch64")
    values = {(a, n): (hv(runs[a], n) if a in runs else None) for a in ARCHES for n in names}

    def target(arch, name):
        if arch == "aarch64":
            return EXIT_TARGETS[name], f"<= {EXIT_TARGETS[name]}"
        ref = values[("aarch64", name)]
        if ref is None:
            return None, ""
        return EXIT_RATIO * ref, "<= 1.3 x aarch64"

    ymax = max([v for v in values.values() if v is not None] + [t for t in EXIT_TARGETS.values()])
    ymax = max(ymax, max((EXIT_RATIO * v for (a, n), v in values.items() if a == "aarch64" and v is not None), default=0))
    chart = Chart("Exit path per architecture, beside its targets", "", "instructions (under the hypervisor)",
                  (0, len(names)), (0, ymax * 1.12), x_ticks=[i + 0.5 for i in range(len(names))],
                  x_tick_labels=[EXIT_LABELS[n] for n in names])
    group = chart.pw / len(names)
    bar = group * 0.8 / len(ARCHES)
    for gi, name in enumerate(names):
        for ai, arch in enumerate(ARCHES):
            x = LEFT + gi * group + group * 0.1 + ai * bar
            v = values[(arch, name)]
            if v is None:
                why = "no run" if arch not in runs else "n/a"
                chart.add(f'<text x="{x + bar / 2:.1f}" y="{chart.sy(0) - 6:.1f}" text-anchor="start" font-size="10" fill="#888" '
                          f'transform="rotate(-90 {x + bar / 2:.1f} {chart.sy(0) - 6:.1f})">{esc(arch)}: {why}</text>')
                continue
            y = chart.sy(v)
            chart.add(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar - 4:.1f}" height="{chart.sy(0) - y:.1f}" '
                      f'fill="{COLORS[arch]}" fill-opacity="0.8"><title>{esc(arch)} {esc(name)}: {esc(fmt(v))}</title></rect>')
            chart.add(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10">{esc(fmt(v))}</text>')
            t, label = target(arch, name)
            if t is not None:
                ty = chart.sy(t)
                met = v <= t
                chart.add(f'<line x1="{x:.1f}" x2="{x + bar:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{TARGET_COLOR}" '
                          f'stroke-width="2.5" stroke-dasharray="5 3"><title>target {esc(label)} = {esc(fmt(t))}: '
                          f'{"met" if met else "missed"}</title></line>')
                chart.add(f'<text x="{x + bar / 2:.1f}" y="{ty - 3:.1f}" text-anchor="middle" font-size="9" fill="{TARGET_COLOR}">'
                          f'{"met" if met else "missed"}</text>' if abs(ty - y) > 14 else "")
    for arch in ARCHES:
        chart.key(arch, COLORS[arch], bar=True)
    chart.key("target", TARGET_COLOR, dash="5 3")
    notes = ["targets:", "aarch64: 150 / 200 / 500 (guide)", "riscv64, x86_64: 1.3 x", "  aarch64's measured figure"]
    if base is None:
        notes.append("no aarch64 run: no target")
        notes.append("  for the others")
    for arch in ARCHES:
        if arch not in runs:
            notes.append(f"{arch}: no run")
    for i, text in enumerate(notes):
        chart.note(text, i)
    chart.sources(runs, ARCHES)
    return chart.svg()


def histogram_chart(runs: dict, arch: str, name: str, dist: dict) -> str:
    hv_h, bare_h = dist["hypervisor"], dist["bare"]
    values = [v for v, _ in hv_h["buckets"]] + [v for v, _ in bare_h["buckets"]] + [hv_h["max"], bare_h["max"]]
    counts = [c for _, c in hv_h["buckets"]] + [c for _, c in bare_h["buckets"]]
    xmax = max(values + [1]) * 1.08
    ymax = max(counts + [1]) * 1.5
    chart = Chart(f"{arch}: {dist['description']}", "latency, deadline -> guest handler (instructions)", "samples (log scale)",
                  (0, xmax), (0.7, ymax), log10_y=True)
    # Each value gets a pair of bars, bare left of it and hypervisor right:
    # together as wide as the counter's step (the smallest gap between
    # values), within 6 px and a 30th of the plot.
    steps = sorted({round(b - a, 6) for h in (hv_h, bare_h) for (a, _), (b, _) in zip(h["buckets"], h["buckets"][1:]) if b > a})
    pair = (steps[0] if steps else xmax / 30) / (chart.x1 - chart.x0) * chart.pw * 0.9
    width = min(max(pair, 6.0), chart.pw / 30) / 2
    for side, (h, color, label) in enumerate(((bare_h, BARE_COLOR, "bare"), (hv_h, HV_COLOR, "hypervisor"))):
        total = sum(c for _, c in h["buckets"]) + h["other"]
        for v, c in h["buckets"]:
            x = min(max(chart.sx(v) - width, LEFT + 1), LEFT + chart.pw - 2 * width) + side * width
            y = chart.sy(c)
            chart.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{chart.sy(0) - y:.1f}" '
                      f'fill="{color}" fill-opacity="0.75"><title>{label}: {c} at {esc(fmt(v))}</title></rect>')
        worst = h["max"]
        wx = chart.sx(worst)
        chart.add(f'<line x1="{wx:.1f}" x2="{wx:.1f}" y1="{TOP}" y2="{chart.sy(0):.1f}" stroke="{color}" stroke-width="1.5" stroke-dasharray="4 3"/>')
        chart.key(f"{label}: {total:,} samples", color, bar=True)
        chart.key(f"{label} worst: {fmt(worst)}", color, dash="4 3")
    mean = lambda h: sum(v * c for v, c in h["buckets"]) / max(1, sum(c for _, c in h["buckets"]))
    chart.note(f"mean: hypervisor {fmt(mean(hv_h))}, bare {fmt(mean(bare_h))}", 0)
    if hv_h["other"] or bare_h["other"]:
        chart.note(f"not placed: {hv_h['other']} / {bare_h['other']}", 1)
    chart.sources(runs, [arch])
    return chart.svg()


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    bench_dir = pathlib.Path(sys.argv[1])
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else bench_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = load(bench_dir)
    charts = [
        ("boot-host-ram.svg", "Boot cost against host RAM", boot_chart(runs, "host")),
        ("boot-guest-ram.svg", "Boot cost against guest RAM", boot_chart(runs, "guest")),
        ("exit-path.svg", "Exit-path costs per architecture", exit_chart(runs)),
    ]
    missing_dists = []
    for arch in ARCHES:
        dists = runs.get(arch, {}).get("distributions")
        if not dists:
            missing_dists.append(arch)
            continue
        for name, dist in dists.items():
            file = f"latency-{name.replace('_latency', '').replace('_', '-')}-{arch}.svg"
            charts.append((file, f"{arch}: {dist['description']}", histogram_chart(runs, arch, name, dist)))
    for file, _, svg in charts:
        (out_dir / file).write_text(svg)
    rows = "".join(
        f"<tr><td>{esc(a)}</td><td>{esc(r['_file'])}</td><td>{esc(r['_time'])}</td><td>{esc(r.get('qemu', ''))}</td>"
        f"<td><code>{esc(r.get('command', ''))}</code></td></tr>"
        for a, r in runs.items()
    )
    notes = "".join(f"<li>{esc(a)}: no run or no latency distribution in it (<code>make ARCH={esc(a)} bench</code>)</li>" for a in missing_dists)
    body = "".join(f'<h2>{esc(title)}</h2>\n<p><img src="{esc(file)}" alt="{esc(title)}"></p>\n' for file, title, _ in charts)
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Benchmark report</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}td,th{padding:2px 8px;text-align:left}</style></head><body>\n"
        "<h1>Benchmark report</h1>\n<p>Guest time in instructions (QEMU <code>-icount shift=0,sleep=off</code>); "
        "see docs/benchmarks.md. Regenerate with <code>make ARCH=... bench</code>.</p>\n"
        f"<table><tr><th>arch</th><th>file</th><th>written</th><th>QEMU</th><th>command</th></tr>{rows}</table>\n"
        f"<ul>{notes}</ul>\n{body}</body></html>\n"
    )
    (out_dir / "report.html").write_text(page)
    print(f"wrote {out_dir / 'report.html'} and {len(charts)} charts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
