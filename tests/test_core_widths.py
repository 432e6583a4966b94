"""Widths as users give them: validation, stage ratios, WidthSpec and WidthConfig."""

import json
import pickle

import keras
import numpy as np
import pytest

import slimkeras
from slimkeras import WidthConfig, WidthSpec, active_channels

from core_stack import small_stack, randomize, IMAGES, SWITCHES


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

def test_width_spec_validation():
    for kwargs in [dict(), dict(switches=[]), dict(width_range=(1.0, 0.5)),
                   dict(switches=[0.5, 0.5]), dict(width_range=(0, 1)), dict(switches=[0.5], width_range=(0.1, 1))]:
        with pytest.raises(ValueError):
            WidthSpec(**kwargs)
    assert WidthSpec(switches=[1.0, 0.25]).switches == [0.25, 1.0]

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
