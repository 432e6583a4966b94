"""ImageNet-scale training throughput on a GPU (images/s), where one is visible; skipped otherwise.

At 224x224, batch 256, 1000 classes: a plain MobileNet v1 train step (keras.applications,
SGD, the baseline), the 4-switch S-MobileNet v1 step and the sandwich (n=4, in-place
distillation) US-MobileNet v1 step of `training/flags/s_mbv1.flags` / `us_mbv1.flags`
(built as `training.main` builds them: `training.build`) with the in-graph draw (XLA off
only: its shapes are dynamic) and with static widths (`--static_widths`, XLA off and on),
each in float32 and mixed_float16 (loss scaling); and the official US-Nets sandwich step in
PyTorch on the same GPU (`benchmarks.official_step`: our PyTorch US-MobileNet v1 of the
checkpoint tests; mixed_float16 = autocast + GradScaler), for "slimkeras ÷ official". The
sandwich steps all train the widths of one step (the counter is reset before every timed
step, so the static step's functions are all traced). The batches are random tensors on the
device (the step alone). Then the JPEG input pipeline alone (`slimkeras.datasets.jpeg`, all
cores, on the local fixture dataset of `benchmarks/jpeg_fixture.py`).

    python -m benchmarks.gpu_scale            # prints the table
    python -m benchmarks.run --only=gpu_scale  # and records it
"""

import os
import tempfile

import numpy as np

from benchmarks.common import Section, interleaved
from benchmarks.scaling import ROOT

BATCH, SIZE, CLASSES = 256, 224, 1000
FLAGFILES = {"4-switch": "s_mbv1.flags", "sandwich": "us_mbv1.flags", "sandwich static": "us_mbv1.flags"}
STEP = 7  # the sandwich step whose widths every timed sandwich step trains


def plain_step(precision, jit):
    import keras
    import tensorflow as tf

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if precision == "mixed_float16" else "float32")
    try:
        model = keras.applications.MobileNet(weights=None, input_shape=(SIZE, SIZE, 3), classes=CLASSES,
                                             classifier_activation=None)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
    return _keras_step(model, tf)


def slim_step(kind, precision, jit):
    import tensorflow as tf

    from benchmarks.scaling import parse
    from training.build import build_net, build_trainer

    static = str(kind.endswith("static")).lower()
    cfg = parse([f"--mixed_precision={precision}", f"--jit_compile={str(jit).lower()}", f"--batch_size={BATCH}",
                 f"--image_size={SIZE}", "--strategy=default", f"--static_widths={static}"],
                os.path.join(ROOT, "training", "flags", FLAGFILES[kind]))
    net = build_net(cfg, (SIZE, SIZE, 3), CLASSES)
    trainer = build_trainer(cfg, net, 1000)
    trainer(np.zeros((1, SIZE, SIZE, 3), "float32"), training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    return _keras_step(trainer, tf, STEP if kind.startswith("sandwich") else None)


def official_step(precision):
    """The official sandwich step (PyTorch) of the same widths as the slimkeras sandwich steps."""
    from benchmarks.official_step import official_step as make
    from slimkeras import WidthSpec
    from slimkeras.training.static import host_widths

    widths = host_widths("universal", WidthSpec(width_range=(0.25, 1.0)), 4, STEP, 0)
    return make(widths, BATCH, SIZE, CLASSES, device="cuda", precision=precision)


def _keras_step(model, tf, counter=None):
    """One train step on a random batch on the device; with `counter`, the optimizer's step
    counter is reset to it first (every sandwich step trains the same widths)."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.standard_normal((BATCH, SIZE, SIZE, 3)).astype("float32"))
    labels = tf.constant(rng.integers(0, CLASSES, BATCH).astype("int32"))
    iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    model.make_train_function()

    def step():
        if counter is not None:
            model.optimizer.iterations.assign(counter)
        logs = model.train_function(iterator)
        logs = logs.get_value() if hasattr(logs, "get_value") else logs
        next(iter(logs.values())).numpy()

    return step


def run(quick=False):
    import tensorflow as tf

    section = Section("gpu_scale", "GPU: ImageNet-scale train step and input pipeline throughput")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        section.note("No GPU visible to TensorFlow on this machine: skipped (the table in "
                     "benchmarks/gpu_scale.md is 'not measured').")
        return section
    section.note(f"{len(gpus)} GPU(s): {', '.join(g.name for g in gpus)}. " + __doc__.split("\n\n", 1)[1]
                 .split("\n\n")[0].strip().replace("\n", " "))
    _share_the_gpu_with_torch(tf, gpus)
    table = section.table(f"train step images/s (batch {BATCH}, {SIZE}x{SIZE})",
                          ["step", "precision", "XLA", "step ms", "images/s", "time / plain step",
                           "time / official sandwich step"])
    for precision in ("float32", "mixed_float16"):
        for jit in (False, True):
            steps = {"plain": plain_step(precision, jit), "official sandwich (PyTorch)": official_step(precision)}
            kinds = [k for k in FLAGFILES if not (jit and k == "sandwich")]  # in-graph widths: no XLA
            steps.update({kind: slim_step(kind, precision, jit) for kind in kinds})
            t = interleaved(steps, repeats=3 if quick else 10, warmup=2)
            for name in steps:
                official = name.startswith("sandwich") or name.startswith("official")
                table.add(name, precision, "-" if name.startswith("official") else "on" if jit else "off",
                          t[name] * 1e3, BATCH / t[name], t.ratio(name, "plain"),
                          t.ratio(name, "official sandwich (PyTorch)") if official else None)
    from benchmarks import jpeg_fixture
    from slimkeras.datasets import jpeg
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    data_dir = os.path.join(tempfile.gettempdir(), "slimkeras_jpeg_bench_2000")
    builder = tfds.builder(jpeg_fixture.prepare(data_dir, 2000), data_dir=data_dir)
    iterator = iter(jpeg.jpeg_pipeline(builder, "train", BATCH, True, image_size=SIZE))
    t = interleaved({"pipeline": lambda: next(iterator)[0].numpy()}, repeats=3 if quick else 10, warmup=2)
    table.add("JPEG pipeline alone", "-", "-", t["pipeline"] * 1e3, BATCH / t["pipeline"], None)
    return section


def _share_the_gpu_with_torch(tf, gpus):
    """TensorFlow takes GPU memory as it needs it (not all of it at start), leaving PyTorch room."""
    try:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TF already initialized the GPU (an earlier benchmark in this process)
        pass


if __name__ == "__main__":
    run(quick=True)
