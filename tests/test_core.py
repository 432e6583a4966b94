"""Core slimming mechanism: layers vs plain Keras layers, BN behaviour, widths, saving."""

import json
import math
import pickle
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras import WidthConfig, WidthSpec, active_channels, make_divisible
from slimkeras.layers import (
    BATCH_NORMS,
    SlimmableConv2D,
    SlimmableDense,
    SlimmableDepthwiseConv2D,
)

SWITCHES = [0.25, 0.5, 0.75, 1.0]
RANGE = (0.25, 1.0)


def small_stack(bn="universal", switches=None, width_range=RANGE, output_averaging=False,
                num_bn_slots=None, num_stages=0, input_shape=(12, 12, 3)):
    """conv-bn-relu, dw-bn-relu, 1x1 (stage 2) -bn-relu, pool, dense: a mini MobileNet."""
    spec = WidthSpec(switches=switches) if switches else WidthSpec(width_range=width_range)
    slots = num_bn_slots or (len(switches) if switches else 8)
    norm = BATCH_NORMS[bn]
    x = inputs = keras.Input(input_shape)
    x = SlimmableConv2D(24, 3, strides=2, name="conv1", stage=1 if num_stages else None)(x)
    x = norm(num_slots=slots, name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = SlimmableDepthwiseConv2D(3, name="dw")(x)
    x = norm(num_slots=slots, name="bn2")(x)
    x = keras.layers.ReLU()(x)
    x = SlimmableConv2D(40, 1, name="pw", output_averaging=output_averaging,
                        stage=2 if num_stages else None)(x)
    x = norm(num_slots=slots, name="bn3")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = SlimmableDense(7, name="fc", output_averaging=output_averaging)(x)
    return slimkeras.SlimmableModel(inputs, outputs, width_spec=spec, num_bn_slots=slots,
                                    num_stages=num_stages)


def randomize(model):
    """Random weights and random (positive) statistics in every slot."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for v in layer.weights:
            if v.path.endswith(("slot_variance", "moving_variance")):
                v.assign(rng.uniform(0.5, 2.0, v.shape).astype("float32"))
            elif v.dtype == "float32":
                v.assign(rng.normal(0, 0.5, v.shape).astype("float32"))


def mark_calibrated(model, widths):
    """Slot i holds width i (its statistics: whatever `randomize` put there)."""
    model.bn_slots.record(range(len(widths)), [WidthConfig(w) for w in widths])


def plain_stack(model, width, slot, input_shape=(12, 12, 3), output_averaging=False):
    """The same stack from plain Keras layers with sliced weights and `slot`'s statistics."""
    c1 = active_channels(24, width)
    c3 = active_channels(40, width)
    x = inputs = keras.Input(input_shape)
    conv1 = keras.layers.Conv2D(c1, 3, strides=2, padding="same", use_bias=False)
    bn1, bn2, bn3 = (keras.layers.BatchNormalization(epsilon=1e-5) for _ in range(3))
    dw = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    pw = keras.layers.Conv2D(c3, 1, use_bias=False)
    fc = keras.layers.Dense(7)
    x = keras.layers.ReLU()(bn1(conv1(x)))
    x = keras.layers.ReLU()(bn2(dw(x)))
    x = keras.layers.ReLU()(bn3(pw(x)))
    outputs = fc(keras.layers.GlobalAveragePooling2D()(x))
    plain = keras.Model(inputs, outputs)

    def bn_weights(name, c):
        layer = model.get_layer(name)
        gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
        if gamma.ndim == 2:
            gamma, beta = gamma[slot], beta[slot]
        if slot is None:
            mean, var = layer.statistics()
        else:
            mean, var = layer.statistics(slot)
        return [gamma[:c], beta[:c], mean[:c], var[:c]]

    scale_pw = (24 / c1) if output_averaging else 1.0
    scale_fc = (40 / c3) if output_averaging else 1.0
    conv1.set_weights([model.get_layer("conv1").kernel.numpy()[:, :, :, :c1]])
    bn1.set_weights(bn_weights("bn1", c1))
    dw.set_weights([model.get_layer("dw").kernel.numpy()[:, :, :c1, :]])
    bn2.set_weights(bn_weights("bn2", c1))
    pw.set_weights([model.get_layer("pw").kernel.numpy()[:, :, :c1, :c3] * scale_pw])
    bn3.set_weights(bn_weights("bn3", c3))
    fc_layer = model.get_layer("fc")
    fc.set_weights([fc_layer.kernel.numpy()[:c3] * scale_fc, fc_layer.bias.numpy()])
    return plain


IMAGES = np.random.default_rng(1).normal(size=(6, 12, 12, 3)).astype("float32")


@pytest.mark.parametrize("bn", ["switchable", "universal", "shared"])
@pytest.mark.parametrize("output_averaging", [False, True])
def test_slimmable_stack_equals_plain_keras_layers(bn, output_averaging):
    if bn == "switchable":
        model = small_stack(bn, switches=SWITCHES, output_averaging=output_averaging)
        widths = SWITCHES
    else:
        model = small_stack(bn, output_averaging=output_averaging)
        widths = SWITCHES + [0.3, 0.55, 0.8125, 0.99]
    randomize(model)
    if bn == "universal":
        mark_calibrated(model, widths)
    if bn == "shared":
        mark_calibrated(model, widths[:2])  # the others use the shared running statistics
    for i, w in enumerate(widths):
        model.set_width(w)
        slot = i if (bn != "shared" or i < 2) else None
        plain = plain_stack(model, w, slot, output_averaging=output_averaging)
        got = model(IMAGES, training=False).numpy()
        want = plain(IMAGES, training=False).numpy()
        assert np.max(np.abs(got - want)) <= 1e-5, (bn, w)


def test_widths_really_change_the_computation():
    model = small_stack("universal")
    randomize(model)
    mark_calibrated(model, [0.25, 1.0])
    outs = [model.set_width(w)(IMAGES, training=False).numpy() for w in (0.25, 1.0)]
    assert np.max(np.abs(outs[0] - outs[1])) > 1e-2


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


def test_one_trace_serves_every_width():
    model = small_stack("universal")
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.25, 0.4, 0.7, 1.0], verbose=0)
    fn = tf.function(lambda x: model(x, training=False))
    outputs = {}
    for w in (0.25, 0.4, 0.7, 1.0, 0.25):
        model.set_width(w)
        outputs[w] = fn(IMAGES).numpy()
    assert fn.experimental_get_tracing_count() == 1
    model.set_width(0.4)
    np.testing.assert_allclose(outputs[0.4], model(IMAGES, training=False).numpy(), atol=1e-6)
    assert np.abs(outputs[0.25] - outputs[1.0]).max() > 1e-3


