"""Reproduce the S-Nets / US-Nets claims on Fashion-MNIST: `python -m training.reproduce [--epochs=N]`.

Trains, with one model family (the small MobileNet v1 for 28x28 inputs), one budget (the same
epochs, batch, learning rate and schedule for every job) and the same seeds:

- individual networks at 0.25 / 0.5 / 0.75 / 1.0 (every seed of --seeds);
- a naive network: the 4 switches with ONE shared BN (first seed);
- a 4-switch S-Net [0.25, 0.5, 0.75, 1.0] (every seed);
- an 8-switch S-Net [0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0] (first seed);
- a US-Net [0.25, 1.0] with in-place distillation (every seed), one without it and one with
  output averaging (first seed).

Each job is one `python -m training.main` subprocess into its own folder under --out, skipped when
its results.json exists (an interrupted reproduction resumes). Then every network is evaluated
in this process on the test images: at the switches, at 20 widths in [0.25, 1.0] after BN
calibration (networks without a BN for a width get one: see `probe_model`), the US-Net at
nonuniform widths (one stage at 0.6 of the global width) and the fp32 and int8 TFLite files of
the US-Net and the S-Net. Evaluations are cached in each job's eval.json. Last, it writes
docs/results.md with the tables, the claims checked and PNG plots in docs/results/ (--quick:
OUT/results.md and OUT/results/).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SWITCHES4 = [0.25, 0.5, 0.75, 1.0]
SWITCHES8 = [0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0]
RANGE = (0.25, 1.0)
STAGE_RATIO = 0.6
DEFAULT_EPOCHS = 6
DEFAULT_SEEDS = "0,1"
# How the default epochs were chosen (measured on this project's 2-core machine; see docs/results.md).
BUDGET_NOTE = (
    "the default 6 epochs measured 74.5 CPU-min of training for the 16 jobs and 4.9 CPU-min of "
    "evaluation (79.4 CPU-min; 67.9 min wall on this machine, shared with other jobs, load 3–4, in two "
    "invocations: the first was killed from outside and about 6 min of one job's work were redone). "
    "Alone, a job's wall time is 0.7–1.0× its CPU time (TensorFlow keeps 1–1.4 of the 2 cores busy), so "
    "the default takes ≈ 55–80 min alone, inside the 90-minute budget. A 3-epoch run (`--epochs=3`) "
    "measured 41.1 + 5.2 CPU-min and 54.6 min wall under load 5.6: ≈ 33 CPU-s per job of start-up, "
    "tracing and end-of-run evaluation, ≈ 645 CPU-s per epoch for all 16 jobs together, so E epochs cost "
    "≈ 9 + 10.75 E + 5 CPU-min; 7 epochs (≈ 89 CPU-min) would not fit 90 minutes safely."
)
CALIBRATION_IMAGES = 2048
REPRESENTATIVE_IMAGES = 300
FLAGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flags")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Claim thresholds (accuracy points).
SNET_TOLERANCE = 0.5
USNET_TOLERANCE = 0.5
DIP_TOLERANCE = 1.0
COLLAPSE_GAP = 10.0
INT8_TOLERANCE = 1.0

# Human names of the methods (job groups).
LABELS = {
    "individual": "individual",
    "naive": "naive shared BN",
    "s4": "S-Net 4-switch",
    "s8": "S-Net 8-switch",
    "us": "US-Net (in-place distill.)",
    "us_nodistill": "US-Net without distill.",
    "us_oa": "US-Net + output averaging",
}


# -- the jobs -----------------------------------------------------------------------------------
def width_tag(w):
    return f"{w:g}".replace(".", "")


def plan_jobs(seeds):
    """The training jobs: dicts with name, group, width (individual), seed, flagfile, overrides."""
    jobs = []
    first = seeds[0]
    for seed in seeds:
        for w in SWITCHES4:
            jobs.append(dict(name=f"individual_{width_tag(w)}_s{seed}", group="individual", width=w, seed=seed,
                             flagfile="individual_mbv1_fashion", overrides=[f"--width_mult_list={w:g}"]))
    jobs.append(dict(name=f"naive_s{first}", group="naive", seed=first, flagfile="naive_mbv1_fashion",
                     overrides=[]))
    for seed in seeds:
        jobs.append(dict(name=f"s4_s{seed}", group="s4", seed=seed, flagfile="s_mbv1_fashion", overrides=[]))
    jobs.append(dict(name=f"s8_s{first}", group="s8", seed=first, flagfile="s_mbv1_fashion",
                     overrides=["--width_mult_list=" + ",".join(f"{w:g}" for w in SWITCHES8)]))
    for seed in seeds:
        jobs.append(dict(name=f"us_s{seed}", group="us", seed=seed, flagfile="us_mbv1_fashion", overrides=[]))
    jobs.append(dict(name=f"us_nodistill_s{first}", group="us_nodistill", seed=first,
                     flagfile="us_mbv1_fashion", overrides=["--noinplace_distill"]))
    jobs.append(dict(name=f"us_oa_s{first}", group="us_oa", seed=first, flagfile="us_mbv1_fashion",
                     overrides=["--output_averaging"]))
    return jobs


def select_jobs(jobs, patterns):
    """Jobs named by the comma-separated `patterns`: a job name, a group (individual, naive, s4,
    s8, us, us_nodistill, us_oa), or else a name prefix."""
    if not patterns:
        return jobs
    chosen = set()
    for p in (p.strip() for p in patterns.split(",") if p.strip()):
        exact = {j["name"] for j in jobs if p in (j["name"], j["group"])}
        matched = exact or {j["name"] for j in jobs if j["name"].startswith(p)}
        if not matched:
            raise SystemExit(f"--jobs: {p!r} matches none of: {', '.join(j['name'] for j in jobs)}")
        chosen |= matched
    return [j for j in jobs if j["name"] in chosen]


def quick_overrides():
    return ["--train_limit=2048", "--eval_limit=512", "--calibration_images=256"]


def job_argv(job, out, epochs, quick):
    argv = [sys.executable, "-m", "training.main", f"--flagfile={os.path.join(FLAGS_DIR, job['flagfile'])}.flags"]
    argv += job["overrides"]
    argv += [f"--epochs={epochs}", f"--seed={job['seed']}", "--verbose=0",
             f"--model_dir={os.path.join(out, job['name'])}"]
    if quick:
        argv += quick_overrides()
    return argv


def run_jobs(jobs, out, epochs, quick, log=print):
    """Runs the training jobs not yet done; returns {name: {wall_seconds, cpu_seconds}} of every job."""
    walls = {}
    start = time.time()
    for i, job in enumerate(jobs, 1):
        model_dir = os.path.join(out, job["name"])
        results = os.path.join(model_dir, "results.json")
        info_path = os.path.join(model_dir, "job.json")
        if os.path.exists(results):
            with open(results) as f:
                trained = json.load(f).get("epochs")
            if trained != epochs:
                raise SystemExit(f"{model_dir} holds a network trained for {trained} epochs, not {epochs}: "
                                 "pass another --out (or delete that folder).")
            walls[job["name"]] = _recorded(info_path, results)
            log(f"[{i}/{len(jobs)}] {job['name']}: done before, skipped")
            continue
        argv = job_argv(job, out, epochs, quick)
        log(f"[{i}/{len(jobs)}] {job['name']}: training ({_elapsed(start)} elapsed)")
        os.makedirs(model_dir, exist_ok=True)
        t, cpu = time.time(), _children_cpu()
        load = os.getloadavg()[0]
        with open(os.path.join(model_dir, "train.log"), "a") as f:
            code = subprocess.call(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONPATH=ROOT))
        wall, cpu = time.time() - t, _children_cpu() - cpu
        if code != 0 or not os.path.exists(results):
            raise SystemExit(f"Job {job['name']} failed (exit {code}); see {model_dir}/train.log")
        _write_json(info_path, {"argv": argv[1:], "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                                "load_before": load, "load_after": os.getloadavg()[0]})
        walls[job["name"]] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
        log(f"[{i}/{len(jobs)}] {job['name']}: done in {wall:.0f} s, {cpu:.0f} CPU s ({_elapsed(start)} elapsed)")
    return walls


def _self_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _recorded(info_path, results_path):
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        return {"wall_seconds": info["wall_seconds"], "cpu_seconds": info.get("cpu_seconds")}
    with open(results_path) as f:  # trained outside reproduce: its training time only
        return {"wall_seconds": json.load(f).get("train_seconds", 0.0), "cpu_seconds": None}


def _elapsed(start):
    s = int(time.time() - start)
    return f"{s // 60}:{s % 60:02d}"


def _write_json(path, obj):
    from slimkeras.io import write_json_atomic

    write_json_atomic(path, obj, indent=1)


# -- evaluation ----------------------------------------------------------------------------------
def grid_widths(n):
    """n widths evenly spaced in [0.25, 1.0] (rounded to 6 decimals)."""
    return [round(float(w), 6) for w in np.linspace(RANGE[0], RANGE[1], n)]


class EvalData:
    """Normalized float32 test images, and calibration / representative training images per seed."""

    def __init__(self, quick):
        from slimkeras.datasets import fashion_mnist

        train_images, _ = fashion_mnist.load_data("train")
        test_images, test_labels = fashion_mnist.load_data("test")
        if quick:
            train_images = train_images[:2048]
            test_images, test_labels = test_images[:512], test_labels[:512]
        self.quick = quick
        self.train_images = train_images
        self.test_images = self.normalize(test_images)
        self.test_labels = test_labels
        self.calibration_count = 256 if quick else CALIBRATION_IMAGES

    @staticmethod
    def normalize(images):
        from slimkeras.datasets import fashion_mnist

        return fashion_mnist.normalize(images).numpy().astype(np.float32)

    def calibration(self, seed):
        """The calibration images training.main uses for this seed (the same permutation)."""
        order = np.random.default_rng(seed).permutation(len(self.train_images))[:self.calibration_count]
        return self.normalize(self.train_images[order])

    def representative(self, seed):
        order = np.random.default_rng(seed + 1000).permutation(len(self.train_images))[:REPRESENTATIVE_IMAGES]
        return self.normalize(self.train_images[order])


_PREDICT_FNS = {}


def predict_fn(net):
    """A traced argmax(net(x)) kept per model: one trace serves every width."""
    import tensorflow as tf

    if id(net) not in _PREDICT_FNS:
        spec = tf.TensorSpec((None,) + tuple(net.inputs[0].shape[1:]), tf.float32)
        _PREDICT_FNS[id(net)] = (net, tf.function(
            lambda x: tf.argmax(net(x, training=False), axis=-1, output_type=tf.int32), input_signature=[spec]))
    return _PREDICT_FNS[id(net)][1]


def make_accuracy_fn(net, data, batch=1000):
    """top1(net) at the model's current width."""
    import tensorflow as tf

    fn = predict_fn(net)

    def accuracy():
        net.check_inference_width()
        correct = 0
        for start in range(0, len(data.test_images), batch):
            predicted = fn(tf.constant(data.test_images[start:start + batch])).numpy()
            correct += int(np.sum(predicted == data.test_labels[start:start + batch]))
        return correct / len(data.test_images)

    return accuracy


