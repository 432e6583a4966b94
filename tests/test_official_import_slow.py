"""Importing every official architecture: logits equal PyTorch's at 224² (slow: big models).

For each architecture a PyTorch reference of the official structure (our own code,
test_official_reference.py) with random weights and per-width BN statistics is saved in the
official checkpoint format, imported, and compared at every switch (S-Nets) or at listed
and calibrated off-list widths (US-MobileNet v2). US-MobileNet v1 is in the fast suite
(test_official_import.py).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import slimkeras  # noqa: E402
from slimkeras.official import archs  # noqa: E402
import test_official_reference as reference  # noqa: E402

TOLERANCE = 1e-4

pytestmark = pytest.mark.slow


def imported(arch_name, tmp_path, seed=0):
    arch = archs.get_arch(arch_name)
    fit_t, _ = reference.random_images(4, size=64, seed=3)
    model = reference.make_reference(arch_name, arch.widths, fit_t, seed=seed)
    path = tmp_path / arch.checkpoint
    reference.save_official(model, path)
    return arch, model, slimkeras.from_official_checkpoint(path, arch=arch_name)


def max_difference(keras_model, torch_model, width, index, images_t, images):
    want = reference.logits(torch_model, images_t, width, index)
    keras_model.set_width(width)
    got = keras_model(images, training=False).numpy()
    assert np.std(want) > 0.1  # not two near-constant outputs
    return float(np.max(np.abs(got - want)))


@pytest.mark.parametrize("arch_name", ["s_mobilenet_v1", "s_mobilenet_v2", "s_shufflenet", "s_resnet50"])
def test_s_net_equals_pytorch_at_every_switch(arch_name, tmp_path):
    arch, torch_model, model = imported(arch_name, tmp_path)
    images_t, images = reference.random_images(1, seed=1)
    for index, width in enumerate(arch.widths):
        assert max_difference(model, torch_model, width, index, images_t, images) <= TOLERANCE, width
    # the static model the exporter converts (padding layers, count-pad pools kept) is the same
    width = arch.widths[0]
    model.set_width(width)
    plain = slimkeras.materialize(model, width)
    assert np.max(np.abs(plain(images).numpy() - model(images, training=False).numpy())) <= 1e-5


def test_us_mobilenet_v2_equals_pytorch_at_listed_and_calibrated_widths(tmp_path):
    arch, torch_model, model = imported("us_mobilenet_v2", tmp_path)
    images_t, images = reference.random_images(1, seed=1)
    for width in (0.35, 0.375, 0.5, 0.75, 0.9, 1.0):
        index = arch.widths.index(width)
        assert max_difference(model, torch_model, width, index, images_t, images) <= TOLERANCE, width
    calib_t, calib = reference.random_images(4, seed=2)
    off_list = [0.41, 0.66]  # not in the checkpoint's list
    slimkeras.calibrate_bn(model, calib, widths=off_list, batch_size=4, verbose=0)
    for width in off_list:
        want = reference.calibrated_logits(torch_model, images_t, width, calib_t)
        model.set_width(width)
        got = model(images, training=False).numpy()
        assert np.max(np.abs(got - want)) <= TOLERANCE, width
