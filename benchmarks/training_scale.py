"""Training at scale on CPU: the JPEG pipeline, the per-epoch evaluation's cost, mixed precision.

- JPEG pipeline: images/s per core of the training (and evaluation) input pipeline on
  a local tfds dataset of ImageNet-sized JPEGs (`benchmarks/jpeg_fixture.py`, built
  once): the fast path (`slimkeras.datasets.jpeg`: tfds skips decoding, the Inception
  crop is decoded alone) against decode-then-crop (tfds decodes the whole JPEG, then
  `imagenet_preprocess`, the path of every tfds dataset before). Both pipelines run on
  one thread (`tf.data` private thread pool of 1, intra-op parallelism 1), interleaved.
- Evaluation cost: one per-width evaluation of the default job (`WidthEvaluation.evaluate`:
  copy the weights into the float32 twin, calibrate lo/mid/hi on 1,024 images, top-1 on
  the 10,000 test images) / one epoch of the default job (234 steps of batch 256,
  extrapolated from 10-step rounds), interleaved.
- Mixed precision: the default job's per-step loss over the same 200 steps (same
  weights, same batches) in float32 and mixed_bfloat16 (what runs on a CPU; float16
  is a GPU format), stepped alternately.
"""

import os
import tempfile

import numpy as np

from benchmarks.common import Section, interleaved

JPEG_TARGET = 1 / 1.5  # fast / old time per image on one core, at most (>= 1.5x the images/s)
EVAL_TARGET = 0.05  # evaluation / epoch, at most
IMAGE_SIZE = 224


def config(quick):
    if quick:
        return dict(jpeg_images=512, batch=32, batches_per_call=2, repeats=3, eval_repeats=2, loss_steps=40)
    return dict(jpeg_images=2000, batch=64, batches_per_call=4, repeats=7, eval_repeats=3, loss_steps=200)


def _one_core(ds):
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def jpeg_pipelines(data_dir, batch, training):
    """{"fast": iterator, "old": iterator} of the same split, one core each."""
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    from slimkeras.datasets import jpeg, preprocess_dataset

    builder = tfds.builder(jpeg_fixture_name(data_dir), data_dir=data_dir)
    split = "train" if training else "validation"
    fast = jpeg.jpeg_pipeline(builder, split, batch, training, seed=0, image_size=IMAGE_SIZE)
    decoded = builder.as_dataset(split=split, shuffle_files=training, as_supervised=True)
    count = builder.info.splits[split].num_examples
    old = preprocess_dataset(decoded, batch, training, 0, count, (None, None, 3), IMAGE_SIZE)
    if not training:
        fast, old = fast.repeat(), old.repeat()
    return {"fast": iter(_one_core(fast)), "old": iter(_one_core(old))}


def jpeg_fixture_name(data_dir):
    from benchmarks import jpeg_fixture

    return jpeg_fixture.prepare(data_dir, train_images=_JPEG_COUNT[data_dir])


_JPEG_COUNT = {}


def measure_jpeg(section, cfg):
    data_dir = os.path.join(tempfile.gettempdir(), f"slimkeras_jpeg_bench_{cfg['jpeg_images']}")
    _JPEG_COUNT[data_dir] = cfg["jpeg_images"]
    jpeg_fixture_name(data_dir)
    table = section.table("JPEG input pipeline, one core", ["pipeline", "path", "images/s per core",
                                                            "speed / decode-then-crop"])
    images = cfg["batch"] * cfg["batches_per_call"]
    for training in (True, False):
        iterators = jpeg_pipelines(data_dir, cfg["batch"], training)

        def consume(it):
            def call():
                for _ in range(cfg["batches_per_call"]):
                    next(it)[0].numpy()
            return call

        t = interleaved({name: consume(it) for name, it in iterators.items()}, repeats=cfg["repeats"], warmup=1)
        kind = "train (Inception crop)" if training else "eval (centre crop)"
        section.compared(f"{kind} time per image on one core, fast / decode-then-crop",
                         f"{IMAGE_SIZE}x{IMAGE_SIZE}, batch {cfg['batch']}", t, "fast", "old",
                         JPEG_TARGET if training else None, fast_images_per_s=round(images / t["fast"], 1),
                         old_images_per_s=round(images / t["old"], 1), speedup=round(t.ratio("old", "fast"), 3))
        for name in ("fast", "old"):
            table.add(kind, name, images / t[name], t.ratio("old", name))
    section.note(f"JPEG data: {cfg['jpeg_images']} train images of 333-500 x 375-500 px (quality 90, "
                 f"~40 KB) in {data_dir}.")


