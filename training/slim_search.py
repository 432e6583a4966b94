"""Latency- or MACs-targeted greedy slimming of a trained US-Net (nonuniform per-stage widths).

    python -m training.slim_search --model=runs/default_us/final.keras --target_ms=0.025 --out=runs/search
    python -m training.slim_search --model=final.keras --target_macs=2e6 --out=runs/search_macs
    python -m training.slim_search --model=final.keras --target_ms=65% --out=DIR   # of full-width latency

Starting from full width, every step tries shrinking each stage's ratio by --step (a stage whose
channel counts would not change is shrunk further, until they do), calibrates BN for each
candidate on --calib_images training images, measures top-1 on --val_images held-out TRAINING
images (the last ones of the split; never the test split, never used for calibration) and keeps
the shrink that loses least validation accuracy (ties: the one with fewer MACs). It stops at the
first configuration that meets the target. Latency is measured, never estimated from MACs: the
materialized candidate is converted to --precision and benchmarked with LiteRT (--threads
threads; --latency_stat, default p90 as the app uses, of --bench_runs invokes; the fastest of
--bench_repeats benchmarks, since other processes on the machine only add time). The final
same-latency comparison re-measures the searched model side by side with its uniform neighbours.

The global width stays 1.0: with every stage at ratio r the network is exactly the uniform width
r, so per-stage moves span the uniform widths and are finer-grained than a global move.
Stage ratios stay >= --min_ratio (default: the trained range's lower bound), so every layer runs
at a multiplier the US-Net was trained for.

Every evaluation (validation top-1, latency, final test top-1) is cached in OUT/cache.json
(written by temp file + rename after each one) under the architecture's channel counts, so a
rerun (or a run after a kill) resumes without re-measuring. OUT receives search.json, search.md
(the path and the comparison with the uniform width of the same latency) and export/ (manifest
with the uniform widths 0.25/0.5/0.75/1.0 and the searched model, see tflite_export.export).
Bad arguments and unreachable targets stop with one `error:` line and exit code 2, before OUT is
created or changed.
"""

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CACHE_NAME = "cache.json"
CACHE_VERSION = 1
RATIO_DECIMALS = 6
EPS = 1e-9
EXPORT_WIDTHS = (0.25, 0.5, 0.75, 1.0)
LATENCY_STATS = ("p50", "p90")


class SearchError(ValueError):
    """Bad search input or an unreachable target; the message says what is wrong and what to do."""


# ---------------------------------------------------------------------------------------------
# Pure rules (no model, no TensorFlow): unit-tested in tests/test_slim_search.py.
# ---------------------------------------------------------------------------------------------

def parse_target(text, flag):
    """`(value, relative)` from "0.025", "50e6" or "65%" (relative: a fraction of full width).

    Raises SearchError for anything that is not a positive finite number.
    """
    unit = "milliseconds" if flag == "target_ms" else "MACs"
    hint = (f"give a positive number of {unit} (e.g. --{flag}={'0.025' if flag == 'target_ms' else '2e6'}) "
            f"or a percentage of the full-width value (e.g. --{flag}=65%)")
    raw = str(text).strip()
    relative = raw.endswith("%")
    number = raw[:-1].strip() if relative else raw
    try:
        value = float(number)
    except ValueError:
        raise SearchError(f"--{flag}={text}: not a number; {hint}.") from None
    if not math.isfinite(value) or value <= 0:
        raise SearchError(f"--{flag}={text}: the target must be positive and finite; {hint}.")
    return (value / 100.0, True) if relative else (value, False)


def check_targets(target_ms, target_macs):
    """`(kind, value, relative)` with kind "latency" or "macs"; exactly one target must be given."""
    given = [(k, t) for k, t in (("target_ms", target_ms), ("target_macs", target_macs)) if t is not None]
    if len(given) != 1:
        what = "both" if given else "neither"
        raise SearchError(f"give exactly one of --target_ms (LiteRT latency) or --target_macs; got {what}.")
    flag, text = given[0]
    value, relative = parse_target(text, flag)
    return ("latency" if flag == "target_ms" else "macs"), value, relative


def round_ratio(ratio):
    return round(float(ratio), RATIO_DECIMALS)


def shrink_ratio(ratio, step, min_ratio):
    """The ratio one step narrower (clamped to `min_ratio`), or None if it is already at the minimum."""
    if ratio <= min_ratio + EPS:
        return None
    return round_ratio(max(min_ratio, ratio - step))


def candidate_moves(ratios, step, min_ratio):
    """[(stage (1-based), new ratios tuple)]: each stage shrunk by one step; stages at the minimum skipped."""
    moves = []
    for i, r in enumerate(ratios):
        new = shrink_ratio(r, step, min_ratio)
        if new is not None:
            moves.append((i + 1, tuple(round_ratio(x) for x in ratios[:i]) + (new,)
                          + tuple(round_ratio(x) for x in ratios[i + 1:])))
    return moves


def distinct_moves(ratios, step, min_ratio, signature):
    """Like `candidate_moves`, but each stage is shrunk step by step until `signature(ratios)`
    (the channel counts) changes; a stage that cannot change any more before `min_ratio` is dropped.
    A shrink that leaves every channel count equal is the same network: never a real move."""
    current = signature(tuple(ratios))
    moves = []
    for stage in range(1, len(ratios) + 1):
        trial = tuple(ratios)
        while True:
            new = shrink_ratio(trial[stage - 1], step, min_ratio)
            if new is None or new >= trial[stage - 1]:
                break
            trial = trial[:stage - 1] + (new,) + trial[stage:]
            if signature(trial) != current:
                moves.append((stage, trial))
                break
    return moves


