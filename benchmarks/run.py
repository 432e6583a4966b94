"""Runs the benchmarks and writes `benchmarks/results.md` and `benchmarks/results.json`.

    python -m benchmarks.run [--quick] [--only=forward,train_step,...] [--out=PREFIX]
    python -m benchmarks.run --render [--out=PREFIX]   # rewrite the .md from the .json

A full run (no --quick, no --only) writes `benchmarks/results.{md,json}`; a quick
or partial run writes `benchmarks/results_quick.{md,json}` unless --out says
otherwise, so it never replaces the committed full results. Both files are
written atomically (temporary file + rename). A benchmark that fails is recorded
with its error and the others still run.
"""

import argparse
import datetime
import importlib
import json
import os
import sys
import time
import traceback

from benchmarks.common import cpu_seconds, dumps, fmt, load_average, machine, quiet_tf, status
from slimkeras.io import write_text_atomic

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> module, in run order.
BENCHMARKS = {
    "forward": "benchmarks.forward",
    "train_step": "benchmarks.train_step",
    "calibration": "benchmarks.calibration",
    "tflite": "benchmarks.tflite_latency",
    "memory": "benchmarks.memory",
    "scaling": "benchmarks.scaling",
    "gpu": "benchmarks.gpu_throughput",
    "training_scale": "benchmarks.training_scale",
    "gpu_scale": "benchmarks.gpu_scale",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, few repeats (a few minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default=None, help="output path prefix (default: see above)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite PREFIX.md from PREFIX.json (and analysis.md), running nothing")
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; allowed: {', '.join(BENCHMARKS)}")
    args.only = only or list(BENCHMARKS)
    if args.out is None:
        partial = args.quick or len(args.only) < len(BENCHMARKS)
        args.out = os.path.join(HERE, "results_quick" if partial else "results")
    return args


def run(names, quick):
    """Runs the benchmarks `names`; returns (list of section dicts, load averages seen)."""
    sections, loads = [], [load_average()]
    for name in names:
        start = time.perf_counter()
        try:
            section = importlib.import_module(BENCHMARKS[name]).run(quick=quick).as_dict()
        except Exception as e:  # record it, keep going: a long run is not thrown away
            traceback.print_exc()
            section = {"name": name, "title": name, "rows": [], "tables": [], "error": f"{type(e).__name__}: {e}",
                       "notes": []}
        section["seconds"] = round(time.perf_counter() - start, 1)
        loads.append(load_average())
        print(f"  [{name}: {section['seconds']} s]", flush=True)
        sections.append(section)
    return sections, loads


def read_analysis():
    """The hand-written causes and fixes of the misses (benchmarks/analysis.md), if any."""
    path = os.path.join(HERE, "analysis.md")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def shared_machine_note(loads, cores, others_share=None):
    """A sentence on the machine's load; says it was shared when other jobs used over 10 % of
    its CPU during the run (or, without that figure, when the load exceeded the cores)."""
    ones = [l[0] for l in loads if l]
    if not ones:
        return None
    lo, hi = min(ones), max(ones)
    text = (f"1-minute load average between {lo:.1f} and {hi:.1f} during the run on {cores} cores "
            "(this run itself keeps about 1-2 cores busy)")
    if others_share is not None:
        text += f"; other processes used {others_share:.0%} of the machine's CPU time meanwhile"
    text += "."
    shared = others_share > 0.10 if others_share is not None else hi > (cores or 1) + 1
    if shared:
        text = ("**This machine was shared with other jobs during the run**: " + text + " Wall times are "
                "therefore noisy and slower than on an idle machine; every ratio compares candidates "
                "timed in the same interleaved rounds (median of per-round ratios, IQR shown), and the "
                "ratio of process CPU time is given beside it as a check less sensitive to the load.")
    return text


def markdown(report):
    m = report["machine"]
    lines = [
        "# slimkeras benchmarks",
        "",
        f"Written by `python -m benchmarks.run{' --quick' if report['quick'] else ''}` on {report['date']} "
        f"({'quick' if report['quick'] else 'full'} run, {report['seconds']:.0f} s). Regenerate with the same "
        "command; see `benchmarks/README.md` for what each figure measures.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}; "
        f"GPU: {', '.join(m['gpus']) or 'none'}",
        f"- Versions: Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"ai-edge-litert {m['ai_edge_litert']}, numpy {m['numpy']}",
    ]
    if report.get("load_note"):
        lines.append(f"- {report['load_note']}")
    lines += [
        "- Ratio = median over interleaved rounds of the per-round ratio (wall time); IQR = its 25th-75th "
        "percentiles; CPU = the same ratio in process CPU time (all threads); A/A (TFLite) = a second "
        "interpreter of our file against the first, in the same rounds: what one pair of interpreters alone "
        "can be off by. PASS/MISS compare the "
        "wall-time ratio with the target (the CPU-time verdict is added where it differs); rows without a target "
        "are reported figures.",
        "",
        "## Figures with targets",
        "",
        "| figure | case | ratio | IQR | CPU | A/A | target | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for section in report["sections"]:
        for row in section["rows"]:
            if row.get("target") is None:
                continue
            lines.append(_row_line(row))
    lines += ["", "## Reported figures", "", "| figure | case | value | IQR | CPU | details |",
              "|---|---|---|---|---|---|"]
    for section in report["sections"]:
        for row in section["rows"]:
            if row.get("target") is not None:
                continue
            details = ", ".join(f"{k}={fmt(v)}" for k, v in row.items()
                                if k not in ("figure", "case", "ratio", "target", "status", "iqr", "cpu_ratio"))
            lines.append(f"| {row['figure']} | {row['case']} | {fmt(row['ratio'])} | {_iqr(row)} | "
                         f"{fmt(row.get('cpu_ratio'))} | {details} |")
    for section in report["sections"]:
        lines += ["", f"## {section['title']}", "", f"({section['seconds']} s)", ""]
        if section.get("error"):
            lines += [f"**Failed:** `{section['error']}`", ""]
        for note in section["notes"]:
            lines.append(f"- {note}")
        for table in section["tables"]:
            lines += ["", f"**{table['title']}**", "", "| " + " | ".join(table["columns"]) + " |",
                      "|" + "---|" * len(table["columns"])]
            for values in table["rows"]:
                lines.append("| " + " | ".join(fmt(v) for v in values) + " |")
    if report.get("analysis"):
        lines += ["", "## Misses: causes and fixes", "", report["analysis"].strip()]
    return "\n".join(lines) + "\n"


def _iqr(row):
    return f"{row['iqr'][0]:.3f}-{row['iqr'][1]:.3f}" if row.get("iqr") else "-"


def _row_line(row):
    verdict = row["status"]
    if row.get("cpu_ratio") is not None:
        cpu_verdict = status(row["cpu_ratio"], row["target"])
        if cpu_verdict != verdict:
            verdict += f" (CPU: {cpu_verdict})"
    return (f"| {row['figure']} | {row['case']} | {fmt(row['ratio'])} | {_iqr(row)} | {fmt(row.get('cpu_ratio'))} | "
            f"{fmt(row.get('a_a_ratio'))} | <= {row['target']:g} | {verdict} |")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render:
        with open(args.out + ".json") as f:
            report = json.load(f)
        report["analysis"] = read_analysis()
        write_text_atomic(args.out + ".json", dumps(report) + "\n")
        write_text_atomic(args.out + ".md", markdown(report))
        print(f"rewrote {args.out}.md from {args.out}.json")
        return 0
    quiet_tf()
    start = time.perf_counter()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = machine()
    print(f"slimkeras benchmarks ({'quick' if args.quick else 'full'}): {', '.join(args.only)}\n"
          f"machine: {info['cpu']}, {info['cores']} cores; TF {info['tensorflow']}, Keras {info['keras']}, "
          f"LiteRT {info['ai_edge_litert']}", flush=True)
    busy_start, ours_start = cpu_seconds()
    wall_start = time.perf_counter()
    sections, loads = run(args.only, args.quick)
    busy_end, ours_end = cpu_seconds()
    others_share = None
    if busy_start is not None and busy_end is not None:
        capacity = (time.perf_counter() - wall_start) * (info["cores"] or 1)
        others_share = max(0.0, (busy_end - busy_start) - (ours_end - ours_start)) / capacity
    report = {
        "date": date, "quick": args.quick, "benchmarks": args.only,
        "seconds": round(time.perf_counter() - start, 1), "machine": info, "load_averages": loads,
        "others_cpu_share": None if others_share is None else round(others_share, 3),
        "load_note": shared_machine_note(loads, info["cores"], others_share), "sections": sections,
        "analysis": read_analysis(),
    }
    write_text_atomic(args.out + ".json", dumps(report) + "\n")
    write_text_atomic(args.out + ".md", markdown(report))
    targets = [r for s in sections for r in s["rows"] if r.get("target") is not None]
    misses = [r for r in targets if r["status"] == "MISS"]
    print(f"\nwrote {args.out}.md and .json in {report['seconds']:.0f} s: {len(targets) - len(misses)} of "
          f"{len(targets)} targets met" + "".join(f"\n  MISS {r['figure']} | {r['case']}: {r['ratio']}"
                                                   for r in misses), flush=True)
    return 1 if any(s.get("error") for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
