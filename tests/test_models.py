"""Model zoo (MobileNet v1/v2; every builder in the generic tests): official channel
counts, MACs and params, TF's own op count, keras.applications shapes, materialize, saving."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import slimkeras
from slimkeras.layers import SlimmableLayer
from slimkeras.models import BUILDERS

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
if not REFERENCE.exists():  # a checkout elsewhere: ../shared beside the repo
    REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def load_reference(name):
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference file {path} not found (../shared must be beside the repo)")
    data = json.loads(path.read_text())

    def parse(value):
        return json.loads(value.replace("'", '"')) if isinstance(value, str) and value[:1] == "[" else value

    return {k: {w: {f: parse(x) for f, x in e.items()} if isinstance(e, dict) else e
                for w, e in v.items()} for k, v in data.items()}


def sliced_outputs(profile):
    return [r["out"] for r in profile["layers"] if r["kind"] in ("conv", "linear")]


OFFICIAL = [
    ("s_mobilenet_v1", slimkeras.models.mobilenet_v1, dict(width_mult_list=[0.25, 0.5, 0.75, 1.0])),
    ("us_mobilenet_v1", slimkeras.models.mobilenet_v1, dict(width_mult_range=(0.25, 1.0))),
    ("s_mobilenet_v2", slimkeras.models.mobilenet_v2, dict(width_mult_list=[0.35, 0.5, 0.75, 1.0])),
    ("us_mobilenet_v2", slimkeras.models.mobilenet_v2, dict(width_mult_range=(0.35, 1.0))),
]


@pytest.mark.parametrize("key, builder, kwargs", OFFICIAL, ids=[o[0] for o in OFFICIAL])
def test_channels_macs_and_params_equal_the_official_models(key, builder, kwargs):
    reference = load_reference("official_channels.json")[key]
    model = builder(**kwargs)
    for width, expected in reference.items():
        p = slimkeras.profile(model, float(width))
        assert sliced_outputs(p) == expected["out_channels"], (key, width)
        assert [r["in"] for r in p["layers"] if r["kind"] == "bn"] == expected["bn_channels"]
        assert p["macs"] == int(expected["macs"]), (key, width)
        assert p["params"] == int(expected["active_params"]), (key, width)


@pytest.mark.parametrize("arch, lo", [("mobilenet_v1", 0.25), ("mobilenet_v2", 0.35)])
def test_every_us_width_of_the_official_lists(arch, lo):
    reference = load_reference("official_us_allwidths.json")[f"us_{arch}_allwidths"]
    model = BUILDERS[arch](width_mult_range=(lo, 1.0))
    assert len(reference) >= 20
    for width, expected in reference.items():
        p = slimkeras.profile(model, float(width))
        assert (p["macs"], p["params"]) == (expected["macs"], expected["active_params"]), width
        assert sliced_outputs(p) == expected["out_channels"], width


def tf_profiler_counts(plain, input_shape):
    """Float ops per op type, counted by TF's own graph profiler on the frozen graph."""
    fn = tf.function(lambda x: plain(x, training=False)).get_concrete_function(
        tf.TensorSpec((1,) + tuple(input_shape))
    )
    graph = convert_variables_to_constants_v2(fn).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    result = tf.compat.v1.profiler.profile(graph=graph, options=options)
    flops = {c.name: c.float_ops for c in result.children}
    by_type = {}
    for op in graph.get_operations():
        by_type[op.type] = by_type.get(op.type, 0) + flops.get(op.name, 0)
    return by_type


@pytest.mark.parametrize("arch, width", [("mobilenet_v1", 0.5), ("mobilenet_v2", 0.75)])
def test_profile_agrees_with_tensorflow_graph_profiler(arch, width):
    model = BUILDERS[arch](width_mult_list=[width, 1.0])
    p = slimkeras.profile(model, width)
    counts = tf_profiler_counts(slimkeras.materialize(model, width), (224, 224, 3))
    assert counts["Conv2D"] + counts["DepthwiseConv2dNative"] == 2 * p["conv_macs"]
    assert counts["MatMul"] == 2 * p["linear_macs"]
    assert counts["Mean"] == p["avgpool_macs"]


def kernel_shapes(model):
    return {l.name: tuple(l.kernel.shape) for l in model.layers if hasattr(l, "kernel")}


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0])
def test_mobilenet_v1_kernels_equal_keras_applications(alpha):
    model = slimkeras.models.mobilenet_v1(width_mult_list=[alpha])
    ours = kernel_shapes(slimkeras.materialize(model, alpha))
    theirs = kernel_shapes(keras.applications.MobileNet(alpha=alpha, weights=None))
    # Deliberate difference: Keras' classifier is a 1x1 conv ('conv_preds'), ours a Dense.
    assert theirs.pop("conv_preds") == (1, 1) + ours.pop("predictions")
    assert ours == theirs


def test_mobilenet_v2_kernels_equal_keras_applications():
    model = slimkeras.models.mobilenet_v2(width_mult_list=[1.0])
    ours = kernel_shapes(slimkeras.materialize(model, 1.0))
    theirs = kernel_shapes(keras.applications.MobileNetV2(weights=None))
    assert ours == theirs


def test_small_mobilenet_v1_is_the_measured_prototype():
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1),
                                          num_classes=10)
    p = slimkeras.profile(model, 1.0)
    assert sliced_outputs(p) == [32, 32, 64, 64, 128, 128, 128, 128, 256, 256, 256, 10]
    assert 3.0e6 < p["macs"] < 3.8e6
    assert model.num_stages == 3