def evaluate_configs(net, data, calibration, configs, allow_untrained=False, calibrate=True):
    """top-1 at each config (a width or (width, {stage: ratio})), calibrating BN in chunks
    of the model's BN slots first when `calibrate`; returns rows with macs/params/top1."""
    import slimkeras

    accuracy = make_accuracy_fn(net, data)
    rows = []
    chunk = net.num_bn_slots if calibrate else len(configs)
    for start in range(0, len(configs), chunk):
        part = configs[start:start + chunk]
        if calibrate:
            slimkeras.calibrate_bn(net, calibration, widths=list(part), num_images=len(calibration),
                                   allow_untrained=allow_untrained, clear=True, verbose=0)
        for config in part:
            w, ratios = config if isinstance(config, tuple) else (config, None)
            net.set_width(w, stage_ratios=ratios, allow_untrained=allow_untrained)
            p = slimkeras.profile(net, w, stage_ratios=ratios, allow_untrained=allow_untrained)
            row = {"width": w, "macs": int(p["macs"]), "params": int(p["params"]), "top1": accuracy()}
            if ratios:
                row["stage_ratios"] = {str(k): v for k, v in ratios.items()}
            rows.append(row)
    net.set_width(net.width_spec.max_width)
    return rows


def probe_model(net, affine_switch=None):
    """A universal-BN copy of `net` that runs (after calibration) at any width in [0.25, 1.0].

    For networks whose BN cannot serve untrained widths (switchable BN: individual networks and
    S-Nets). Convolution and dense weights are copied; BN gamma/beta are the private ones of
    `affine_switch` (index of the switch; default the only/last one). Statistics come from
    calibration.
    """
    import slimkeras

    arch = dict(net.architecture)
    probe = slimkeras.models.mobilenet_v1(
        width_mult_range=RANGE, bn="universal", input_shape=tuple(arch["input_shape"]),
        num_classes=arch["num_classes"], output_averaging=arch["output_averaging"],
    )
    set_probe_affine(probe, net, affine_switch, copy_kernels=True)
    return probe


def set_probe_affine(probe, net, affine_switch=None, copy_kernels=False):
    from slimkeras.layers import SlimmableBatchNormBase

    index = len(net.width_spec.switches) - 1 if affine_switch is None else affine_switch
    for layer in net.layers:
        if not layer.weights:
            continue
        target = probe.get_layer(layer.name)
        if isinstance(layer, SlimmableBatchNormBase):
            gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
            if layer.private_affine:
                gamma, beta = gamma[index], beta[index]
            target.gamma.assign(gamma)
            target.beta.assign(beta)
        elif copy_kernels and layer.weights:
            for src, dst in zip(layer.weights, target.weights):
                dst.assign(src)


