"""The static-width sandwich step (`static_widths=True`) against the in-graph one (issue 30).

- Step time, static ÷ in-graph, interleaved in one process: US-MobileNet v1 over
  [0.25, 1.0], sandwich n = 4 with in-place distillation, SGD (momentum 0.9, Nesterov),
  at 224x224x3 batch 32 (1000 classes) and at the default job's 28x28x1 batch 256
  (10 classes); the optimizer's step counter is reset to the same step before every
  timed step, so both sides train the same four widths (all functions traced). At 28²
  also the static step compiled by XLA (`jit_compile=True`).
- Variants: the channel configurations of each architecture and range (from a 1e-5
  grid), and the per-width functions a run traces (one per configuration and role:
  the widest width, the drawn/smallest widths), counted by drawing the sandwich widths
  on the host (seed 0) for the default job (8 epochs x 234 steps) and for 10,000 steps.
- Tracing/compile time: the first call of each function (trace, compile and one run)
  over the first steps of a fresh 28² run, with and without XLA; the run's total is the
  number of functions times the mean first call.
- Memory (28² batch 256, subprocesses as `benchmarks.memory`): a step's peak above the
  resident set, in-graph and static, and the resident set's growth per traced function.

    python -m benchmarks.static_sandwich --out=benchmarks/static_sandwich.json
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import Section, interleaved

RANGE = (0.25, 1.0)
STEP = 7  # the step whose widths every timed step trains
DEFAULT_JOB_STEPS = 8 * 234  # us_mbv1_fashion: 8 epochs of 60,000 / 256 images
LONG_RUN_STEPS = 10_000
STEP_CASES = [((224, 224, 3), 32, 1000), ((28, 28, 1), 256, 10)]
COUNT_CASES = [("mobilenet_v1", (224, 224, 3), (0.25, 1.0)), ("mobilenet_v1", (28, 28, 1), (0.25, 1.0)),
               ("mobilenet_v2", (224, 224, 3), (0.25, 1.0)), ("mobilenet_v2", (224, 224, 3), (0.35, 1.0)),
               ("shufflenet", (224, 224, 3), (0.25, 1.0)), ("resnet50", (224, 224, 3), (0.25, 1.0))]


def make_trainer(shape, classes, static_widths, jit=False, arch="mobilenet_v1"):
    """A compiled, built US-Net trainer (sandwich n=4, in-place distillation) and its train function."""
    import keras
    import tensorflow as tf

    import slimkeras

    net = slimkeras.models.build(arch, width_mult_range=RANGE, input_shape=shape, num_classes=classes)
    trainer = slimkeras.SlimmableTrainer(net, "universal", num_sample=4, inplace_distill=True, seed=0,
                                         static_widths=static_widths)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True), jit_compile=jit)
    trainer(tf.zeros((1,) + tuple(shape)), training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.make_train_function()
    return trainer


def batches(shape, batch, classes):
    """An endless iterator of one random batch."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + tuple(shape)).astype("float32")
    y = rng.integers(0, classes, batch).astype("int32")
    return iter(tf.data.Dataset.from_tensors((x, y)).repeat())


def step_function(trainer, iterator, step=None):
    """One train step (at `step` if given: the counter is reset first), waited for."""

    def run():
        if step is not None:
            trainer.optimizer.iterations.assign(step)
        logs = trainer.train_function(iterator)
        logs = logs.get_value() if hasattr(logs, "get_value") else logs
        logs["loss_max"].numpy()

    return run


def time_steps(shape, batch, classes, repeats, with_xla):
    """Interleaved timings of the in-graph, static (and static + XLA) steps at STEP."""
    iterator = batches(shape, batch, classes)
    trainers = {"in-graph": make_trainer(shape, classes, False), "static": make_trainer(shape, classes, True)}
    if with_xla:
        trainers["static XLA"] = make_trainer(shape, classes, True, jit=True)
    steps = {name: step_function(t, iterator, STEP) for name, t in trainers.items()}
    return interleaved(steps, repeats=repeats, warmup=1), trainers


def first_calls(shape, batch, classes, steps, jit):
    """(functions traced, seconds of their first calls, median steady step s, RSS growth KiB)
    over the first `steps` steps of a fresh static run."""
    from benchmarks.memory import _malloc_trim, _status_kib

    trainer = make_trainer(shape, classes, True, jit=jit)
    iterator = batches(shape, batch, classes)
    _malloc_trim()
    rss = _status_kib("VmRSS")
    for _ in range(steps):
        step_function(trainer, iterator)()
    _malloc_trim()
    grown = _status_kib("VmRSS") - rss
    steady = interleaved({"step": step_function(trainer, iterator, STEP)}, repeats=3, warmup=0)["step"]
    stats = trainer.static_step.stats
    return stats["traced"], stats["first_call_seconds"], steady, grown


def functions_traced(net, steps, seed=0):
    """The per-width functions (configuration, role) a run of `steps` steps traces."""
    from slimkeras import profiling
    from slimkeras.training import static

    layers = profiling.sliced_layers(net)
    seen, counts = set(), []
    for step in range(steps):
        widths = static.host_widths("universal", net.width_spec, 4, step, seed)
        for i, w in enumerate(widths):
            seen.add((static.channel_key(net, net.width_config(float(w)), layers), i == 0))
        counts.append(len(seen))
    return counts