def choose_move(evaluated):
    """The candidate to keep: highest `val_top1`; ties: fewer `macs`, then the lower `stage`.

    `evaluated`: non-empty list of dicts with keys stage, val_top1, macs.
    """
    if not evaluated:
        raise SearchError("no candidate move left to evaluate.")
    return min(evaluated, key=lambda c: (-round(c["val_top1"], 9), c["macs"], c["stage"]))


def target_met(value, target):
    """A configuration meets the target when its measured value is at most the target."""
    return value is not None and value <= target + 1e-12


def check_reachable(kind, target, narrowest_value, describe_narrowest, detail="", hint=""):
    """Raises SearchError when even the narrowest allowed configuration misses the target."""
    if target_met(narrowest_value, target):
        return
    if kind == "latency":
        got = f"takes {narrowest_value:.4g} ms{detail}"
        flag = f"--target_ms={target:.4g}"
    else:
        got = f"has {narrowest_value:,} MACs"
        flag = f"--target_macs={target:.6g}"
    raise SearchError(f"{flag} is unreachable: the narrowest allowed configuration ({describe_narrowest}) {got}. "
                      f"Raise the target{hint}.")


def bracket(count, measure, target, start, patience=2):
    """`(lo, hi)` indices into an ascending list of `count` widths: `lo` the widest found with a measured
    value <= target, `hi` the narrowest measured one above `lo` with value > target; either may be None.

    Walks down from `start` to the first value <= target, then up from `start`; as LiteRT latency is
    not monotone in the width (channel counts that suit the kernels run faster than narrower ones),
    the upward walk goes `patience` widths past a value above the target before it stops. Measures
    only what it visits."""
    if count < 1:
        return None, None
    start = min(max(start, 0), count - 1)
    measured = {start: measure(start)}
    lo = start if measured[start] <= target else None
    if lo is None:
        for j in range(start - 1, -1, -1):
            measured[j] = measure(j)
            if measured[j] <= target:
                lo = j
                break
    misses = 0 if lo == start else 1
    j = start + 1
    while j < count and misses <= patience:
        measured[j] = measure(j)
        if measured[j] <= target:
            lo, misses = j, 0
        else:
            misses += 1
        j += 1
    above = [i for i, v in measured.items() if v > target and (lo is None or i > lo)]
    return lo, (min(above) if above else None)


def bracket_values(values, target):
    """`(lo, hi)` among measured `{index: value}`: `lo` the largest index with value <= target, `hi` the
    smallest index above `lo` (any index if `lo` is None) with value > target; either may be None."""
    lo = max((i for i, v in values.items() if v <= target), default=None)
    hi = min((i for i, v in values.items() if v > target and (lo is None or i > lo)), default=None)
    return lo, hi


def neighbourhood(lo, hi, count):
    """Sorted indices around a bracket: lo-1, lo, hi, hi+1 (those that exist), for a side-by-side re-measure."""
    picks = set()
    for i in (lo, hi):
        if i is not None:
            picks |= {i - 1, i, i + 1}
    return sorted(i for i in picks if 0 <= i < count)


def distinct_widths(widths, signature):
    """The widths whose `signature` (channel counts) differs from every earlier one's: the first of each."""
    seen, out = set(), []
    for w in widths:
        sig = signature(w)
        if sig not in seen:
            seen.add(sig)
            out.append(w)
    return out


def closest(indices, values, target):
    """The index (among `indices`, None skipped) whose value is closest to `target`; ties: the first."""
    options = [i for i in indices if i is not None]
    if not options:
        return None
    return min(options, key=lambda i: abs(values[i] - target))


def interpolate(x, x0, y0, x1, y1):
    """Linear interpolation of y at x between (x0, y0) and (x1, y1) (clamped; equal x0 == x1: mean)."""
    if abs(x1 - x0) < 1e-15:
        return (y0 + y1) / 2
    t = min(max((x - x0) / (x1 - x0), 0.0), 1.0)
    return y0 + t * (y1 - y0)


def uniform_grid(lo, hi, step):
    """Widths lo, lo+step, ..., hi (hi always included), rounded."""
    n = int(math.floor((hi - lo) / step + 1e-9))
    widths = [round_ratio(lo + k * step) for k in range(n + 1)]
    if widths[-1] < hi - EPS:
        widths.append(round_ratio(hi))
    return widths


def stage_dict(ratios):
    """{stage: ratio} of the stages not at 1.0 (what set_width / the manifest take)."""
    return {i + 1: float(r) for i, r in enumerate(ratios) if abs(r - 1.0) > EPS}


def describe(width, ratios):
    """`w1 s1×0.9 s3×0.6` (uniform: `w0.75`)."""
    parts = [f"w{width:g}"] + [f"s{s}×{r:g}" for s, r in stage_dict(ratios).items()]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# The cache: every evaluation, keyed by the settings that produced it and the channel counts.
# ---------------------------------------------------------------------------------------------

