"""Desktop twin of the Android app's width switching, on real .tflite files.

    python -m tflite_export.switch OUT_DIR --budget_ms=2.5 [--precision=int8] [--threads=1]
        [--steps=2000] [--load_processes=2 --load_at=0.3 --load_until=0.6] [--record=trace.json]

Loads the uniform models of one precision from an export (a model that fails
to load is never picked), benchmarks each at start-up, picks the widest whose
p90 fits the budget, then runs inference step after step and re-picks with the
rules of `tflite_export.switch.policy` — the same rules, step for step, as
`org.slimkeras.core.WidthSelector` in the app. To simulate a background load,
`--load_processes` busy processes run between the fractions `--load_at` and
`--load_until` of the steps.

Every step times every model once (so the run is a complete latency trace)
and feeds the selector exactly what the app would measure: the current
model's run and, when due, a probe of its wider neighbour. `--record` writes
that trace in the format of android_demo/traces, so the Java core replays
the same run and must make the same picks.
"""

# Only light imports at the top: the busy processes of --load_processes are spawned
# and import this module again.
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

from tflite_export.switch.background_load import BackgroundLoad
from tflite_export.switch.policy import MAX_ACCURACY, WIDEST, Candidate, SelectorConfig, WidthSelector


@dataclass(frozen=True)
class SwitchSettings:
    """What one switching run does.

    Args:
        budget_ms: latency budget per inference (> 0).
        precision: the precision whose models compete (None: the first exported).
        threads: interpreter threads.
        steps: inference steps after start-up.
        startup_runs: benchmark runs of each model before the first pick.
        load_processes: busy processes simulating a background load (0: none).
        load_at, load_until: fractions of the steps where the load starts and stops.
        mode: "widest" or "max_accuracy".
    """

    budget_ms: float
    precision: Optional[str] = None
    threads: int = 1
    steps: int = 2000
    startup_runs: int = 10
    load_processes: int = 0
    load_at: float = 0.3
    load_until: float = 0.6
    mode: str = WIDEST

    def __post_init__(self):
        budget = self.budget_ms
        if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
            raise ValueError(f"--budget_ms must be a positive number of milliseconds, got {budget!r}.")
        if self.steps < 1 or self.startup_runs < 1 or self.threads < 1 or self.load_processes < 0:
            raise ValueError(f"--steps, --startup_runs and --threads must be >= 1 and --load_processes >= 0 "
                             f"(got {self.steps}, {self.startup_runs}, {self.threads}, {self.load_processes}).")
        if not 0.0 <= self.load_at <= self.load_until <= 1.0:
            raise ValueError(f"need 0 <= --load_at <= --load_until <= 1, got {self.load_at} and {self.load_until}.")
        if self.mode not in (WIDEST, MAX_ACCURACY):
            raise ValueError(f"--mode={self.mode!r}; allowed: {WIDEST}, {MAX_ACCURACY}.")


class LoadedModels:
    """The interpreters of the candidates that loaded, each with a fixed random input.

    Args:
        out_dir: the export directory.
        entries: the manifest entries to load.
        threads: interpreter threads.
    """

    def __init__(self, out_dir, entries, threads):
        import numpy as np

        from tflite_export.runtime import TFLiteModel, quantize

        rng = np.random.default_rng(0)
        self.failed = []
        self._inputs = {}
        for entry in entries:
            try:
                model = TFLiteModel(os.path.join(out_dir, entry["path"]), threads)
            except (ValueError, RuntimeError, OSError) as e:
                self.failed.append(entry["width"])
                print(f"warning: {entry['path']} failed to load ({e}); it will not be picked.", file=sys.stderr)
                continue
            details = model.input_details
            sample = rng.standard_normal(details["shape"]).astype(np.float32)
            self._inputs[entry["width"]] = (model.interpreter, details["index"], quantize(sample, details))

    @property
    def widths(self):
        return list(self._inputs)

    def time(self, width):
        """Runs the model of `width` once; its latency in ms."""
        interpreter, index, value = self._inputs[width]
        interpreter.set_tensor(index, value)
        start = time.perf_counter()
        interpreter.invoke()
        return (time.perf_counter() - start) * 1e3


