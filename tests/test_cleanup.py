"""A run's files after kills and on other accounts (issue 29, points 4 and 5): no temporary file
left behind, the log and the checkpoint in agreement, outputs readable as the umask allows."""

import csv
import glob
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fashion_data import needs_fashion
from slimkeras.io import atomic_path, write_json_atomic, write_text_atomic
from training.callbacks import AtomicCheckpoint, FlushingTensorBoard, TrainingLog, drop_rows_from

ROOT = Path(__file__).resolve().parents[1]


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _tensorboard_epochs(log_dir):
    """The steps (epochs) of the epoch-end points under `log_dir`, one list for all of them
    (each `epoch_*` tag must have the same steps)."""
    if not os.path.isdir(log_dir):
        return []
    events = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    steps = {tag: sorted(e.step for e in events.Tensors(tag))
             for tag in events.Tags()["tensors"] if tag.startswith("epoch_")}
    assert len({tuple(s) for s in steps.values()}) <= 1, steps
    return next(iter(steps.values()), [])


def _csv_epochs(path):
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


# -- point 4: clean finish -----------------------------------------------------------------------
def test_restore_removes_the_temporaries_a_killed_run_left(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    for name in ("checkpoint/tmp-abc-ckpt-2.weights.h5", "tmp-xyz-final.keras"):
        (run / name).write_bytes(b"")
    (run / "results.json").write_text("{}")
    assert AtomicCheckpoint(str(run / "checkpoint")).restore(model=None) == (0, 0)
    assert sorted(os.listdir(run)) == ["checkpoint", "results.json"] and os.listdir(run / "checkpoint") == []


def test_a_worker_that_is_not_the_chief_removes_nothing(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "tmp-1-ckpt-1.weights.h5").write_bytes(b"")
    AtomicCheckpoint(str(tmp_path / "checkpoint"), is_chief=False).restore(model=None)
    assert os.listdir(tmp_path / "checkpoint") == ["tmp-1-ckpt-1.weights.h5"]


class _KillAfterCheckpoint(keras.callbacks.Callback):
    """Stands in for a kill right after the epoch's checkpoint: records what is on disk then."""

    def __init__(self, checkpoint, model_dir):
        super().__init__()
        self.seen = []
        original = checkpoint._save

        def save_then_look(epoch, step, name):
            original(epoch, step, name)
            self.seen.append((epoch, _csv_epochs(model_dir / "log.csv"),
                              _tensorboard_epochs(model_dir / "tensorboard" / "train")))

        checkpoint._save = save_then_look


def test_epoch_log_and_tensorboard_are_on_disk_before_its_checkpoint(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.ones((16, 4), "float32"), np.zeros((16, 2), "float32")
    checkpoint = AtomicCheckpoint(str(tmp_path / "checkpoint"))
    spy = _KillAfterCheckpoint(checkpoint, tmp_path)
    # The checkpoint first in the list, as training.main puts it: it still writes last.
    callbacks = [checkpoint, TrainingLog(str(tmp_path / "log.csv")),
                 FlushingTensorBoard(str(tmp_path / "tensorboard"), update_freq="epoch")]
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=callbacks)
    # Epochs done k -> rows and TensorBoard points of epochs 0..k-1 already on disk.
    assert spy.seen == [(k, list(range(k)), list(range(k))) for k in (1, 2, 3)]


def test_a_resumed_run_drops_the_rows_of_epochs_it_trains_again(tmp_path):
    """A kill after epoch 2's row but before its checkpoint: the rerun redoes epoch 2 (index 1)."""
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\r\n0,1.0\r\n1,0.5\r\n")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=3, initial_epoch=1, verbose=0,
              callbacks=[TrainingLog(str(path))])
    assert _csv_epochs(path) == [0, 1, 2]
    drop_rows_from(str(path), 5)  # nothing to drop: untouched
    assert _csv_epochs(path) == [0, 1, 2]


def _driver(kill_after_epochs):
    """`python -c` code running training.main, SIGKILLed right after the checkpoint of
    `kill_after_epochs` epochs is written (None: not killed)."""
    return ("import os, signal, sys\n"
            "from training import callbacks\n"
            "save = callbacks.AtomicCheckpoint._save\n"
            "def save_then_die(self, epoch, step, name):\n"
            "    save(self, epoch, step, name)\n"
            f"    if epoch == {kill_after_epochs!r} and not step:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "callbacks.AtomicCheckpoint._save = save_then_die\n"
            "from training.main import main\n"
            "sys.exit(main(['training.main'] + sys.argv[1:]))\n")


@pytest.mark.slow
@needs_fashion
def test_kill_right_after_a_checkpoint_then_rerun_keeps_every_epoch_once(tmp_path):
    args = ["--flagfile=us_mbv1_fashion", f"--model_dir={tmp_path}", "--train_limit=512", "--batch_size=128",
            "--epochs=2", "--eval_limit=256", "--calibration_images=128", "--eval_every_epochs=1", "--verbose=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", _driver(1), *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert json.loads((tmp_path / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 1
    assert _csv_epochs(tmp_path / "training_log.csv") == [0]  # the row came before the checkpoint
    (tmp_path / "tmp-stale-final.keras").write_bytes(b"")  # as a kill inside the final save leaves
    rerun = subprocess.run([sys.executable, "-c", _driver(None), *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _csv_epochs(tmp_path / "training_log.csv") == [0, 1]
    assert _tensorboard_epochs(tmp_path / "tensorboard" / "train") == [0, 1]
    assert not glob.glob(str(tmp_path / "**" / "tmp-*"), recursive=True)


# -- point 5: permissions ------------------------------------------------------------------------
@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_files_get_the_umask_permissions(tmp_path, umask_022):
    write_text_atomic(tmp_path / "a.txt", "x")
    write_json_atomic(tmp_path / "b.json", {})
    with atomic_path(tmp_path / "c.keras") as tmp:
        Path(tmp).write_bytes(b"zip")
    assert [_mode(tmp_path / n) for n in ("a.txt", "b.json", "c.keras")] == [0o644] * 3
    os.umask(0o077)
    write_text_atomic(tmp_path / "private.txt", "x")
    assert _mode(tmp_path / "private.txt") == 0o600


def test_export_folder_gets_the_umask_permissions(tmp_path, umask_022):
    from tflite_export.export_dir import staged_directory

    out = tmp_path / "export"
    with staged_directory(str(out)) as staging:
        write_json_atomic(os.path.join(staging, "manifest.json"), {})
        write_text_atomic(os.path.join(staging, "labels.txt"), "a\n")
    assert _mode(out) == 0o755
    assert _mode(out / "manifest.json") == _mode(out / "labels.txt") == 0o644
