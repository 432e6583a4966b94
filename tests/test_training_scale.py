"""Training at scale: mixed precision, the JPEG pipeline, mid-epoch resume, per-width curves.

Unit tests in process; whole runs (few steps, tiny data) in subprocesses as in test_training."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from benchmarks import jpeg_fixture
from test_training import FLAGS, ROOT, checkpoint_weights, float64_env, needs_fashion, run_main
from training import build, callbacks, config, curves
from training import data as data_lib

pytestmark = pytest.mark.xdist_group(__name__)
US_FASHION = f"--flagfile={FLAGS / 'us_mbv1_fashion.flags'}"


def parse(*args):
    return config.parse(["prog", "--model_dir=/tmp/unused", *args])


# -- mixed precision ----------------------------------------------------------------------
def tiny_cfg(precision):
    return parse("--mode=slimmable", "--width_mult_list=0.5,1.0", f"--mixed_precision={precision}",
                 "--weight_decay=1e-3", "--lr=0.1", "--lr_schedule=constant", "--epochs=1")


def test_mixed_policy_keeps_variables_bn_and_logits_for_the_loss_in_float32():
    cfg = tiny_cfg("mixed_float16")
    net = build.build_net(cfg, (16, 16, 1), 5)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert {v.dtype for v in net.variables} == {"float32", "float64"}  # float64: the width state
    assert all(v.dtype == "float32" for v in net.trainable_variables)
    assert net.get_layer("conv1").compute_dtype == "float16"
    trainer = build.build_trainer(cfg, net, steps_per_epoch=1)
    assert all(layer.compute_dtype == "float32" for layer in net.bn_layers)  # the trainer's doing
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert "skipped_steps" in [m.name for m in trainer.metrics]
    twin = slimkeras.callbacks.float32_copy(net)
    assert all(layer.compute_dtype == "float32" for layer in twin.layers)
    for a, b in zip(net.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def step_once(precision, images, labels, weights, scale=None):
    cfg = tiny_cfg(precision)
    net = build.build_net(cfg, (16, 16, 1), 5)
    trainer = build.build_trainer(cfg, net, steps_per_epoch=1)
    trainer(images[:1], training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    net.set_weights(weights)
    if scale is not None:
        trainer.optimizer.dynamic_scale.assign(scale)
    logs = trainer.train_on_batch(images, labels, return_dict=True)
    return net, trainer, logs


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_step_moves_the_weights_as_a_float32_step_does(precision):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 16, 16, 1)).astype("float32")
    labels = np.arange(16) % 5
    start = build.build_net(tiny_cfg("float32"), (16, 16, 1), 5).get_weights()
    ref, _, _ = step_once("float32", images, labels, start)
    mixed, _, logs = step_once(precision, images, labels, start, scale=1024.0 if precision == "mixed_float16" else None)
    deltas = [(r - s, m - s) for r, m, s in zip(ref.get_weights(), mixed.get_weights(), start)
              if r.dtype == np.float32 and np.abs(r - s).max() > 0]
    assert len(deltas) > 10
    want = np.concatenate([w.ravel() for w, _ in deltas])
    got = np.concatenate([g.ravel() for _, g in deltas])
    # the update itself agrees to float16/bfloat16 rounding (measured 6.5 % for float16, 20.1 % for
    # bfloat16, whose 8-bit mantissa is 8x coarser); a mistake in the loss scaling or the scaled
    # weight decay (~half of this update) moves it by ~100 %
    bound = {"mixed_float16": 0.2, "mixed_bfloat16": 0.4}[precision]
    assert np.linalg.norm(got - want) <= bound * np.linalg.norm(want)
    assert logs.get("skipped_steps", 0.0) == 0.0


def test_float16_loss_scaling_skips_an_overflowing_step_and_halves_the_scale():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(8, 16, 16, 1)).astype("float32")
    start = build.build_net(tiny_cfg("float32"), (16, 16, 1), 5).get_weights()
    net, trainer, logs = step_once("mixed_float16", images, np.arange(8) % 5, start, scale=2.0**60)
    assert logs["skipped_steps"] == 1.0
    assert float(trainer.optimizer.dynamic_scale.numpy()) == 2.0**59
    trainable = {id(v) for v in net.trainable_variables}
    for v, b in zip(net.weights, start):
        if id(v) in trainable:
            np.testing.assert_array_equal(v.numpy(), b)


def test_new_flags_are_validated():
    for argv, message in [(["--checkpoint_every_steps=-1"], "checkpoint_every_steps"),
                          (["--eval_every_epochs=-2"], "eval_every_epochs"),
                          (["--mixed_precision=float8"], "mixed_precision"),
                          (["--curve_images=0"], "curve_images"),
                          (["--jit_compile"], "static shapes")]:
        with pytest.raises(config.ConfigError, match=message):
            parse("--mode=universal", "--width_mult_range=0.25,1", *argv)
    for name in ("us_mbv1", "us_mbv2", "s_mbv1", "s_mbv2", "s_shufflenet", "s_resnet50"):
        cfg = config.parse(["prog", f"--flagfile={FLAGS / (name + '.flags')}"])
        assert cfg.mixed_precision == "mixed_float16" and cfg.checkpoint_every_steps > 0
    cfg = config.parse(["prog", US_FASHION])
    assert cfg.mixed_precision == "float32" and not cfg.jit_compile and cfg.eval_every_epochs == 1


# -- data position ------------------------------------------------------------------------
def test_in_memory_stream_is_deterministic_and_starts_at_any_batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (50, 8, 8, 1), dtype=np.uint8)
    labels = np.arange(50, dtype=np.int32)
    normalize = slimkeras.datasets.fashion_mnist.normalize

    def augment(x, s):
        return slimkeras.datasets.augment_small(x, seed=s)

    def batches(start, count):
        ds = data_lib.in_memory_train(images, labels, 8, 3, normalize, augment, start)
        return list(ds.take(count).as_numpy_iterator())

    full = batches(0, 14)  # 112 images: crosses two passes over the 50
    again = batches(0, 14)
    for a, b in zip(full, again):
        np.testing.assert_array_equal(a[0], b[0])
    for a, b in zip(full[9:], batches(9, 5)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    first_pass = np.concatenate([b[1] for b in full[:7]])[:50]
    assert sorted(first_pass) == list(range(50))  # each pass is a permutation
    assert not np.array_equal(full[0][0], normalize(images[full[0][1]]).numpy())  # augmented


# -- JPEG pipeline ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jpeg_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("jpegs")
    jpeg_fixture.prepare(str(directory), train_images=64)
    return directory


def test_jpeg_pipeline_is_deterministic_resumable_and_decodes_the_right_crop(jpeg_dir):
    import tensorflow_datasets as tfds

    from slimkeras.datasets import jpeg

    name = jpeg_fixture.NAME

    def train(start, count, seed=3):
        ds = slimkeras.datasets.tfds_pipeline(name, "train", 8, True, data_dir=str(jpeg_dir), seed=seed,
                                              image_size=48, start_batch=start)
        return list(ds.take(count).as_numpy_iterator())

    full = train(0, 10)  # 80 images: more than one pass over the 64
    for a, b in zip(full[7:], train(7, 3)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(full[0][0], train(0, 1)[0][0])
    assert not np.array_equal(full[0][0], train(0, 1, seed=4)[0][0])
    assert full[0][0].shape == (8, 48, 48, 3)
    # eval: the centre 0.875 square decoded alone == the full decode cropped there, then resized
    raw = tfds.builder(name, data_dir=str(jpeg_dir)).as_dataset(
        split="validation", decoders={"image": tfds.decode.SkipDecoding()}, as_supervised=True)
    encoded, _ = next(iter(raw))
    full_image = tf.io.decode_jpeg(encoded, channels=3).numpy()
    h, w = full_image.shape[:2]
    side = int(0.875 * min(h, w))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    crop = tf.image.convert_image_dtype(full_image[top:top + side, left:left + side], tf.float32)
    want = (tf.image.resize(crop, [48, 48]) - slimkeras.datasets.IMAGENET_MEAN) / slimkeras.datasets.IMAGENET_STD
    np.testing.assert_allclose(jpeg.eval_image(encoded, 48).numpy(), want.numpy(), atol=0.05)
    batch = next(iter(slimkeras.datasets.tfds_pipeline(name, "validation", 4, False, data_dir=str(jpeg_dir),
                                                       image_size=48)))
    np.testing.assert_allclose(batch[0][0].numpy(), want.numpy(), atol=0.05)


# -- whole runs -----------------------------------------------------------------------------
TINY = ["--train_limit=512", "--eval_limit=128", "--calibration_images=64", "--batch_size=32",
        "--epochs=2", "--steps_per_epoch=10", "--verbose=2", "--noaugment"]


def event_scalars(directory):
    """{tag: [(step, value), ...]} of every scalar summary under `directory`."""
    scalars = {}
    for path in Path(directory).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalars.setdefault(value.tag, []).append(
                        (event.step, float(tf.make_ndarray(value.tensor))))
    return scalars


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The default job, tiny, float64, without the per-width evaluation: the uninterrupted run."""
    tmp = tmp_path_factory.mktemp("reference")
    result = run_main(US_FASHION, f"--model_dir={tmp / 'run'}", *TINY, "--eval_every_epochs=0",
                      env=float64_env(tmp))
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run"


