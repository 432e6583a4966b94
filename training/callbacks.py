"""Callbacks of a training run: crash-safe checkpoints, a NaN guard, the loss-scale report."""

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
    """Saves weights + optimizer state at each epoch end (and every N steps), crash-safely.

    Each checkpoint is written to a temporary file, renamed to `ckpt-{epoch}.weights.h5`
    (`ckpt-{epoch}-step{step}.weights.h5` inside an epoch), and only then does
    `checkpoint.json` (itself written by rename) point to it, so a kill at any moment
    leaves the previous complete checkpoint in force. The pointer's `epoch` counts the
    epochs done and `step` the steps done of the next one. Nothing is saved once a
    loss became NaN.

    Args:
        directory: where the checkpoints go.
        nan_guard: the run's `NanGuard`.
        is_chief: only the chief writes.
        every_steps: also save every this many steps inside an epoch (0: never).
        steps_per_epoch: the run's steps per epoch (with `every_steps`).
    """

    def __init__(self, directory, nan_guard=None, is_chief=True, every_steps=0, steps_per_epoch=None):
        super().__init__()
        self.directory = directory
        self.nan_guard = nan_guard
        self.is_chief = is_chief
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch
        self.step_offset = 0  # steps of the current epoch done before this fit (a resumed epoch)
        self._epoch = 0

    def latest(self):
        """(epoch, path) of the last complete checkpoint, or None."""
        position = self.latest_position()
        return None if position is None else (position[0], position[2])

    def latest_position(self):
        """(epochs done, steps done of the next epoch, path) of the last complete checkpoint, or None."""
        pointer = os.path.join(self.directory, POINTER)
        if not os.path.exists(pointer):
            return None
        with open(pointer) as f:
            info = json.load(f)
        path = os.path.join(self.directory, info["file"])
        return (info["epoch"], info.get("step", 0), path) if os.path.exists(path) else None

    def restore(self, model):
        """Loads the latest checkpoint into `model`; returns (epoch, step) to resume from ((0, 0): none)."""
        position = self.latest_position()
        if position is None:
            return 0, 0
        epoch, step, path = position
        model.load_weights(path)
        return epoch, step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_offset + batch + 1
        if self.every_steps and step % self.every_steps == 0 and step < self.steps_per_epoch:
            self._save(self._epoch, step, f"ckpt-{self._epoch}-step{step}.weights.h5")

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        self._save(epoch + 1, 0, f"ckpt-{epoch + 1}.weights.h5")

    def _save(self, epoch, step, name):
        if not self.is_chief or (self.nan_guard and self.nan_guard.triggered_at):
            return
        os.makedirs(self.directory, exist_ok=True)
        with atomic_path(os.path.join(self.directory, name)) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        write_json_atomic(os.path.join(self.directory, POINTER), {"epoch": epoch, "step": step, "file": name})
        for old in os.listdir(self.directory):
            if old.startswith("ckpt-") and old != name:
                os.remove(os.path.join(self.directory, old))


class LossScaleReport(keras.callbacks.Callback):
    """Says at each epoch end how many steps mixed_float16 loss scaling skipped (inf/NaN
    gradients) and the loss scale now; silent when none was skipped."""

    def on_epoch_end(self, epoch, logs=None):
        skipped = int(round(float((logs or {}).get("skipped_steps", 0))))
        if skipped:
            scale = float(self.model.optimizer.dynamic_scale.numpy())
            print(f"Epoch {epoch + 1}: loss scaling skipped {skipped} step(s) with inf/NaN gradients "
                  f"(loss scale now {scale:g}).", flush=True)



class TrainingLog(keras.callbacks.CSVLogger):
    """`training_log.csv`: the training metrics and the per-width curves' columns, one row per
    epoch; no `val_*` columns of a Keras validation pass this run does not have.

    Args:
        path: the CSV file (appended to on a resumed run).
        extra: None, or a callable giving more `{column: value}` of each epoch.
    """

    def __init__(self, path, extra=None):
        super().__init__(path, append=True)
        self.extra = extra

    def on_epoch_end(self, epoch, logs=None):
        logs = {**(logs or {}), **(self.extra() if self.extra else {})}
        if self.keys is None:
            self.keys = sorted(logs)  # fixed here: Keras would add a NA `val_` twin of each
        super().on_epoch_end(epoch, logs)