def nearest_switch(switches, w):
    """Index of the switch nearest to `w` (ties go to the wider one)."""
    return min(range(len(switches)), key=lambda i: (abs(switches[i] - w), -switches[i]))


def evaluate_job(job, model_dir, data, grid, do_stages=False, do_tflite=False, log=print):
    """All evaluations of one trained network (see module docstring); returns a dict."""
    import keras

    import slimkeras  # noqa: F401 (registers the custom objects)

    start, cpu = time.time(), _self_cpu()
    net = keras.saving.load_model(os.path.join(model_dir, "final.keras"))
    calibration = data.calibration(job["seed"])
    group = job["group"]
    result = {"name": job["name"], "group": group, "seed": job["seed"],
              "width_spec": net.width_spec.get_config()}
    if group in ("individual", "s4", "s8"):
        # Switchable BN: at the switches with their own statistics from training.
        result["switches"] = evaluate_configs(net, data, calibration, list(net.width_spec.switches),
                                              calibrate=False)
        if group != "individual" or job["width"] == 1.0:
            # Other widths: a universal-BN copy, gamma/beta of the nearest switch, calibrated.
            switches = net.width_spec.switches
            widths = sorted(set(grid) | set(SWITCHES4))
            probe = probe_model(net)
            rows = []
            for index in sorted({nearest_switch(switches, w) for w in widths}):
                set_probe_affine(probe, net, index)
                part = [w for w in widths if nearest_switch(switches, w) == index]
                rows += evaluate_configs(probe, data, calibration, part)
            result["calibrated"] = sorted(rows, key=lambda r: r["width"])
    elif group == "naive":
        # First with the shared running statistics of training (the S-Nets paper's naive baseline):
        # drop the slots training.main calibrated at its end.
        net.width_state.slot_valid.assign(np.zeros(net.width_state.num_slots))
        result["switches"] = evaluate_configs(net, data, calibration, SWITCHES4, calibrate=False)
        widths = sorted(set(grid) | set(SWITCHES4))
        result["calibrated"] = evaluate_configs(net, data, calibration, widths, allow_untrained=True)
    else:  # universal
        widths = sorted(set(grid) | set(SWITCHES4) | set(SWITCHES8))
        result["calibrated"] = evaluate_configs(net, data, calibration, widths)
        result["switches"] = [r for r in result["calibrated"] if r["width"] in SWITCHES4]
        if do_stages:
            result["stages"] = {}
            for stage in range(1, net.num_stages + 1):
                configs = [(w, {stage: STAGE_RATIO}) for w in grid]
                result["stages"][str(stage)] = evaluate_configs(net, data, calibration, configs)
            result["num_stages"] = net.num_stages
    if do_tflite:
        log(f"    {job['name']}: TFLite fp32/int8 at {SWITCHES4}")
        result["tflite"] = evaluate_tflite(net, data, calibration, job["seed"])
    result["eval_seconds"] = round(time.time() - start, 1)
    result["eval_cpu_seconds"] = round(_self_cpu() - cpu, 1)
    return result


def evaluate_tflite(net, data, calibration, seed):
    """fp32 and int8 TFLite top-1 at the 4 switches (files converted from `materialize`)."""
    import slimkeras
    from tflite_export.convert import convert
    from tflite_export.runtime import TFLiteModel

    if net.uses_universal_bn:
        slimkeras.calibrate_bn(net, calibration, widths=SWITCHES4, num_images=len(calibration),
                               clear=True, verbose=0)
    representative = data.representative(seed)
    rows = []
    for w in SWITCHES4:
        plain = slimkeras.materialize(net, w)
        logits = np.concatenate([plain(data.test_images[i:i + 1000], training=False).numpy()
                                 for i in range(0, len(data.test_images), 1000)])
        keras_top1 = float(np.mean(np.argmax(logits, -1) == data.test_labels))
        fp32 = convert(plain, "fp32")
        int8 = convert(plain, "int8", representative=representative)
        rows.append({
            "width": w, "keras": keras_top1,
            "fp32": TFLiteModel(fp32).top1(data.test_images, data.test_labels),
            "int8": TFLiteModel(int8).top1(data.test_images, data.test_labels),
            "fp32_bytes": len(fp32), "int8_bytes": len(int8),
        })
    return rows


def run_evaluations(jobs, out, data, grid, epochs, log=print):
    """Evaluates every job (cached in its eval.json); returns {name: result}."""
    results = {}
    first_seed = jobs[0]["seed"] if jobs else 0
    for i, job in enumerate(jobs, 1):
        model_dir = os.path.join(out, job["name"])
        path = os.path.join(model_dir, "eval.json")
        key = {"grid": grid, "quick": data.quick, "epochs": epochs}
        if os.path.exists(path):
            with open(path) as f:
                cached = json.load(f)
            if cached.get("key") == key:
                results[job["name"]] = cached
                log(f"[eval {i}/{len(jobs)}] {job['name']}: cached")
                continue
        main = job["seed"] == first_seed
        log(f"[eval {i}/{len(jobs)}] {job['name']}")
        result = evaluate_job(job, model_dir, data, grid,
                              do_stages=job["group"] == "us" and main,
                              do_tflite=job["group"] in ("us", "s4") and main, log=log)
        result["key"] = key
        _write_json(path, result)
        results[job["name"]] = result
    return results


# -- aggregation and claims (pure functions) -----------------------------------------------------
def stats(values):
    """(mean, half-range, n) of a list of accuracies (fractions) in points."""
    v = [100.0 * x for x in values]
    if not v:
        return None
    return (float(np.mean(v)), (max(v) - min(v)) / 2.0, len(v))


def top1_at(rows, width):
    for r in rows or ():
        if abs(r["width"] - width) < 1e-6 and not r.get("stage_ratios"):
            return r["top1"]
    return None


def collect(results, group, key, width, width_of_job=None):
    """Accuracies (one per seed) of `group` at `width` from result[key]."""
    values = []
    for r in results.values():
        if r["group"] != group:
            continue
        if width_of_job is not None and abs(r["width_spec"]["switches"][0] - width_of_job) > 1e-6:
            continue
        a = top1_at(r.get(key), width)
        if a is not None:
            values.append(a)
    return values


def individual_at(results, width):
    return collect(results, "individual", "switches", width, width_of_job=width)


def claim_snet_vs_individual(snet, individual, switches, tol=SNET_TOLERANCE):
    """S-Net >= individual - tol at each switch (means over seeds, points). Returns (held, rows)."""
    rows, held = [], True
    for w in switches:
        s, i = snet.get(w), individual.get(w)
        if s is None or i is None:
            continue
        ok = s >= i - tol
        held &= ok
        rows.append({"width": w, "snet": s, "individual": i, "diff": s - i, "ok": ok})
    return held and bool(rows), rows