@needs_fashion
def test_per_width_curves_reach_tensorboard_and_the_csv_and_change_no_weight(reference_run, tmp_path):
    result = run_main(US_FASHION, f"--model_dir={tmp_path}", *TINY, env=float64_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = event_scalars(tmp_path / "tensorboard" / "validation")
    for w in (0.25, 0.625, 1.0):
        curve = scalars[f"val/top1_w{w:g}"]
        assert [step for step, _ in curve] == [0, 1] and all(0 <= v <= 1 for _, v in curve)
        assert f"final/top1_w{w:g}" in scalars or w == 0.625
    assert len(scalars["spectrum/top1"]) == len(json.loads((tmp_path / "results.json").read_text())["results"])
    with open(tmp_path / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [c for c in rows[0] if c.startswith("val_")] == ["val_top1_w0.25", "val_top1_w0.625", "val_top1_w1"]
    assert all(v not in ("", "NA") for row in rows for v in row.values())
    assert float(rows[1]["val_top1_w1"]) == pytest.approx(scalars["val/top1_w1"][1][1])
    # the evaluation ran on a twin: the training run is bit for bit the one without it
    _, with_curves = checkpoint_weights(tmp_path)
    _, without = checkpoint_weights(reference_run)
    assert with_curves.keys() == without.keys()
    for key in without:
        np.testing.assert_array_equal(with_curves[key], without[key], err_msg=key)


@pytest.mark.slow  # three tiny training runs in subprocesses (~2-4 min on 2 cores)
@needs_fashion
def test_kill_inside_an_epoch_resumes_at_that_step_with_the_same_data(reference_run, tmp_path):
    args = [US_FASHION, f"--model_dir={tmp_path}", *TINY, "--eval_every_epochs=0", "--checkpoint_every_steps=3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **float64_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "training.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pointer = tmp_path / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text() or "{}").get("step", 0) > 0:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    position = json.loads(pointer.read_text())
    assert position["step"] in (3, 6, 9), position
    result = run_main(*args, env=float64_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming from the checkpoint at step {position['step']} of epoch {position['epoch'] + 1}" in result.stdout
    _, resumed = checkpoint_weights(tmp_path)
    _, uninterrupted = checkpoint_weights(reference_run)
    compared = [k for k in uninterrupted if "optimizer" not in k]
    assert len(compared) > 20
    for key in compared:
        np.testing.assert_allclose(resumed[key], uninterrupted[key], rtol=0, atol=1e-9, err_msg=key)


@pytest.mark.slow  # XLA compiles each switch's step on the CPU (~3 min on 2 cores)
def test_jpeg_dataset_trains_with_every_new_option(jpeg_dir, tmp_path):
    """S-MobileNet v1's recipe (XLA needs the switch modes' static widths) in float16 with loss
    scaling, XLA, a checkpoint every step and the per-width curves, on the local JPEGs."""
    result = run_main(f"--flagfile={FLAGS / 's_mbv1.flags'}", f"--dataset={jpeg_fixture.NAME}",
                      f"--data_dir={jpeg_dir}", "--strategy=default", "--image_size=32", "--epochs=2",
                      "--steps_per_epoch=2", "--batch_size=4", "--verbose=2",
                      "--mixed_precision=mixed_float16", "--jit_compile", "--checkpoint_every_steps=1",
                      f"--model_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["dataset"] == jpeg_fixture.NAME and [r["width"] for r in results["results"]] == [
        0.25, 0.5, 0.75, 1.0]
    assert json.loads((tmp_path / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 2
    scalars = event_scalars(tmp_path / "tensorboard" / "validation")
    assert all(len(scalars[f"val/top1_w{w:g}"]) == 2 for w in (0.25, 0.5, 0.75, 1.0))
    assert "skipped_steps" in (tmp_path / "training_log.csv").read_text().splitlines()[0]
    loaded = keras.models.load_model(tmp_path / "final.keras")
    assert all(layer.compute_dtype == "float32" for layer in loaded.layers)  # exported in float32


# -- pieces -------------------------------------------------------------------------------------
def test_curve_widths_are_the_switches_or_lo_mid_hi():
    assert slimkeras.callbacks.curve_widths(slimkeras.WidthSpec(switches=[1.0, 0.25, 0.5])) == [0.25, 0.5, 1.0]
    assert slimkeras.callbacks.curve_widths(slimkeras.WidthSpec(width_range=(0.35, 1.0))) == [0.35, 0.675, 1.0]


def test_training_log_has_no_empty_validation_columns(tmp_path):
    log = callbacks.TrainingLog(str(tmp_path / "log.csv"), lambda: {"val_top1_w1": 0.5})
    log.set_model(keras.Sequential())
    log.on_train_begin()
    log.on_epoch_end(0, {"loss_max": 1.0})
    log.on_train_end()
    assert (tmp_path / "log.csv").read_text().splitlines() == ["epoch,loss_max,val_top1_w1", "0,1.0,0.5"]


def test_checkpoint_inside_an_epoch_points_at_its_step(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = callbacks.AtomicCheckpoint(str(tmp_path), every_steps=2, steps_per_epoch=6)
    checkpoint.set_model(model)
    checkpoint.step_offset = 1  # a resumed epoch: one step was done before this fit
    checkpoint.on_epoch_begin(3)
    for batch in range(5):
        checkpoint.on_train_batch_end(batch)
        if batch == 0:
            assert json.loads((tmp_path / "checkpoint.json").read_text()) == {
                "epoch": 3, "step": 2, "file": "ckpt-3-step2.weights.h5"}
    assert checkpoint.latest_position()[:2] == (3, 4)  # step 6 is the epoch end's
    checkpoint.on_epoch_end(3)
    checkpoint.on_train_end()  # the epoch's checkpoint waits for every callback's epoch end
    assert checkpoint.restore(model) == (4, 0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("ckpt-")] == ["ckpt-4.weights.h5"]


# -- Fashion-MNIST sources ------------------------------------------------------------------
@needs_fashion
def test_fashion_mnist_is_found_in_keras_cache_under_keras_home_or_home(tmp_path, monkeypatch):
    import shutil

    from slimkeras.datasets import DataError, fashion_mnist

    debian = fashion_mnist.DEFAULT_DIR
    want_images, want_labels = fashion_mnist.load_split("test")
    monkeypatch.setattr(fashion_mnist, "DEFAULT_DIR", str(tmp_path / "no_debian"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DataError) as error:
        fashion_mnist.load_split("test")
    message = str(error.value)
    for place in ("no_debian", str(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist"),
                  "apt-get install -y dataset-fashion-mnist", "--data_dir", "--download",
                  "keras.datasets.fashion_mnist"):
        assert place in message, place
    for cache in (tmp_path / "home" / ".keras", tmp_path / "keras_home"):
        target = cache / "datasets" / "fashion-mnist"
        target.mkdir(parents=True)
        for name in fashion_mnist.FILES["test"]:
            shutil.copy(os.path.join(debian, name), target / name)
        if cache.name == "keras_home":
            shutil.rmtree(tmp_path / "home" / ".keras")
            monkeypatch.setenv("KERAS_HOME", str(cache))
        images, labels = fashion_mnist.load_split("test")
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
        assert fashion_mnist.find_dir("test") == str(target)
    with pytest.raises(DataError, match="elsewhere"):  # an explicit --data_dir is the only place looked
        fashion_mnist.load_split("test", str(tmp_path / "elsewhere"))
