"""Peak memory of a US-Net train step vs a plain model's train step at width 1.0.

Method: each case runs in a fresh subprocess (`python -m benchmarks.memory
--child=...`). It builds the model and trainer, runs two steps (tracing, first
allocations), then records the resident set (VmRSS), resets the kernel's
high-water mark (`echo 5 > /proc/self/clear_refs`), runs three more steps and
reads the high-water mark (VmHWM). "Step peak" = VmHWM - VmRSS before: the
memory a step needs on top of the resident model, optimizer state and traced
graph. The children run with oneDNN off (its allocator keeps a pool that never
shrinks, hiding the per-step peak), glibc's mmap threshold fixed at 128 KiB and
malloc_trim before the reset, so the resident set follows the memory in use.
`tf.config.experimental.get_memory_info('CPU:0')` has no CPU statistics in this
TF build (zeros with oneDNN, an error without), and tracemalloc does not see
TF's allocator, hence /proc.
"""

import argparse
import json
import os
import subprocess
import sys

from benchmarks.common import Section

CASES = {
    "us": "US-Net train step (sandwich n=4, in-place distillation, range 0.25-1.0)",
    "s": "S-Net train step (4 switches)",
    "plain": "plain model of width 1.0 (materialized), one train step",
}


def config(quick):
    """[(arch, input shape, batch, cases)]."""
    if quick:
        return [("mobilenet_v1", (28, 28, 1), 256, ("us", "s", "plain"))]
    return [("mobilenet_v1", (28, 28, 1), 256, ("us", "s", "plain")),
            ("mobilenet_v1", (224, 224, 3), 16, ("us", "plain"))]


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _malloc_trim():
    """Returns freed heap memory to the OS (glibc), so VmRSS is the memory in use."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def child(case, arch, shape, batch):
    """Runs in the subprocess: prints one JSON line of KiB figures."""
    import gc

    import numpy as np
    import tensorflow as tf

    import slimkeras
    from benchmarks import train_step

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch,) + tuple(shape)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch).astype("int32"))
    classes = 10 if shape[0] < 64 else 1000
    if case == "plain":
        twin = slimkeras.models.build(arch, width_mult_list=[1.0], input_shape=shape, num_classes=classes)
        model = slimkeras.materialize(twin, 1.0)
        del twin
        step = train_step.plain_step(model)
    elif case == "us":
        net = slimkeras.models.build(arch, width_mult_range=(0.25, 1.0), input_shape=shape, num_classes=classes)
        _, step = train_step.make_trainer(net, "universal", x, num_sample=4, inplace_distill=True)
    elif case == "s":
        net = slimkeras.models.build(arch, width_mult_list=[0.25, 0.5, 0.75, 1.0], input_shape=shape,
                                     num_classes=classes)
        _, step = train_step.make_trainer(net, "slimmable", x)
    else:
        raise ValueError(f"unknown case {case!r}; allowed: {', '.join(CASES)}")

    def run_step():
        out = step(x, y)
        tf.nest.map_structure(lambda t: t.numpy(), out)

    for _ in range(2):
        run_step()
    gc.collect()
    peak_with_tracing = _status_kib("VmHWM")
    before, hwm = step_peak(run_step)
    try:
        info = tf.config.experimental.get_memory_info("CPU:0")
    except ValueError as e:
        info = str(e)
    print(json.dumps({"case": case, "rss_before_kib": before, "hwm_kib": hwm, "step_peak_kib": hwm - before,
                      "peak_with_tracing_kib": peak_with_tracing,
                      "tf_memory_info": info}))


def step_peak(run, steps=3):
    """`(VmRSS before, VmHWM after)` in KiB of `steps` calls of `run`: the resident set after
    malloc_trim, then the kernel's high-water mark reset (`clear_refs` 5) and read after the calls."""
    _malloc_trim()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(steps):
        run()
    return before, _status_kib("VmHWM")


def measure(case, arch, shape, batch):
    cmd = [sys.executable, "-m", "benchmarks.memory", f"--child={case}", f"--arch={arch}",
           f"--shape={','.join(map(str, shape))}", f"--batch={batch}"]
    # oneDNN off: its CPU allocator keeps a pool that never shrinks, so VmRSS would not
    # drop after a step. A fixed mmap threshold: buffers above 128 KiB are mmapped and
    # unmapped when freed, so the resident set follows the memory in use.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
               MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"memory child {case} failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def run(quick=False):
    section = Section("memory", "Peak memory: US-Net train step / plain model train step at width 1.0")
    section.note(__doc__.split("Method: ", 1)[1].strip().replace("\n", " "))
    table = section.table("train step memory (MiB)", ["model", "batch", "case", "RSS before", "step peak",
                                                      "process peak incl. tracing"])
    for arch, shape, batch, cases in config(quick):
        results = {case: measure(case, arch, shape, batch) for case in cases}
        for case, r in results.items():
            table.add(f"{arch} {shape[0]}x{shape[1]}x{shape[2]}", batch, case, r["rss_before_kib"] / 1024,
                      r["step_peak_kib"] / 1024, r["peak_with_tracing_kib"] / 1024)
        name = f"{arch} {shape[0]}x{shape[1]}x{shape[2]} batch {batch}"
        plain = results["plain"]
        for case in [c for c in cases if c != "plain"]:
            r = results[case]
            label = {"us": "US-Net", "s": "S-Net"}[case]
            section.figure(f"{label} step peak/plain step peak", name,
                           r["step_peak_kib"] / max(plain["step_peak_kib"], 1), None,
                           step_peak_mib=round(r["step_peak_kib"] / 1024, 1),
                           plain_step_peak_mib=round(plain["step_peak_kib"] / 1024, 1),
                           process_peak_ratio=round(r["peak_with_tracing_kib"] / plain["peak_with_tracing_kib"], 3))
    return section


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True, choices=sorted(CASES))
    parser.add_argument("--arch", default="mobilenet_v1")
    parser.add_argument("--shape", default="28,28,1")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    child(args.child, args.arch, tuple(int(v) for v in args.shape.split(",")), args.batch)


if __name__ == "__main__":
    main()
