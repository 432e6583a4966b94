"""slimkeras.evaluate_widths: the one calibrate -> top-1 -> MACs service every tool uses."""

import numpy as np
import pytest

import slimkeras

X = np.random.default_rng(0).normal(size=(96, 12, 12, 1)).astype("float32")
Y = np.arange(96) % 5


def us_net(slots):
    return slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(12, 12, 1), num_classes=5,
                                         num_bn_slots=slots)


def test_more_widths_than_bn_slots_are_calibrated_in_turns_and_match_one_at_a_time():
    widths = [0.25, 0.4, (0.55, {2: 0.5}), 0.7, 1.0]
    net = us_net(2)
    rows = slimkeras.evaluate_widths(net, (X, Y), widths, calibration_data=X, calibration_images=64)
    assert [r["width"] for r in rows] == [0.25, 0.4, 0.55, 0.7, 1.0]
    top1 = slimkeras.evaluation.calibrated_top1(net, (X, Y), widths, calibration_data=X, calibration_images=64)
    assert top1 == [r["top1"] for r in rows]  # the same service without the MACs
    assert rows[2]["stage_ratios"] == {2: 0.5} and "stage_ratios" not in rows[0]
    for config, row in zip(widths, rows):
        width, ratios = config if isinstance(config, tuple) else (config, None)
        slimkeras.calibrate_bn(net, X, widths=[config], num_images=64, clear=True, verbose=0)
        assert row["top1"] == slimkeras.evaluate_top1(net, (X, Y), [config])[0]
        assert row["macs"] == slimkeras.profile(net, width, ratios)["macs"]
        assert isinstance(row["macs"], int) and isinstance(row["params"], int)


def test_without_calibration_data_the_models_statistics_are_used():
    net = us_net(4)
    with pytest.raises(ValueError, match="no calibrated BN statistics"):
        slimkeras.evaluate_widths(net, (X, Y), [0.5])
    slimkeras.calibrate_bn(net, X, widths=[0.5], verbose=0)
    assert len(slimkeras.evaluate_widths(net, (X, Y), [0.5])) == 1


def test_a_dict_of_splits_is_evaluated_after_one_calibration_as_each_split_alone():
    net = us_net(2)
    val, test = (X[:48], Y[:48]), (X[48:], Y[48:])
    widths = [slimkeras.WidthConfig(0.4), slimkeras.WidthConfig(1.0, {1: 0.5}), 0.7]
    rows = slimkeras.evaluate_widths(net, {"val": val, "test": test}, widths, calibration_data=X,
                                     calibration_images=64)
    assert rows[1]["width"] == 1.0 and rows[1]["stage_ratios"] == {1: 0.5} and "top1" not in rows[0]
    for name, split in (("val", val), ("test", test)):
        alone = slimkeras.evaluate_widths(net, split, widths, calibration_data=X, calibration_images=64)
        assert [r[f"{name}_top1"] for r in rows] == [r["top1"] for r in alone]
        assert [r["macs"] for r in rows] == [r["macs"] for r in alone]
    assert len({r["val_top1"] for r in rows} | {r["test_top1"] for r in rows}) > 1  # not one constant