class Cache:
    """OUT/cache.json: `{version, model_sha256, sections: {section: {settings: {signature: entry}}}}`.

    Holds entries in memory until `attach(path)` (the output directory may not exist before the
    target is known to be reachable); from then on every `put` rewrites the file atomically.
    """

    def __init__(self, model_sha256, data=None):
        self.data = data or {"version": CACHE_VERSION, "model_sha256": model_sha256, "sections": {}}
        self.path = None
        self.hits = 0
        self.new = {}

    @classmethod
    def load(cls, path, model_sha256):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise SearchError(f"{path} is not a readable search cache ({e}); "
                              "remove it or choose another --out.") from None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            raise SearchError(f"{path} is not a version-{CACHE_VERSION} search cache; choose another --out.")
        if data.get("model_sha256") != model_sha256:
            other = str(data.get("model_sha256"))[:12]
            raise SearchError(f"{path} holds the search of another model (sha256 {other}…); "
                              "choose another --out for this model.")
        return cls(model_sha256, data)

    def get(self, section, settings, key):
        entry = self.data["sections"].get(section, {}).get(settings, {}).get(key)
        if entry is not None:
            self.hits += 1
        return entry

    def put(self, section, settings, key, entry):
        self.data["sections"].setdefault(section, {}).setdefault(settings, {})[key] = entry
        self.new[section] = self.new.get(section, 0) + 1
        self.flush()

    def attach(self, path):
        self.path = path
        self.flush()

    def flush(self):
        if self.path is None:
            return
        from slimkeras.io import write_json_atomic

        write_json_atomic(self.path, self.data, indent=1)


# ---------------------------------------------------------------------------------------------
# Evaluations of configurations (model, data, LiteRT), all through the cache.
# ---------------------------------------------------------------------------------------------

