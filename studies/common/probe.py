"""Running a switchable-BN network at widths it was not trained for: a universal-BN copy of its
weights with the BN gamma/beta of one switch."""

import slimkeras
from slimkeras.layers import SlimmableBatchNormBase
from studies.common.study import RANGE


def nearest_switch(switches, w):
    """Index of the switch nearest to `w` (ties go to the wider one)."""
    return min(range(len(switches)), key=lambda i: (abs(switches[i] - w), -switches[i]))


def probe_model(net, affine_switch=None):
    """A universal-BN copy of `net` that runs (after calibration) at any width in [0.25, 1.0].

    For networks whose BN cannot serve untrained widths (switchable BN: individual networks and
    S-Nets). Convolution and dense weights are copied; BN gamma/beta are the private ones of
    `affine_switch` (index of the switch; default the only/last one). Statistics come from
    calibration.

    Args:
        net: a trained `SlimmableModel` (a MobileNet v1).
        affine_switch: see above.
    """
    arch = dict(net.architecture)
    probe = slimkeras.models.mobilenet_v1(
        width_mult_range=RANGE, bn="universal", input_shape=tuple(arch["input_shape"]),
        num_classes=arch["num_classes"], output_averaging=arch["output_averaging"],
    )
    set_probe_affine(probe, net, affine_switch, copy_kernels=True)
    return probe


def set_probe_affine(probe, net, affine_switch=None, copy_kernels=False):
    """Copies into `probe` the BN gamma/beta of `net`'s switch `affine_switch` (default the last),
    and with `copy_kernels` every other weight too.

    Args:
        probe: from `probe_model`.
        net: the network it copies.
        affine_switch: index of the switch whose private gamma/beta serve.
        copy_kernels: also copy the convolution and dense weights.
    """
    index = len(net.width_spec.switches) - 1 if affine_switch is None else affine_switch
    switch = slimkeras.WidthConfig(net.width_spec.switches[index])
    for layer in net.layers:
        if not layer.weights:
            continue
        target = probe.get_layer(layer.name)
        if isinstance(layer, SlimmableBatchNormBase):
            gamma, beta, _, _ = layer.parameters(switch)
            target.gamma.assign(gamma)
            target.beta.assign(beta)
        elif copy_kernels and layer.weights:
            for src, dst in zip(layer.weights, target.weights):
                dst.assign(src)
