"""Training throughput of the embedded default job against batch size and width range.

The job of `training/flags/us_mbv1_fashion.flags` (US-MobileNet v1 on 28x28
Fashion-MNIST, sandwich rule n=4, in-place distillation, SGD Nesterov, weight
decay), built exactly as `training.main` builds it (`training.build`), with its
real input pipeline (in-memory, augmented). Only the flags named change. Each
configuration runs Keras' own train function on its iterator; all
configurations are alive at once and step in interleaved rounds, so load from
other jobs hits them alike. Seconds per epoch are extrapolated from the median
step time for 60,000 images (a few steps per configuration, not whole epochs).
"""

import os

import numpy as np

from benchmarks.common import Section, interleaved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILE = os.path.join(ROOT, "training", "flags", "us_mbv1_fashion.flags")
EPOCH_IMAGES = 60000
DEFAULT = (256, (0.25, 1.0))


def config(quick):
    if quick:
        return dict(configs=[(128, (0.25, 1.0)), (256, (0.25, 1.0)), (256, (0.5, 1.0))], repeats=3)
    return dict(configs=[(64, (0.25, 1.0)), (128, (0.25, 1.0)), (256, (0.25, 1.0)), (512, (0.25, 1.0)),
                         (256, (0.5, 1.0)), (256, (0.75, 1.0)), (256, (0.25, 0.5))], repeats=7)


def parse(extra, flagfile=FLAGFILE):
    from training import config as config_lib

    return config_lib.parse(["benchmarks", f"--flagfile={flagfile}", "--model_dir=/tmp/slimkeras_benchmarks",
                             "--verbose=0", *extra])


_DATA = {}


def datasets(cfg):
    """The job's datasets (Fashion-MNIST, read once), or random data where it is missing."""
    from slimkeras import datasets as datasets_lib
    from slimkeras.datasets import fashion_mnist
    from training import build, data as data_lib

    if "images" not in _DATA:
        try:
            _DATA["images"] = fashion_mnist.load_split("train", cfg.data_dir)
            _DATA["source"] = "Fashion-MNIST (Debian's IDX files)"
        except datasets_lib.DataError:
            rng = np.random.default_rng(0)
            _DATA["images"] = (rng.integers(0, 255, (EPOCH_IMAGES, 28, 28, 1), dtype=np.uint8),
                               rng.integers(0, 10, EPOCH_IMAGES).astype(np.int32))
            _DATA["source"] = "random uint8 images (Fashion-MNIST not installed)"
    images, labels = _DATA["images"]
    # The pipeline of training.build.build_datasets, without re-reading the files per configuration.
    train = data_lib.in_memory_train(images, labels, cfg.batch_size, cfg.seed, fashion_mnist.normalize,
                                     build.small_image_augmentation(cfg))
    return train, _DATA["source"]


def make_step(flags, flagfile=FLAGFILE):
    """A built trainer of the job (`flagfile` + `flags`), and a function running one Keras train step."""
    from training.build import build_net, build_trainer

    cfg = parse(flags, flagfile)
    train, source = datasets(cfg)
    net = build_net(cfg, (28, 28, 1), 10)
    trainer = build_trainer(cfg, net, EPOCH_IMAGES // cfg.batch_size)
    trainer(np.zeros((1, 28, 28, 1), "float32"), training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.make_train_function()
    iterator = iter(train)

    def step():
        logs = trainer.train_function(iterator)
        logs = logs.get_value() if hasattr(logs, "get_value") else logs  # an Optional in some Keras versions
        next(iter(logs.values())).numpy()

    return step, cfg, source


def run(quick=False):
    cfg = config(quick)
    section = Section("scaling",
                      "Scaling: the embedded default's training time per epoch vs batch size and width range")
    steps, source = {}, None
    for batch, (lo, hi) in cfg["configs"]:
        name = f"batch {batch}, range {lo:g}-{hi:g}"
        steps[name], _, source = make_step([f"--batch_size={batch}", f"--width_mult_range={lo},{hi}"])
    section.note(__doc__.split("\n\n", 1)[1].strip().replace("\n", " ") + f" Data: {source}.")
    t = interleaved(steps, repeats=cfg["repeats"], warmup=1)
    default = f"batch {DEFAULT[0]}, range {DEFAULT[1][0]:g}-{DEFAULT[1][1]:g}"
    table = section.table("train throughput (embedded default, CPU)",
                          ["batch", "width range", "step ms", "images/s", "s/epoch (60k)",
                           "time per image / default's"])
    for batch, (lo, hi) in cfg["configs"]:
        name = f"batch {batch}, range {lo:g}-{hi:g}"
        step_s = t[name]
        relative = t.ratio(name, default, scale_b=batch / DEFAULT[0]) if default in t else None
        table.add(batch, f"{lo:g}-{hi:g}", step_s * 1e3, batch / step_s, (EPOCH_IMAGES // batch) * step_s, relative)
        section.figure("time per image / default's (batch 256, 0.25-1.0)", name, relative, None,
                       images_per_s=round(batch / step_s, 1), s_per_epoch=round((EPOCH_IMAGES // batch) * step_s, 1))
    return section


if __name__ == "__main__":
    run(quick=True)