class Evaluator:
    """Validation/test top-1, MACs and LiteRT latency of (width, ratios) configurations."""

    def __init__(self, model, data, cache, args):
        import numpy as np
        import tensorflow as tf

        self.np, self.tf = np, tf
        self.model, self.cache, self.args = model, cache, args
        self.calib, self.val, self.test = data["calib"], data["val"], data["test"]
        self.val_settings = f"calib{args.calib_images}_seed{args.seed}_val{len(self.val[0])}"
        self.final_settings = (f"calib{args.final_calib_images}_seed{args.seed}_val{len(self.val[0])}"
                               f"_test{len(self.test[0])}")
        self.latency_settings = (f"{args.precision}_t{args.threads}_{args.latency_stat}"
                                 f"_r{args.bench_runs}x{args.bench_repeats}")
        self.calibrated = {}  # config key -> number of calibration images
        self._macs = {}  # signature -> MACs
        self._files = {}  # signature -> .tflite bytes
        spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    # -- shapes ---------------------------------------------------------------------------------
    def signature(self, width, ratios):
        """The channel counts of every slimmable conv/dense layer: equal signatures, equal networks."""
        from slimkeras.layers import SlimmableLayer

        multipliers = [width] + [width * r for r in ratios]
        counts = [layer.active_units(multipliers[layer.stage or 0]) for layer in self.model.layers
                  if isinstance(layer, SlimmableLayer) and hasattr(layer, "active_units")]
        return "-".join(str(int(c)) for c in counts)

    def macs(self, width, ratios):
        import slimkeras

        sig = self.signature(width, ratios)
        if sig not in self._macs:
            self._macs[sig] = int(slimkeras.profile(self.model, width, stage_ratios=stage_dict(ratios) or None)["macs"])
        return self._macs[sig]

    # -- BN calibration ---------------------------------------------------------------------------
    def _key(self, width, ratios):
        return (round_ratio(width),) + tuple(round_ratio(r) for r in ratios)

    def calibrate(self, configs, num_images):
        """Makes sure each config has BN statistics from `num_images` calibration images."""
        import slimkeras

        state = self.model.width_state
        todo = []
        for w, ratios in configs:
            key = self._key(w, ratios)
            if self.calibrated.get(key) == num_images and state.find_slot(w, list(ratios)) is not None:
                continue
            if key not in [self._key(*c) for c in todo]:
                todo.append((w, ratios))
        if not todo:
            return
        free = self.model.num_bn_slots - len(state.calibrated_configs())
        clear = len(todo) > free
        if clear:
            self.calibrated = {}
        slimkeras.calibrate_bn(self.model, self.calib[:num_images],
                               widths=[(w, stage_dict(r)) for w, r in todo],
                               num_images=num_images, clear=clear, verbose=0)
        for w, ratios in todo:
            self.calibrated[self._key(w, ratios)] = num_images

    def _top1(self, width, ratios, images, labels):
        np = self.np
        self.model.set_width(width, stage_ratios=stage_dict(ratios) or None)
        self.model.check_inference_width()
        correct = 0
        for start in range(0, len(images), self.args.eval_batch):
            logits = self._forward(images[start:start + self.args.eval_batch]).numpy()
            correct += int(np.sum(np.argmax(logits, -1) == labels[start:start + self.args.eval_batch]))
        return correct / len(images)

    # -- validation top-1 during the search ---------------------------------------------------------
    def val_top1(self, configs):
        """Validation top-1 of each (width, ratios), calibrating the uncached ones in one pass."""
        entries = self._evaluate_cached("val", self.val_settings, configs, self.args.calib_images,
                                        lambda *c: {"val_top1": self._top1(*c, *self.val)})
        return [entries[self.signature(*c)]["val_top1"] for c in configs]

    def _evaluate_cached(self, kind, settings, configs, calib_images, evaluate):
        """{signature: cache entry} of `configs`: the cached entries, and for the others
        `evaluate(width, ratios)` after calibrating them together on `calib_images` images."""
        entries, missing = {}, []
        for c in configs:
            sig = self.signature(*c)
            entry = self.cache.get(kind, settings, sig)
            if entry is not None:
                entries[sig] = entry
            elif c not in missing:
                missing.append(c)
        if missing:
            self.calibrate(missing, calib_images)
            for c in missing:
                sig = self.signature(*c)
                if sig not in entries:  # configs with the same channel counts share an entry
                    entries[sig] = {**evaluate(*c), "config": describe(*c)}
                    self.cache.put(kind, settings, sig, entries[sig])
        return entries

    # -- latency ------------------------------------------------------------------------------------
    def _tflite(self, width, ratios):
        """The .tflite bytes of the materialized config (kept in memory per signature)."""
        import slimkeras
        from tflite_export.convert import convert

        sig = self.signature(width, ratios)
        if sig not in self._files:
            self.calibrate([(width, ratios)], self.args.calib_images)  # materialize needs BN statistics
            plain = slimkeras.materialize(self.model, width, stage_ratios=stage_dict(ratios) or None)
            self._files[sig] = convert(plain, self.args.precision,
                                       self.calib[:200] if self.args.precision == "int8" else None)
        return self._files[sig]

    def _bench(self, content):
        from tflite_export.runtime import benchmark

        return benchmark(content, self.args.threads, self.args.bench_runs, warmup_runs=50)

    def latency(self, width, ratios):
        """--latency_stat (ms) of the materialized config: the fastest of --bench_repeats LiteRT
        benchmarks of --bench_runs invokes each (other processes on the machine only add time)."""
        sig = self.signature(width, ratios)
        entry = self.cache.get("latency", self.latency_settings, sig)
        if entry is not None:
            return entry["ms"]
        content = self._tflite(width, ratios)
        runs = [self._bench(content) for _ in range(self.args.bench_repeats)]
        ms = float(min(r[self.args.latency_stat] for r in runs))
        self.cache.put("latency", self.latency_settings, sig, {
            "ms": ms, "config": describe(width, ratios), "bytes": len(content),
            "p50": [r["p50"] for r in runs], "p90": [r["p90"] for r in runs]})
        return ms

    def interleaved_latency(self, configs):
        """Latencies of several configs measured side by side: --bench_repeats rounds, each benchmarking
        every config once, the fastest round per config. A fair comparison on a machine whose load
        drifts between the search's measurements."""
        sigs = {}
        for c in configs:
            sigs.setdefault(self.signature(*c), c)
        key = "|".join(sorted(sigs))
        entry = self.cache.get("interleaved", self.latency_settings, key)
        if entry is not None:
            return entry["ms"]
        contents = {sig: self._tflite(*c) for sig, c in sigs.items()}
        values = {sig: [] for sig in sigs}
        for _ in range(self.args.bench_repeats):
            for sig, content in contents.items():
                values[sig].append(self._bench(content)[self.args.latency_stat])
        ms = {sig: float(min(v)) for sig, v in values.items()}
        self.cache.put("interleaved", self.latency_settings, key,
                       {"ms": ms, "configs": {sig: describe(*c) for sig, c in sigs.items()}, "runs": values})
        return ms

    # -- final numbers: more calibration images, validation and test top-1 ------------------------------
    def final(self, configs):
        """{signature: {"val_top1", "test_top1"}} with BN calibrated on --final_calib_images."""
        return self._evaluate_cached(
            "final", self.final_settings, configs, self.args.final_calib_images,
            lambda *c: {"val_top1": self._top1(*c, *self.val), "test_top1": self._top1(*c, *self.test)})


# ---------------------------------------------------------------------------------------------
# Progress on stderr
# ---------------------------------------------------------------------------------------------

