"""MACs and active parameters per width, counted from the layers' active shapes.

Counted as the official profiler does (see `slimkeras.layers.costs`):
convolutions (Cin·Cout·k²·Hout·Wout / groups), dense layers (in·out, bias
ignored) and average pooling (C·H·W of the pool's input); BN, activations,
max pooling, adds, concatenations and shuffles count 0. Active parameters are
the weights used at that width (sliced kernels, biases) plus gamma and beta
(2·C) of each BN that runs. Each layer counts itself (`SlimmableLayer.cost`,
or the rule of its Keras type).
"""

import collections
import contextlib

import keras
import numpy as np
import tensorflow as tf

from slimkeras import _compat
from slimkeras.layers import cost_function
from slimkeras.layers.conv import SlicedOutputLayer
from slimkeras.width import WidthConfig


@contextlib.contextmanager
def width_of(model, width=None, stage_ratios=None, allow_untrained=False):
    """Runs the block at `width` (if given), then restores the model's width."""
    if width is None or not hasattr(model, "set_width"):
        yield model
        return
    with model.width_state.preserved():
        model.set_width(width, stage_ratios, allow_untrained=allow_untrained)
        yield model


def producers(model):
    """{id(tensor): layer} of a functional model: the layer whose output each symbolic
    tensor is (inputs: their InputLayer), from public attributes (each layer called once)."""
    return {id(layer.output): layer for layer in model.layers}


def sliced_layers(model):
    """The layers whose output channels follow the width (every other layer's follow its
    input), nested ones too."""
    return [layer for layer in _compat.flatten_layers(model) if isinstance(layer, SlicedOutputLayer)]


def channel_counts(model, config, layers=None):
    """The active output channels of every sliced layer at `config` (a `WidthConfig`), from
    the layers' channel rule (no forward pass): configurations with equal counts run the same
    network, up to BN statistics. `layers`: `sliced_layers(model)`, if already at hand."""
    layers = sliced_layers(model) if layers is None else layers
    return tuple(int(layer.active_units(config.multiplier(layer.stage))) for layer in layers)


def layer_shapes(model, width=None, stage_ratios=None, allow_untrained=False):
    """[(layer, input shapes, output shape)] of a batch-1 forward pass at `width`, for
    every layer that can count something.

    Works on SlimmableModels and on plain functional Keras models.
    """
    config = None if width is None else (width, stage_ratios)
    return layer_shapes_at(model, [config], allow_untrained)[0]


def layer_shapes_at(model, configs, allow_untrained=False):
    """`layer_shapes` at each of `configs` (widths, `(width, stage_ratios)` pairs or
    WidthConfigs; None: the current width). With more than two, the forward pass is traced
    once and run per configuration (the width is a variable the graph reads)."""
    counted = [layer for layer in model.layers if cost_function(layer) is not None]
    tensors = []
    for layer in counted:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        tensors.append((inputs, layer.output))
    flat = [t for inputs, output in tensors for t in inputs + [output]]
    probe = keras.Model(model.inputs if len(model.inputs) > 1 else model.inputs[0], flat)
    dummy = [np.zeros((1,) + tuple(i.shape[1:]), i.dtype) for i in model.inputs]
    forward = tf.function(probe) if len(configs) > 2 else probe
    state = getattr(model, "width_state", None)
    results = []
    for config in configs:
        width, ratios = config if isinstance(config, tuple) else (config, None)
        with width_of(model, width, ratios, allow_untrained):
            # BN in statistics mode: no calibrated statistics needed, none changed.
            with state.statistics_pass() if state else contextlib.nullcontext():
                values = forward(dummy if len(dummy) > 1 else dummy[0], training=False)
        results.append(_shapes(counted, tensors, values))
    return results


def _shapes(counted, tensors, values):
    shapes, i = [], 0
    for layer, (inputs, _) in zip(counted, tensors):
        n = len(inputs)
        shapes.append((layer, [tuple(v.shape) for v in values[i:i + n]], tuple(values[i + n].shape)))
        i += n + 1
    return shapes


def active_bn_channels(model, configs):
    """[{BN layer name: active channels}] of a SlimmableModel at each of `configs` (any width
    up to the largest: BN runs on batch statistics, so no calibration is needed)."""
    from slimkeras.layers import SlimmableBatchNormBase

    return [{layer.name: int(output[-1]) for layer, _, output in shapes
             if isinstance(layer, SlimmableBatchNormBase)}
            for shapes in layer_shapes_at(model, configs, allow_untrained=True)]


def profile(model, width=None, stage_ratios=None, allow_untrained=False):
    """MACs and active parameters of `model` at `width` (default: its current width).

    Args:
        model: a SlimmableModel, or a plain functional Keras model (no width).
        width: a width or a `WidthConfig`; stage_ratios, allow_untrained: as
            `SlimmableModel.set_width`.

    Returns a dict: `macs`, `params` (active, BN gamma/beta included),
    `params_without_bn`, `bn_params`, `conv_macs`, `linear_macs`,
    `avgpool_macs`, and `layers`: one dict per counted layer (name, kind,
    in/out channels, output size, macs, params) in model order.

    Example:

    ```python
    slimkeras.profile(model, 0.5)["macs"]
    ```
    """
    macs, params = collections.Counter(), collections.Counter()
    rows = []
    for layer, input_shapes, output_shape in layer_shapes(model, width, stage_ratios, allow_untrained):
        cost = cost_function(layer)(input_shapes, output_shape)
        if cost is None:
            continue
        macs[cost.kind] += cost.macs
        params[cost.kind] += cost.params
        rows.append(
            {
                "name": layer.name,
                "kind": cost.kind,
                "in": input_shapes[0][-1],
                "out": output_shape[-1],
                "out_hw": output_shape[1] if len(output_shape) == 4 else 1,
                "macs": cost.macs,
                "params": cost.params,
            }
        )
    return {
        "macs": sum(macs.values()),
        "conv_macs": macs["conv"],
        "linear_macs": macs["linear"],
        "avgpool_macs": macs["avgpool"],
        "params": sum(params.values()),
        "params_without_bn": sum(params.values()) - params["bn"],
        "bn_params": params["bn"],
        "layers": rows,
    }


def profile_table(model, widths, print_table=True):
    """`profile` at each width (a number or a WidthConfig): a list of `{"width", "macs",
    "params"}` rows (and a printout)."""
    rows = []
    for w in widths:
        p = profile(model, w)
        rows.append({"width": w, "macs": p["macs"], "params": p["params"]})
    if print_table:
        print(f"{'width':>8} {'MACs (M)':>12} {'params (M)':>12}")
        for r in rows:
            print(f"{WidthConfig.parse(r['width']).describe():>8} {r['macs'] / 1e6:>12.2f} "
                  f"{r['params'] / 1e6:>12.3f}")
    return rows
