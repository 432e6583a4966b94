"""What every benchmark shares: interleaved timing, result rows and tables, the machine.

Timing rule of this package: two things compared are timed side by side in one
process, interleaved (round r runs every candidate once, in forward order on even
rounds and reversed on odd ones, so neither always runs first), and a ratio is the
median over rounds of the per-round ratios. Noise from other jobs on the machine
hits both sides of a round alike and mostly cancels in the ratio.
"""

import json
import os
import platform
import time

import numpy as np


class Timings(dict):
    """Median seconds per call of each candidate (`name -> seconds`), plus the raw rounds.

    Attributes:
        names: candidate names in the order given.
        times: float array `[rounds, candidates]` of seconds per call.
        cpu: the same for the process's CPU time (all threads), a `Timings`, or
            None: less sensitive than wall time to other jobs on a shared machine.
    """

    def __init__(self, names, times, cpu_times=None):
        self.names = list(names)
        self.times = np.asarray(times, dtype=np.float64).reshape(-1, len(self.names))
        self.cpu = None if cpu_times is None else Timings(names, cpu_times)
        super().__init__({n: float(np.median(self.times[:, i])) for i, n in enumerate(self.names)})

    def column(self, name):
        return self.times[:, self.names.index(name)]

    def ratios(self, a, b, scale_b=1.0):
        """Per-round ratios `time(a) / (scale_b * time(b))`."""
        return self.column(a) / (scale_b * self.column(b))

    def ratio(self, a, b, scale_b=1.0):
        """Median over rounds of `time(a) / (scale_b * time(b))`."""
        return float(np.median(self.ratios(a, b, scale_b)))

    def pooled_ratios(self, a_names, b_names):
        """Per-round `sum(time of a_names) / sum(time of b_names)` (several instances of each side)."""
        a = sum(self.column(n) for n in a_names)
        b = sum(self.column(n) for n in b_names)
        return a / b

    def pooled_ratio(self, a_names, b_names):
        return float(np.median(self.pooled_ratios(a_names, b_names)))

    def pooled_spread(self, a_names, b_names):
        r = self.pooled_ratios(a_names, b_names)
        return float(np.percentile(r, 25)), float(np.percentile(r, 75))

    def spread(self, a, b, scale_b=1.0):
        """(25th, 75th) percentile of the per-round ratios: how noisy the ratio was."""
        r = self.ratios(a, b, scale_b)
        return float(np.percentile(r, 25)), float(np.percentile(r, 75))


def interleaved(fns, repeats=7, warmup=1, number=1, clock=time.perf_counter, cpu_clock=time.process_time):
    """Times candidates side by side; returns their medians (a `Timings`).

    Args:
        fns: `{name: callable}` (or a list of callables, named "0", "1", ...).
            Each callable runs one unit of work and must block until it is done
            (e.g. end with `.numpy()`).
        repeats: rounds; round r calls every candidate `number` times back to
            back, candidates in forward order on even rounds, reversed on odd ones.
        warmup: untimed rounds first (tracing, caches, allocator).
        number: calls per candidate per round (the time is divided by it); an
            int, or `{name: calls}` (e.g. from `auto_number(..., each=True)`).
        clock: the wall clock (tests pass a fake one).
        cpu_clock: a second clock read around the same calls (default the
            process's CPU time, all threads), or None.

    Returns:
        `Timings`: `{name: median seconds per call}` with `.times`, `.ratio(a, b)`
        (median of per-round ratios), `.spread(a, b)` and `.cpu` (the same from
        `cpu_clock`).
    """
    if not isinstance(fns, dict):
        fns = {str(i): f for i, f in enumerate(fns)}
    names = list(fns)
    numbers = dict(number) if isinstance(number, dict) else {n: number for n in names}
    if not fns or repeats < 1 or warmup < 0 or any(numbers.get(n, 0) < 1 for n in names):
        raise ValueError(f"need candidates, repeats >= 1, number >= 1, warmup >= 0; got "
                         f"{len(fns)}, {repeats}, {number}, {warmup}.")
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = np.zeros((repeats, len(names)))
    cpu_times = np.zeros((repeats, len(names)))
    for r in range(repeats):
        order = range(len(names)) if r % 2 == 0 else reversed(range(len(names)))
        for i in order:
            fn, n = fns[names[i]], numbers[names[i]]
            cpu_start = cpu_clock() if cpu_clock else 0.0
            start = clock()
            for _ in range(n):
                fn()
            times[r, i] = (clock() - start) / n
            if cpu_clock:
                cpu_times[r, i] = (cpu_clock() - cpu_start) / n
    return Timings(names, times, cpu_times if cpu_clock else None)


