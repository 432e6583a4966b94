"""Slimmable BN: training statistics, post-training calibration, slots, replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras import WidthConfig, active_channels

from core_stack import small_stack, randomize, mark_calibrated, IMAGES, SWITCHES


def train_one_step(model, images, labels, width):
    model.set_width(width)
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

def test_training_at_one_switch_leaves_other_switches_bn_unchanged():
    model = small_stack("switchable", switches=SWITCHES)
    randomize(model)
    before = {v.path: v.numpy().copy() for v in model.weights}
    train_one_step(model, IMAGES, np.arange(6) % 7, width=0.5)
    a = SWITCHES.index(0.5)
    changed_rows = 0
    for layer in model.bn_layers:
        for v in (layer.gamma, layer.beta, layer.slot_mean, layer.slot_variance):
            old, new = before[v.path], v.numpy()
            for row in range(len(SWITCHES)):
                if row == a:
                    changed_rows += not np.array_equal(old[row], new[row])
                else:
                    np.testing.assert_array_equal(old[row], new[row], err_msg=f"{v.path}[{row}]")
    assert changed_rows == 12  # gamma, beta, mean, var of 3 BN layers moved at switch 0.5
    # and only the active channels of the active switch moved
    c1 = active_channels(24, 0.5)
    np.testing.assert_array_equal(before["bn1/slot_mean"][a, c1:], model.get_layer("bn1").slot_mean.numpy()[a, c1:])

def test_universal_training_uses_batch_statistics_and_stores_none():
    model = small_stack("universal")
    randomize(model)
    before = [l.slot_mean.numpy().copy() for l in model.bn_layers]
    train_one_step(model, IMAGES, np.arange(6) % 7, width=0.5)
    for layer, old in zip(model.bn_layers, before):
        np.testing.assert_array_equal(old, layer.slot_mean.numpy())
    # training-mode output normalizes with the batch's own statistics
    model.set_width(1.0)
    conv_out = tf.nn.conv2d(IMAGES, model.get_layer("conv1").kernel, 2, "SAME")
    m, v = tf.nn.moments(conv_out, [0, 1, 2])
    bn1 = model.get_layer("bn1")
    want = tf.nn.batch_normalization(conv_out, m, v, bn1.beta, bn1.gamma, 1e-5)
    sub = keras.Model(model.inputs, bn1.output)
    got = sub(IMAGES, training=True)
    assert np.max(np.abs(got.numpy() - want.numpy())) < 1e-4

def test_uncalibrated_universal_width_raises_clear_error():
    model = small_stack("universal")
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.25, 1.0], verbose=0)
    model.set_width(0.6)
    for run in (lambda: model(IMAGES), lambda: model.predict(IMAGES, verbose=0)):
        with pytest.raises(ValueError, match=r"0\.6 has no calibrated BN statistics.*calibrate_bn"):
            run()
    # inside a user's own tf.function the graph check still refuses
    with pytest.raises(tf.errors.InvalidArgumentError, match="calibrate_bn"):
        tf.function(lambda x: model(x, training=False))(IMAGES)

def test_calibration_stores_exact_statistics_and_touches_no_trainable_weight():
    model = small_stack("universal")
    randomize(model)
    trainable_before = [v.numpy().copy() for v in model.trainable_variables]
    data = np.random.default_rng(2).normal(size=(100, 12, 12, 3)).astype("float32")
    slimkeras.calibrate_bn(model, data, widths=[0.5, 1.0], num_images=80, batch_size=20, verbose=0)
    for v, old in zip(model.trainable_variables, trainable_before):
        np.testing.assert_array_equal(v.numpy(), old)
    for w in (0.5, 1.0):
        slot = model.bn_slots.find(WidthConfig(w))
        c1 = active_channels(24, w)
        # bn1's inputs: the sliced conv of the 80 calibration images
        conv = tf.nn.conv2d(data[:80], model.get_layer("conv1").kernel[:, :, :, :c1], 2, "SAME").numpy()
        mean, var = model.get_layer("bn1").statistics(slot)
        np.testing.assert_allclose(mean[:c1], conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(var[:c1], conv.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
        # bn2's inputs: dw(relu(bn1 with each batch's statistics)), batches of 20
        bn1 = model.get_layer("bn1")
        parts = []
        for start in range(0, 80, 20):
            chunk = conv[start:start + 20]
            m, v = chunk.mean(axis=(0, 1, 2)), chunk.var(axis=(0, 1, 2))
            normed = (chunk - m) / np.sqrt(v + 1e-5) * bn1.gamma.numpy()[:c1] + bn1.beta.numpy()[:c1]
            parts.append(
                tf.nn.depthwise_conv2d(np.maximum(normed, 0), model.get_layer("dw").kernel[:, :, :c1, :],
                                       [1, 1, 1, 1], "SAME").numpy()
            )
        inputs2 = np.concatenate(parts)
        mean2, var2 = model.get_layer("bn2").statistics(slot)
        np.testing.assert_allclose(mean2[:c1], inputs2.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(var2[:c1], inputs2.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)

def test_calibration_with_one_value_per_channel_per_batch():
    """Batches of 1 image of 1x1 pixels: each batch's variance is 0 and its unbiased
    estimate undefined; the statistics over all batches are still exact."""
    model = small_stack("universal", input_shape=(1, 1, 3))
    randomize(model)
    data = np.random.default_rng(3).normal(size=(5, 1, 1, 3)).astype("float32")
    slimkeras.calibrate_bn(model, data, widths=[1.0], num_images=5, batch_size=1, verbose=0)
    c1 = active_channels(24, 1.0)
    conv = tf.nn.conv2d(data, model.get_layer("conv1").kernel, 2, "SAME").numpy()
    mean, var = model.get_layer("bn1").statistics(model.bn_slots.find(WidthConfig(1.0)))
    np.testing.assert_allclose(mean[:c1], conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(var[:c1], conv.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    assert np.all(np.isfinite(model(data, training=False).numpy()))

def test_calibration_reads_arrays_and_datasets_alike():
    data = np.random.default_rng(4).normal(size=(30, 12, 12, 3))  # float64: cast to the model's dtype
    labels = np.zeros(30)
    sources = {
        "array": data,
        "batched (images, labels)": tf.data.Dataset.from_tensor_slices((data, labels)).batch(7),
        "unbatched images": tf.data.Dataset.from_tensor_slices(data),
    }
    statistics = {}
    for name, source in sources.items():
        model = small_stack("universal")
        randomize(model)
        slimkeras.calibrate_bn(model, source, widths=[0.5], num_images=17, batch_size=5, verbose=0)
        statistics[name] = [layer.statistics(0) for layer in model.bn_layers]
    for name, stats in statistics.items():
        for (mean, var), (ref_mean, ref_var) in zip(stats, statistics["array"]):
            np.testing.assert_allclose(mean, ref_mean, rtol=1e-5, atol=1e-6, err_msg=name)
            np.testing.assert_allclose(var, ref_var, rtol=1e-5, atol=1e-6, err_msg=name)
    model = small_stack("universal")
    randomize(model)
    slimkeras.calibrate_bn(model, data, widths=[0.5], num_images=20, batch_size=5, verbose=0)
    assert np.abs(model.bn_layers[0].statistics(0)[0] - statistics["array"][0][0]).max() > 1e-3  # 20 != 17 images
    with pytest.raises(ValueError, match="got no images"):
        slimkeras.calibrate_bn(model, tf.data.Dataset.from_tensor_slices(data[:0]), widths=[0.5], verbose=0)
    with pytest.raises(ValueError, match=r"images have shape \(12, 12\), the model takes \(12, 12, 3\)"):
        slimkeras.calibrate_bn(model, data[..., 0], widths=[0.5], verbose=0)

def test_calibration_in_float64_takes_the_unfused_path_and_stays_exact():
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        model = small_stack("universal")
        randomize(model)
        data = np.random.default_rng(5).normal(size=(9, 12, 12, 3))
        slimkeras.calibrate_bn(model, data, widths=[0.5], batch_size=4, verbose=0)
        c1 = active_channels(24, 0.5)
        conv = tf.nn.conv2d(data, model.get_layer("conv1").kernel[:, :, :, :c1], 2, "SAME").numpy()
        mean, var = model.get_layer("bn1").statistics(model.bn_slots.find(WidthConfig(0.5)))
        assert mean.dtype == np.float64
        np.testing.assert_allclose(mean[:c1], conv.mean(axis=(0, 1, 2)), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(var[:c1], conv.var(axis=(0, 1, 2)), rtol=1e-9, atol=1e-12)
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])

def test_calibration_of_many_widths_and_slot_capacity():
    model = small_stack("universal", num_bn_slots=3)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.25, 0.5, 1.0], verbose=0)
    with pytest.raises(ValueError, match="No free BN slot for width 0.3.*at most 3"):
        slimkeras.calibrate_bn(model, IMAGES, widths=[0.3], verbose=0)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.5], verbose=0)  # recalibrating reuses its slot
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.3], clear=True, verbose=0)
    assert model.bn_slots.calibrated() == [WidthConfig(0.3)]

def test_switchable_recalibration_writes_the_switch_rows():
    model = small_stack("switchable", switches=SWITCHES)
    slimkeras.calibrate_bn(model, IMAGES, verbose=0)  # default: every switch
    for i, w in enumerate(SWITCHES):
        c1 = active_channels(24, w)
        conv = tf.nn.conv2d(IMAGES, model.get_layer("conv1").kernel[:, :, :, :c1], 2, "SAME").numpy()
        np.testing.assert_allclose(model.get_layer("bn1").statistics(i)[0][:c1],
                                   conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)

def test_bn_statistics_stay_identical_across_replicas():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = small_stack("switchable", switches=SWITCHES)
        optimizer = keras.optimizers.SGD(0.1)
        model(IMAGES[:1])
    data = np.random.default_rng(3).normal(size=(8, 12, 12, 3)).astype("float32")
    labels = np.arange(8) % 7
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((data, labels)).batch(8)
    )

    @tf.function
    def step(batch):
        def replica_fn(x, y):
            model.width_state.assign(0.5)
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)) / 8
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

        strategy.run(replica_fn, args=batch)

    for batch in dataset:
        step(batch)
    moved = 0
    for layer in model.bn_layers:
        for var in (layer.slot_mean, layer.slot_variance):
            values = [v.numpy() for v in var.value.values] if hasattr(var.value, "values") else [var.numpy()]
            assert len(values) == 2
            np.testing.assert_array_equal(values[0], values[1])
            moved += not np.allclose(values[0][1], 0 if "mean" in var.path else 1)
    assert moved == 6

def test_the_graph_finds_bn_statistics_as_widthconfig_compares():
    """Host (`bn_slots.find`) and graph (the BN layers' slot lookup) agree on equal widths."""
    model = small_stack("universal")
    randomize(model)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.3], verbose=0)
    near = 0.3 + 4e-7
    assert model.bn_slots.find(WidthConfig(near)) == model.bn_slots.find(WidthConfig(0.3)) == 0
    dynamic = tf.function(lambda x: model(x, training=False))
    model.set_width(near)
    np.testing.assert_array_equal(dynamic(IMAGES).numpy(), model.inference_function(0.3)(IMAGES).numpy())
    assert model.inference_function(near) is model.inference_function(0.3)
    model.set_width(0.3 + 2e-6)
    with pytest.raises(ValueError, match="has no calibrated BN statistics"):
        model.check_inference_width()
    with pytest.raises(tf.errors.InvalidArgumentError, match="calibrate_bn"):
        dynamic(IMAGES)

def test_clear_bn_statistics():
    model = small_stack("universal")
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.3, 0.5], verbose=0)
    assert model.bn_slots.calibrated() == [WidthConfig(0.3), WidthConfig(0.5)]
    model.clear_bn_statistics()
    assert model.bn_slots.calibrated() == []
    with pytest.raises(ValueError, match=r"0\.5 has no calibrated BN statistics \(calibrated: none\)"):
        model.set_width(0.5).predict(IMAGES, verbose=0)
    shared = small_stack("shared")
    randomize(shared)
    mark_calibrated(shared, [0.5])
    bn1 = shared.get_layer("bn1")
    np.testing.assert_array_equal(bn1.parameters(WidthConfig(0.5)).mean, bn1.slot_mean.numpy()[0])
    shared.clear_bn_statistics()  # shared BN falls back to its running statistics
    np.testing.assert_array_equal(bn1.parameters(WidthConfig(0.5)).mean, bn1.moving_mean.numpy())
    with pytest.raises(ValueError, match="Switchable BN keeps one slot per switch"):
        small_stack("switchable", switches=SWITCHES).clear_bn_statistics()