def test_in_graph_width_changes_within_one_function():
    """A graph that runs several widths in a row (as the training step does) uses each."""
    model = small_stack("universal")
    randomize(model)
    mark_calibrated(model, [0.25, 1.0])

    @tf.function
    def two_widths(x):
        model.width_state.assign(0.25)
        narrow = model(x, training=False)
        model.width_state.assign(1.0)
        wide = model(x, training=False)
        return narrow, wide

    narrow, wide = two_widths(IMAGES)
    np.testing.assert_allclose(narrow, model.set_width(0.25)(IMAGES, training=False), atol=1e-6)
    np.testing.assert_allclose(wide, model.set_width(1.0)(IMAGES, training=False), atol=1e-6)


def test_width_specialised_inference_matches_the_dynamic_graph_at_every_width():
    model = small_stack("universal", num_stages=2)
    randomize(model)
    configs = [(0.25, None), (0.55, None), (1.0, None), (0.8, {1: 0.5}), (0.9, {2: 0.4})]
    slimkeras.calibrate_bn(model, IMAGES, widths=[(w, r) for w, r in configs], verbose=0)
    dynamic = tf.function(lambda x: model(x, training=False))
    for w, ratios in configs:
        fn = model.inference_function(w, ratios)
        model.set_width(0.25)  # a specialised function keeps its own width
        model_out = fn(IMAGES).numpy()
        model.set_width(w, ratios)
        np.testing.assert_allclose(model_out, dynamic(IMAGES).numpy(), atol=1e-5)
        np.testing.assert_allclose(model_out, slimkeras.materialize(model, w, ratios)(IMAGES).numpy(),
                                   atol=1e-4)
        assert model.inference_function(w, ratios) is fn  # kept per configuration
        # the width arithmetic is constant in its graph: no in-graph make_divisible
        graph = fn.get_concrete_function(IMAGES).graph
        assert not {op.type for op in graph.get_operations()} & {"FloorDiv", "Floor"}
    assert {op.type for op in dynamic.get_concrete_function(IMAGES).graph.get_operations()} & {"FloorDiv"}
    with pytest.raises(ValueError, match=r"0\.6 has no calibrated BN statistics"):
        model.inference_function(0.6)
    with pytest.raises(ValueError, match="outside the trained range"):
        model.inference_function(1.5)


