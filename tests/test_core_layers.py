"""Slimmable layers against plain Keras layers: the computation, configs, static forms and costs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras import WidthConfig, WidthSpec, active_channels, make_divisible
from slimkeras.layers import BATCH_NORMS, SlimmableConv2D, SlimmableDense

from core_stack import small_stack, randomize, mark_calibrated, plain_stack, IMAGES, SWITCHES


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
