"""Per-width curves during training (`slimkeras.callbacks.WidthEvaluation` on the run's
float32 twin) and the end-of-run spectrum in TensorBoard."""

import math
import os

import tensorflow as tf


def limit_batches(test, images):
    """The first `images` images of a batched dataset (None: all)."""
    if not images:
        return test
    return test.unbatch().take(images).batch(256)


def write_spectrum(log_dir, rows, png_path, step):
    """The end-of-run spectrum to TensorBoard: `final/top1_w{w}` at `step`, `spectrum/top1`
    against thousands of MACs (its step), and the FLOPs-accuracy plot as an image."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for row in rows:
            tf.summary.scalar("final/top1_w{:g}".format(row["width"]), row["top1"], step=step)
            tf.summary.scalar("spectrum/top1", row["top1"], step=int(math.ceil(row["macs"] / 1e3)))
        if os.path.exists(png_path):
            with open(png_path, "rb") as f:
                image = tf.image.decode_png(f.read(), channels=4)
            tf.summary.image("spectrum/flops_accuracy", image[tf.newaxis], step=step)
    writer.close()
