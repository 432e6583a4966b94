"""Training: the pure rules, the train step's arithmetic, flags, and whole runs
(resume after kill -9, NaN stop, tf.distribute equivalence) in subprocesses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras.training import rules, schedules
from training import config
from slimkeras.training.trainer import SlimmableTrainer
from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ROOT / "training" / "flags"

US = slimkeras.WidthSpec(width_range=(0.25, 1.0))
S = slimkeras.WidthSpec(switches=[0.25, 0.5, 0.75, 1.0])


# -- rules ------------------------------------------------------------------------------
def test_sandwich_rule_max_min_and_fresh_uniform_draws():
    steps = [rules.training_widths("universal", US, 4, step, seed=7).numpy() for step in range(50)]
    for widths in steps:
        assert widths[0] == 1.0 and widths[1] == 0.25 and len(widths) == 4
        assert np.all((widths[2:] >= 0.25) & (widths[2:] <= 1.0))
    drawn = np.array([w[2:] for w in steps])
    assert len(np.unique(drawn)) == drawn.size  # fresh every step
    assert 0.45 < drawn.mean() < 0.80  # ~U(0.25, 1.0)
    again = rules.training_widths("universal", US, 4, 3, seed=7).numpy()
    np.testing.assert_array_equal(again, steps[3])  # deterministic per (seed, step): resumable
    assert not np.array_equal(rules.training_widths("universal", US, 4, 3, seed=8).numpy(), again)


def test_sandwich_draws_happen_inside_the_compiled_graph():
    step = tf.Variable(0, dtype=tf.int64)
    fn = tf.function(lambda: rules.training_widths("universal", US, 5, step, seed=1))
    first = fn().numpy()
    step.assign_add(1)
    second = fn().numpy()
    assert fn.experimental_get_tracing_count() == 1
    assert not np.array_equal(first[2:], second[2:])


def test_switch_modes_train_every_switch_widest_first():
    assert list(rules.training_widths("slimmable", S).numpy()) == [1.0, 0.75, 0.5, 0.25]
    assert list(rules.training_widths("naive", S).numpy()) == [1.0, 0.75, 0.5, 0.25]
    assert list(rules.training_widths("individual", slimkeras.WidthSpec(switches=[0.5])).numpy()) == [0.5]
    for mode, spec, n, message in [("universal", S, 4, "needs a width range"),
                                   ("slimmable", US, 4, "needs a switch list"),
                                   ("universal", US, 1, "num_sample >= 2"),
                                   ("individual", S, 4, "one width"), ("greedy", S, 4, "Unknown mode")]:
        with pytest.raises(ValueError, match=message):
            rules.training_widths(mode, spec, n)


def test_distillation_target_carries_no_gradient_to_the_widest_width():
    wide = tf.Variable([[2.0, 0.5, -1.0]])
    narrow = tf.Variable([[0.1, 0.2, 0.3]])
    with tf.GradientTape(persistent=True) as tape:
        loss = rules.width_loss(1, narrow, tf.constant([0]), wide)
    assert tape.gradient(loss, wide) is None
    assert tape.gradient(loss, narrow) is not None
    # the paper's rule: the cross-entropy against softmax(wide), not against the label
    p = tf.nn.softmax(wide).numpy()[0]
    want = -np.sum(p * tf.nn.log_softmax(narrow).numpy()[0])
    assert abs(float(loss) - want) < 1e-6
    assert abs(float(rules.width_loss(0, narrow, tf.constant([0]), wide))
               - float(-tf.nn.log_softmax(narrow)[0, 0])) < 1e-6


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def reference_distill_loss(student, labels, teacher, weight, temperature, gate):
    """numpy: per image (1 - a) CE(label) + a T^2 CE(softmax(teacher/T), student/T), a = weight * [p_label >= gate]."""
    hard = -_log_softmax(student)[np.arange(len(labels)), labels]
    soft = -(np.exp(_log_softmax(teacher / temperature)) * _log_softmax(student / temperature)).sum(-1)
    p_label = np.exp(_log_softmax(teacher))[np.arange(len(labels)), labels]
    share = weight * (p_label >= gate)
    return np.mean((1 - share) * hard + share * soft * temperature ** 2)


@pytest.mark.parametrize("weight, temperature, gate", [
    (1.0, 1.0, 0.0), (0.5, 1.0, 0.0), (1.0, 3.0, 0.0), (0.7, 2.0, 0.5), (1.0, 1.0, 0.5), (0.0, 1.0, 0.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])  # float64: Keras' floatx in the distributed tests
def test_distill_loss_mixes_labels_and_soft_targets_per_image(weight, temperature, gate, dtype):
    rng = np.random.default_rng(1)
    student = rng.normal(size=(16, 5)).astype(dtype) * 2
    teacher = rng.normal(size=(16, 5)).astype(dtype) * 3
    labels = rng.integers(0, 5, 16)
    rule = rules.DistillRule(weight=weight, temperature=temperature, gate=gate)
    loss = rules.distill_loss(tf.constant(student), tf.constant(labels), tf.constant(teacher), rule, epoch=5.0)
    assert loss.dtype == dtype
    want = reference_distill_loss(student, labels, teacher, weight, temperature, gate)
    assert abs(float(loss) - want) < (1e-5 if dtype == "float32" else 1e-7) * max(1.0, abs(want))  # share: float32
    if gate:  # some images of this draw are gated out, others not: the gate changes the loss
        assert abs(float(loss) - reference_distill_loss(student, labels, teacher, weight, temperature, 0.0)) > 1e-3


@pytest.mark.parametrize("warmup, ramp, epoch, want", [
    (0.0, 0.0, 0.0, 0.8), (2.0, 0.0, 1.99, 0.0), (2.0, 0.0, 2.0, 0.8), (1.0, 4.0, 0.5, 0.0),
    (1.0, 4.0, 2.0, 0.2), (1.0, 4.0, 3.0, 0.4), (1.0, 4.0, 9.0, 0.8), (0.0, 2.0, 0.5, 0.2)])
def test_soft_target_weight_warms_up_then_ramps(warmup, ramp, epoch, want):
    rule = rules.DistillRule(weight=0.8, warmup_epochs=warmup, ramp_epochs=ramp)
    assert abs(float(rules.soft_target_weight(rule, epoch)) - want) < 1e-6
    # labels only during the warm-up: the narrower width's loss is then its label loss
    student, teacher, labels = tf.constant([[0.3, -1.0, 2.0]]), tf.constant([[4.0, 0.0, 0.0]]), tf.constant([2])
    loss = float(rules.distill_loss(student, labels, teacher, rule, epoch))
    hard, soft = float(rules.label_loss(labels, student)), float(rules.distill_loss(
        student, labels, teacher, rules.DistillRule(), 0.0))
    assert abs(loss - ((1 - want) * hard + want * soft)) < 1e-5


@pytest.mark.parametrize("temperature, ramp, epoch, want", [
    (2.0, 0.0, 0.0, 2.0), (2.0, 4.0, 0.0, 1.0), (2.0, 4.0, 2.0, 1.5), (2.0, 4.0, 9.0, 2.0), (3.0, 2.0, 1.5, 2.5)])
def test_temperature_rises_from_one_over_its_ramp(temperature, ramp, epoch, want):
    rule = rules.DistillRule(weight=0.5, temperature=temperature, temperature_ramp_epochs=ramp)
    assert abs(float(rules.distill_temperature(rule, epoch)) - want) < 1e-6
    rng = np.random.default_rng(2)
    student, teacher = rng.normal(size=(8, 4)) * 2, rng.normal(size=(8, 4)) * 3
    labels = rng.integers(0, 4, 8)
    loss = rules.distill_loss(tf.constant(student), tf.constant(labels), tf.constant(teacher), rule, epoch)
    assert abs(float(loss) - reference_distill_loss(student, labels, teacher, 0.5, want, 0.0)) < 1e-6


@pytest.mark.parametrize("kwargs, message", [
    (dict(weight=1.5), "weight must be in"), (dict(warmup_epochs=-1), "warmup_epochs must be"),
    (dict(ramp_epochs=-0.5), "ramp_epochs must be"), (dict(temperature=0), "temperature must be"),
    (dict(gate=2), "gate must be in")])
def test_distill_rule_rejects_bad_values_and_flags_name_them(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        rules.DistillRule(**kwargs)
    (name, value), = kwargs.items()
    with pytest.raises(config.ConfigError, match=f"--distill_{message}"):
        config.parse(["prog", f"--model_dir={tmp_path}", "--mode=universal", "--width_mult_range=0.25,1",
                      f"--distill_{name}={value}"])


def test_temperature_ramp_is_a_share_of_the_run(tmp_path):
    argv = ["prog", f"--model_dir={tmp_path}", "--mode=universal", "--width_mult_range=0.25,1", "--epochs=12"]
    c = config.parse(argv + ["--distill_temperature=2", "--distill_temperature_ramp=0.5"])
    assert config.distill_rule(c).temperature_ramp_epochs == 6.0
    with pytest.raises(config.ConfigError, match=r"--distill_temperature_ramp must be in \[0, 1\].*got 1.5"):
        config.parse(argv + ["--distill_temperature_ramp=1.5"])
    with pytest.raises(ValueError, match="temperature_ramp_epochs must be >= 0"):
        rules.DistillRule(temperature_ramp_epochs=-2)


def test_label_smoothing():
    logits = tf.constant([[3.0, 0.0, 0.0, 0.0]])
    plain = float(rules.label_loss(tf.constant([0]), logits))
    smooth = float(rules.label_loss(tf.constant([0]), logits, 0.4))
    log_p = tf.nn.log_softmax(logits).numpy()[0]
    assert abs(smooth - float(-(0.7 * log_p[0] + 0.1 * log_p[1:].sum()))) < 1e-6 and smooth > plain


def test_weight_decay_only_on_conv_and_dense_kernels():
    net = slimkeras.models.mobilenet_v1(width_mult_list=[1.0], input_shape=(28, 28, 1), num_classes=10)
    decayed = {v.path for v in rules.decayed_variables(net)}
    assert "conv1/kernel" in decayed and "conv_pw_1/kernel" in decayed and "predictions/kernel" in decayed
    assert not any("conv_dw" in p or "bn" in p or "bias" in p for p in decayed)
    assert len(decayed) == 1 + 5 + 1


@pytest.mark.parametrize("schedule, step, want", [
    ("linear", 0, 0.5), ("linear", 50, 0.25), ("linear", 100, 0.0),
    ("exp", 25, 0.5 * 0.98**2), ("cosine", 50, 0.25), ("constant", 77, 0.5),
    ("multistep", 29, 0.5 * 0.1), ("multistep", 61, 0.5 * 0.01),
])
def test_learning_rate_schedules(schedule, step, want):
    kwargs = dict(total_steps=100, steps_per_epoch=10, gamma=0.98 if schedule == "exp" else 0.1,
                  milestones=[2, 6])
    assert abs(schedules.learning_rate(step, 0.5, schedule, **kwargs) - want) < 1e-9
    assert abs(float(schedules.SlimSchedule(0.5, schedule, **kwargs)(step)) - want) < 1e-6
    warm = schedules.learning_rate(4, 0.5, schedule, warmup_steps=10, **kwargs)
    assert abs(warm - (4 + 1) / 10 * schedules.learning_rate(4, 0.5, schedule, **kwargs)) < 1e-9


# -- the train step ---------------------------------------------------------------------
def tiny_net(mode):
    kwargs = dict(width_mult_range=(0.25, 1.0)) if mode == "universal" else dict(width_mult_list=[0.5, 1.0])
    bn = {"universal": "universal", "slimmable": "switchable", "naive": "shared"}[mode]
    return slimkeras.models.mobilenet_v1(bn=bn, input_shape=(12, 12, 1), num_classes=5, **kwargs)


GATED_MIX = rules.DistillRule(weight=0.6, temperature=2.0, gate=0.15, warmup_epochs=0.5, ramp_epochs=1.0,
                              temperature_ramp_epochs=4.0)


@pytest.mark.parametrize("mode, distill, rule", [
    ("slimmable", False, None), ("universal", True, None), ("universal", True, GATED_MIX), ("naive", False, None)])
def test_train_step_applies_the_sum_of_the_widths_gradients_once(mode, distill, rule):
    net = tiny_net(mode)
    images = np.random.default_rng(0).normal(size=(8, 12, 12, 1)).astype("float32")
    labels = np.arange(8) % 5
    lr, wd = 0.1, 1e-3
    steps_per_epoch = 2
    trainer = SlimmableTrainer(net, mode, num_sample=3, inplace_distill=distill, weight_decay=wd, seed=3,
                               distill_rule=rule or rules.DistillRule(), steps_per_epoch=steps_per_epoch)
    optimizer = keras.optimizers.SGD(lr)
    trainer.compile(optimizer=optimizer)
    trainer(images[:1], training=True)
    optimizer.build(trainer.trainable_variables)
    optimizer.iterations.assign(2)  # epoch 1.0: GATED_MIX's soft share 0.3 (ramp half-way), temperature 1.25
    before = [v.numpy().copy() for v in net.trainable_variables]
    # the reference: each width's loss and gradient computed by hand, summed
    widths = rules.training_widths(mode, net.width_spec, 3, 2, 3).numpy()
    expected = [np.zeros_like(b) for b in before]
    teacher = None
    for i, w in enumerate(widths):
        net.width_state.assign(w)
        with tf.GradientTape() as tape:
            logits = net(images, training=True)
            if i == 0 or not distill:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
            elif rule is None:
                loss = tf.reduce_mean(-tf.reduce_sum(tf.nn.softmax(teacher) * tf.nn.log_softmax(logits), -1))
            else:
                hard = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
                t = 1.25
                soft = -tf.reduce_sum(tf.nn.softmax(teacher / t) * tf.nn.log_softmax(logits / t), -1) * t * t
                share = 0.3 * tf.cast(tf.gather(tf.nn.softmax(teacher), labels, batch_dims=1) >= rule.gate,
                                      tf.float32)
                loss = tf.reduce_mean((1 - share) * hard + share * soft)
        if i == 0:
            teacher = logits
        for j, g in enumerate(tape.gradient(loss, net.trainable_variables)):
            if g is not None:
                expected[j] += tf.convert_to_tensor(g).numpy()
    decayed = {id(v) for v in rules.decayed_variables(net)}
    trainer.train_on_batch(images, labels)
    moved = 0
    for v, b, g in zip(net.trainable_variables, before, expected):
        g = g + (wd * b if id(v) in decayed else 0)
        np.testing.assert_allclose(v.numpy(), b - lr * g, rtol=1e-4, atol=1e-6, err_msg=v.path)
        moved += not np.allclose(v.numpy(), b)
    assert moved > 10


def test_trainer_reports_a_metric_per_width():
    trainer = SlimmableTrainer(tiny_net("universal"), "universal", num_sample=4)
    assert [m.name for m in trainer.train_metrics] == [
        "loss_max", "loss_min", "loss_rand1", "loss_rand2", "acc_max", "acc_min", "acc_rand1", "acc_rand2"]
    trainer = SlimmableTrainer(tiny_net("slimmable"), "slimmable")
    assert [m.name for m in trainer.train_metrics][:2] == ["loss_w1", "loss_w0.5"]


# -- flags ------------------------------------------------------------------------------
ALL_FLAGFILES = sorted(p.name for p in FLAGS.glob("*.flags"))


@pytest.mark.parametrize("argv, message", [
    (["--mode=slimmable", "--width_mult_range=0.25,1"], "a range needs --mode=universal"),
    (["--mode=universal", "--width_mult_list=0.5,1"], "give --width_mult_range"),
    (["--mode=universal", "--width_mult_range=0.25,1", "--num_sample_training=1"], r"must be an integer in \[2, 64\], got 1"),
    (["--mode=individual", "--width_mult_list=0.5,1"], "trains one width"),
    (["--mode=slimmable", "--width_mult_list=0.5,x"], "'x' is not a number"),
    (["--mode=universal", "--width_mult_range=0.25,1", "--no_such_flag=1"], "no_such_flag"),
    (["--mode=sideways"], "mode"),
])
def test_inconsistent_flags_give_one_clear_message(argv, message, tmp_path):
    with pytest.raises(config.ConfigError, match=message):
        config.parse(["prog", f"--model_dir={tmp_path}"] + argv)


def test_help_lists_the_flags():
    with pytest.raises(config.HelpRequested, match="--width_mult_range"):
        config.parse(["prog", "--helpfull"])


def test_every_flagfile_parses():
    assert {"us_mbv1_fashion.flags", "s_mbv1_fashion.flags", "naive_mbv1_fashion.flags",
            "individual_mbv1_fashion.flags", "us_mbv1.flags", "us_mbv2.flags", "s_mbv1.flags",
            "s_mbv2.flags", "s_shufflenet.flags", "s_resnet50.flags"} <= set(ALL_FLAGFILES)
    for name in ALL_FLAGFILES:
        cfg = config.parse(["prog", f"--flagfile={FLAGS / name}"])
        assert cfg.model_dir.startswith("runs/")


def run_main(*args, timeout=600, env=None):
    cmd = [sys.executable, "-m", "training.main", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_missing_data_fails_fast_with_instructions(tmp_path):
    start = time.time()
    result = run_main(f"--flagfile={FLAGS / 'us_mbv1_fashion.flags'}", f"--model_dir={tmp_path / 'm'}",
                      f"--data_dir={tmp_path / 'nowhere'}")
    assert result.returncode == 2
    assert "Fashion-MNIST not found" in result.stderr and "apt-get install -y dataset-fashion-mnist" in result.stderr
    assert "Traceback" not in result.stderr
    one_start_up = time.time() - start
    result = run_main(f"--flagfile={FLAGS / 'us_mbv1.flags'}", f"--model_dir={tmp_path / 'i'}",
                      f"--data_dir={tmp_path / 'nowhere'}", "--strategy=default")
    assert result.returncode == 2 and "imagenet2012" in result.stderr and "--download" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "i").exists()
    # No 200-second tfds retry loop: the second failure costs about one start-up, like the first
    # (relative to it, so a loaded machine slows both alike).
    assert time.time() - start - one_start_up < 3 * one_start_up + 30


# The MobileNet v1 recipes (S and US, ~1 min each) in the default suite; the others (2-4 min each) slow.
@pytest.mark.parametrize("name", [n if "mbv1" in n else pytest.param(n, marks=pytest.mark.slow)
                                  for n in ALL_FLAGFILES if "fashion" not in n])
def test_imagenet_recipes_build_model_and_pipeline_on_fake_data(name, tmp_path):
    result = run_main(f"--flagfile={FLAGS / name}", "--dataset=fake", "--image_size=64",
                      "--strategy=default", "--epochs=1", "--steps_per_epoch=1", "--batch_size=4",
                      "--calibration_images=8", f"--model_dir={tmp_path}", "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    cfg = config.parse(["prog", f"--flagfile={FLAGS / name}"])
    assert results["arch"] == cfg.arch and results["mode"] == cfg.mode
    assert (tmp_path / "final.keras").exists() and (tmp_path / "flops_accuracy.png").exists()


# -- whole runs -------------------------------------------------------------------------
QUICK = ["--train_limit=512", "--eval_limit=256", "--calibration_images=128", "--batch_size=64",
         "--verbose=2"]


@needs_fashion
@pytest.mark.parametrize("name", ["s_mbv1_fashion.flags", "naive_mbv1_fashion.flags",
                                  "individual_mbv1_fashion.flags"])
def test_fashion_flagfiles_train_and_write_results(name, tmp_path):
    result = run_main(f"--flagfile={FLAGS / name}", f"--model_dir={tmp_path}", "--epochs=1", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    cfg = config.parse(["prog", f"--flagfile={FLAGS / name}"])
    assert [r["width"] for r in results["results"]] == cfg.width_mult_list
    assert all(0.0 <= r["top1"] <= 1.0 for r in results["results"])
    assert "loss_w1" in (tmp_path / "training_log.csv").read_text().splitlines()[0]
    loaded = keras.models.load_model(tmp_path / "final.keras")
    assert isinstance(loaded, slimkeras.SlimmableModel)


def checkpoint_weights(model_dir):
    info = json.loads((Path(model_dir) / "checkpoint" / "checkpoint.json").read_text())
    weights = {}
    with h5py.File(Path(model_dir) / "checkpoint" / info["file"]) as f:
        f.visititems(lambda name, obj: weights.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return info["epoch"], weights


@needs_fashion
def test_kill_9_mid_epoch_then_rerun_resumes(tmp_path):
    args = [f"--flagfile={FLAGS / 'us_mbv1_fashion.flags'}", f"--model_dir={tmp_path}", "--epochs=2",
            "--steps_per_epoch=100", *QUICK]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "training.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pointer = tmp_path / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 300
    while not pointer.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert pointer.exists(), "no checkpoint after the first epoch"
    time.sleep(1.0)  # inside epoch 2 (100 steps take several seconds)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epoch, _ = checkpoint_weights(tmp_path)
    assert epoch == 1
    assert not [p for p in (tmp_path / "checkpoint").iterdir() if p.name.startswith("tmp-")]
    result = run_main(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from the checkpoint of epoch 1" in result.stdout
    assert "Epoch 2/2" in result.stdout and "Epoch 1/2" not in result.stdout
    assert checkpoint_weights(tmp_path)[0] == 2
    assert (tmp_path / "results.json").exists()


@needs_fashion
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    base = [f"--flagfile={FLAGS / 'us_mbv1_fashion.flags'}", f"--model_dir={tmp_path}",
            "--steps_per_epoch=5", *QUICK]
    assert run_main(*base, "--epochs=1").returncode == 0
    _, good = checkpoint_weights(tmp_path)
    # A learning rate no flag allows (--lr stops at 100, a sane bound), set past validation: the run
    # itself must meet the NaN and stop.
    code = ("import sys; from training import config, main; "
            "import dataclasses; cfg = dataclasses.replace(config.parse(sys.argv), lr=1e30); sys.exit(main.run(cfg))")
    result = subprocess.run([sys.executable, "-c", code, *base, "--epochs=2", "--lr_schedule=constant",
                             "--warmup_epochs=0"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 3, result.stderr[-3000:]
    assert "became NaN at epoch 2" in result.stderr and "checkpoint of epoch 1 is kept" in result.stderr
    epoch, kept = checkpoint_weights(tmp_path)
    assert epoch == 1
    assert all(np.array_equal(good[k], kept[k]) for k in good)


DIST = ["--train_limit=256", "--steps_per_epoch=3", "--epochs=1", "--batch_size=32", "--eval_limit=64",
        "--calibration_images=32", "--sync_bn", "--noaugment", "--verbose=0", "--lr=0.05", "--weight_decay=1e-4"]
DIST_TOLERANCE = 1e-9


def float64_env(tmp_path):
    """Runs in float64 (Keras' floatx from a keras.json in KERAS_HOME).

    A distributed run adds up the same numbers as a single-device run in another order; in
    float32 that rounding alone, amplified through the ReLU kinks by three steps at lr 0.05,
    moves weights by ~0.02 (as much as two single-device runs with and without oneDNN differ),
    which would hide real mistakes. In float64 the runs agree to ~1e-14, so DIST_TOLERANCE
    (1e-9, absolute) leaves room only for rounding.
    """
    home = tmp_path / "keras_home"
    home.mkdir(exist_ok=True)
    (home / "keras.json").write_text(json.dumps({"floatx": "float64", "backend": "tensorflow"}))
    return {"KERAS_HOME": str(home)}


def assert_same_run(single_dir, other_dir):
    """Same weights (BN statistics and width state included) and the same logged losses:
    the distributed losses are not divided by the replica count."""
    _, a = checkpoint_weights(single_dir)
    _, b = checkpoint_weights(other_dir)
    assert a.keys() == b.keys()
    compared = [key for key in a if "optimizer" not in key]
    assert len(compared) > 20 and all(a[key].dtype == np.float64 for key in compared)
    for key in compared:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=DIST_TOLERANCE, err_msg=key)
    logs = [(Path(d) / "training_log.csv").read_text().splitlines() for d in (single_dir, other_dir)]
    header = logs[0][0].split(",")
    losses = [[float(v) for k, v in zip(header, log[-1].split(",")) if k.startswith("loss_")] for log in logs]
    assert losses[0] and np.allclose(losses[0], losses[1], rtol=0, atol=DIST_TOLERANCE)


@needs_fashion
@pytest.mark.slow
@pytest.mark.parametrize("flagfile", ["s_mbv1_fashion.flags", "us_mbv1_fashion.flags"])
def test_mirrored_strategy_matches_a_single_device_run(flagfile, tmp_path):
    """MirroredStrategy over 2 logical CPU devices, 3 steps: see float64_env for the tolerance."""
    flags, env = f"--flagfile={FLAGS / flagfile}", float64_env(tmp_path)
    single = run_main(flags, f"--model_dir={tmp_path / 'single'}", *DIST, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    mirrored = run_main(flags, f"--model_dir={tmp_path / 'mirrored'}", "--strategy=mirrored",
                        "--cpu_replicas=2", *DIST, env=env)
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    assert_same_run(tmp_path / "single", tmp_path / "mirrored")


@needs_fashion
@pytest.mark.slow
@pytest.mark.parametrize("flagfile", ["s_mbv1_fashion.flags", "us_mbv1_fashion.flags"])
def test_multi_worker_strategy_matches_a_single_device_run(flagfile, tmp_path):
    """Two worker processes on loopback (TF_CONFIG), 3 steps: both finish the run (BN
    calibration, evaluation) and exit 0; only the chief writes into its model_dir."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    workers = [f"127.0.0.1:{p}" for p in ports]
    flags, env = f"--flagfile={FLAGS / flagfile}", float64_env(tmp_path)
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        model_dir = tmp_path / ("multi" if index == 0 else "worker1")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "training.main", flags, f"--model_dir={model_dir}",
             "--strategy=multi_worker", *DIST],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": tf_config, **env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert all("Wrote" in out for out in outputs)  # both ran the end of the run
    assert (tmp_path / "multi" / "results.json").exists() and (tmp_path / "multi" / "final.keras").exists()
    assert not (tmp_path / "worker1").exists()
    single = run_main(flags, f"--model_dir={tmp_path / 'single'}", *DIST, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_run(tmp_path / "single", tmp_path / "multi")