def test_specialised_functions_follow_recalibration_and_new_weights():
    model = small_stack("universal")
    randomize(model)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.5, 0.25], verbose=0)
    fn = model.inference_function(0.25)
    before = fn(IMAGES).numpy()
    # clear=True moves 0.25 to another slot; its statistics now come from other images
    slimkeras.calibrate_bn(model, 2.0 * IMAGES + 1.0, widths=[0.25], clear=True, verbose=0)
    assert model.bn_slots.find(WidthConfig(0.25)) == 0
    model.set_width(0.25)
    np.testing.assert_allclose(fn(IMAGES).numpy(), model(IMAGES, training=False).numpy(), atol=1e-5)
    assert np.abs(fn(IMAGES).numpy() - before).max() > 1e-3
    model.get_layer("fc").bias.assign(model.get_layer("fc").bias + 1.0)
    np.testing.assert_allclose(fn(IMAGES).numpy(), model(IMAGES, training=False).numpy(), atol=1e-5)


def test_predict_and_evaluate_run_a_graph_per_width():
    model = small_stack("switchable", switches=SWITCHES)
    randomize(model)
    labels = np.arange(len(IMAGES)) % 7
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    dynamic = tf.function(lambda x: model(x, training=False))
    predictions, functions = {}, {}
    for w in (0.25, 1.0, 0.25):
        model.set_width(w)
        predictions[w] = model.predict(IMAGES, batch_size=4, verbose=0)
        functions.setdefault(w, model.predict_function)
        assert model.predict_function is functions[w]  # traced once per width, then kept
        np.testing.assert_allclose(predictions[w], dynamic(IMAGES).numpy(), atol=1e-5)
        np.testing.assert_allclose(model.predict_on_batch(IMAGES), predictions[w], atol=1e-5)
        loss = model.evaluate(IMAGES, labels, batch_size=len(IMAGES), verbose=0, return_dict=True)["loss"]
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, predictions[w])
        assert abs(loss - float(expected)) < 1e-4
    assert functions[0.25] is not functions[1.0]
    assert np.abs(predictions[0.25] - predictions[1.0]).max() > 1e-3
    model.compile(loss="mse")  # Keras drops its functions; the per-width ones go too
    model.set_width(0.25)
    model.predict(IMAGES, verbose=0)
    assert model.predict_function is not functions[0.25]
    fresh = small_stack("switchable", switches=SWITCHES)  # a step called directly runs at the current width
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(fresh.set_width(0.25).predict_step(IMAGES), predictions[0.25], atol=1e-5)


@pytest.mark.parametrize(
    "width, message",
    [
        (0, "0 is not allowed"),
        (-0.5, "-0.5 is not allowed"),
        (float("nan"), "nan is not allowed"),
        (float("inf"), "inf is not allowed"),
        (1.5, "1.5 is outside the trained range"),
        (0.1, "0.1 is outside the trained range"),
        ("half", "'half' is not a number"),
    ],
)
def test_bad_widths_raise_value_error_naming_value_and_allowed(width, message):
    model = small_stack("universal")
    with pytest.raises(ValueError, match=message) as info:
        model.set_width(width)
    assert "allowed" in str(info.value)
    assert model.width == 1.0


