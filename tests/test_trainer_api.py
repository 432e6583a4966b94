"""slimkeras.SlimmableTrainer as a notebook user drives it: compile, fit, evaluate, predict,
save; the per-width validation callback; plots that leave matplotlib's backend alone; BN
layers that take their slot count from the model."""

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

import slimkeras

X = np.random.default_rng(0).normal(size=(64, 12, 12, 1)).astype("float32")
Y = np.arange(64) % 5


def net_of(kind):
    if kind == "universal":
        return slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(12, 12, 1), num_classes=5)
    return slimkeras.models.mobilenet_v1(width_mult_list=[0.5, 1.0], input_shape=(12, 12, 1), num_classes=5)


def compiled(net, **kwargs):
    trainer = slimkeras.SlimmableTrainer(net, **kwargs)
    trainer.compile(optimizer=keras.optimizers.SGD(0.05))
    return trainer


def test_the_mode_follows_the_network():
    assert slimkeras.SlimmableTrainer(net_of("universal")).mode == "universal"
    assert slimkeras.SlimmableTrainer(net_of("slimmable")).mode == "slimmable"


@pytest.mark.parametrize("fit_kwargs, steps", [
    (dict(x=X, y=Y, batch_size=16), 4),
    (dict(x=tf.data.Dataset.from_tensor_slices((X, Y)).batch(32)), 2),
    (dict(x=tf.data.Dataset.from_tensor_slices((X, Y)).batch(8).repeat(), steps_per_epoch=3), 3),
])
def test_the_distillation_schedule_counts_the_epochs_fit_runs(fit_kwargs, steps):
    trainer = compiled(net_of("universal"), num_sample=2, inplace_distill=True)
    trainer.fit(epochs=1, verbose=0, **fit_kwargs)
    assert trainer._epoch_steps == steps
    assert int(trainer.optimizer.iterations.numpy()) == steps


def test_an_endless_dataset_without_steps_per_epoch_is_one_clear_error():
    trainer = compiled(net_of("universal"), num_sample=2)
    endless = tf.data.Dataset.from_tensor_slices((X, Y)).batch(8).repeat()
    with pytest.raises(ValueError, match="pass steps_per_epoch"):
        trainer.fit(endless, epochs=1, verbose=0)


def test_a_us_net_refuses_validation_data_and_uncalibrated_evaluation_with_the_fix():
    net = net_of("universal")
    trainer = compiled(net, num_sample=2)
    with pytest.raises(ValueError, match="WidthEvaluation") as error:
        trainer.fit(X, Y, validation_data=(X, Y), verbose=0)
    assert "\n" not in str(error.value)
    trainer.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match=r"calibrate_bn\(model, data, widths=\[1\]\)"):
        trainer.evaluate(X, Y, verbose=0)
    slimkeras.calibrate_bn(net, X, widths=[0.5, 1.0], verbose=0)
    net.set_width(0.5)
    logs = trainer.evaluate(X, Y, verbose=0, return_dict=True)
    want = np.mean(np.argmax(net.predict(X, verbose=0), -1) == Y)
    assert logs["accuracy"] == pytest.approx(want)
    np.testing.assert_allclose(trainer.predict(X[:4], verbose=0), net.predict(X[:4], verbose=0), atol=1e-6)


def test_an_s_net_validates_at_the_networks_width_and_fit_leaves_it_there():
    net = net_of("slimmable")
    net.set_width(0.5)
    trainer = compiled(net)
    history = trainer.fit(X, Y, batch_size=16, epochs=2, validation_data=(X, Y), verbose=0)
    assert net.width == 0.5
    assert sorted(history.history) == ["acc_w0.5", "acc_w1", "loss_w0.5", "loss_w1", "val_accuracy", "val_loss"]
    want = np.mean(np.argmax(net.predict(X, verbose=0), -1) == Y)
    assert history.history["val_accuracy"][-1] == pytest.approx(want)


def test_save_inside_a_distribution_scope_saves_the_network(tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        net = net_of("slimmable")
        trainer = compiled(net)
    trainer.fit(X, Y, batch_size=16, verbose=0)
    trainer.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    assert isinstance(loaded, slimkeras.SlimmableModel)
    for w in (0.5, 1.0):
        net.set_width(w)
        loaded.set_width(w)
        np.testing.assert_allclose(loaded.predict(X[:8], verbose=0), net.predict(X[:8], verbose=0), atol=1e-6)


def test_width_evaluation_logs_each_width_and_leaves_the_network_alone():
    keras.utils.set_random_seed(1)
    net = net_of("universal")
    start = net.get_weights()
    trainer = compiled(net, num_sample=2)
    evaluation = slimkeras.callbacks.WidthEvaluation((X, Y), widths=[0.25, 1.0], calibration_data=X)
    history = trainer.fit(X, Y, batch_size=16, epochs=2, callbacks=[evaluation], verbose=0)
    curves = [history.history[f"val_top1_w{w}"] for w in ("0.25", "1")]
    assert all(len(c) == 2 and all(0.0 <= a <= 1.0 for a in c) for c in curves)
    assert net.bn_slots.calibrated() == []  # calibrated the copy, not the network
    keras.utils.set_random_seed(1)
    twin = net_of("universal")
    twin.set_weights(start)
    compiled(twin, num_sample=2).fit(X, Y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(net.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    copy = evaluation.copy
    slimkeras.calibrate_bn(net, X, widths=[0.25, 1.0], verbose=0, num_images=64)
    assert evaluation.latest[1.0] == slimkeras.evaluate_top1(net, (X, Y), [1.0])[0]
    assert all(layer.compute_dtype == "float32" for layer in copy.layers)


def test_plots_leave_the_backend_alone(tmp_path):
    from studies.claims import plots  # noqa: F401  (it once switched the backend at import)
    from training.results import save_spectrum

    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        rows = [{"width": 0.5, "macs": 2e6, "top1": 0.8}, {"width": 1.0, "macs": 6e6, "top1": 0.9}]
        figure = slimkeras.plots.spectrum_figure({"a": rows, "b": rows[:1]})
        save_spectrum({"a": rows}, tmp_path / "s.png")
        assert matplotlib.get_backend() == "svg"
        assert [len(line.get_xdata()) for line in figure.axes[0].lines] == [2, 1]
        assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(previous)


def test_bn_layers_take_the_slot_count_the_model_is_built_with():
    inputs = keras.Input((8, 8, 3))
    conv = slimkeras.layers.SlimmableConv2D(16, 3)(inputs)
    outputs = slimkeras.layers.UniversalBatchNormalization()(conv)
    model = slimkeras.SlimmableModel(inputs, outputs, width_spec={"width_range": [0.25, 1.0]})
    assert model.num_bn_slots == 32
    with pytest.raises(ValueError, match="needs `num_slots`: the number of switches"):
        slimkeras.layers.SwitchableBatchNormalization()
    with pytest.raises(ValueError, match="num_bn_slots=32, or leave it out"):
        slimkeras.SlimmableModel(inputs, outputs, width_spec={"width_range": [0.25, 1.0]}, num_bn_slots=8)
    plain = keras.layers.BatchNormalization(name="plain_bn")(conv)
    with pytest.raises(ValueError, match="'plain_bn' is a plain keras.layers.BatchNormalization.*"
                                         "UniversalBatchNormalization"):
        slimkeras.SlimmableModel(inputs, plain, width_spec={"width_range": [0.25, 1.0]})
