"""Training throughput (images/s) per mode on a GPU, where one is visible; skipped otherwise.

The Fashion-MNIST jobs of `training/flags/` (individual, naive, slimmable,
universal; MobileNet v1, batch 256), built as `training.main` builds them,
stepping in interleaved rounds.
"""

import os

from benchmarks.common import Section, interleaved
from benchmarks.scaling import ROOT, make_step

FLAGFILES = {mode: os.path.join(ROOT, "training", "flags", f"{name}_mbv1_fashion.flags")
             for mode, name in [("individual", "individual"), ("naive", "naive"), ("slimmable", "s"),
                                ("universal", "us")]}


def run(quick=False):
    import tensorflow as tf

    section = Section("gpu", "GPU: training throughput per mode")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        section.note("No GPU visible to TensorFlow on this machine: skipped (never required).")
        return section
    section.note(f"{len(gpus)} GPU(s): {', '.join(g.name for g in gpus)}. " + __doc__.split("\n\n", 1)[1]
                 .strip().replace("\n", " "))
    steps = {mode: make_step(["--batch_size=256"], flagfile)[0] for mode, flagfile in FLAGFILES.items()}
    t = interleaved(steps, repeats=3 if quick else 10, warmup=2)
    table = section.table("train throughput per mode (GPU, batch 256)", ["mode", "step ms", "images/s"])
    for mode in steps:
        table.add(mode, t[mode] * 1e3, 256 / t[mode])
    return section


if __name__ == "__main__":
    run(quick=True)