def test_width_that_is_not_a_switch():
    model = small_stack("switchable", switches=SWITCHES)
    with pytest.raises(ValueError, match=r"0\.6 is not a switch.*allowed: one of the switches 0.25, 0.5, 0.75, 1"):
        model.set_width(0.6)
    with pytest.raises(ValueError, match="not a switch"):
        model.set_width(0.6, allow_untrained=True)  # switchable BN has no statistics there
    with pytest.raises(ValueError, match="nonuniform widths need a model trained on a width range"):
        model.set_width(0.5, stage_ratios={1: 0.5})


def test_bad_stage_ratios():
    model = small_stack("universal", num_stages=2)
    for ratios, message in [({3: 0.5}, "Stage 3 does not exist; allowed: 1..2"),
                            ({1: 1.5}, "Ratio 1.5 of stage 1 is not allowed"),
                            ({1: 0}, "not allowed"), ([0.5], "must be a dict")]:
        with pytest.raises(ValueError, match=message):
            model.set_width(0.5, stage_ratios=ratios)


def test_nonuniform_stage_ratios_change_only_their_stage():
    model = small_stack("universal", num_stages=2)
    randomize(model)
    model.set_width(1.0, stage_ratios={2: 0.5})
    slimkeras.calibrate_bn(model, IMAGES, widths=[(1.0, {2: 0.5})], verbose=0)
    assert model.stage_ratios == {2: 0.5}
    sub = keras.Model(model.inputs, [model.get_layer("bn1").output, model.get_layer("bn3").output])
    bn1_out, bn3_out = sub(IMAGES, training=False)
    assert bn1_out.shape[-1] == 24 and bn3_out.shape[-1] == active_channels(40, 0.5)
    # the global width still applies: 0.5 x 0.5 in stage 2
    model.set_width(0.5, stage_ratios={2: 0.5})
    assert sub(IMAGES, training=True)[1].shape[-1] == active_channels(40, 0.25)


@pytest.mark.parametrize("bn", ["switchable", "universal", "shared"])
def test_keras_file_round_trip_keeps_weights_and_calibrated_statistics(bn, tmp_path):
    switches = SWITCHES if bn == "switchable" else None
    model = small_stack(bn, switches=switches, num_stages=2)
    randomize(model)
    widths = SWITCHES if switches else [0.3, 1.0]
    slimkeras.calibrate_bn(model, IMAGES, widths=widths, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, slimkeras.SlimmableModel)
    assert loaded.width_spec.get_config() == model.width_spec.get_config()
    assert loaded.bn_slots.calibrated() == model.bn_slots.calibrated()
    np.testing.assert_array_equal(loaded.bn_slots.keys.numpy(), model.bn_slots.keys.numpy())
    for w in widths:
        a = model.set_width(w)(IMAGES, training=False).numpy()
        b = loaded.set_width(w)(IMAGES, training=False).numpy()
        np.testing.assert_array_equal(a, b)


def test_make_divisible_matches_the_official_rule():
    assert make_divisible(32 * 0.35) == 16  # 8 would be < 0.9 * 11.2
    assert make_divisible(1024 * 0.975) == 1000
    # min_value 1 (not 8): tiny counts keep the official quirks
    assert make_divisible(3.0) == 9 and make_divisible(0.5) == 1
    assert make_divisible(0.3, divisor=1) == 1
    # US rule with an expand ratio: hidden = t * make_divisible(c * w)
    assert active_channels(16 * 6, 0.35, ratio=6) == 6 * make_divisible(16 * 0.35)
    # the in-graph rule agrees with the host rule on a fine grid of widths
    ws = np.round(np.arange(0.05, 2.0001, 0.0125), 6)
    for c, r in [(32, 1), (1024, 1), (96, 6), (20, 1), (1280, 1)]:
        host = [active_channels(c, w, r) for w in ws]
        graph = [int(slimkeras.channels.tf_active_channels(c, tf.constant(w, tf.float64), r)) for w in ws]
        assert host == graph


