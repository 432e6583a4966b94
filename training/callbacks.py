"""Callbacks of a training run: crash-safe checkpoints and a NaN guard."""

import json
import math
import os

import keras

from slimkeras.io import atomic_path, write_json_atomic

POINTER = "checkpoint.json"


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/inf loss and remembers where it happened."""

    def __init__(self):
        super().__init__()
        self.triggered_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if name.startswith("loss") and not math.isfinite(float(value)):
                self.triggered_at = (self._epoch + 1, batch + 1, name)
                self.model.stop_training = True
                return


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state at each epoch end, crash-safely.

    Each epoch is written to a temporary file, renamed to `ckpt-{epoch}.weights.h5`,
    and only then does `checkpoint.json` (itself written by rename) point to it, so
    a kill at any moment leaves the previous complete checkpoint in force. Epochs
    that ended with a NaN loss are not saved.
    """

    def __init__(self, directory, nan_guard=None, is_chief=True):
        super().__init__()
        self.directory = directory
        self.nan_guard = nan_guard
        self.is_chief = is_chief

    def latest(self):
        """(epoch, path) of the last complete checkpoint, or None."""
        pointer = os.path.join(self.directory, POINTER)
        if not os.path.exists(pointer):
            return None
        with open(pointer) as f:
            info = json.load(f)
        path = os.path.join(self.directory, info["file"])
        return (info["epoch"], path) if os.path.exists(path) else None

    def restore(self, model):
        """Loads the latest checkpoint into `model`; returns the epoch to resume from (0: none)."""
        latest = self.latest()
        if latest is None:
            return 0
        epoch, path = latest
        model.load_weights(path)
        return epoch

    def on_epoch_end(self, epoch, logs=None):
        if not self.is_chief or (self.nan_guard and self.nan_guard.triggered_at):
            return
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{epoch + 1}.weights.h5"
        with atomic_path(os.path.join(self.directory, name)) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        write_json_atomic(os.path.join(self.directory, POINTER), {"epoch": epoch + 1, "file": name})
        for old in os.listdir(self.directory):
            if old.startswith("ckpt-") and old != name:
                os.remove(os.path.join(self.directory, old))

