"""MACs and active parameters per width, counted from the layers' shapes.

Counted as the official profiler does: convolutions (Cin·Cout·k²·Hout·Wout /
groups), dense layers (in·out, bias ignored) and average pooling (C·H·W of the
pool's input); BN, activations, max pooling, adds, concatenations and shuffles
count 0. Active parameters are the weights used at that width (sliced kernels,
biases) plus gamma and beta (2·C) of each BN that runs.
"""

import contextlib

import keras
import numpy as np

from slimkeras import layers as sl

_CONVS = (sl.SlimmableConv2D, keras.layers.Conv2D)
_DEPTHWISE = (sl.SlimmableDepthwiseConv2D, keras.layers.DepthwiseConv2D)
_DENSE = (sl.SlimmableDense, keras.layers.Dense)
_BN = (sl.SlimmableBatchNormBase, keras.layers.BatchNormalization)
_AVG_POOL = (keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D)


@contextlib.contextmanager
def width_of(model, width=None, stage_ratios=None, allow_untrained=False):
    """Runs the block at `width` (if given), then restores the model's width."""
    if width is None or not hasattr(model, "set_width"):
        yield model
        return
    with model.width_state.preserved():
        model.set_width(width, stage_ratios, allow_untrained=allow_untrained)
        yield model


def layer_shapes(model, width=None, stage_ratios=None, allow_untrained=False):
    """[(layer, input shapes, output shape)] of a batch-1 forward pass at `width`.

    Works on SlimmableModels and on plain functional Keras models.
    """
    counted = [l for l in model.layers if isinstance(l, _CONVS + _DEPTHWISE + _DENSE + _BN + _AVG_POOL)]
    with width_of(model, width, stage_ratios, allow_untrained):
        tensors = []
        for layer in counted:
            inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            tensors.append((inputs, layer.output))
        flat = [t for inputs, output in tensors for t in inputs + [output]]
        probe = keras.Model(model.inputs if len(model.inputs) > 1 else model.inputs[0], flat)
        dummy = [np.zeros((1,) + tuple(i.shape[1:]), i.dtype) for i in model.inputs]
        state = getattr(model, "width_state", None)
        # BN in statistics mode: no calibrated statistics needed, none changed.
        with state.statistics_pass() if state else contextlib.nullcontext():
            values = probe(dummy if len(dummy) > 1 else dummy[0], training=False)
    shapes, i = [], 0
    for layer, (inputs, _) in zip(counted, tensors):
        n = len(inputs)
        shapes.append((layer, [tuple(v.shape) for v in values[i:i + n]], tuple(values[i + n].shape)))
        i += n + 1
    return shapes


def count_layer(layer, input_shapes, output_shape):
    """(macs, params, kind) of one layer from its active shapes."""
    cin = input_shapes[0][-1]
    cout = output_shape[-1]
    bias = getattr(layer, "use_bias", False)
    if isinstance(layer, _DEPTHWISE):
        k = int(np.prod(layer.kernel_size))
        h, w = output_shape[1:3]
        return k * cin * h * w, k * cin + (cin if bias else 0), "conv"
    if isinstance(layer, _CONVS):
        k = int(np.prod(layer.kernel_size))
        h, w = output_shape[1:3]
        groups = getattr(layer, "groups", 1)
        return k * cin * cout * h * w // groups, k * cin * cout // groups + (cout if bias else 0), "conv"
    if isinstance(layer, _DENSE):
        return cin * cout, cin * cout + (cout if bias else 0), "linear"
    if isinstance(layer, _BN):
        return 0, 2 * cin, "bn"
    # average pooling: C·H·W of the input
    return int(np.prod(input_shapes[0][1:])), 0, "avgpool"


def profile(model, width=None, stage_ratios=None, allow_untrained=False):
    """MACs and active parameters of `model` at `width` (default: its current width).

    Returns a dict: `macs`, `params` (active, BN gamma/beta included),
    `params_without_bn`, `bn_params`, `conv_macs`, `linear_macs`,
    `avgpool_macs`, and `layers`: one dict per counted layer (name, kind,
    in/out channels, output size, macs, params) in model order.

    Example:

    ```python
    slimkeras.profile(model, 0.5)["macs"]
    ```
    """
    totals = {"conv": 0, "linear": 0, "avgpool": 0, "bn": 0}
    params = {"conv": 0, "linear": 0, "avgpool": 0, "bn": 0}
    rows = []
    for layer, input_shapes, output_shape in layer_shapes(model, width, stage_ratios, allow_untrained):
        macs, n_params, kind = count_layer(layer, input_shapes, output_shape)
        totals[kind] += macs
        params[kind] += n_params
        rows.append(
            {
                "name": layer.name,
                "kind": kind,
                "in": input_shapes[0][-1],
                "out": output_shape[-1],
                "out_hw": output_shape[1] if len(output_shape) == 4 else 1,
                "macs": macs,
                "params": n_params,
            }
        )
    return {
        "macs": totals["conv"] + totals["linear"] + totals["avgpool"],
        "conv_macs": totals["conv"],
        "linear_macs": totals["linear"],
        "avgpool_macs": totals["avgpool"],
        "params": sum(params.values()),
        "params_without_bn": params["conv"] + params["linear"],
        "bn_params": params["bn"],
        "layers": rows,
    }


def profile_table(model, widths, print_table=True):
    """`profile` at each width: a list of `{"width", "macs", "params"}` rows (and a printout)."""
    rows = []
    for w in widths:
        p = profile(model, w)
        rows.append({"width": w, "macs": p["macs"], "params": p["params"]})
    if print_table:
        print(f"{'width':>8} {'MACs (M)':>12} {'params (M)':>12}")
        for r in rows:
            print(f"{r['width']:>8g} {r['macs'] / 1e6:>12.2f} {r['params'] / 1e6:>12.3f}")
    return rows
