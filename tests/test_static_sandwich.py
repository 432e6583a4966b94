"""Static widths (`SlimmableTrainer(static_widths=True)`): the host draw is the in-graph draw,
the channel configurations are counted right, and from the same weights, seed and batches the
static step gives the weights of the in-graph step (float64, MirroredStrategy over 2 CPU
devices, in a subprocess: the test process's TF may be initialized with one CPU device)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9  # float64, as the distributed tests of test_training.py
BATCHES, BATCH = 3, 16  # 3 steps of an epoch, 2 epochs: 6 steps, 8 images per replica


def test_host_draw_is_the_in_graph_draw():
    import tensorflow as tf

    from slimkeras import WidthSpec
    from slimkeras.training import rules, static

    spec = WidthSpec(width_range=(0.25, 1.0))
    step = tf.Variable(0, dtype=tf.int64)
    in_graph = tf.function(lambda: rules.training_widths("universal", spec, 4, step, 7))
    for value in [0, 1, 2, 17, 9_999, 123_456]:
        step.assign(value)
        np.testing.assert_array_equal(static.host_widths("universal", spec, 4, value, 7), in_graph().numpy())
    assert not np.array_equal(static.host_widths("universal", spec, 4, 1, 7),
                              static.host_widths("universal", spec, 4, 2, 7))


def test_every_width_maps_to_one_of_the_counted_channel_configurations():
    import slimkeras
    from slimkeras import profiling
    from slimkeras.training import static

    net = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1), num_classes=10)
    count, probabilities = static.count_configurations(net, 0.25, 1.0, resolution=1e-5)
    assert count == len(probabilities) and abs(probabilities.sum() - 1) < 1e-9
    layers = profiling.sliced_layers(net)
    widths = np.random.default_rng(0).uniform(0.25, 1.0, 3000)
    keys = {static.channel_key(net, net.width_config(float(w)), layers) for w in widths}
    # Every configuration but the rarest few is drawn 3000 times over; none outside the count.
    assert count - 3 <= len(keys) <= count
    assert static.channel_key(net, net.width_config(0.25)) != static.channel_key(net, net.width_config(1.0))


def test_jit_compile_with_the_in_graph_sandwich_is_refused():
    import keras

    import slimkeras

    net = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(12, 12, 1), num_classes=10)
    trainer = slimkeras.SlimmableTrainer(net)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    with pytest.raises(ValueError, match="static_widths=True"):
        trainer.make_train_function()


def run_pair(tmp_path, mode, distill, replicas=2, jit=False, max_traced=256):
    """Both steps in a float64 subprocess (see `_worker`); returns its report."""
    home = tmp_path / "keras_home"
    home.mkdir(exist_ok=True)
    (home / "keras.json").write_text(json.dumps({"floatx": "float64", "backend": "tensorflow"}))
    env = {**os.environ, "KERAS_HOME": str(home), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [mode, str(int(distill)), str(replicas), str(int(jit)), str(max_traced)]
    proc = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same_weights(report, tolerance=TOLERANCE):
    assert report["floatx"] == "float64" and report["replicas"] == report["asked_replicas"]
    assert report["weights"] > 20 and report["max_weight_change"] > 1e-3  # it trained
    assert report["max_difference"] <= tolerance, report
    assert report["max_loss_difference"] <= tolerance, report


@pytest.mark.slow  # ~90 s of tracing on 2 free cores (5 min when shared)
def test_static_step_gives_the_in_graph_step_weights_universal_distilled(tmp_path):
    """The US-Net default (sandwich n=4, in-place distillation), MirroredStrategy on 2 CPUs."""
    report = run_pair(tmp_path, "universal", True)
    assert_same_weights(report)
    assert report["traced"] >= 4


@pytest.mark.slow
@pytest.mark.parametrize("mode,distill", [("universal", False), ("slimmable", True), ("slimmable", False),
                                          ("naive", True), ("naive", False), ("individual", False)])
def test_static_step_gives_the_in_graph_step_weights(tmp_path, mode, distill):
    assert_same_weights(run_pair(tmp_path, mode, distill))


@pytest.mark.slow
def test_evicted_functions_are_traced_again_and_change_nothing(tmp_path):
    report = run_pair(tmp_path, "universal", True, replicas=1, max_traced=3)
    assert_same_weights(report)
    assert report["evicted"] > 0 and report["traced"] == 3 + report["evicted"]


@pytest.mark.slow
def test_static_sandwich_compiles_with_xla(tmp_path):
    """XLA may reorder the float64 sums: agreement to 1e-7, not to rounding."""
    report = run_pair(tmp_path, "universal", True, replicas=1, jit=True)
    assert_same_weights(report, tolerance=1e-7)


def _worker(mode, distill, replicas, jit, max_traced):
    """Trains a tiny MobileNet v1 (12x12 inputs) twice from the same weights on the same
    batches, in-graph then static widths; prints a JSON report of the differences."""
    import tensorflow as tf

    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * replicas)
    import keras

    import slimkeras

    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    rng = np.random.default_rng(0)
    x = rng.random((BATCHES * BATCH, 12, 12, 1))
    y = rng.integers(0, 10, BATCHES * BATCH)
    results = []
    for static_widths in (False, True):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            widths = ({"width_mult_range": (0.25, 1.0)} if mode == "universal"
                      else {"width_mult_list": [1.0] if mode == "individual" else [0.25, 0.5, 1.0],
                            "bn": "shared" if mode == "naive" else "switchable"})
            net = slimkeras.models.mobilenet_v1(input_shape=(12, 12, 1), num_classes=10, **widths)
            start = [w.numpy() for w in net.weights]
            trainer = slimkeras.SlimmableTrainer(net, mode, num_sample=4, inplace_distill=distill, seed=3,
                                                 weight_decay=1e-4, static_widths=static_widths,
                                                 max_traced_widths=max_traced)
            trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), jit_compile=jit and static_widths)
        history = trainer.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        results.append(([w.numpy() for w in net.weights], history.history, trainer.static_step))
    (a, logs_a, _), (b, logs_b, step) = results
    print(json.dumps({
        "floatx": keras.config.floatx(), "replicas": strategy.num_replicas_in_sync, "asked_replicas": replicas,
        "weights": len(a), "max_weight_change": max(float(np.abs(w - s).max()) for w, s in zip(a, start)),
        "max_difference": max(float(np.abs(u - v).max()) for u, v in zip(a, b)),
        "max_loss_difference": max(abs(logs_a[k][-1] - logs_b[k][-1]) for k in logs_a if k.startswith("loss")),
        **step.stats,
    }))


if __name__ == "__main__":
    _worker(sys.argv[1], bool(int(sys.argv[2])), int(sys.argv[3]), bool(int(sys.argv[4])), int(sys.argv[5]))
