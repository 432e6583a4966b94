"""ShuffleNet v1 (g=3) and ResNet-50: official channel counts, MACs and params,
keras.applications kernel shapes, materialize, saving, and the shuffle layers."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras.layers import ChannelGroup, ChannelShuffle, SlimmableLayer
from slimkeras.models import BUILDERS

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

pytestmark = pytest.mark.xdist_group(__name__)
SHUFFLENET_SWITCHES = [0.5, 1.0, 2.0]
RESNET_SWITCHES = [0.25, 0.5, 0.75, 1.0]
SMALL = dict(input_shape=(32, 32, 3), num_classes=10)
IMAGES = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")


def load_reference(key):
    path = REFERENCE / "official_channels.json"
    if not path.exists():
        pytest.skip(f"reference file {path} not found (../shared must be beside the repo)")

    def parse(value):
        return json.loads(value.replace("'", '"')) if isinstance(value, str) and value[:1] == "[" else value

    return {w: {f: parse(v) for f, v in e.items()} for w, e in json.loads(path.read_text())[key].items()}


@pytest.fixture(scope="module")
def imagenet_resnet50():
    return slimkeras.models.resnet50(width_mult_list=RESNET_SWITCHES)


def sliced_outputs(profile, kinds=("conv", "linear")):
    return [r["out"] for r in profile["layers"] if r["kind"] in kinds]


@pytest.mark.parametrize("key", ["s_shufflenet", "s_resnet50"])
def test_channels_macs_and_params_equal_the_official_models(key, imagenet_resnet50):
    reference = load_reference(key)
    if key == "s_shufflenet":
        model = slimkeras.models.shufflenet(width_mult_list=SHUFFLENET_SWITCHES)
        assert sorted(map(float, reference)) == SHUFFLENET_SWITCHES
    else:
        model = imagenet_resnet50
        assert sorted(map(float, reference)) == RESNET_SWITCHES
    for width, expected in reference.items():
        p = slimkeras.profile(model, float(width))
        assert sliced_outputs(p) == expected["out_channels"], (key, width)
        assert sliced_outputs(p, ("bn",)) == expected["bn_channels"], (key, width)
        assert p["macs"] == int(expected["macs"]), (key, width)
        assert p["params"] == int(expected["active_params"]), (key, width)
        # input channels and output sizes of the convs and the classifier, in execution
        # order (ResNet: the body's convs, then the shortcut's, as the official code)
        layers = expected["layers[name,type,in,out,groups,k,stride,out_hw]"]
        rows = [r for r in p["layers"] if r["kind"] in ("conv", "linear")]
        assert [(r["in"], r["out_hw"]) for r in rows] == [(l[2], l[7]) for l in layers], (key, width)


def kernel_shapes(model):
    return {l.name: tuple(l.kernel.shape) for l in model.layers if hasattr(l, "kernel")}


def test_resnet50_kernels_equal_keras_applications(imagenet_resnet50):
    ours = kernel_shapes(slimkeras.materialize(imagenet_resnet50, 1.0))
    theirs = kernel_shapes(keras.applications.ResNet50(weights=None))
    assert len(theirs) == 54  # 53 convs and the classifier
    assert ours == theirs


def randomize_bn_affine(model):
    """Random gamma/beta in every BN (per switch for switchable BN)."""
    rng = np.random.default_rng(3)
    for layer in model.bn_layers:
        layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
        layer.beta.assign(rng.normal(0.0, 0.3, layer.beta.shape).astype("float32"))


CASES = [
    # (builder, kwargs, widths to check: a width or a (width, stage_ratios) pair); the switch list's
    # ShuffleNet case is slow (~1 min) and its range case covers the same layers
    pytest.param("shufflenet", dict(width_mult_list=SHUFFLENET_SWITCHES), SHUFFLENET_SWITCHES,
                 marks=pytest.mark.slow),
    # widths where plain per-layer rounding would break the residual adds (0.3, 0.33)
    ("shufflenet", dict(width_mult_range=(0.25, 2.0)), [0.3, 0.33, 2.0, (1.0, {2: 0.5, 4: 0.7})]),
    ("resnet50", dict(width_mult_list=[0.25, 0.5, 1.0]), [0.25, 0.5, 1.0]),
    ("resnet50", dict(width_mult_range=(0.25, 1.0)), [0.3, 1.0, (0.8, {1: 0.5, 4: 0.6})]),
]


@pytest.mark.parametrize("arch, kwargs, widths", CASES,
                         ids=[f"{c[0]}-{next(iter(c[1]))}" for c in (getattr(c, "values", c) for c in CASES)])
def test_materialized_model_equals_slimmable_model(arch, kwargs, widths):
    model = BUILDERS[arch](**kwargs, **SMALL)
    randomize_bn_affine(model)
    calibrate = None if "width_mult_list" in kwargs else widths
    slimkeras.calibrate_bn(model, IMAGES, widths=calibrate, verbose=0)
    outputs = []
    for config in widths:
        w, ratios = config if isinstance(config, tuple) else (config, None)
        plain = slimkeras.materialize(model, w, stage_ratios=ratios)
        assert not any(isinstance(l, SlimmableLayer) for l in plain.layers)
        got = plain(IMAGES, training=False).numpy()
        want = model.set_width(w, stage_ratios=ratios)(IMAGES, training=False).numpy()
        assert np.max(np.abs(got - want)) <= 1e-5, (arch, config)
        outputs.append(want)
    # the widths really compute different functions
    assert np.max(np.abs(outputs[0] - outputs[-1])) > 1e-3


@pytest.mark.parametrize("arch, switches", [("shufflenet", [0.5, 1.0]), ("resnet50", [0.5, 1.0])])
def test_keras_round_trip(arch, switches, tmp_path):
    model = BUILDERS[arch](width_mult_list=switches, **SMALL)
    randomize_bn_affine(model)
    slimkeras.calibrate_bn(model, IMAGES, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, slimkeras.SlimmableModel)
    assert loaded.architecture == model.architecture
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    for w in switches:
        np.testing.assert_array_equal(model.set_width(w)(IMAGES, training=False),
                                      loaded.set_width(w)(IMAGES, training=False))


def test_small_input_variants():
    shufflenet = slimkeras.models.shufflenet(width_mult_range=(0.25, 2.0), **SMALL)
    assert shufflenet.num_stages == 4
    names = [l.name for l in shufflenet.layers]
    assert "head_pool" not in names and "stage2_block1_group_0" not in names
    rows = {r["name"]: r for r in slimkeras.profile(shufflenet, 1.0)["layers"]}
    assert rows["head_0_conv"]["out_hw"] == 32  # stride-1 stem, no max-pool
    assert [rows[f"stage{s}_block1_b_depthwise"]["out_hw"] for s in (2, 3, 4)] == [16, 8, 4]
    assert rows["predictions"]["in"] == 960
    # the residual stream lines up at any width of the range (the profile runs a forward pass)
    for w in (0.27, 0.3, 0.33, 0.45, 0.9, 1.37, 1.9):
        assert slimkeras.profile(shufflenet, w)["layers"][-1]["in"] == 120 * slimkeras.make_divisible(8 * w, 1)

    resnet = slimkeras.models.resnet50(width_mult_range=(0.25, 1.0), **SMALL)
    assert resnet.num_stages == 5
    assert "pool1_pool" not in [l.name for l in resnet.layers]
    assert resnet.get_layer("conv1_conv").kernel.shape == (3, 3, 3, 64)
    rows = {r["name"]: r for r in slimkeras.profile(resnet, 1.0)["layers"]}
    assert rows["conv1_conv"]["out_hw"] == 32
    assert [rows[f"conv{s}_block1_3_conv"]["out_hw"] for s in (2, 3, 4, 5)] == [32, 16, 8, 4]


def test_nonuniform_stage_ratios():
    resnet = slimkeras.models.resnet50(width_mult_range=(0.25, 1.0), **SMALL)
    uniform = slimkeras.profile(resnet, 1.0)["layers"]
    slimmed = slimkeras.profile(resnet, 1.0, stage_ratios={4: 0.5})["layers"]
    changed = {a["name"] for a, b in zip(uniform, slimmed) if a["out"] != b["out"] and a["kind"] == "conv"}
    assert changed == {l.name for l in resnet.layers
                       if l.name.startswith("conv4_") and l.name.endswith("_conv")}

    shufflenet = slimkeras.models.shufflenet(width_mult_range=(0.25, 2.0), **SMALL)
    uniform = slimkeras.profile(shufflenet, 1.0)["layers"]
    slimmed = slimkeras.profile(shufflenet, 1.0, stage_ratios={3: 0.5})["layers"]
    changed = {a["name"] for a, b in zip(uniform, slimmed) if a["out"] != b["out"] and a["kind"] == "conv"}
    # stage 3's bottlenecks: its a_i convs and depthwise convs (8 blocks x 4)
    assert len(changed) == 32 and all(n.startswith("stage3_") and "_c_" not in n for n in changed)
    slimmed = slimkeras.profile(shufflenet, 1.0, stage_ratios={1: 0.5})["layers"]
    assert slimmed[-1]["in"] == 480  # stage 1: the stem and the whole residual stream


def test_zoo_registration():
    assert BUILDERS["shufflenet"] is slimkeras.models.shufflenet
    assert BUILDERS["resnet50"] is slimkeras.models.resnet50
    model = slimkeras.models.build("shufflenet", width_mult_list=[1.0], **SMALL)
    assert model.name == "shufflenet" and model.architecture["name"] == "shufflenet"


def numpy_shuffle(x, groups):
    c = x.shape[-1]
    out = np.empty_like(x)
    for i in range(groups):
        for j in range(c // groups):
            out[..., j * groups + i] = x[..., i * (c // groups) + j]
    return out


@pytest.mark.parametrize("groups, channels", [(3, 12), (3, 3), (2, 10), (1, 5), (4, 8)])
def test_channel_shuffle_matches_numpy_permutation(groups, channels):
    x = np.random.default_rng(1).normal(size=(2, 3, 4, channels)).astype("float32")
    layer = ChannelShuffle(groups)
    np.testing.assert_array_equal(layer(x).numpy(), numpy_shuffle(x, groups))
    # channel count known only at run time (the slimmable model's case)
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, None])])
    np.testing.assert_array_equal(dynamic(x).numpy(), numpy_shuffle(x, groups))
    assert layer.compute_output_shape((None, 3, 4, channels)) == (None, 3, 4, channels)
    assert ChannelShuffle.from_config(layer.get_config()).groups == groups
    if groups == 3 and channels == 12:
        assert list(numpy_shuffle(np.arange(12.0), 3)) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


def test_channel_group_slices():
    x = np.random.default_rng(2).normal(size=(2, 3, 3, 12)).astype("float32")
    dynamic_spec = [tf.TensorSpec([None, None, None, None])]
    for index in range(3):
        layer = ChannelGroup(3, index)
        want = x[..., 4 * index:4 * (index + 1)]
        np.testing.assert_array_equal(layer(x).numpy(), want)
        np.testing.assert_array_equal(tf.function(layer, input_signature=dynamic_spec)(x).numpy(), want)
        assert layer.compute_output_shape((None, 3, 3, 12)) == (None, 3, 3, 4)
        clone = ChannelGroup.from_config(layer.get_config())
        assert (clone.groups, clone.index) == (3, index)
    # in a functional model: full-width symbolic shapes
    inputs = keras.Input((5, 5, 12))
    assert ChannelGroup(3, 2)(inputs).shape == (None, 5, 5, 4)
    assert ChannelShuffle(3)(inputs).shape == (None, 5, 5, 12)


def test_shuffle_layers_validate_arguments():
    for bad in (0, -3, 2.0, True, "3"):
        with pytest.raises(ValueError, match=f"`groups` must be a positive integer, got {bad!r}"):
            ChannelShuffle(bad)
        with pytest.raises(ValueError, match="`groups` must be a positive integer"):
            ChannelGroup(bad, 0)
    for bad in (3, -1, 1.0, None):
        with pytest.raises(ValueError, match=rf"`index` must be an integer in \[0, 3\), got {bad!r}"):
            ChannelGroup(3, bad)
    x = np.zeros((1, 2, 2, 10), "float32")
    with pytest.raises(ValueError, match="10 input channels cannot be split into 3"):
        ChannelShuffle(3)(x)
    with pytest.raises(ValueError, match="10 input channels cannot be split into 3"):
        ChannelGroup(3, 0)(x)
    with pytest.raises(ValueError, match="10 input channels cannot be split into 3"):
        ChannelGroup(3, 0)(keras.Input((2, 2, 10)))
    dynamic = tf.function(ChannelGroup(3, 1), input_signature=[tf.TensorSpec([None, None, None, None])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot be split into 3"):
        dynamic(x)