def claim_usnet_vs_snet(us, snet, switches, tol=USNET_TOLERANCE):
    """US-Net >= S-Net - tol at each switch (points)."""
    return claim_snet_vs_individual(us, snet, switches, tol)


def largest_dip(points):
    """Largest drop (points) of accuracy below the best accuracy of any narrower width.

    `points`: [(width, accuracy points)]; 0 if accuracy never falls as width grows.
    """
    best, dip = -np.inf, 0.0
    for _, a in sorted(points):
        if best > -np.inf:
            dip = max(dip, best - a)
        best = max(best, a)
    return float(dip)


def claim_smooth(points, tol=DIP_TOLERANCE):
    dip = largest_dip(points)
    return dip <= tol, dip


def claim_collapse(method, reference, gap=COLLAPSE_GAP, exclude=()):
    """A method collapses when, at some width (not in `exclude`: its trained widths), its accuracy
    is more than `gap` points below the reference (the US-Net). Returns (collapsed, worst gap, width)."""
    worst, at = -np.inf, None
    for w, a in method.items():
        if any(abs(w - e) < 1e-6 for e in exclude) or w not in reference:
            continue
        g = reference[w] - a
        if g > worst:
            worst, at = g, w
    if at is None:
        return False, None, None
    return bool(worst > gap), float(worst), at


def mean_gain(better, base, widths):
    """Mean of better[w] - base[w] over `widths` present in both (points)."""
    d = [better[w] - base[w] for w in widths if w in better and w in base]
    return float(np.mean(d)) if d else None


def interpolate_at(points, macs):
    """Accuracy of a curve [(macs, acc)] at `macs` (linear in log MACs), None outside it."""
    pts = sorted(points)
    xs = np.log([p[0] for p in pts])
    if not pts or np.log(macs) < xs[0] - 1e-9 or np.log(macs) > xs[-1] + 1e-9:
        return None
    return float(np.interp(np.log(macs), xs, [p[1] for p in pts]))


def compare_at_equal_macs(curves, num=25):
    """Mean accuracy of each curve {name: [(macs, acc)]} over MACs values common to all curves."""
    lo = max(min(p[0] for p in c) for c in curves.values())
    hi = min(max(p[0] for p in c) for c in curves.values())
    if lo >= hi:
        return None
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), num))
    return {name: float(np.mean([interpolate_at(c, m) for m in grid])) for name, c in curves.items()}


# -- the report -----------------------------------------------------------------------------------
def fmt(s, diff=None):
    """'mean ± half-range' (points) of a stats() tuple, with an optional (diff)."""
    if s is None:
        return "–"
    mean, half, n = s
    text = f"{mean:.2f}" + (f" ± {half:.2f}" if n > 1 else "")
    if diff is not None:
        text += f" ({diff:+.2f})"
    return text


def by_width(rows, key="top1"):
    return {r["width"]: 100.0 * r[key] for r in rows or ()}


def group_curve(results, group, key="calibrated"):
    """{width: mean accuracy points over seeds} of a group's rows under `key`."""
    per_width = {}
    for r in results.values():
        if r["group"] == group:
            for row in r.get(key) or ():
                if not row.get("stage_ratios"):
                    per_width.setdefault(row["width"], []).append(100.0 * row["top1"])
    return {w: float(np.mean(v)) for w, v in sorted(per_width.items())}


def macs_of(results):
    """{width: (macs, params)} from any universal result (the profile is the architecture's)."""
    table = {}
    for r in results.values():
        for key in ("calibrated", "switches"):
            for row in r.get(key) or ():
                if not row.get("stage_ratios"):
                    table.setdefault(row["width"], (row["macs"], row["params"]))
    return table


def first_of(results, group):
    named = sorted((r for r in results.values() if r["group"] == group), key=lambda r: r["seed"])
    return named[0] if named else None


def analyse(results, grid):
    """All numbers and claim verdicts the report shows (a JSON-able dict)."""
    macs = macs_of(results)
    A = {"macs": {str(w): m for w, m in macs.items()}}
    ind = {w: stats(individual_at(results, w)) for w in SWITCHES4}
    s4 = {w: stats(collect(results, "s4", "switches", w)) for w in SWITCHES4}
    us = {w: stats(collect(results, "us", "calibrated", w)) for w in sorted(set(SWITCHES4) | set(SWITCHES8) | set(grid))}
    A.update(individual=ind, s4=s4, us=us)
    mean = lambda d: {w: v[0] for w, v in d.items() if v}  # noqa: E731
    held, rows = claim_snet_vs_individual(mean(s4), mean(ind), SWITCHES4)
    A["claim_snet"] = {"held": held if rows else None, "rows": rows}
    held, rows = claim_usnet_vs_snet(mean(us), mean(s4), SWITCHES4)
    A["claim_usnet"] = {"held": held if rows else None, "rows": rows}
    dips = {}
    for r in results.values():
        if r["group"] == "us":
            ok, dip = claim_smooth([(row["width"], 100 * row["top1"]) for row in r["calibrated"]
                                    if any(abs(row["width"] - g) < 1e-6 for g in grid)])
            dips[r["seed"]] = dip
    A["claim_smooth"] = {"held": all(d <= DIP_TOLERANCE for d in dips.values()) if dips else None, "dips": dips}
    # "Collapse" is measured against what individually trained networks reach at that width
    # (the mean over seeds, interpolated linearly in width between 0.25, 0.5, 0.75 and 1.0).
    ind_means = mean(ind)
    reference = {}
    if len(ind_means) >= 2:
        xs = sorted(ind_means)
        reference = {g: float(np.interp(g, xs, [ind_means[x] for x in xs])) for g in grid}
    collapse = {}
    for group, exclude in (("naive", SWITCHES4), ("individual", [1.0]), ("s4", SWITCHES4)):
        curve = {}
        for r in sorted(results.values(), key=lambda r: r["seed"]):
            if r["group"] == group and r.get("calibrated"):
                curve = by_width(r["calibrated"])
                break
        grid_curve = {w: a for w, a in curve.items() if any(abs(w - g) < 1e-6 for g in grid)}
        collapsed, worst, at = claim_collapse(grid_curve, reference, exclude=exclude)
        untrained = [w for w in grid_curve if not any(abs(w - e) < 1e-6 for e in exclude)]
        collapse[group] = {"collapsed": collapsed, "worst_gap": worst, "at": at,
                           "mean_gap": mean_gain(reference, grid_curve, untrained),
                           "lowest": min((grid_curve[w] for w in untrained), default=None)}
    evaluated = [c for g, c in collapse.items() if c["worst_gap"] is not None and g != "s4"]
    A["claim_collapse"] = {"held": all(c["collapsed"] for c in evaluated) if evaluated else None,
                           "methods": {g: c for g, c in collapse.items() if g != "s4"}}
    A["claim_collapse_snet"] = {"held": collapse["s4"]["collapsed"] if collapse["s4"]["worst_gap"] is not None
                                else None, **collapse["s4"]}
    first_us = first_of(results, "us")
    nd = first_of(results, "us_nodistill")
    oa = first_of(results, "us_oa")
    if first_us and nd:
        a, b = by_width(first_us["calibrated"]), by_width(nd["calibrated"])
        narrow = [w for w in grid if w <= 0.5 + 1e-9]
        A["claim_distill"] = {"narrow_gain": mean_gain(a, b, narrow), "gain_025": mean_gain(a, b, [0.25]),
                              "wide_gain": mean_gain(a, b, [w for w in grid if w > 0.5]),
                              "all_gain": mean_gain(a, b, grid), "narrow": narrow}
        A["claim_distill"]["held"] = bool(A["claim_distill"]["narrow_gain"] and A["claim_distill"]["narrow_gain"] > 0)
    if first_us and oa:
        a, b = by_width(oa["calibrated"]), by_width(first_us["calibrated"])
        A["claim_oa"] = {"switch_gain": mean_gain(a, b, SWITCHES4), "grid_gain": mean_gain(a, b, grid),
                         "per_switch": {w: a[w] - b[w] for w in SWITCHES4 if w in a and w in b}}
        A["claim_oa"]["held"] = bool(A["claim_oa"]["switch_gain"] is not None and A["claim_oa"]["switch_gain"] > 0)
    int8 = {}
    for r in results.values():
        if r.get("tflite"):
            int8[r["group"]] = [{**t, "drop": 100 * (t["fp32"] - t["int8"])} for t in r["tflite"]]
    A["int8"] = int8
    A["claim_int8"] = {"held": all(t["drop"] <= INT8_TOLERANCE for rows in int8.values() for t in rows) if int8 else None}
    if first_us and first_us.get("stages"):
        curves = {"uniform": [(r["macs"], 100 * r["top1"]) for r in first_us["calibrated"]
                              if any(abs(r["width"] - g) < 1e-6 for g in grid)]}
        for stage, rows in first_us["stages"].items():
            curves[f"stage {stage}"] = [(r["macs"], 100 * r["top1"]) for r in rows]
        equal = compare_at_equal_macs(curves)
        stage_means = {k: v for k, v in (equal or {}).items() if k.startswith("stage")}
        last = f"stage {first_us['num_stages']}"
        A["claim_stages"] = {"equal_macs": equal,
                             "held": bool(stage_means) and min(stage_means, key=stage_means.get) == last,
                             "best": max(stage_means, key=stage_means.get) if stage_means else None}
    return A