def default_job(extra=()):
    """The default job as training.main builds it: (cfg, datasets, net, trainer, iterator)."""
    import keras

    from benchmarks.scaling import parse
    from training.build import build_datasets, build_net, build_trainer

    cfg = parse(list(extra))
    keras.utils.set_random_seed(cfg.seed)
    datasets = build_datasets(cfg)
    steps = datasets.train_size // cfg.batch_size
    net = build_net(cfg, datasets.input_shape, datasets.num_classes)
    trainer = build_trainer(cfg, net, steps)
    trainer(np.zeros((1,) + tuple(datasets.input_shape), "float32"), training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.make_train_function()
    return cfg, datasets, net, trainer, iter(datasets.train_from(0))


def _step(trainer, iterator):
    logs = trainer.train_function(iterator)
    logs = logs.get_value() if hasattr(logs, "get_value") else logs
    return {k: float(v.numpy()) for k, v in logs.items()}


def measure_eval_cost(section, cfg):
    from slimkeras.callbacks import WidthEvaluation, curve_widths
    from slimkeras.callbacks import float32_copy

    job, datasets, net, trainer, iterator = default_job()
    steps = datasets.train_size // job.batch_size
    widths = curve_widths(net.width_spec)
    width_curves = WidthEvaluation(datasets.test, widths, datasets.calibration, copy=float32_copy(net))
    width_curves.set_model(net)
    chunk = 10

    def train_chunk():
        for _ in range(chunk):
            _step(trainer, iterator)

    t = interleaved({"eval": width_curves.evaluate, "train": train_chunk}, repeats=cfg["eval_repeats"], warmup=1)
    section.compared("per-epoch evaluation / one epoch of the default job", f"{len(widths)} widths, 10,000 test "
                     f"images, calibration on 1,024; epoch {steps} steps of batch {job.batch_size}", t, "eval",
                     "train", EVAL_TARGET, scale_b=steps / chunk, eval_s=round(t["eval"], 2),
                     epoch_s=round(t["train"] * steps / chunk, 1))


def measure_loss_curves(section, cfg):
    f32 = default_job()
    bf16 = default_job(["--mixed_precision=mixed_bfloat16"])
    bf16[2].set_weights(f32[2].get_weights())
    losses = {"float32": [], "mixed_bfloat16": []}
    for _ in range(cfg["loss_steps"]):
        for name, (_, _, _, trainer, iterator) in (("float32", f32), ("mixed_bfloat16", bf16)):
            trainer.reset_metrics()
            losses[name].append(_step(trainer, iterator)["loss_max"])
    a, b = np.array(losses["float32"]), np.array(losses["mixed_bfloat16"])
    window = max(1, len(a) // 10)
    smooth = lambda x: np.convolve(x, np.ones(window) / window, mode="valid")  # noqa: E731
    gap = np.abs(smooth(a) - smooth(b))
    table = section.table(f"loss of the widest width, mean over {window} steps", ["steps", "float32",
                                                                                   "mixed_bfloat16"])
    for start in range(0, len(a), window):
        table.add(f"{start + 1}-{start + window}", float(a[start:start + window].mean()),
                  float(b[start:start + window].mean()))
    final = float(b[-window:].mean() / a[-window:].mean())
    section.figure(f"bfloat16 / float32 loss, last {window} of {len(a)} steps", "default job, same weights and "
                   "batches", final, None, finite=bool(np.isfinite(b).all()),
                   max_smoothed_gap=round(float(gap.max()), 4), first_loss=round(float(a[0]), 4))


def run(quick=False):
    cfg = config(quick)
    section = Section("training_scale", "Training at scale (CPU): JPEG pipeline, per-epoch evaluation, "
                      "mixed precision")
    section.note(" ".join(__doc__.split("\n\n", 1)[1].split()))
    measure_jpeg(section, cfg)
    measure_eval_cost(section, cfg)
    measure_loss_curves(section, cfg)
    return section


if __name__ == "__main__":
    run(quick=True)
