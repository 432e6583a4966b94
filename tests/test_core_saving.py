""".keras files: weights and calibrated statistics round-trip, older files load."""

from pathlib import Path

import keras
import numpy as np
import pytest

import slimkeras
from slimkeras import WidthConfig

from core_stack import small_stack, randomize, IMAGES, SWITCHES


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