def run_switching(out_dir, budget_ms, precision=None, threads=1, steps=2000, startup_runs=10,
                  load_processes=0, load_at=0.3, load_until=0.6, mode=WIDEST, record=None,
                  verbose=1):
    """Runs the live switching loop; returns its `SwitchSummary`.

    Args:
        out_dir: an export directory.
        budget_ms ... mode: see `SwitchSettings`.
        record: if given, the trace is streamed there (JSON, complete or not at all; `trace_recorder`).
        verbose: 1 prints the start, every switch and a summary.

    Raises:
        ValueError: bad settings, an export `manifest.validate_manifest` refuses, or
            one without loadable models of the precision.
    """
    from tflite_export import manifest as manifest_lib

    settings = SwitchSettings(budget_ms, precision, threads, steps, startup_runs, load_processes,
                              load_at, load_until, mode)
    manifest = manifest_lib.validate_manifest(out_dir)
    precision, entries = _uniform_entries(manifest, settings.precision)
    models = LoadedModels(out_dir, entries, settings.threads)
    if not models.widths:
        raise ValueError(f"{out_dir}: no {precision} model could be loaded.")
    candidates = [Candidate(width=e["width"], top1=math.nan if e["top1"] is None else e["top1"], id=e["id"])
                  for e in entries]
    selector = WidthSelector(candidates, settings.budget_ms, SelectorConfig(mode=settings.mode))
    for candidate in candidates:
        if candidate.width in models.failed:
            selector.mark_failed(candidate)
    startup = _benchmark_at_startup(selector, models, settings.startup_runs)
    current = selector.pick()
    if verbose:
        print(f"start: {current.id} (budget {settings.budget_ms} ms; start-up p90s: " + ", ".join(
            f"{c.id} {selector.tracker(c).p90():.3f}" for c in candidates if c.width in startup) + ")")
    header = {
        "name": "recorded",
        "description": f"recorded from {os.path.abspath(out_dir)} ({precision}, {settings.threads} threads)",
        "budget_ms": settings.budget_ms, "config": {"mode": settings.mode}, "budget_changes": {},
        "models": [{"width": c.width, "top1": None if math.isnan(c.top1) else c.top1} for c in candidates],
        "fail_to_load": models.failed,
        "startup": {f"{w!r}": v for w, v in startup.items()},
    }
    with trace_recorder(record, header) as recorder:
        summary = _switching_loop(selector, models, settings, verbose, recorder)
    if verbose:
        counts = {c.id: summary.picked.get(c.width, 0) for c in candidates}
        print(f"done: {settings.steps} steps, {summary.switches} switches; steps per model: {counts}")
    return summary


@dataclass
class SwitchSummary:
    """What a switching run did, in fixed memory however long it ran.

    Args:
        steps: steps run.
        switches: steps whose pick differs from the step before's.
        picked: {width: steps it was the pick after}.
        last: the pick after the last step (None before the first).
    """

    steps: int = 0
    switches: int = 0
    picked: dict = field(default_factory=dict)
    last: Optional[float] = None

    def add(self, pick):
        """Counts one step's pick."""
        self.switches += self.last is not None and pick != self.last
        self.picked[pick] = self.picked.get(pick, 0) + 1
        self.steps += 1
        self.last = pick


@contextlib.contextmanager
def trace_recorder(path, header):
    """Yields `record(row, pick)`, which streams each step into the trace JSON file at `path`.

    The file is `header` plus `steps` (one {width: ms} row per step) and
    `expected_picks`, written as the run goes (steps straight into the file,
    picks into a temporary file appended at the end), so memory stays flat however
    long the run; it appears complete or not at all (`slimkeras.io.atomic_path`).
    With `path` None, `record` does nothing.
    """
    if not path:
        yield lambda row, pick: None
        return
    from slimkeras.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w") as out, tempfile.TemporaryFile("w+") as picks:
        out.write(json.dumps(header)[:-1] + ', "steps": [')
        separator = ""

        def record(row, pick):
            nonlocal separator
            # Failed models have no latency; the selector never runs them.
            out.write(separator + json.dumps({f"{w!r}": round(ms, 6) for w, ms in row.items()}))
            picks.write(separator + json.dumps(pick))
            separator = ", "

        yield record
        out.write('], "expected_picks": [')
        picks.seek(0)
        shutil.copyfileobj(picks, out)
        out.write("]}\n")


