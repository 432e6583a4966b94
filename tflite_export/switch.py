"""Desktop twin of the Android app's width switching, on real .tflite files.

    python -m tflite_export.switch OUT_DIR --budget_ms=2.5 [--precision=int8] [--threads=1]
        [--steps=2000] [--load_processes=2 --load_at=0.3 --load_until=0.6] [--record=trace.json]

Loads the uniform models of one precision from an export (a model that fails
to load is never picked), benchmarks each at start-up, picks the widest whose
p90 fits the budget, then runs inference step after step and re-picks with the
rules of `tflite_export.switch_policy` — the same rules, step for step, as
`org.slimkeras.core.WidthSelector` in the app. To simulate a background load,
`--load_processes` busy processes run between the fractions `--load_at` and
`--load_until` of the steps.

Every step times every model once (so the run is a complete latency trace)
and feeds the selector exactly what the app would measure: the current
model's run and, when due, a probe of its wider neighbour. `--record` writes
that trace in the format of android_demo/traces, so the Java core replays
the same run and must make the same picks.
"""

import argparse
import math
import multiprocessing
import os
import sys
import time

from tflite_export import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _busy(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


class BackgroundLoad:
    """`processes` busy-looping processes, started and stopped on demand."""

    def __init__(self, processes):
        self.processes = processes
        self._stop = None
        self._workers = []

    @property
    def running(self):
        return bool(self._workers)

    def start(self):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._workers = [context.Process(target=_busy, args=(self._stop,), daemon=True)
                         for _ in range(self.processes)]
        for worker in self._workers:
            worker.start()

    def stop(self):
        if self._workers:
            self._stop.set()
            for worker in self._workers:
                worker.join(timeout=5)
            self._workers = []


def run_switching(out_dir, budget_ms, precision=None, threads=1, steps=2000, startup_runs=10,
                  load_processes=0, load_at=0.3, load_until=0.6, mode="widest", record=None,
                  verbose=1):
    """Runs the live switching loop; returns the recorded trace with its `picks`."""
    import numpy as np

    from tflite_export import manifest as manifest_lib
    from tflite_export.runtime import TFLiteModel, quantize
    from tflite_export.switch_policy import MAX_ACCURACY, WIDEST, Candidate, SelectorConfig, WidthSelector
    from slimkeras.io import write_json_atomic

    if not (isinstance(budget_ms, (int, float)) and math.isfinite(budget_ms) and budget_ms > 0):
        raise ValueError(f"--budget_ms must be a positive number of milliseconds, got {budget_ms!r}.")
    if steps < 1 or startup_runs < 1 or threads < 1 or load_processes < 0:
        raise ValueError(f"--steps, --startup_runs and --threads must be >= 1 and --load_processes >= 0 "
                         f"(got {steps}, {startup_runs}, {threads}, {load_processes}).")
    if not 0.0 <= load_at <= load_until <= 1.0:
        raise ValueError(f"need 0 <= --load_at <= --load_until <= 1, got {load_at} and {load_until}.")
    if mode not in (WIDEST, MAX_ACCURACY):
        raise ValueError(f"--mode={mode!r}; allowed: {WIDEST}, {MAX_ACCURACY}.")
    manifest = manifest_lib.read_manifest(out_dir)
    precisions = list(dict.fromkeys(m["precision"] for m in manifest["models"]))
    precision = precision or precisions[0]
    entries = [m for m in manifest["models"] if m["precision"] == precision and m["stage_ratios"] is None]
    if not entries:
        raise ValueError(f"--precision={precision!r}: the export has no uniform models of it; "
                         f"it has {', '.join(precisions)}.")

    candidates, loaded, failed = [], {}, []
    for entry in entries:
        candidate = Candidate(width=entry["width"], top1=math.nan if entry["top1"] is None else entry["top1"],
                              id=entry["id"])
        candidates.append(candidate)
        try:
            loaded[entry["width"]] = TFLiteModel(os.path.join(out_dir, entry["path"]), threads)
        except (ValueError, RuntimeError, OSError) as e:
            failed.append(entry["width"])
            print(f"warning: {entry['path']} failed to load ({e}); it will not be picked.", file=sys.stderr)
    selector = WidthSelector(candidates, budget_ms, SelectorConfig(mode=mode))
    for candidate in candidates:
        if candidate.width in failed:
            selector.mark_failed(candidate)

    rng = np.random.default_rng(0)
    inputs = {}
    for width, model in loaded.items():
        details = model.input_details
        sample = rng.standard_normal(details["shape"]).astype(np.float32)
        inputs[width] = (model.interpreter, details["index"], quantize(sample, details))

    def timed(width):
        interpreter, index, value = inputs[width]
        interpreter.set_tensor(index, value)
        start = time.perf_counter()
        interpreter.invoke()
        return (time.perf_counter() - start) * 1e3

    startup = {}
    for candidate in candidates:
        if candidate.width in loaded:
            startup[candidate.width] = [timed(candidate.width) for _ in range(startup_runs)]
            for ms in startup[candidate.width]:
                selector.on_benchmark(candidate, ms)
    current = selector.pick()
    if verbose:
        print(f"start: {current.id} (budget {budget_ms} ms; start-up p90s: " + ", ".join(
            f"{c.id} {selector.tracker(c).p90():.3f}" for c in candidates if c.width in loaded) + ")")

    load = BackgroundLoad(load_processes)
    rows, picks = [], []
    try:
        for t in range(steps):
            if load_processes and not load.running and load_at * steps <= t < load_until * steps:
                load.start()
                if verbose:
                    print(f"step {t}: background load of {load_processes} busy processes starts")
            elif load.running and t >= load_until * steps:
                load.stop()
                if verbose:
                    print(f"step {t}: background load stops")
            row = {w: timed(w) for w in loaded}
            rows.append(row)
            before = selector.current()
            selector.on_result(before, row[before.width])
            probe = selector.next_probe()
            if probe is not None:
                selector.on_result(probe, row[probe.width])
            after = selector.current()
            picks.append(after.width)
            if verbose and after is not before:
                print(f"step {t}: {before.id} -> {after.id} (last {row[before.width]:.3f} ms, "
                      f"p90 {selector.tracker(before).p90():.3f} ms, budget {budget_ms} ms)")
    finally:
        load.stop()

    trace = {
        "name": "recorded",
        "description": f"recorded from {os.path.abspath(out_dir)} ({precision}, {threads} threads)",
        "budget_ms": budget_ms, "config": {"mode": mode}, "budget_changes": {},
        "models": [{"width": c.width, "top1": None if math.isnan(c.top1) else c.top1} for c in candidates],
        "fail_to_load": failed,
        "startup": {f"{w!r}": v for w, v in startup.items()},
        # Failed models have no latency; the selector never runs them.
        "steps": [{f"{w!r}": round(ms, 6) for w, ms in row.items()} for row in rows],
        "expected_picks": picks,
    }
    if record:
        write_json_atomic(record, trace)
    if verbose:
        counts = {c.id: picks.count(c.width) for c in candidates}
        switches = sum(1 for a, b in zip(picks, picks[1:]) if a != b)
        print(f"done: {steps} steps, {switches} switches; steps per model: {counts}")
    return trace


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tflite_export.switch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="an export directory (holding manifest.json)")
    parser.add_argument("--budget_ms", type=float, required=True, help="latency budget per inference")
    parser.add_argument("--precision", default=None, help="fp32 | fp16 | int8 (default: the first exported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--startup_runs", type=int, default=10)
    parser.add_argument("--load_processes", type=int, default=0, help="busy processes simulating load")
    parser.add_argument("--load_at", type=float, default=0.3, help="fraction of the steps where load starts")
    parser.add_argument("--load_until", type=float, default=0.6, help="fraction of the steps where it stops")
    parser.add_argument("--mode", default="widest", help="widest | max_accuracy")
    parser.add_argument("--record", default=None, help="write the run as a trace JSON file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return cli.run(lambda: run_switching(
        args.out_dir, args.budget_ms, args.precision, args.threads, args.steps, args.startup_runs,
        args.load_processes, args.load_at, args.load_until, args.mode, args.record,
        verbose=0 if args.quiet else 1))


if __name__ == "__main__":
    sys.exit(main())