class Progress:
    """One line per step on stderr: a bar from the full-width value to the target."""

    def __init__(self, kind, full, target, quiet=False):
        self.kind, self.full, self.target, self.quiet = kind, full, target, quiet
        self.start = time.time()

    def show(self, step, value, text):
        if self.quiet:
            return
        span = self.full - self.target
        fraction = 1.0 if span <= 0 else min(max((self.full - value) / span, 0.0), 1.0)
        bar = "#" * int(round(20 * fraction))
        unit = "ms" if self.kind == "latency" else "MACs"
        shown = f"{value:.4f} ms" if self.kind == "latency" else f"{value / 1e6:.3f}M MACs"
        goal = f"{self.target:.4f} ms" if self.kind == "latency" else f"{self.target / 1e6:.3f}M {unit}"
        print(f"[{bar:<20}] {100 * fraction:5.1f}% step {step:>2} {shown} (target {goal}) | {text} | "
              f"{time.time() - self.start:.0f}s", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------

def load_data(args, input_shape):
    """Calibration images, held-out validation images (end of the training split) and the test split."""
    import numpy as np

    from slimkeras.datasets import DataError, fashion_mnist

    if tuple(input_shape) != (28, 28, 1):
        raise SearchError(f"the model's input is {tuple(input_shape)}; the search reads Fashion-MNIST "
                          "(28, 28, 1) only.")
    try:
        train_x, train_y = fashion_mnist.load_data("train", args.data_dir)
        test_x, test_y = fashion_mnist.load_data("test", args.data_dir)
    except DataError as e:
        raise SearchError(str(e)) from None
    pool = len(train_x) - args.val_images
    need = max(args.calib_images, args.final_calib_images)
    if pool < need:
        raise SearchError(f"--val_images={args.val_images} leaves {pool} training images for BN calibration; "
                          f"--calib_images/--final_calib_images need {need}.")
    order = np.sort(np.random.default_rng(args.seed).permutation(pool)[:need])
    calib = fashion_mnist.normalize(train_x[order]).numpy()
    # Shuffle the calibration images (sorted indices keep the file order; BN batches mix classes better).
    calib = calib[np.random.default_rng(args.seed + 1).permutation(len(calib))]
    val = (fashion_mnist.normalize(train_x[pool:]).numpy(), train_y[pool:].astype(np.int64))
    limit = args.test_images or len(test_x)
    test = (fashion_mnist.normalize(test_x[:limit]).numpy(), test_y[:limit].astype(np.int64))
    return {"calib": calib, "val": val, "test": test, "calib_pool": pool}


def prepare_out(out):
    """Checks --out before anything is measured; returns the cache path."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise SearchError(f"--out={out} exists and is not a directory.")
    cache_path = os.path.join(out, CACHE_NAME)
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(cache_path):
        raise SearchError(f"--out={out} is a non-empty directory that holds no search ({CACHE_NAME}); "
                          "choose a new or empty directory.")
    parent = os.path.dirname(out)
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        raise SearchError(f"--out={out} cannot be written (no write permission in {parent}).")
    return cache_path


def run_search(args):
    """The whole search; returns the search.json dict. Raises SearchError for bad input."""
    kind, target_value, relative = check_targets(args.target_ms, args.target_macs)
    out = os.path.abspath(args.out)
    cache_path = prepare_out(out)
    if not os.path.isfile(args.model):
        raise SearchError(f"--model={args.model}: no such file (give the final.keras a training run wrote).")
    from tflite_export.manifest import sha256_of

    model_sha = sha256_of(args.model)
    cache = Cache.load(cache_path, model_sha) if os.path.exists(cache_path) else Cache(model_sha)

    from tflite_export.export import ExportError, load_model

    try:
        model = load_model(args.model)
    except ExportError as e:
        raise SearchError(str(e)) from None
    spec = model.width_spec
    if not spec.is_range or not model.uses_universal_bn or model.num_stages < 1:
        raise SearchError(f"--model={args.model}: nonuniform widths need a US-Net trained on a width range with "
                          f"universal BN and stages; this one has {spec.describe()} and {model.num_stages} stages.")
    width = float(spec.max_width)
    lowest = spec.min_width / width
    min_ratio = lowest if args.min_ratio is None else args.min_ratio
    if not lowest - EPS <= min_ratio <= 1.0 - EPS:
        raise SearchError(f"--min_ratio={args.min_ratio}: allowed {lowest:g} (the trained range's lower bound "
                          f"{spec.min_width:g} / width {width:g}) up to below 1.")
    min_ratio = round_ratio(max(min_ratio, lowest))
    n = model.num_stages
    data = load_data(args, model.inputs[0].shape[1:])
    ev = Evaluator(model, data, cache, args)

    full = (1.0,) * n
    narrowest = (min_ratio,) * n
    full_macs, narrow_macs = ev.macs(width, full), ev.macs(width, narrowest)
    stat_text = f" ({args.latency_stat}, {args.precision}, {args.threads} thread{'s' if args.threads > 1 else ''})"
    narrow_text = f"width {width:g}, every stage at ratio {min_ratio:g}"
    hint = (f" or lower --min_ratio (down to {lowest:g}, the trained range's lower bound)"
            if min_ratio > lowest + EPS else f" ({min_ratio:g} is the trained range's lower bound)")
    if kind == "latency":
        full_value = ev.latency(width, full)
        target = target_value * full_value if relative else target_value
        narrow_value = ev.latency(width, narrowest)
        check_reachable(kind, target, narrow_value, narrow_text, stat_text + " on this machine", hint)
    else:
        full_value = full_macs
        target = target_value * full_macs if relative else target_value
        check_reachable(kind, target, narrow_macs, narrow_text, hint=hint)

    os.makedirs(out, exist_ok=True)
    cache.attach(cache_path)

    def metric(ratios):
        return ev.latency(width, ratios) if kind == "latency" else ev.macs(width, ratios)

    progress = Progress(kind, full_value, target, args.quiet)
    current = full
    path = [{"step": 0, "move": None, "ratios": list(current), "macs": full_macs,
             "latency_ms": ev.latency(width, current), "val_top1": ev.val_top1([(width, current)])[0]}]
    progress.show(0, metric(current), f"{describe(width, current)} val {100 * path[0]['val_top1']:.2f}%")
    step = 0
    while not target_met(metric(current), target):
        step += 1
        moves = distinct_moves(current, args.step, min_ratio, lambda r: ev.signature(width, r))
        if not moves:  # cannot happen after check_reachable, unless latencies were re-measured
            raise SearchError(f"no stage can be shrunk further at {describe(width, current)}, and the target "
                              "is not met.")
        accs = ev.val_top1([(width, r) for _, r in moves])
        evaluated = [{"stage": s, "ratios": list(r), "macs": ev.macs(width, r), "val_top1": a}
                     for (s, r), a in zip(moves, accs)]
        best = choose_move(evaluated)
        previous = current
        current = tuple(best["ratios"])
        s = best["stage"]
        path.append({"step": step, "move": f"stage {s}: {previous[s - 1]:g} -> {current[s - 1]:g}",
                     "ratios": list(current), "macs": best["macs"], "latency_ms": ev.latency(width, current),
                     "val_top1": best["val_top1"], "candidates": evaluated})
        progress.show(step, metric(current), f"{describe(width, current)} val {100 * best['val_top1']:.2f}% "
                      f"({len(evaluated)} candidates)")
    found = current

    # -- the uniform widths of the same latency / MACs, and the final numbers -----------------------
    uniform = (1.0,) * n
    grid = distinct_widths(uniform_grid(spec.min_width, spec.max_width, args.uniform_step),
                           lambda w: ev.signature(w, uniform))
    grid_macs = [ev.macs(w, uniform) for w in grid]
    found_latency, found_macs = ev.latency(width, found), ev.macs(width, found)
    start = closest(range(len(grid)), grid_macs, found_macs)
    lat_lo, lat_hi = bracket(len(grid), lambda i: ev.latency(grid[i], uniform), found_latency, start)
    mac_lo, mac_hi = bracket(len(grid), lambda i: grid_macs[i], found_macs, start)
    # The search's latencies were measured minutes apart on a machine whose load drifts: re-measure the
    # searched model side by side with the uniform widths around it, and compare on those numbers.
    near = neighbourhood(lat_lo, lat_hi, len(grid))
    inter = ev.interleaved_latency([(width, found)] + [(grid[i], uniform) for i in near])
    found_inter = inter[ev.signature(width, found)]
    near_values = {i: inter[ev.signature(grid[i], uniform)] for i in near}
    lat_lo, lat_hi = bracket_values(near_values, found_inter)
    export_widths = [w for w in EXPORT_WIDTHS if spec.min_width - EPS <= w <= spec.max_width + EPS]
    uniform_widths = sorted({grid[i] for i in list(near) + [mac_lo, mac_hi] if i is not None} | set(export_widths))
    finals = ev.final([(width, found)] + [(w, uniform) for w in uniform_widths])

    def row(w, ratios):
        sig = ev.signature(w, ratios)
        entry = ev.cache.get("latency", ev.latency_settings, sig)
        return {"config": describe(w, ratios), "width": w,
                "stage_ratios": {str(k): v for k, v in stage_dict(ratios).items()},
                "macs": ev.macs(w, ratios), "latency_ms": entry["ms"] if entry else None,
                "latency_ms_interleaved": inter.get(sig),
                "val_top1": finals[sig]["val_top1"], "test_top1": finals[sig]["test_top1"]}

    searched = row(width, found)
    uniform_rows = [row(w, uniform) for w in uniform_widths]
    by_width = {r["width"]: r for r in uniform_rows}
    comparison = {}
    same_lat = closest([lat_lo, lat_hi], near_values, found_inter)
    same_mac = closest([mac_lo, mac_hi], grid_macs, found_macs)
    for name, index, lo, hi, x, xs in (("same_latency", same_lat, lat_lo, lat_hi, found_inter, near_values),
                                       ("same_macs", same_mac, mac_lo, mac_hi, found_macs, grid_macs)):
        if index is None:
            continue
        u = by_width[grid[index]]
        entry = {"uniform_width": grid[index], "uniform": u, "searched_value": x, "uniform_value": xs[index],
                 "bracket": [None if lo is None else grid[lo], None if hi is None else grid[hi]],
                 "test_top1_diff": searched["test_top1"] - u["test_top1"],
                 "val_top1_diff": searched["val_top1"] - u["val_top1"]}
        if lo is not None and hi is not None:
            ulo, uhi = by_width[grid[lo]], by_width[grid[hi]]
            interp = interpolate(x, xs[lo], ulo["test_top1"], xs[hi], uhi["test_top1"])
            entry["uniform_test_top1_interpolated"] = interp
            entry["test_top1_diff_interpolated"] = searched["test_top1"] - interp
        comparison[name] = entry

    # -- export: the uniform widths and the searched model ----------------------------------------------
    export_dir = os.path.join(out, "export")
    export_info = export_searched(model, ev, export_dir, width, found, export_widths, args)

    result = {
        "model": os.path.abspath(args.model), "model_sha256": model_sha,
        "target": {"kind": kind, "value": target, "given": args.target_ms if kind == "latency" else args.target_macs,
                   "relative": relative, "full_width_value": full_value},
        "settings": {"step": args.step, "min_ratio": min_ratio, "global_width": width, "num_stages": n,
                     "val_images": len(data["val"][0]), "val_split": f"training images {data['calib_pool']}.."
                     f"{data['calib_pool'] + len(data['val'][0]) - 1} (held out)",
                     "calib_images": args.calib_images, "final_calib_images": args.final_calib_images,
                     "test_images": len(data["test"][0]), "precision": args.precision, "threads": args.threads,
                     "latency_stat": args.latency_stat, "bench_runs": args.bench_runs,
                     "bench_repeats": args.bench_repeats, "uniform_step": args.uniform_step, "seed": args.seed},
        "found": {**searched, "ratios": list(found), "search_val_top1": path[-1]["val_top1"],
                  "steps": len(path) - 1, "target_met": target_met(metric(found), target)},
        "full_width": row(width, full),
        "comparison": comparison,
        "uniform": uniform_rows,
        "path": path,
        "export": export_info,
        "evaluations": {"new": dict(cache.new), "new_total": sum(cache.new.values()), "cached": cache.hits},
    }

    from slimkeras.io import write_json_atomic, write_text_atomic

    write_text_atomic(os.path.join(out, "search.md"), render_markdown(result))
    write_json_atomic(os.path.join(out, "search.json"), result)
    return result


def export_searched(model, ev, export_dir, width, found, export_widths, args):
    """Exports the uniform widths and the searched model (skipped when OUT/export already holds them)."""
    from tflite_export import manifest as manifest_lib
    from tflite_export.export import ExportError, export_model

    n = model.num_stages
    wanted = [(w, (1.0,) * n) for w in export_widths] + [(width, found)]
    ids = [manifest_lib.model_id(w, stage_dict(r), args.precision) for w, r in wanted]
    searched_id = ids[-1]
    manifest_path = os.path.join(export_dir, manifest_lib.MANIFEST_NAME)
    if os.path.isfile(manifest_path):
        try:
            existing = manifest_lib.read_manifest(export_dir)
            have = {m["id"] for m in existing["models"]}
            if set(ids) <= have and not manifest_lib.file_problems(existing, export_dir):
                return {"dir": export_dir, "ids": ids, "searched_id": searched_id, "reused": True}
        except ValueError:
            pass
    ev.calibrate(wanted, args.final_calib_images)
    try:
        export_model(model, export_dir, widths=[(w, stage_dict(r) or None) for w, r in wanted],
                     precisions=[args.precision], dataset="fashion_mnist", data_dir=args.data_dir,
                     representative=ev.calib, test_data=ev.test, calibrate_images=0,
                     bench_threads=(args.threads,), bench_runs=args.bench_runs, verbose=0)
    except ExportError as e:
        raise SearchError(f"export: {e}") from None
    return {"dir": export_dir, "ids": ids, "searched_id": searched_id, "reused": False}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def _ms(x):
    return "–" if x is None else f"{x:.4f}"


def render_markdown(r):
    s, t, f = r["settings"], r["target"], r["found"]
    stat = f"{s['latency_stat']} ms ({s['precision']}, {s['threads']} thr)"
    lines = ["# Slimming search", ""]
    tgt = (f"{t['value']:.4f} ms {s['latency_stat']}" if t["kind"] == "latency" else f"{t['value'] / 1e6:.3f} M MACs")
    if t["relative"]:
        tgt += f" ({t['given']} of full width)"
    lines += [f"Model `{r['model']}` (sha256 {r['model_sha256'][:12]}…). Target: **{tgt}**. Global width "
              f"{s['global_width']:g}; stage ratios shrink by {s['step']:g} (down to {s['min_ratio']:g}), the move "
              f"that loses least validation top-1 is kept. Validation: {s['val_images']} held-out training images "
              f"({s['val_split']}); BN calibrated on {s['calib_images']} other training images during the search and "
              f"{s['final_calib_images']} for the final numbers; test top-1 on {s['test_images']} test images "
              f"(never used for a decision). Latency: LiteRT, {stat}, the fastest of {s['bench_repeats']} "
              "benchmarks of "
              f"{s['bench_runs']} invokes, on the machine that ran the search.", ""]
    lines += ["## Found", "",
              "| config | stage ratios | MACs | latency | val top-1 % | test top-1 % |",
              "|---|---|---:|---:|---:|---:|"]
    for label, row in (("searched", f), ("full width", r["full_width"])):
        ratios = ", ".join(f"s{k}: {v:g}" for k, v in row["stage_ratios"].items()) or "uniform"
        lines.append(f"| {label} `{row['config']}` | {ratios} | {row['macs'] / 1e6:.3f} M | {_ms(row['latency_ms'])} | "
                     f"{_pct(row['val_top1'])} | {_pct(row['test_top1'])} |")
    lines += ["", f"Target met: {f['target_met']} after {f['steps']} steps.", ""]
    lines += ["## Searched vs uniform width", ""]
    for name, title in (("same_latency", "the same latency"), ("same_macs", "the same MACs")):
        c = r["comparison"].get(name)
        if not c:
            lines.append(f"- {title}: no uniform width in the trained range brackets the searched model.")
            continue
        u = c["uniform"]
        measured = (f"{_ms(c['uniform_value'])} ms vs searched {_ms(c['searched_value'])} ms, measured side by side"
                    if name == "same_latency" else f"{u['macs'] / 1e6:.3f} M vs searched {f['macs'] / 1e6:.3f} M MACs")
        diff = c["test_top1_diff"]
        verdict = ("equally accurate" if abs(diff) < 1e-9 else
                   f"**{'searched' if diff > 0 else 'uniform'}** more accurate by {100 * abs(diff):.2f} points")
        text = (f"- **{title}**: uniform {c['uniform_width']:g}× ({measured}) test {_pct(u['test_top1'])} % vs "
                f"searched {_pct(f['test_top1'])} % → {verdict} (searched − uniform on validation: "
                f"{100 * c['val_top1_diff']:+.2f}).")
        if "uniform_test_top1_interpolated" in c:
            lo, hi = c["bracket"]
            text += (f" Interpolated between uniform {lo:g}× and {hi:g}× at the searched value: "
                     f"{_pct(c['uniform_test_top1_interpolated'])} % ({100 * c['test_top1_diff_interpolated']:+.2f}).")
        lines.append(text)
    lines += ["", "Uniform widths measured (BN calibrated like the searched model; latency: during the search / "
              "side by side with the searched model):", "",
              "| width | MACs | latency | side by side | val top-1 % | test top-1 % |",
              "|---:|---:|---:|---:|---:|---:|"]
    for u in r["uniform"] + [dict(f, width=None)]:
        name = "searched" if u["width"] is None else f"{u['width']:g}"
        lines.append(f"| {name} | {u['macs'] / 1e6:.3f} M | {_ms(u['latency_ms'])} | "
                     f"{_ms(u['latency_ms_interleaved'])} | "
                     f"{_pct(u['val_top1'])} | {_pct(u['test_top1'])} |")
    lines += ["", "## Path from full width", "",
              "| step | move | stage ratios | MACs | latency | val top-1 % (search) |", "|---:|---|---|---:|---:|---:|"]
    for p in r["path"]:
        lines.append(f"| {p['step']} | {p['move'] or 'start'} | {', '.join(f'{x:g}' for x in p['ratios'])} | "
                     f"{p['macs'] / 1e6:.3f} M | {_ms(p['latency_ms'])} | {_pct(p['val_top1'])} |")
    e = r["export"]
    lines += ["", f"Exported to `{e['dir']}`: {', '.join(e['ids'])} (searched: `{e['searched_id']}`; manifest "
              "entry with `stage_ratios`).", "",
              f"Evaluations: {r['evaluations']['new_total']} new, {r['evaluations']['cached']} from the cache.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser():
    p = _Parser(prog="python -m training.slim_search", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the trained US-Net (final.keras)")
    p.add_argument("--out", required=True, help="output directory (cache.json, search.json, search.md, export/)")
    p.add_argument("--target_ms", default=None, help="latency target in ms, or N%% of the full-width latency")
    p.add_argument("--target_macs", default=None, help="MACs target (e.g. 2e6), or N%% of the full-width MACs")
    p.add_argument("--val_images", type=int, default=5000, help="held-out training images (the split's last N)")
    p.add_argument("--calib_images", type=int, default=512, help="BN calibration images per candidate")
    p.add_argument("--final_calib_images", type=int, default=2048, help="BN calibration images of the final numbers")
    p.add_argument("--test_images", type=int, default=None, help="test images for the final top-1 (default all)")
    p.add_argument("--step", type=float, default=0.05, help="ratio step of a move")
    p.add_argument("--min_ratio", type=float, default=None, help="smallest stage ratio (default: range low / high)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--latency_stat", default="p90", choices=list(LATENCY_STATS),
                   help="p90 (the app's criterion) or p50")
    p.add_argument("--bench_runs", type=int, default=2000, help="steady-state invokes per benchmark")
    p.add_argument("--bench_repeats", type=int, default=5, help="benchmarks per configuration (the fastest counts)")
    p.add_argument("--uniform_step", type=float, default=0.01, help="grid of the uniform widths compared")
    p.add_argument("--eval_batch", type=int, default=1000)
    p.add_argument("--data_dir", default=None, help="Fashion-MNIST IDX directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p


def check_args(args):
    positive = {"val_images": args.val_images, "calib_images": args.calib_images,
                "final_calib_images": args.final_calib_images, "threads": args.threads,
                "bench_runs": args.bench_runs, "bench_repeats": args.bench_repeats, "eval_batch": args.eval_batch}
    if args.test_images is not None:
        positive["test_images"] = args.test_images
    for name, value in positive.items():
        if value < 1:
            raise SearchError(f"--{name}={value}: must be a positive integer.")
    for name in ("step", "uniform_step"):
        value = getattr(args, name)
        if not (math.isfinite(value) and 0 < value < 1):
            raise SearchError(f"--{name}={value}: must be in (0, 1), e.g. 0.05.")
    if args.min_ratio is not None and not (math.isfinite(args.min_ratio) and 0 < args.min_ratio < 1):
        raise SearchError(f"--min_ratio={args.min_ratio}: must be in (0, 1).")


def print_summary(r):
    f, t = r["found"], r["target"]
    print(f"Found {f['config']} after {f['steps']} steps: {f['macs'] / 1e6:.3f} M MACs, "
          f"{_ms(f['latency_ms'])} ms {r['settings']['latency_stat']}, val {_pct(f['val_top1'])} %, "
          f"test {_pct(f['test_top1'])} % (target {t['value']:.6g} {'ms' if t['kind'] == 'latency' else 'MACs'}).")
    for name, c in r["comparison"].items():
        print(f"  vs uniform {c['uniform_width']:g}× ({name.replace('_', ' ')}): "
              f"test {_pct(c['uniform']['test_top1'])} % "
              f"({100 * c['test_top1_diff']:+.2f} points for the searched model)")
    print(f"  evaluations: {r['evaluations']['new_total']} new, {r['evaluations']['cached']} from the cache; "
          f"wrote search.json, search.md, export/ to {os.path.dirname(r['export']['dir'])}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        check_targets(args.target_ms, args.target_macs)
        result = run_search(args)
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