def test_layer_configs_round_trip_and_validate_arguments():
    conv = SlimmableConv2D(16, 3, strides=2, channel_ratio=2, divisor=4, max_width=2.0, stage=3,
                           output_averaging=True, use_bias=True)
    clone = SlimmableConv2D.from_config(conv.get_config())
    assert clone.get_config() == conv.get_config()
    assert clone.max_units == active_channels(16, 2.0, 2, 4)
    for kwargs, message in [(dict(filters=0, kernel_size=3), "filters"),
                            (dict(filters=8, kernel_size=0), "kernel_size"),
                            (dict(filters=8, kernel_size=3, padding="full"), "padding"),
                            (dict(filters=8, kernel_size=3, stage=0), "stage")]:
        with pytest.raises(ValueError, match=message):
            SlimmableConv2D(**kwargs)
    for cls in BATCH_NORMS.values():
        bn = cls(num_slots=3, momentum=0.8)
        assert cls.from_config(bn.get_config()).get_config() == bn.get_config()
        with pytest.raises(ValueError, match="num_slots"):
            cls(num_slots=0)


def test_layer_outside_a_slimmable_model_says_so():
    layer = SlimmableConv2D(8, 3)
    with pytest.raises(RuntimeError, match="not part of a SlimmableModel"):
        layer(np.zeros((1, 4, 4, 3), "float32"))


def test_width_spec_validation():
    for kwargs in [dict(), dict(switches=[]), dict(width_range=(1.0, 0.5)),
                   dict(switches=[0.5, 0.5]), dict(width_range=(0, 1)), dict(switches=[0.5], width_range=(0.1, 1))]:
        with pytest.raises(ValueError):
            WidthSpec(**kwargs)
    assert WidthSpec(switches=[1.0, 0.25]).switches == [0.25, 1.0]


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


# -- WidthConfig ------------------------------------------------------------------------------

def test_width_config_parses_what_users_type_and_round_trips_its_key():
    nonuniform = WidthConfig(1.0, {3: 0.6, 1: 0.5})
    assert WidthConfig.parse(0.55) == WidthConfig(0.55)
    assert WidthConfig.parse((1.0, {3: 0.6})) == WidthConfig(1.0, {3: 0.6})
    assert WidthConfig.parse([0.8, {"2": 0.4}]) == WidthConfig(0.8, {2: 0.4})  # JSON's string stages
    assert WidthConfig.parse(nonuniform) is nonuniform
    assert WidthConfig.parse("w1.0_s1x0.5_s3x0.6") == nonuniform
    assert WidthConfig(0.55).key == "w0.55"
    assert nonuniform.key == "w1.0_s1x0.5_s3x0.6"
    assert WidthConfig(2, {2: 1.0}).key == "w2.0" and WidthConfig(2, {2: 1.0}).is_uniform
    assert WidthConfig(1 / 3).key == "w0.333333"
    for config in (WidthConfig(0.55), nonuniform, WidthConfig(0.8125, {12: 0.25})):
        assert WidthConfig.from_key(config.key) == config
        assert WidthConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    assert nonuniform.to_json() == {"width": 1.0, "stage_ratios": {"1": 0.5, "3": 0.6}}
    assert WidthConfig(0.5).to_json() == {"width": 0.5, "stage_ratios": None}
    assert nonuniform.describe() == "1 with stage_ratios={1: 0.5, 3: 0.6}"
    assert WidthConfig(0.55).describe() == "0.55"
    assert nonuniform.stage_ratios == {1: 0.5, 3: 0.6}
    assert nonuniform.multiplier() == 1.0 and nonuniform.multiplier(3) == 0.6 and nonuniform.multiplier(2) == 1.0
    assert nonuniform.ratios(4) == [0.5, 1.0, 0.6, 1.0]
    np.testing.assert_array_equal(WidthConfig(0.8, {2: 0.5}).slot_row(2), [0.8, 1.0, 0.5])
    assert WidthConfig.from_slot_row([0.8, 1.0, 0.5]) == WidthConfig(0.8, {2: 0.5})
    assert pickle.loads(pickle.dumps(nonuniform)) == nonuniform
    with pytest.raises(AttributeError, match="immutable"):
        nonuniform.width = 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        ((0,), "Width 0 is not allowed"),
        ((-0.5,), "Width -0.5 is not allowed"),
        ((float("nan"),), "Width nan is not allowed"),
        ((float("inf"),), "Width inf is not allowed"),
        (("half",), "Width 'half' is not a number"),
        ((True,), "Width True is not a number"),
        ((1.0, {0: 0.5}), "Stage 0 does not exist; allowed: an integer >= 1"),
        ((1.0, {"x": 0.5}), "Stage 'x' does not exist"),
        ((1.0, {2.0: 0.5}), "Stage 2.0 does not exist"),
        ((1.0, {1: 1.5}), r"Ratio 1.5 of stage 1 is not allowed; allowed: a number in \(0, 1\]"),
        ((1.0, {1: 0}), "Ratio of stage 1 0 is not allowed"),
        ((1.0, [0.5]), "must be a dict"),
    ],
)
def test_width_config_validation_names_the_bad_value(args, message):
    with pytest.raises(ValueError, match=message):
        WidthConfig(*args)


