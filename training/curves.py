"""Per-width curves during training and the end-of-run spectrum in TensorBoard.

`WidthCurves` evaluates a few fixed widths on the evaluation split every N epochs,
on a full-precision twin of the network (`training.build.float32_twin`), so the
training model, its BN statistics and the data stream are never touched: US-Net
and naive BN are calibrated on the twin first (a small sample of the calibration
images), S-Net private BN is used as trained.
"""

import math
import os

import keras
import tensorflow as tf

import slimkeras

CALIBRATION_IMAGES = 1024
TAG = "val/top1_w{:g}"
COLUMN = "val_top1_w{:g}"


def curve_widths(width_spec):
    """The widths of the curves: the switches, or lo, mid, hi of a range."""
    if not width_spec.is_range:
        return sorted(width_spec.switches)
    lo, hi = width_spec.range
    return [lo, round((lo + hi) / 2, 6), hi]


class WidthCurves(keras.callbacks.Callback):
    """Every `every_epochs` epochs: top-1 of `widths` on `test`, to TensorBoard and the CSV log.

    Args:
        twin: the full-precision twin model (its weights are overwritten each time).
        net: the training network whose weights it copies.
        test: `(images, labels)` batches of the evaluation split.
        calibration: images for the twin's BN calibration (None: switchable BN, none).
        widths: the widths evaluated.
        every_epochs: the period in epochs.
        log_dir: the TensorBoard directory of the curves (`tensorboard/validation`).
        calibration_images: images calibrated on (a small sample).
    """

    def __init__(self, twin, net, test, calibration, widths, every_epochs, log_dir,
                 calibration_images=CALIBRATION_IMAGES):
        super().__init__()
        self.twin, self.net, self.test, self.calibration = twin, net, test, calibration
        self.widths = list(widths)
        self.every_epochs = every_epochs
        self.log_dir = log_dir
        self.calibration_images = calibration_images
        self.latest = {}
        self._writer = None

    def columns(self):
        """The CSV columns of the curves: the latest top-1 per width ("NA" before the first)."""
        return {COLUMN.format(w): self.latest.get(w, "NA") for w in self.widths}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        self.latest = dict(zip(self.widths, self.evaluate()))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=epoch):
            for w, top1 in self.latest.items():
                tf.summary.scalar(TAG.format(w), top1)
        self._writer.flush()
        print(f"Epoch {epoch + 1}: top-1 " + ", ".join(f"w{w:g} {100 * a:.2f}%" for w, a in self.latest.items()),
              flush=True)

    def evaluate(self):
        """Top-1 of every curve width with the network's current weights (on the twin)."""
        self.twin.set_weights(self.net.get_weights())
        if self.calibration is not None:
            slimkeras.calibrate_bn(self.twin, self.calibration, widths=self.widths,
                                   num_images=self.calibration_images, clear=True, verbose=0)
        return slimkeras.evaluate_top1(self.twin, self.test, self.widths)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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
