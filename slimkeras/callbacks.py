"""Keras callbacks for slimmable networks: per-width validation during `fit`."""

import copy
import random

import keras
import numpy as np
import tensorflow as tf

from slimkeras.calibration import CALIBRATION_IMAGES
from slimkeras.checks import check_int
from slimkeras.evaluation import calibrated_top1

COLUMN = "val_top1_w{:g}"
TAG = "val/top1_w{:g}"


class WidthEvaluation(keras.callbacks.Callback):
    """Top-1 of a few widths on validation data every `every_epochs` epochs, into `fit`'s logs.

    The network (the model being fit, or a `SlimmableTrainer`'s `net`) is never
    touched: its weights are copied into a float32 copy of it (made on the first
    evaluation, whatever the training dtype policy), whose universal or shared BN is
    calibrated first on `calibration_data` (switchable BN is used as trained). Each
    width's top-1 goes into the epoch's logs as `val_top1_w{width}`, so
    `fit`'s History, `keras.callbacks.CSVLogger` and `keras.callbacks.TensorBoard`
    (listed after this callback) record it.

    Args:
        validation_data: `(images, labels)` arrays or a dataset of `(images, labels)` batches.
        widths: the widths evaluated (default: the switches, or the lowest, middle and
            highest width of a range).
        calibration_data: training images (array or dataset) for BN calibration; required
            unless the network has switchable BN.
        every_epochs: evaluate after every this many epochs.
        calibration_images: images calibrated on.
        log_dir: also write `val/top1_w{width}` scalars to this TensorBoard directory.
        copy: the float32 copy to evaluate on (default: made from the network).
        verbose: 1 prints each evaluation's top-1.

    Example:

    ```python
    x, y = np.random.rand(64, 12, 12, 1).astype("float32"), np.random.randint(0, 5, 64)
    net = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(12, 12, 1),
                                        num_classes=5)
    trainer = slimkeras.SlimmableTrainer(net, num_sample=3)
    trainer.compile(optimizer="sgd")
    evaluation = slimkeras.callbacks.WidthEvaluation((x, y), widths=[0.25, 1.0], calibration_data=x)
    history = trainer.fit(x, y, epochs=2, callbacks=[evaluation], verbose=0)
    history.history["val_top1_w0.25"]  # one top-1 per epoch
    ```
    """

    def __init__(self, validation_data, widths=None, calibration_data=None, every_epochs=1,
                 calibration_images=CALIBRATION_IMAGES, log_dir=None, copy=None, verbose=0):
        super().__init__()
        check_int(every_epochs, "every_epochs")
        self.validation_data = validation_data
        self.widths = None if widths is None else [float(w) for w in widths]
        self.calibration_data = calibration_data
        self.every_epochs = every_epochs
        self.calibration_images = calibration_images
        self.log_dir = log_dir
        self.copy = copy
        self.verbose = verbose
        self.latest = {}
        self._writer = None

    @property
    def network(self):
        """The `SlimmableModel` being trained."""
        return getattr(self.model, "net", self.model)

    def on_train_begin(self, logs=None):
        net = self.network
        if self.widths is None:
            self.widths = curve_widths(net.width_spec)
        for w in self.widths:
            net.width_config(w)  # a width the network was not trained for fails now, not later
        if self.calibration_data is None and not net.has_switchable_bn:
            raise ValueError("WidthEvaluation needs calibration_data (training images): this network's "
                             "BN has no statistics of its own while it trains.")

    def columns(self):
        """The latest top-1 per width as `{val_top1_w{width}: value}` ("NA" before the first)."""
        return {COLUMN.format(w): self.latest.get(w, "NA") for w in self.widths}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        self.latest = dict(zip(self.widths, self.evaluate()))
        if logs is not None:
            logs.update({COLUMN.format(w): top1 for w, top1 in self.latest.items()})
        if self.log_dir:
            self._write_scalars(epoch)
        if self.verbose:
            print(f"Epoch {epoch + 1}: top-1 " + ", ".join(f"w{w:g} {100 * a:.2f}%" for w, a in self.latest.items()),
                  flush=True)

    def evaluate(self):
        """Top-1 of every width with the network's current weights (on the float32 copy,
        calibrated afresh unless its BN is switchable)."""
        net = self.network
        if self.copy is None:
            self.copy = float32_copy(net)
        self.copy.set_weights(net.get_weights())
        return calibrated_top1(self.copy, self.validation_data, self.widths, self.calibration_data,
                               self.calibration_images)

    def _write_scalars(self, epoch):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=epoch):
            for w, top1 in self.latest.items():
                tf.summary.scalar(TAG.format(w), top1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def curve_widths(width_spec):
    """The widths of per-epoch curves: the switches, or lo, mid, hi of a range."""
    if not width_spec.is_range:
        return sorted(width_spec.switches)
    lo, hi = width_spec.range
    return [lo, round((lo + hi) / 2, 6), hi]


def float32_copy(model):
    """A new model of `model`'s architecture computing in float32 (whatever its dtype
    policy), holding its weights. Python's and NumPy's random states are restored after
    the build (building draws initializer seeds from them), so a training run that makes
    one sees no difference."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        twin = model.__class__.from_config(_float32_config(copy.deepcopy(model.get_config())))
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    twin.set_weights(model.get_weights())
    return twin


def _float32_config(config):
    """`config` with every serialized dtype policy made float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config