def test_width_config_refuses_what_it_cannot_parse():
    for value, message in [("0.55", "not a width configuration key"), ((1.0, {}, 2), "must be a width or"),
                           ("w0.5_s1", "not a width configuration key")]:
        with pytest.raises(ValueError, match=message):
            WidthConfig.parse(value)
    with pytest.raises(ValueError, match="stage 3 does not exist; allowed: 1..2"):
        WidthConfig(1.0, {3: 0.5}).ratios(2)


def test_width_config_equality_is_to_six_decimal_places():
    assert WidthConfig(0.3) == WidthConfig(0.3 + 4e-7)
    assert WidthConfig(0.3) != WidthConfig(0.3 + 2e-6)
    assert WidthConfig(1.0, {2: 0.5}) == WidthConfig(1.0, {2: 0.5 - 3e-7})
    assert WidthConfig(1.0, {2: 0.5}) != WidthConfig(1.0, {2: 0.5 - 3e-6})
    assert WidthConfig(1.0, {2: 1.0 - 2e-7}) == WidthConfig(1.0)  # a ratio that rounds to 1 is no ratio
    assert WidthConfig(1.0, {2: 0.5}) != WidthConfig(1.0, {3: 0.5})
    assert len({WidthConfig(0.3), WidthConfig(0.3 + 4e-7), WidthConfig(0.3 - 4e-7)}) == 1
    assert WidthConfig(0.5) != 0.5  # a number is not a configuration


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


def test_set_width_and_calibrate_bn_take_width_configs():
    model = small_stack("universal", num_stages=2)
    config = WidthConfig(0.8, {2: 0.5})
    assert slimkeras.calibrate_bn(model, IMAGES, widths=[config, 0.5], verbose=0) == [config, WidthConfig(0.5)]
    model.set_width(config)
    assert model.width_config() == config and model.width == 0.8 and model.stage_ratios == {2: 0.5}
    assert model.width_config(0.8, {2: 0.5}) == config
    with pytest.raises(ValueError, match="already has its stage ratios"):
        model.set_width(config, stage_ratios={1: 0.5})
    with pytest.raises(ValueError, match="Stage 3 does not exist; allowed: 1..2"):
        model.set_width(WidthConfig(0.8, {3: 0.5}))
    with pytest.raises(ValueError, match="outside the trained range"):
        model.set_width(WidthConfig(0.1))


