"""Callbacks of a training run: crash-safe checkpoints, a NaN guard, the loss-scale report,
the CSV log and TensorBoard, written so that a kill at any moment leaves the log and the
checkpoint in agreement and no temporary file behind after the rerun."""

import csv
import io
import json
import math
import os

import keras

from slimkeras.io import atomic_path, write_json_atomic, write_text_atomic

POINTER = "checkpoint.json"
TEMPORARY_PREFIX = "tmp-"  # `slimkeras.io.atomic_path`'s temporary files


def remove_stale_temporaries(directory):
    """Removes the temporary files (`tmp-*`) a killed run left in `directory` (if it exists);
    returns their names. Only for a folder no other process is writing into."""
    if not os.path.isdir(directory):
        return []
    stale = sorted(n for n in os.listdir(directory) if n.startswith(TEMPORARY_PREFIX)
                   and os.path.isfile(os.path.join(directory, n)))
    for name in stale:
        os.remove(os.path.join(directory, name))
    return stale


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

    The epoch's checkpoint is written once every callback's `on_epoch_end` is done
    (at the next epoch's start, or at the end of training), wherever this callback
    stands in the list: the epoch's log row and TensorBoard points are on disk before
    the checkpoint declares the epoch done. `restore` removes the temporary files a
    killed run left in the checkpoint folder and its parent, the run folder.

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
        self._pending = None  # epochs done whose checkpoint waits for the other callbacks

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
        """Removes stale temporary files (the chief), loads the latest checkpoint into `model`;
        returns (epoch, step) to resume from ((0, 0): none)."""
        if self.is_chief:
            for directory in (self.directory, os.path.dirname(os.path.abspath(self.directory))):
                remove_stale_temporaries(directory)
        position = self.latest_position()
        if position is None:
            return 0, 0
        epoch, step, path = position
        model.load_weights(path)
        return epoch, step

    def on_epoch_begin(self, epoch, logs=None):
        self._save_pending()
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_offset + batch + 1
        if self.every_steps and step % self.every_steps == 0 and step < self.steps_per_epoch:
            self._save(self._epoch, step, f"ckpt-{self._epoch}-step{step}.weights.h5")

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        self._pending = epoch + 1

    def on_train_end(self, logs=None):
        self._save_pending()

    def _save_pending(self):
        if self._pending is not None:
            epoch, self._pending = self._pending, None
            self._save(epoch, 0, f"ckpt-{epoch}.weights.h5")

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

    On a resumed run, rows of the epochs about to be trained again (a kill after the
    row but before the epoch's checkpoint) are dropped first, so each epoch has one row.

    Args:
        path: the CSV file (appended to on a resumed run).
        extra: None, or a callable giving more `{column: value}` of each epoch.
    """

    def __init__(self, path, extra=None):
        super().__init__(path, append=True)
        self.extra = extra
        self._opened = False

    def on_train_begin(self, logs=None):
        self._opened = False  # opened at the first epoch, once the rows to keep are known

    def on_epoch_begin(self, epoch, logs=None):
        self._open(epoch)

    def _open(self, epoch):
        if not self._opened:
            drop_rows_from(self.filename, epoch)
            super().on_train_begin()
            self._opened = True

    def on_epoch_end(self, epoch, logs=None):
        self._open(epoch)
        logs = {**(logs or {}), **(self.extra() if self.extra else {})}
        if self.keys is None:
            self.keys = sorted(logs)  # fixed here: Keras would add a NA `val_` twin of each
        super().on_epoch_end(epoch, logs)


def drop_rows_from(path, epoch):
    """Removes the rows of epochs >= `epoch` (first column) from the CSV log at `path`, if any
    (the file is replaced atomically; nothing happens without such rows)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < epoch]
    if len(kept) < len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(kept)  # the dialect of keras.callbacks.CSVLogger
        write_text_atomic(path, text.getvalue())


class FlushingTensorBoard(keras.callbacks.TensorBoard):
    """`keras.callbacks.TensorBoard` that flushes its event files at each epoch end, so the
    epoch's points are on disk before the epoch's checkpoint (Keras flushes every 2 minutes)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in self._writers.values():
            writer.flush()