def count_section(section):
    """Channel configurations per architecture and range; functions traced by two runs."""
    import slimkeras
    from slimkeras.training import static

    table = section.table("channel configurations (widths drawn from U(lo, hi))",
                          ["model", "input", "range", "configurations", "rarest", "commonest"])
    for arch, shape, (lo, hi) in COUNT_CASES:
        net = slimkeras.models.build(arch, width_mult_range=(lo, hi), input_shape=shape, num_classes=1000)
        count, p = static.count_configurations(net, lo, hi, resolution=1e-5)
        table.add(arch, f"{shape[0]}x{shape[1]}", f"[{lo:g}, {hi:g}]", count, f"{p.min():.2%}", f"{p.max():.2%}")
    runs = section.table("per-width functions a run traces (sandwich n=4, distillation, seed 0)",
                         ["model", "input", f"default job ({DEFAULT_JOB_STEPS} steps)",
                          f"{LONG_RUN_STEPS:,} steps", "all traced by step"])
    for shape in ((28, 28, 1), (224, 224, 3)):
        net = slimkeras.models.build("mobilenet_v1", width_mult_range=RANGE, input_shape=shape, num_classes=10)
        counts = functions_traced(net, LONG_RUN_STEPS)
        last = counts.index(counts[-1]) + 1
        runs.add("mobilenet_v1", f"{shape[0]}x{shape[1]}", counts[DEFAULT_JOB_STEPS - 1], counts[-1], last)
    return runs


def memory_child(static_widths):
    """In a subprocess: a step's peak above the resident set at 28² batch 256 (KiB, one JSON line)."""
    from benchmarks.memory import step_peak

    trainer = make_trainer((28, 28, 1), 10, static_widths)
    run = step_function(trainer, batches((28, 28, 1), 256, 10), STEP)
    for _ in range(2):
        run()
    before, hwm = step_peak(run)
    print(json.dumps({"rss_before_kib": before, "step_peak_kib": hwm - before}))


def memory(static_widths):
    """`memory_child` in a subprocess with oneDNN off and a fixed mmap threshold (see benchmarks.memory)."""
    cmd = [sys.executable, "-m", "benchmarks.static_sandwich", f"--memory_child={int(static_widths)}"]
    env = {"TF_ENABLE_ONEDNN_OPTS": "0", "MALLOC_MMAP_THRESHOLD_": "131072"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=1800)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick=False):
    section = Section("static_sandwich", "Static-width sandwich step / in-graph sandwich step (US-MobileNet v1)")
    started = time.perf_counter()
    count_section(section)
    table = section.table("train step (sandwich n=4, distillation, [0.25, 1.0])",
                          ["input", "batch", "in-graph ms", "static ms", "static XLA ms", "static / in-graph",
                           "static XLA / in-graph"])
    for shape, batch, classes in STEP_CASES[1:] if quick else STEP_CASES:
        small = shape[0] < 64
        t, _ = time_steps(shape, batch, classes, repeats=(3 if quick else 9) if small else 5, with_xla=small)
        case = f"mobilenet_v1 {shape[0]}x{shape[1]}x{shape[2]} batch {batch}"
        section.compared("static step / in-graph step", case, t, "static", "in-graph")
        if small:
            section.compared("static XLA step / in-graph step", case, t, "static XLA", "in-graph")
        table.add(f"{shape[0]}x{shape[1]}", batch, t["in-graph"] * 1e3, t["static"] * 1e3,
                  t["static XLA"] * 1e3 if small else None, t.ratio("static", "in-graph"),
                  t.ratio("static XLA", "in-graph") if small else None)
    traces = section.table("first calls of the per-width functions (28x28 batch 256, fresh run)",
                           ["XLA", "steps", "functions", "first calls s", "s per function",
                            "steady step ms", "RSS growth MiB", "MiB per function"])
    for jit in (False, True):
        steps = 4 if quick else 8 if jit else 40  # XLA compiles slowly on a CPU
        n, seconds, steady, grown = first_calls((28, 28, 1), 256, 10, steps, jit)
        traces.add("on" if jit else "off", steps, n, seconds, seconds / n, steady * 1e3, grown / 1024,
                   grown / 1024 / n)
    mem = section.table("step peak memory above the resident set (28x28 batch 256, MiB)",
                        ["step", "RSS before", "step peak"])
    for static_widths in (False, True):
        m = memory(static_widths)
        mem.add("static" if static_widths else "in-graph", m["rss_before_kib"] / 1024, m["step_peak_kib"] / 1024)
    section.note(f"{time.perf_counter() - started:.0f} s in all.")
    return section


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.static_sandwich")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    parser.add_argument("--memory_child", type=int, choices=(0, 1), default=None)
    args = parser.parse_args()
    from benchmarks.common import dumps, machine, quiet_tf

    quiet_tf()
    if args.memory_child is not None:
        memory_child(bool(args.memory_child))
    else:
        results = {"machine": machine(), **run(quick=args.quick).as_dict()}
        if args.out:
            with open(args.out, "w") as f:
                f.write(dumps(results))