# -- the BN slot table -----------------------------------------------------------------------

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


# -- each layer's static form and cost -----------------------------------------------------

def active_inputs_and_outputs(model, config, names):
    """{name: (input, output)} of the named layers, run by the slimmable model at `config`."""
    layers = [model.get_layer(n) for n in names]
    probe = keras.Model(model.input, [t for l in layers for t in (l.input, l.output)])
    with model.width_state.preserved():
        model.set_width(config)
        values = [v.numpy() for v in probe(IMAGES, training=False)]
    return {n: (values[2 * i], values[2 * i + 1]) for i, n in enumerate(names)}


@pytest.mark.parametrize("bn", ["switchable", "universal", "shared"])
def test_each_layer_static_form_computes_what_the_layer_computes(bn):
    switches = SWITCHES if bn == "switchable" else None
    model = small_stack(bn, switches=switches, output_averaging=True, num_stages=2)
    randomize(model)
    config = WidthConfig(0.5) if switches else WidthConfig(0.8, {2: 0.5})
    if bn != "switchable":
        slimkeras.calibrate_bn(model, IMAGES, widths=[config], verbose=0)
    names = ["conv1", "bn1", "dw", "bn2", "pw", "bn3", "fc"]
    kinds = [keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.DepthwiseConv2D,
             keras.layers.BatchNormalization, keras.layers.Conv2D, keras.layers.BatchNormalization,
             keras.layers.Dense]
    for (name, (x, y)), kind in zip(active_inputs_and_outputs(model, config, names).items(), kinds):
        static = model.get_layer(name).static_layer(config, (None,) + x.shape[1:])
        assert type(static) is kind and static.name == name
        assert static(x).shape == y.shape, name
        np.testing.assert_allclose(static(x, training=False).numpy(), y, atol=2e-5, err_msg=name)
    c1, c3 = active_channels(24, config.multiplier(1)), active_channels(40, config.multiplier(2))
    assert model.get_layer("pw").static_layer(config, (None, 6, 6, c1)).kernel.shape == (1, 1, c1, c3)


def test_bn_parameters_are_the_slot_slices():
    model = small_stack("switchable", switches=SWITCHES)
    randomize(model)
    bn1 = model.get_layer("bn1")
    c = active_channels(24, 0.75)
    got = bn1.parameters(WidthConfig(0.75), c)
    want = (bn1.gamma.numpy()[2, :c], bn1.beta.numpy()[2, :c], bn1.slot_mean.numpy()[2, :c],
            bn1.slot_variance.numpy()[2, :c])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert bn1.parameters(WidthConfig(0.75)).gamma.shape == (24,)
    universal = small_stack("universal")
    with pytest.raises(ValueError, match="width 0.5 has no BN statistics"):
        universal.get_layer("bn1").parameters(WidthConfig(0.5))


def test_each_layer_counts_its_own_cost():
    """The layers' costs against the formulas written out, and against Keras' own layers
    (the profile of the materialized model)."""
    model = small_stack("universal", output_averaging=True)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.5], verbose=0)
    c1, c3 = active_channels(24, 0.5), active_channels(40, 0.5)
    rows = {r["name"]: r for r in slimkeras.profile(model, 0.5)["layers"]}
    expected = {  # name: (kind, MACs, params); feature maps 6x6 after the stride-2 conv
        "conv1": ("conv", 9 * 3 * c1 * 36, 9 * 3 * c1),
        "bn1": ("bn", 0, 2 * c1),
        "dw": ("conv", 9 * c1 * 36, 9 * c1),
        "bn2": ("bn", 0, 2 * c1),
        "pw": ("conv", c1 * c3 * 36, c1 * c3),
        "bn3": ("bn", 0, 2 * c3),
        "pool": ("avgpool", c3 * 36, 0),
        "fc": ("linear", c3 * 7, c3 * 7 + 7),
    }
    assert {n: (r["kind"], r["macs"], r["params"]) for n, r in rows.items()} == expected
    plain = slimkeras.profile(slimkeras.materialize(model, 0.5))
    assert plain == slimkeras.profile(model, 0.5)


