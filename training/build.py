"""Builds a run's datasets, network and trainer from its validated flags."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

import slimkeras
from slimkeras import datasets
from slimkeras.datasets import fashion_mnist
from training import data as data_lib
from training.config import distill_rule
from slimkeras.training.schedules import SlimSchedule
from slimkeras.training.trainer import SlimmableTrainer


@dataclasses.dataclass
class Datasets:
    train_from: callable  # start_batch -> batched, augmented, repeated; from that batch of the stream on
    calibration: tf.data.Dataset  # batched, not augmented: BN calibration images
    test: tf.data.Dataset  # batched, not augmented
    input_shape: tuple
    num_classes: int
    train_size: int
    labels: list
    preprocessing: dict


def small_image_augmentation(cfg):
    """The seeded `(image, seed) -> image` augmentation of the 28 px training stream, or None."""
    return (lambda x, s: datasets.augment_small(x, seed=s)) if cfg.augment else None


def build_datasets(cfg):
    name, batch, seed = cfg.dataset, cfg.batch_size, cfg.seed
    if name == "fashion_mnist":
        images, labels = fashion_mnist.load_split("train", cfg.data_dir, cfg.download)
        if cfg.train_limit:
            images, labels = images[:cfg.train_limit], labels[:cfg.train_limit]
        test_images, test_labels = fashion_mnist.load_split("test", cfg.data_dir, cfg.download)
        if cfg.eval_limit:
            test_images, test_labels = test_images[:cfg.eval_limit], test_labels[:cfg.eval_limit]
        order = datasets.sample_indices(len(images), cfg.calibration_images, seed)
        calibration = tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
        normalize = fashion_mnist.normalize
        augment = small_image_augmentation(cfg)
        return Datasets(
            train_from=lambda start: data_lib.in_memory_train(images, labels, batch, seed, normalize, augment, start),
            calibration=datasets.finish(calibration, 256, False, seed, len(order), normalize),
            test=datasets.finish(tf.data.Dataset.from_tensor_slices((test_images, test_labels)),
                                 512, False, seed, len(test_images), normalize),
            input_shape=(28, 28, 1), num_classes=10, train_size=len(images),
            labels=fashion_mnist.LABELS, preprocessing=fashion_mnist.preprocessing(),
        )
    if name == "fake":
        return _fake_datasets(cfg)
    return _tfds_datasets(cfg)


def _tfds_datasets(cfg):
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    name, size = cfg.dataset, cfg.image_size
    kwargs = dict(data_dir=cfg.data_dir, download=cfg.download, seed=cfg.seed, image_size=size)
    datasets.tfds_pipeline(name, "train", cfg.batch_size, True, **kwargs)  # fails fast on missing data
    info = tfds.builder(name, data_dir=cfg.data_dir).info
    # ImageNet's labelled held-out split is "validation"; elsewhere "test" where there is one.
    test_split = "test" if "test" in info.splits and not name.startswith("imagenet") else "validation"
    test = datasets.tfds_pipeline(name, test_split, 256, False, **kwargs)
    calibration = datasets.tfds_pipeline(name, "train", 256, False, **kwargs).unbatch().take(
        cfg.calibration_images).batch(256)
    shape = info.features["image"].shape
    input_shape = (size, size, 3) if shape[0] is None or shape[0] >= 64 else tuple(shape)
    labels = info.features["label"].names
    return Datasets(
        train_from=lambda start: datasets.tfds_pipeline(name, "train", cfg.batch_size, True,
                                                        start_batch=start, **kwargs),
        calibration=calibration, test=test, input_shape=input_shape,
        num_classes=len(labels), train_size=info.splits["train"].num_examples, labels=labels,
        preprocessing=datasets.preprocessing_info(input_shape, *datasets.tfds_normalization(input_shape)),
    )


def _fake_datasets(cfg, num_classes=10, count=64):
    """Random variable-size uint8 images through the ImageNet pipeline (smoke tests of recipes)."""
    rng = np.random.default_rng(cfg.seed)
    size = cfg.image_size
    images = rng.integers(0, 255, (count, size + 16, size + 32, 3), dtype=np.uint8)
    labels = rng.integers(0, num_classes, count).astype(np.int32)
    raw = tf.data.Dataset.from_tensor_slices((images, labels))
    shape = (None, None, 3)

    def pipe(batch, training):
        return datasets.preprocess_dataset(raw, batch, training, cfg.seed, count, shape, size)

    return Datasets(
        train_from=lambda start: pipe(cfg.batch_size, True).skip(start),
        calibration=pipe(32, False), test=pipe(32, False),
        input_shape=(size, size, 3), num_classes=num_classes, train_size=count,
        labels=[f"class_{i}" for i in range(num_classes)],
        preprocessing=datasets.preprocessing_info((size, size, 3), datasets.IMAGENET_MEAN, datasets.IMAGENET_STD),
    )


def build_net(cfg, input_shape, num_classes):
    """The run's SlimmableModel under its --mixed_precision policy.

    Under a mixed policy the layers compute in float16/bfloat16 with float32
    variables; the trainer keeps the BN layers in float32. Evaluation and export use
    a float32 copy (`slimkeras.callbacks.float32_copy`).
    """
    policy = cfg.mixed_precision
    mixed = policy.startswith("mixed_")
    kwargs = dict(bn=cfg.bn, input_shape=input_shape, num_classes=num_classes,
                  output_averaging=cfg.output_averaging, num_bn_slots=cfg.num_bn_slots)
    if cfg.mode == "universal":
        kwargs["width_mult_range"] = tuple(cfg.width_mult_range)
    else:
        kwargs["width_mult_list"] = cfg.width_mult_list
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(policy)
    try:
        net = slimkeras.models.build(cfg.arch, **kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    if cfg.sync_bn:
        for layer in net.bn_layers:
            layer.synchronized = True
    return net


def build_trainer(cfg, net, steps_per_epoch):
    schedule = SlimSchedule(
        cfg.lr, cfg.lr_schedule, total_steps=cfg.epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch, warmup_steps=int(cfg.warmup_epochs * steps_per_epoch),
        gamma=cfg.lr_gamma, milestones=cfg.lr_milestones,
    )
    trainer = SlimmableTrainer(
        net, cfg.mode, num_sample=cfg.num_sample_training, inplace_distill=cfg.inplace_distill,
        label_smoothing=cfg.label_smoothing, weight_decay=cfg.weight_decay, seed=cfg.seed,
        distill_rule=distill_rule(cfg), steps_per_epoch=steps_per_epoch, static_widths=cfg.static_widths,
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    # jit_compile explicit: Keras' "auto" turns XLA on wherever a GPU is visible.
    trainer.compile(optimizer=optimizer, jit_compile=cfg.jit_compile)
    return trainer