def _uniform_entries(manifest, precision):
    """(precision, the uniform models of it), the precision defaulting to the first exported."""
    precisions = list(dict.fromkeys(m["precision"] for m in manifest["models"]))
    precision = precision or precisions[0]
    entries = [m for m in manifest["models"] if m["precision"] == precision and m["stage_ratios"] is None]
    if not entries:
        raise ValueError(f"--precision={precision!r}: the export has no uniform models of it; "
                         f"it has {', '.join(precisions)}.")
    return precision, entries


def _benchmark_at_startup(selector, models, runs):
    """Times each loaded model `runs` times, feeding the selector; {width: [ms]}."""
    startup = {}
    for candidate in selector.models():
        if candidate.width in models.widths:
            startup[candidate.width] = [models.time(candidate.width) for _ in range(runs)]
            for ms in startup[candidate.width]:
                selector.on_benchmark(candidate, ms)
    return startup


def _switching_loop(selector, models, settings, verbose, record):
    """Steps the selector `settings.steps` times, handing each step's latency row and pick to
    `record`; returns the run's `SwitchSummary` (nothing kept per step: flat memory)."""
    load = BackgroundLoad(settings.load_processes)
    load_steps = range(math.ceil(settings.load_at * settings.steps), math.ceil(settings.load_until * settings.steps))
    summary = SwitchSummary()
    try:
        for t in range(settings.steps):
            if settings.load_processes and not load.running and t in load_steps:
                load.start()
                if verbose:
                    print(f"step {t}: background load of {settings.load_processes} busy processes starts")
            elif load.running and t not in load_steps:
                load.stop()
                if verbose:
                    print(f"step {t}: background load stops")
            row = {w: models.time(w) for w in models.widths}
            result = selector.step(lambda candidate: row[candidate.width])
            record(row, result.current.width)
            summary.add(result.current.width)
            if verbose and result.switched:
                print(f"step {t}: {result.ran.id} -> {result.current.id} (last {result.ms:.3f} ms, "
                      f"p90 {selector.tracker(result.ran).p90():.3f} ms, budget {settings.budget_ms} ms)")
    finally:
        load.stop()
    return summary


def build_parser():
    """The command line's parser: every number checked by `slimkeras.cli.Number` (one `error:` line, exit 2)."""
    import argparse

    from slimkeras.cli import COUNT_MAX, ArgumentParser, Number

    share = Number(0, 1)
    parser = ArgumentParser(prog="python -m tflite_export.switch", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="an export directory (holding manifest.json)")
    parser.add_argument("--budget_ms", type=Number(0, 1e6, lo_open=True), required=True,
                        help="latency budget per inference")
    parser.add_argument("--precision", default=None, help="fp32 | fp16 | int8 (default: the first exported)")
    parser.add_argument("--threads", type=Number(1, 256, integer=True), default=1)
    parser.add_argument("--steps", type=Number(1, COUNT_MAX, integer=True), default=2000)
    parser.add_argument("--startup_runs", type=Number(1, 10**6, integer=True), default=10)
    parser.add_argument("--load_processes", type=Number(0, 256, integer=True), default=0,
                        help="busy processes simulating load")
    parser.add_argument("--load_at", type=share, default=0.3, help="fraction of the steps where load starts")
    parser.add_argument("--load_until", type=share, default=0.6, help="fraction of the steps where it stops")
    parser.add_argument("--mode", default=WIDEST, choices=(WIDEST, MAX_ACCURACY), help="widest | max_accuracy")
    parser.add_argument("--record", default=None, help="write the run as a trace JSON file")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv=None):
    """`python -m tflite_export.switch`; returns the exit code (2 after one `error:` line)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: its INFO and WARNING lines
    from slimkeras.cli import run_command

    return run_command(build_parser(), argv, lambda args: run_switching(
        args.out_dir, args.budget_ms, args.precision, args.threads, args.steps, args.startup_runs,
        args.load_processes, args.load_at, args.load_until, args.mode, args.record,
        verbose=0 if args.quiet else 1))


if __name__ == "__main__":
    sys.exit(main())