def test_a_plain_keras_layer_with_weights_is_copied_and_counted():
    x = inputs = keras.Input((12, 12, 3))
    x = SlimmableConv2D(16, 3, name="conv")(x)
    x = SlimmableDense(6, name="fc")(keras.layers.GlobalAveragePooling2D()(x))
    x = keras.layers.Dense(4, name="plain_dense")(x)  # 6 inputs at every width
    model = slimkeras.SlimmableModel(inputs, x, width_spec=WidthSpec(switches=[0.5, 1.0]))
    randomize(model)
    model.set_width(0.5)
    plain = slimkeras.materialize(model)
    np.testing.assert_allclose(plain(IMAGES).numpy(), model(IMAGES, training=False).numpy(), atol=1e-5)
    assert plain.get_layer("plain_dense") is not model.get_layer("plain_dense")
    assert slimkeras.profile(model)["layers"][-1] == {
        "name": "plain_dense", "kind": "linear", "in": 6, "out": 4, "out_hw": 1, "macs": 24, "params": 28}


class SlimmablePReLU(slimkeras.layers.SlimmableLayer):
    """The example of docs/adding_a_layer.md: a per-channel PReLU whose slopes are sliced."""

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        alpha = self.alpha[:slimkeras.layers.base.channel_count(inputs)]
        return tf.maximum(inputs, 0.0) + alpha * tf.minimum(inputs, 0.0)

    def static_layer(self, config, input_shape):
        layer = keras.layers.PReLU(shared_axes=[1, 2], name=self.name)
        layer.build(input_shape)
        layer.set_weights([self.alpha.numpy()[:input_shape[-1]].reshape(1, 1, -1)])
        return layer

    def cost(self, input_shapes, output_shape):
        return slimkeras.layers.LayerCost("activation", 0, input_shapes[0][-1])


def test_a_new_layer_type_is_one_class():
    x = inputs = keras.Input((12, 12, 3))
    x = SlimmableConv2D(16, 3, name="conv")(x)
    x = SlimmablePReLU(name="prelu")(x)
    x = SlimmableDense(4, name="fc")(keras.layers.GlobalAveragePooling2D()(x))
    model = slimkeras.SlimmableModel(inputs, x, width_spec=WidthSpec(width_range=(0.25, 1.0)))
    randomize(model)
    for w in (0.25, 0.7, 1.0):
        model.set_width(w)
        np.testing.assert_allclose(slimkeras.materialize(model)(IMAGES).numpy(),
                                   model(IMAGES, training=False).numpy(), atol=1e-5)
        c = active_channels(16, w)
        assert slimkeras.profile(model)["layers"][1] == {
            "name": "prelu", "kind": "activation", "in": c, "out": c, "out_hw": 12, "macs": 0, "params": c}


def test_keras_file_saved_before_widthconfig_loads_unchanged():
    """tests/data/universal_stack_0.1.*: a model calibrated at 0.3 and (1.0, {2: 0.5}) and its
    outputs there, saved by slimkeras 0.1 before the WidthConfig change (commit 06ff1d1)."""
    data = Path(__file__).parent / "data"
    model = keras.models.load_model(data / "universal_stack_0.1.keras")
    expected = np.load(data / "universal_stack_0.1.npz")
    assert model.bn_slots.calibrated() == [WidthConfig(0.3), WidthConfig(1.0, {2: 0.5})]
    for key in ("w0.3", "w1.0_s2x0.5"):
        config = WidthConfig.from_key(key)
        model.set_width(config)
        # Not bit-equal: the kernels differ by CPU (oneDNN on or off) in the last float bits.
        np.testing.assert_allclose(model(expected["images"], training=False), expected[key], rtol=0, atol=1e-5)
        for specialised in (model.inference_function(config), slimkeras.materialize(model, config)):
            np.testing.assert_allclose(specialised(expected["images"]), expected[key], atol=1e-5)