def _verdict(held):
    if held is None:
        return "not evaluated (its networks were not part of this run)"
    return "**HELD**" if held else "**DID NOT HOLD**"


def write_plots(results, grid, plot_dir):
    """PNG plots: the spectrum, 'naturally slimmable?', US ablations, stage slimming."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plot_dir, exist_ok=True)
    macs = {w: m for w, (m, _) in macs_of(results).items()}
    paths = {}

    def curve(ax, points, label, style="o-", **kw):
        points = sorted(points)
        kw.setdefault("ms", 3)
        if points:
            ax.plot([macs[w] / 1e6 for w, _ in points], [a for _, a in points], style, label=label, **kw)

    def finish(fig, ax, name, title):
        ax.set_xlabel("MACs (M)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(plot_dir, name)
        fig.savefig(path)
        plt.close(fig)
        paths[name] = path

    on_grid = lambda c: [(w, a) for w, a in c.items() if any(abs(w - g) < 1e-6 for g in grid)]  # noqa: E731
    # 1. the FLOPs-accuracy spectrum of every method (means over seeds)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    curve(ax, on_grid(group_curve(results, "us")), LABELS["us"], "o-", lw=2)
    curve(ax, on_grid(group_curve(results, "us_nodistill")), LABELS["us_nodistill"], ".-")
    curve(ax, on_grid(group_curve(results, "us_oa")), LABELS["us_oa"], ".-")
    curve(ax, list(group_curve(results, "s4", "switches").items()), LABELS["s4"], "s--", ms=6)
    curve(ax, list(group_curve(results, "s8", "switches").items()), LABELS["s8"], "^--")
    ind = [(w, float(np.mean([100 * a for a in individual_at(results, w)]))) for w in SWITCHES4 if individual_at(results, w)]
    curve(ax, ind, "individual", "D", ms=6, color="k")
    finish(fig, ax, "spectrum.png", "Fashion-MNIST, MobileNet v1 (28 px): FLOPs-accuracy spectrum")
    # 2. naturally slimmable? (supplementary Fig. 2): every network at the 20 widths after calibration
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    curve(ax, on_grid(group_curve(results, "us")), LABELS["us"], "o-", lw=2)
    for group, label in (("s4", "S-Net 4-switch, calibrated"), ("naive", "naive shared BN, calibrated"),
                         ("individual", "individual 1.0, calibrated")):
        r = first_of({k: v for k, v in results.items() if v.get("calibrated")}, group)
        if r:
            curve(ax, on_grid(by_width(r["calibrated"])), label, ".-")
    finish(fig, ax, "naturally_slimmable.png", "Naturally slimmable? (after BN calibration)")
    # 3. stage slimming (supplementary Fig. 1)
    us = first_of(results, "us")
    if us and us.get("stages"):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        uniform = [(r["macs"] / 1e6, 100 * r["top1"]) for r in us["calibrated"] if any(abs(r["width"] - g) < 1e-6 for g in grid)]
        ax.plot(*zip(*sorted(uniform)), "o-", ms=3, label="uniform")
        for stage, rows in us["stages"].items():
            pts = sorted((r["macs"] / 1e6, 100 * r["top1"]) for r in rows)
            ax.plot(*zip(*pts), ".-", label=f"stage {stage} at {STAGE_RATIO:g}× the width")
        finish(fig, ax, "stage_slimming.png", "Nonuniform widths of the US-Net (seed %d)" % us["seed"])
    return paths


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


class LoadSampler:
    """Samples the 1-minute load average every `interval` seconds (is the machine shared?)."""

    def __init__(self, interval=30):
        self.samples = []
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=1)
        return self.summary()

    def summary(self):
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": round(float(np.mean(s)), 2), "max": round(float(np.max(s)), 2), "samples": len(s)}


def write_report(path, plot_dir, results, analysis, grid, meta, plots):
    """docs/results.md (or OUT/results.md with --quick)."""
    A = analysis
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(path)))  # noqa: E731
    macs = {float(w): m for w, m in A["macs"].items()}
    ind, s4, us = A["individual"], A["s4"], A["us"]
    L = []
    add = L.append
    add("# Reproducing the S-Nets / US-Nets claims on Fashion-MNIST")
    add("")
    add("Generated by `" + meta["command"] + "`" + (" (**--quick: a pipeline check on 2,048 training and 512 test "
        "images; the numbers mean nothing**)" if meta["quick"] else "") + ". ImageNet cannot be had on these "
        "machines; this is the small MobileNet v1 (28×28 input, 3 resolution stages: stem + 64, 128, 256 "
        "channels at width 1.0) on Fashion-MNIST, every network trained with the same recipe and budget "
        f"(`training/flags/*_mbv1_fashion.flags`: SGD Nesterov, lr 0.2 linear decay, 0.2 warm-up epochs, "
        f"batch 256, weight decay 5e-5, random flips and 2-px shifts) for **{meta['epochs']} epoch{'s' if meta['epochs'] != 1 else ''}**. "
        "Top-1 accuracies in % on the "
        f"{meta['test_images']:,} test images; ± is half the range over the seeds. The papers train for "
        "250–480 ImageNet epochs: with this much shorter budget, verdicts about training methods "
        "(distillation, US- vs S-Nets) say how they do on a short budget, not at convergence.")
    add("")
    add("## Setup")
    add("")
    add(f"- Command: `{meta['command']}`")
    add(f"- Seeds: {', '.join(str(s) for s in meta['seeds'])} for the headline comparison (individual "
        f"networks, 4-switch S-Net, US-Net); seed {meta['seeds'][0]} for the naive network, the 8-switch "
        "S-Net and the US-Net ablations (no distillation, output averaging). Each seed sets the weight "
        "initialization, the data order and augmentation, the sandwich rule's draws and the calibration images.")
    add(f"- Epochs: {meta['epochs']} for every job; {meta['jobs']} training jobs.")
    add(f"- Time: {meta['wall_total']/60:.1f} min wall in all: {meta['wall_train']/60:.1f} min training "
        f"({meta['jobs']} jobs, {meta['cpu_train']/60:.1f} CPU-min), {meta['wall_eval']/60:.1f} min evaluating "
        f"({meta['cpu_eval']/60:.1f} CPU-min).")
    inv = meta["invocations"]
    add(f"- Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, no GPU; Python "
        f"{meta['machine']['python']}, {meta['versions']}.")
    shared = any(i["load"]["mean"] > 2.5 for i in inv if i["wall_seconds"] > 60)
    add(f"- Invocations of the command (a resumed run skips finished jobs and cached evaluations): " + "; ".join(
        f"{i['started']}, {i['wall_seconds']/60:.1f} min wall"
        + ("" if i.get("status", "finished") == "finished" else
           f" (**interrupted** from outside, after: {i.get('last', '?')}" + (f"; {i['note']}" if i.get("note") else "") + ")")
        + f", 1-min load average {i['load']['mean']} on average (max {i['load']['max']})" for i in inv) + ". This job alone makes a load of about 1–1.5. " + (
        "**The machine was shared with other work** (several other training and test processes), so "
        "wall times are longer than alone; CPU times are the better measure." if shared else
        "The machine was mostly ours."))
    add(f"- BN calibration: {meta['calibration_images']} training images (the permutation of the job's seed, as "
        "`training.main`), exact mean/variance per width. S-Nets and individual networks use their own "
        "switchable-BN statistics at their switches (as trained).")
    if not meta["quick"]:
        add(f"- Budget: {BUDGET_NOTE}")
    add("")
    add("Per-job time: training = the `training.main` subprocess (start-up, training, its own end-of-run "
        "calibration and evaluation); evaluation = everything this command does with the network afterwards. "
        "CPU = user + system seconds, less sensitive than wall time to other work on the machine.")
    add("")
    add("| job | training wall (s) | training CPU (s) | evaluation wall (s) | evaluation CPU (s) |")
    add("|---|---:|---:|---:|---:|")
    for name, w in meta["walls"].items():
        cpu = "–" if w.get("cpu_seconds") is None else f"{w['cpu_seconds']:.0f}"
        r = results.get(name, {})
        add(f"| {name} | {w['wall_seconds']:.0f} | {cpu} | {r.get('eval_seconds', 0):.0f} | "
            f"{r.get('eval_cpu_seconds', 0):.0f} |")
    add("")

    add("## Claims")
    add("")
    c = A["claim_snet"]
    add(f"1. **S-Net ≥ individual − {SNET_TOLERANCE} pt at each switch** (means over seeds): {_verdict(c['held'])}. "
        + "; ".join(f"{r['width']:g}×: S {r['snet']:.2f} vs individual {r['individual']:.2f} ({r['diff']:+.2f})"
                    for r in c["rows"]) + ".")
    c = A["claim_usnet"]
    add(f"2. **US-Net within {USNET_TOLERANCE} pt of the S-Net at the switches** (US-Net ≥ S-Net − {USNET_TOLERANCE}): "
        f"{_verdict(c['held'])}. " + "; ".join(
            f"{r['width']:g}×: US {r['snet']:.2f} vs S {r['individual']:.2f} ({r['diff']:+.2f})" for r in c["rows"]) + ".")
    c = A["claim_smooth"]
    add(f"   **...and smooth between them (no dip > {DIP_TOLERANCE} pt** below a narrower width on the "
        f"{len(grid)}-width grid): {_verdict(c['held'])}. Largest dip per seed: "
        + ", ".join(f"seed {s}: {d:.2f} pt" for s, d in c["dips"].items()) + ".")
    def collapse_text(name, m):
        if m["worst_gap"] is None:
            return f"{name}: not evaluated"
        where = "below" if m["worst_gap"] >= 0 else "above"
        return (f"{name}: lowest {m['lowest']:.1f} % at its untrained widths; at worst {abs(m['worst_gap']):.1f} pt "
                f"{where} the individual networks (at {m['at']:.3g}×), {m['mean_gap']:.1f} pt below on average → "
                + ("collapses" if m["collapsed"] else "does not collapse"))

    c = A["claim_collapse"]
    names = {"naive": "naive shared BN", "individual": "individual 1.0×", "s4": "4-switch S-Net"}
    add(f"3. **Naive shared BN and the individual net collapse at other widths even after calibration** "
        f"(collapse: > {COLLAPSE_GAP:g} pt below the individually trained networks, interpolated in width, at "
        f"some untrained width of the {len(grid)}-width grid): {_verdict(c['held'])}. "
        + "; ".join(collapse_text(names[g], m) for g, m in c["methods"].items()) + ".")
    c = A["claim_collapse_snet"]
    add(f"   The supplementary material says the same of S-Nets (Fig. 2): {_verdict(c['held'])}. "
        + collapse_text(names["s4"], c) + ".")
    if "claim_distill" in A:
        c = A["claim_distill"]
        spread = np.mean([v[1] for w, v in us.items() if v and w <= 0.5 + 1e-9]) if us else float("nan")
        add(f"4. **In-place distillation helps the narrow widths**: {_verdict(c['held'])}. Gain of distillation "
            f"(seed {meta['seeds'][0]}, same seed without): {c['narrow_gain']:+.2f} pt on average over the grid "
            f"widths ≤ 0.5, {c['gain_025']:+.2f} pt at 0.25×, {c['wide_gain']:+.2f} pt over the widths > 0.5 "
            f"(the US-Net's seed spread at widths ≤ 0.5 is ± {spread:.2f} pt).")
    if "claim_oa" in A:
        c = A["claim_oa"]
        add(f"5. **Output averaging gives a slight gain** (paper: +0.4 pt on average at the 4 switches): "
            f"{_verdict(c['held'])}. {c['switch_gain']:+.2f} pt on average at the switches ("
            + ", ".join(f"{w:g}×: {d:+.2f}" for w, d in c["per_switch"].items())
            + f"), {c['grid_gain']:+.2f} pt over the {len(grid)} widths.")
    c = A["claim_int8"]
    drops = "; ".join(f"{LABELS[g]}: " + ", ".join(f"{t['width']:g}× {t['drop']:+.2f}" for t in rows)
                      for g, rows in A["int8"].items())
    add(f"6. **int8 drop per width** (fp32 TFLite − int8 TFLite, our criterion ≤ {INT8_TOLERANCE:g} pt): "
        f"{_verdict(c['held'])}. {drops}.")
    if "claim_stages" in A:
        c = A["claim_stages"]
        eq = c["equal_macs"] or {}
        add(f"7. **Slimming the last stage is the worst choice at equal MACs** (supplementary Fig. 1): "
            f"{_verdict(c['held'])}. Mean accuracy over the MACs range all curves share: "
            + ", ".join(f"{k} {v:.2f}" for k, v in eq.items()) + f"; best: {c['best']}.")
    add("")

    add("## Table 3 style: individual vs slimmable at the 4 switches")
    add("")
    add("Top-1 (%) ± half-range over the seeds; in brackets the difference to the individual network "
        "of that width (positive: better).")
    add("")
    add("| width | MACs | params | individual | S-Net 4-switch | US-Net | naive shared BN | naive, calibrated |")
    add("|---|---:|---:|---|---|---|---|---|")
    naive = first_of(results, "naive")
    for w in reversed(SWITCHES4):
        m, p = macs.get(w, (0, 0)), None
        mp = macs_of(results).get(w, (0, 0))
        base = ind[w][0] if ind.get(w) else None
        d = lambda s: (s[0] - base) if (s and base is not None) else None  # noqa: E731
        nv = stats([top1_at(naive["switches"], w)]) if naive else None
        nc = stats([top1_at(naive["calibrated"], w)]) if naive else None
        add(f"| {w:g}× | {mp[0]/1e6:.2f}M | {mp[1]/1e3:.1f}K | {fmt(ind.get(w))} | {fmt(s4.get(w), d(s4.get(w)))} | "
            f"{fmt(us.get(w), d(us.get(w)))} | {fmt(nv, d(nv))} | {fmt(nc, d(nc))} |")
    add("")
    add("MACs and params (active, BN included) are those of the network at that width; they are the same "
        "for every method (the slimmable ones store the 1.0× weights plus private BNs).")
    add("")

    add("## Table 4 style: the 8-switch S-Net")
    add("")
    add("| width | MACs | S-Net 8-switch | US-Net | S-Net 4-switch | individual |")
    add("|---|---:|---|---|---|---|")
    s8 = first_of(results, "s8")
    for w in reversed(SWITCHES8):
        mp = macs_of(results).get(w, (0, 0))
        a8 = stats([top1_at(s8["switches"], w)]) if s8 else None
        add(f"| {w:g}× | {mp[0]/1e6:.2f}M | {fmt(a8)} | {fmt(us.get(w))} | {fmt(s4.get(w))} | {fmt(ind.get(w))} |")
    add("")

    add(f"## The US-Net spectrum: {len(grid)} widths in [0.25, 1.0]")
    add("")
    add("Every network after BN calibration at each width. The S-Net and the individual 1.0× network have no "
        "BN for untrained widths: they run as a universal-BN copy of their weights (gamma/beta of the nearest "
        "switch), statistics calibrated at that width. This is the \"naturally slimmable?\" experiment "
        "(supplementary Fig. 2).")
    add("")
    header = ["width", "MACs", "US-Net", LABELS["us_nodistill"], LABELS["us_oa"], "S-Net 4, calibrated",
              "naive, calibrated", "individual 1.0, calibrated"]
    add("| " + " | ".join(header) + " |")
    add("|---|---:|" + "---|" * (len(header) - 2))
    curves = {}
    for group in ("us_nodistill", "us_oa", "s4", "naive", "individual"):
        r = first_of({k: v for k, v in results.items() if v.get("calibrated")}, group)
        curves[group] = by_width(r["calibrated"]) if r else {}
    for w in grid:
        mp = macs_of(results).get(w, (0, 0))
        cells = [f"{w:.4g}", f"{mp[0]/1e6:.2f}M", fmt(us.get(w))]
        for group in ("us_nodistill", "us_oa", "s4", "naive", "individual"):
            a = curves[group].get(w)
            cells.append("–" if a is None else f"{a:.2f}")
        add("| " + " | ".join(cells) + " |")
    add("")
    for name, title in (("spectrum.png", "FLOPs–accuracy spectrum"), ("naturally_slimmable.png", "Naturally slimmable?"),
                        ("stage_slimming.png", "Stage slimming")):
        if name in plots:
            add(f"![{title}]({rel(plots[name])})")
            add("")

    first_us = first_of(results, "us")
    if first_us and first_us.get("stages"):
        n = first_us["num_stages"]
        add(f"## Stage slimming (supplementary Fig. 1), US-Net seed {first_us['seed']}")
        add("")
        add(f"The paper slims one of ImageNet MobileNet v1's 5 stages to {STAGE_RATIO:g}× the global width "
            f"and shows stages 1, 4 and 5. Our 28-px MobileNet v1 has {n} stages (stem + 64 / 128 / 256 "
            f"channels), so its stage 1 stands for the paper's stage 1 (first), stage 2 for stage 4 (a "
            f"middle/late one) and stage {n} for stage 5 (the last, widest). Our US-Net was trained with "
            "uniform widths only (the paper trained a nonuniform US-Net); each nonuniform configuration "
            "is BN-calibrated before evaluation.")
        add("")
        head = ["width"] + ["uniform"] + [f"stage {s} at {STAGE_RATIO:g}" for s in range(1, n + 1)]
        add("| " + " | ".join(head) + " |")
        add("|---|" + "---|" * (len(head) - 1))
        uni = {r["width"]: r for r in first_us["calibrated"]}
        for w in grid:
            cells = [f"{w:.4g}", f"{100*uni[w]['top1']:.2f} @ {uni[w]['macs']/1e6:.2f}M"]
            for s in range(1, n + 1):
                row = next(r for r in first_us["stages"][str(s)] if abs(r["width"] - w) < 1e-6)
                cells.append(f"{100*row['top1']:.2f} @ {row['macs']/1e6:.2f}M")
            add("| " + " | ".join(cells) + " |")
        add("")

    if A["int8"]:
        add("## int8 TFLite")
        add("")
        add(f"`slimkeras.materialize` at each switch, converted with `tflite_export.convert` (fp32; int8: full-"
            f"integer, int8 input/output, {REPRESENTATIVE_IMAGES} normalized training images as representative "
            "data), run with LiteRT on the test images. Drop = fp32 TFLite − int8 TFLite.")
        add("")
        add("| network | width | Keras | fp32 TFLite | int8 TFLite | int8 drop | fp32 / int8 size |")
        add("|---|---|---:|---:|---:|---:|---:|")
        for group, rows in A["int8"].items():
            for t in rows:
                add(f"| {LABELS[group]} | {t['width']:g}× | {100*t['keras']:.2f} | {100*t['fp32']:.2f} | "
                    f"{100*t['int8']:.2f} | {t['drop']:+.2f} | {t['fp32_bytes']/1e3:.0f} / {t['int8_bytes']/1e3:.0f} KB |")
        add("")
    add("## Per-seed numbers at the switches")
    add("")
    add("| network | seed | 0.25× | 0.5× | 0.75× | 1.0× |")
    add("|---|---|---:|---:|---:|---:|")
    order = list(LABELS)
    for r in sorted(results.values(), key=lambda r: (order.index(r["group"]), r["seed"], r["width_spec"].get("switches", [0])[0])):
        rows = r.get("switches") or r.get("calibrated") or []
        cells = []
        for w in SWITCHES4:
            a = top1_at(rows, w)
            cells.append("–" if a is None else f"{100*a:.2f}")
        label = (f"individual {r['width_spec']['switches'][0]:g}×" if r["group"] == "individual"
                 else LABELS.get(r["group"], r["group"]))
        add(f"| {label} | {r['seed']} | " + " | ".join(cells) + " |")
    add("")
    add("Raw numbers: each job's `eval.json` and `results.json` under the output folder "
        f"(`{meta['out']}`), and `analysis.json` there.")
    add("")
    # Results of other commands kept beside the report (e.g. docs/slim_search.md) are included.
    extra = os.path.join(os.path.dirname(os.path.abspath(path)), "slim_search.md")
    if os.path.exists(extra):
        with open(extra) as f:
            add(f.read())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    from slimkeras.io import write_text_atomic

    write_text_atomic(path, "\n".join(L))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj


# -- main -----------------------------------------------------------------------------------------
class InvocationLog:
    """This invocation's entry in OUT/invocations.json (a resumed run has several), rewritten as it
    goes: an invocation killed from outside stays recorded, with its wall time up to its last
    progress line, and is marked "interrupted" by the next one."""

    def __init__(self, out, command, sampler):
        self.path = os.path.join(out, "invocations.json")
        self.sampler = sampler
        self.t0 = time.time()
        self.entries = []
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.entries = json.load(f)
        for e in self.entries:
            if e.get("status") == "running":
                e["status"] = "interrupted"
        self.entry = {"started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
                      "command": command, "status": "running", "wall_seconds": 0.0, "last": ""}
        self.entries.append(self.entry)
        self.update()

    def update(self, last=None, status=None):
        self.entry["wall_seconds"] = round(time.time() - self.t0, 1)
        self.entry["load"] = self.sampler.summary()
        if last is not None:
            self.entry["last"] = last
        if status is not None:
            self.entry["status"] = status
        _write_json(self.path, self.entries)
        return self.entries


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.reproduce", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=None, help=f"epochs of every job (default {DEFAULT_EPOCHS}; --quick: 1)")
    p.add_argument("--seeds", default=None,
                   help=f"comma list (default {DEFAULT_SEEDS}; --quick: 0); the first also seeds the single-seed experiments")
    p.add_argument("--out", default="runs/reproduce", help="where the jobs' folders go")
    p.add_argument("--quick", action="store_true", help="pipeline check: 2048 training / 512 test images, 1 epoch, 6 widths")
    p.add_argument("--jobs", default=None, help="only these jobs/groups (comma list of names or prefixes)")
    p.add_argument("--widths", type=int, default=None, help="grid widths in [0.25, 1.0] (default 20; --quick: 6)")
    p.add_argument("--report", default=None, help="results.md path (default docs/results.md; --quick: OUT/results.md)")
    p.add_argument("--train_only", action="store_true", help="train, evaluate nothing")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else DEFAULT_EPOCHS
    if args.epochs < 1:
        p.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.seeds is None:
        args.seeds = "0" if args.quick else DEFAULT_SEEDS
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be integers, got {args.seeds}")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds needs distinct integers, got {args.seeds}")
    if args.widths is None:
        args.widths = 6 if args.quick else 20
    if args.widths < 2:
        p.error("--widths must be >= 2")
    if args.report is None:
        args.report = os.path.join(args.out, "results.md") if args.quick else os.path.join(ROOT, "docs", "results.md")
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    sampler = LoadSampler().start()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    jobs = select_jobs(plan_jobs(args.seeds), args.jobs)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = "python -m training.reproduce" + "".join(f" {a}" for a in argv)
    invocation = InvocationLog(out, command, sampler)

    def log(msg):
        print(msg, flush=True)
        invocation.update(last=msg.strip())

    log(f"Reproduction: {len(jobs)} jobs, {args.epochs} epoch(s), seeds {args.seeds}, into {out}")
    walls = run_jobs(jobs, out, args.epochs, args.quick, log)
    if args.train_only:
        sampler.stop()
        invocation.update(status="finished")
        return 0
    import tensorflow as tf

    import keras

    tf.get_logger().setLevel("ERROR")
    data = EvalData(args.quick)
    grid = grid_widths(args.widths)
    results = run_evaluations(jobs, out, data, grid, args.epochs, log)
    analysis = analyse(results, grid)
    plot_dir = os.path.join(os.path.dirname(os.path.abspath(args.report)), "results")
    plots = write_plots(results, grid, plot_dir)
    sampler.stop()
    invocations = invocation.update(status="finished")
    meta = {
        "command": command, "quick": args.quick, "epochs": args.epochs, "seeds": args.seeds,
        "jobs": len(jobs), "walls": walls, "invocations": invocations,
        "wall_train": sum(w["wall_seconds"] for w in walls.values()),
        "cpu_train": sum(w["cpu_seconds"] or 0.0 for w in walls.values()),
        "wall_eval": sum(r.get("eval_seconds", 0.0) for r in results.values()),
        "cpu_eval": sum(r.get("eval_cpu_seconds", 0.0) for r in results.values()),
        "machine": machine_info(), "versions": f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "test_images": len(data.test_labels), "calibration_images": data.calibration_count,
        "out": os.path.relpath(out, ROOT) if out.startswith(ROOT) else out,
    }
    meta["wall_total"] = meta["wall_train"] + meta["wall_eval"]
    write_report(args.report, plot_dir, results, analysis, grid, meta, plots)
    _write_json(os.path.join(out, "analysis.json"), _jsonable({"analysis": analysis, "meta": meta}))
    log(f"Wrote {args.report} and {len(plots)} plot(s) in {plot_dir} ({_elapsed(t0)} elapsed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