def test_nonuniform_stage_ratio_slims_only_that_stage():
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0))
    uniform = slimkeras.profile(model, 1.0)["layers"]
    slimmed = slimkeras.profile(model, 1.0, stage_ratios={5: 0.6})["layers"]
    changed = {a["name"] for a, b in zip(uniform, slimmed) if a["out"] != b["out"] and a["kind"] == "conv"}
    # stage 5: the two 1024-channel layers, and the depthwise conv reading the first
    assert changed == {"conv_pw_12", "conv_dw_13", "conv_pw_13"}
    assert [b["out"] for b in slimmed if b["name"] == "conv_pw_13"] == [slimkeras.make_divisible(1024 * 0.6)]


SMALL = dict(input_shape=(32, 32, 3), num_classes=10)


def small_models(arch):
    yield "range", BUILDERS[arch](width_mult_range=(0.25, 1.0), **SMALL)
    yield "switches", BUILDERS[arch](width_mult_list=[0.35, 0.6, 1.0], **SMALL)


# ShuffleNet and ResNet-50 (slow to build, ~1 min each): their own cases in test_models_shufflenet_resnet.py.
MOBILENETS = ["mobilenet_v1", "mobilenet_v2"]


@pytest.mark.parametrize("arch", MOBILENETS)
def test_materialized_model_equals_slimmable_model(arch):
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    for kind, model in small_models(arch):
        widths = [0.25, 0.6, 1.0] if kind == "range" else [0.35, 1.0]
        slimkeras.calibrate_bn(model, images, widths=widths, verbose=0)
        for w in widths:
            plain = slimkeras.materialize(model, w)
            assert not any(isinstance(l, SlimmableLayer) for l in plain.layers)
            got = plain(images, training=False).numpy()
            want = model.set_width(w)(images, training=False).numpy()
            assert np.max(np.abs(got - want)) <= 1e-5, (arch, kind, w)
            assert plain.count_params() < model.count_params() or w == 1.0


def test_materialize_refuses_bad_widths():
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), **SMALL)
    with pytest.raises(ValueError, match="0.5 has no calibrated BN statistics"):
        slimkeras.materialize(model, 0.5)
    with pytest.raises(ValueError, match="outside the trained range"):
        slimkeras.materialize(model, 1.2)


@pytest.mark.parametrize("arch", MOBILENETS)
def test_keras_round_trip_of_each_architecture(arch, tmp_path):
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    model = BUILDERS[arch](width_mult_range=(0.25, 1.0), output_averaging=True, **SMALL)
    slimkeras.calibrate_bn(model, images, widths=[0.3, 1.0], verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.architecture == model.architecture
    for w in (0.3, 1.0):
        np.testing.assert_array_equal(model.set_width(w)(images, training=False),
                                      loaded.set_width(w)(images, training=False))


def test_builder_arguments_are_validated():
    with pytest.raises(ValueError, match="bn='switchable' needs a switch list"):
        slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), bn="switchable")
    with pytest.raises(ValueError, match="`bn` must be one of"):
        slimkeras.models.mobilenet_v1(bn="batch")
    with pytest.raises(ValueError, match="input_shape"):
        slimkeras.models.mobilenet_v2(input_shape=(32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        slimkeras.models.mobilenet_v2(num_classes=0)
    with pytest.raises(ValueError, match="Unknown architecture 'vgg'"):
        slimkeras.models.build("vgg")


def test_profile_table_rows():
    model = slimkeras.models.mobilenet_v1(width_mult_list=[0.25, 0.5, 0.75, 1.0])
    rows = slimkeras.profile_table(model, [0.25, 1.0], print_table=False)
    assert [r["macs"] for r in rows] == [41042816, 568790528]


@pytest.mark.parametrize("arch", ["shufflenet", "mobilenet_v2"])
def test_layer_shapes_at_many_configs_traced_once_equal_each_config_alone(arch):
    """The traced probe (more than two configurations) gives the eager probe's shapes, and the
    BN channels follow the producing layers' channel rule through concatenations and groups."""
    from slimkeras.profiling import active_bn_channels, channel_counts, layer_shapes, layer_shapes_at, producers

    kwargs = dict(input_shape=(32, 32, 3), num_classes=10, width_mult_range=(0.25, 1.0))
    net = slimkeras.models.build(arch, **kwargs)
    configs = [slimkeras.WidthConfig(0.3), slimkeras.WidthConfig(0.62), slimkeras.WidthConfig(1.0, {2: 0.45}),
               slimkeras.WidthConfig(1.0)]
    traced = layer_shapes_at(net, configs, allow_untrained=True)
    for config, shapes in zip(configs, traced):
        alone = layer_shapes(net, config, allow_untrained=True)
        assert [(l.name, i, o) for l, i, o in shapes] == [(l.name, i, o) for l, i, o in alone]
    channels = active_bn_channels(net, configs)
    assert len({tuple(c.values()) for c in channels}) == len(configs)
    producer = producers(net)
    checked = 0
    for config, counts in zip(configs, channels):
        for name, count in counts.items():
            source = producer[id(net.get_layer(name).input)]
            if hasattr(source, "active_units"):
                assert count == source.active_units(config.multiplier(source.stage)), (name, config)
                checked += 1
    assert checked > 2 * len(configs)
    assert len({channel_counts(net, c) for c in configs}) == len(configs)