def auto_number(fns, target_seconds=0.05, minimum=1, maximum=1000, each=False):
    """Calls per round so that a candidate runs about `target_seconds` per round
    (short calls are timed in bunches, so clock and scheduler noise stay small).

    Returns one int fitted to the slowest candidate, or with `each=True` a
    `{name: calls}` dict fitted to every candidate (`fns` a dict then).
    """
    def fit(seconds):
        if seconds <= 0:
            return maximum
        return int(min(maximum, max(minimum, round(target_seconds / seconds))))

    items = fns.items() if isinstance(fns, dict) else enumerate(fns)
    seconds = {}
    for name, fn in items:
        fn()
        start = time.perf_counter()
        fn()
        seconds[name] = time.perf_counter() - start
    if each:
        return {name: fit(s) for name, s in seconds.items()}
    return fit(max(seconds.values()))


# -- results -----------------------------------------------------------------------------
def status(value, target):
    if target is None or value is None:
        return "reported"
    return "PASS" if value <= target else "MISS"


class Section:
    """One benchmark group's results: figure rows (with targets), tables, notes.

    Rows and table lines are printed as they are added, so a long run shows
    progress; `as_dict()` is what run.py writes.
    """

    def __init__(self, name, title):
        self.name = name
        self.title = title
        self.rows = []
        self.tables = []
        self.notes = []
        self.seconds = None
        print(f"\n## {title}", flush=True)

    def figure(self, figure, case, ratio, target=None, spread=None, cpu_ratio=None, **extra):
        """A measured (wall-time) ratio against its target (None: reported only).

        `cpu_ratio`: the same ratio in process CPU time, reported beside it.
        """
        row = {"figure": figure, "case": case, "ratio": None if ratio is None else round(float(ratio), 4),
               "target": target, "status": status(ratio, target)}
        if spread is not None:
            row["iqr"] = [round(float(spread[0]), 4), round(float(spread[1]), 4)]
        if cpu_ratio is not None:
            row["cpu_ratio"] = round(float(cpu_ratio), 4)
        row.update(extra)
        self.rows.append(row)
        iqr = f" (IQR {row['iqr'][0]:.3f}-{row['iqr'][1]:.3f})" if spread is not None else ""
        cpu = f", CPU-time ratio {cpu_ratio:.3f}" if cpu_ratio is not None else ""
        tgt = f" target <= {target:g}" if target is not None else ""
        rstr = "n/a" if ratio is None else f"{ratio:.3f}"
        print(f"  {figure} | {case}: {rstr}{iqr}{cpu}{tgt} -> {row['status']}", flush=True)
        return row

    def compared(self, figure, case, timings, a, b, target=None, scale_b=1.0, **extra):
        """`figure()` from interleaved timings: median ratio a/(scale_b*b), its IQR, CPU ratio."""
        cpu = timings.cpu.ratio(a, b, scale_b) if timings.cpu is not None else None
        return self.figure(figure, case, timings.ratio(a, b, scale_b), target,
                           timings.spread(a, b, scale_b), cpu, **extra)

    def table(self, title, columns):
        table = Table(title, columns)
        self.tables.append(table)
        return table

    def note(self, text):
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def as_dict(self):
        return {"name": self.name, "title": self.title, "seconds": self.seconds, "rows": self.rows,
                "tables": [t.as_dict() for t in self.tables], "notes": self.notes}


class Table:
    """A reported table (no targets); prints each line as it is added."""

    def __init__(self, title, columns):
        self.title = title
        self.columns = list(columns)
        self.rows = []
        print(f"  [{title}]\n  " + " | ".join(self.columns), flush=True)

    def add(self, *values):
        if len(values) != len(self.columns):
            raise ValueError(f"table '{self.title}' has {len(self.columns)} columns, got {len(values)} values.")
        values = [_plain(v) for v in values]
        self.rows.append(values)
        print("  " + " | ".join(fmt(v) for v in values), flush=True)

    def as_dict(self):
        return {"title": self.title, "columns": self.columns, "rows": self.rows}


def _plain(value):
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


# -- machine -------------------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def cpu_seconds():
    """(busy CPU-seconds of the whole machine since boot, CPU-seconds of this process and its
    finished children): their difference over a run is what other jobs used meanwhile."""
    busy = None
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        # user, nice, system, irq, softirq (steal: the hypervisor's; guest: counted in user)
        busy = (sum(fields[:7]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def machine():
    """CPU model, cores, memory, OS, versions of TF/Keras/LiteRT/numpy, GPUs."""
    import importlib.metadata as md

    import keras
    import tensorflow as tf

    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "ai_edge_litert": version("ai-edge-litert"),
        "numpy": np.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def dumps(obj):
    return json.dumps(obj, indent=1, default=_plain)


def quiet_tf():
    """Fewer TF log lines (set before TF is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
