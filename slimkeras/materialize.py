"""Materialization: a plain Keras model of standard layers at one width."""

import keras
import numpy as np

from slimkeras import layers as sl
from slimkeras.model import SlimmableModel


def materialize(model, width=None, stage_ratios=None, allow_untrained=False, name=None):
    """Returns a plain Keras model equal to `model` at `width`, with no slimmable layer left.

    Slimmable convolutions, depthwise convolutions and dense layers become
    Keras' Conv2D, DepthwiseConv2D and Dense with the sliced weights (output
    averaging folded into the kernels); slimmable BNs become
    BatchNormalization with that width's gamma, beta and statistics. Its
    inference outputs equal the slimmable model's at that width.

    Args:
        model: a `SlimmableModel`.
        width: the width (default: the model's current width).
        stage_ratios: optional `{stage: ratio}` (nonuniform widths).
        allow_untrained: see `SlimmableModel.set_width`.
        name: the new model's name (default `{model.name}_w{width}`).

    Raises:
        ValueError: a width outside the model's spec, or one without
            calibrated BN statistics (universal BN).

    Example:

    ```python
    plain = slimkeras.materialize(model, 0.5)
    plain.export("w0.5", format="litert")
    ```
    """
    if not isinstance(model, SlimmableModel):
        raise ValueError(f"materialize needs a slimkeras SlimmableModel, got {type(model).__name__}.")
    if width is None:
        w, ratios = model.config_of()
    else:
        w, ratios = model.config_of(width, stage_ratios, allow_untrained)
    state = model.width_state
    with state.preserved():
        state.assign(w, ratios)
        model.check_inference_width()
    slot = state.find_slot(w, ratios)
    multipliers = [w] + [w * r for r in ratios]  # index 0: no stage

    def multiplier(layer):
        return multipliers[layer.stage or 0]

    def clone(layer):
        if isinstance(layer, sl.SlimmableConv2D):
            return keras.layers.Conv2D(
                layer.active_units(multiplier(layer)), layer.kernel_size, strides=layer.strides,
                padding=layer.padding, use_bias=layer.use_bias, name=layer.name,
            )
        if isinstance(layer, sl.SlimmableDepthwiseConv2D):
            return keras.layers.DepthwiseConv2D(
                layer.kernel_size, strides=layer.strides, padding=layer.padding,
                use_bias=layer.use_bias, name=layer.name,
            )
        if isinstance(layer, sl.SlimmableDense):
            return keras.layers.Dense(
                layer.active_units(multiplier(layer)), use_bias=layer.use_bias, name=layer.name
            )
        if isinstance(layer, sl.SlimmableBatchNormBase):
            return keras.layers.BatchNormalization(
                momentum=layer.momentum, epsilon=layer.epsilon, name=layer.name
            )
        if isinstance(layer, sl.SlimmableLayer):
            raise ValueError(f"materialize does not know how to convert layer '{layer.name}'.")
        return layer.__class__.from_config(layer.get_config())

    inputs = [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t._keras_history.operation.name)
        for t in model.inputs
    ]
    outputs = model._run_through_graph(
        inputs if len(inputs) > 1 else inputs[0], operation_fn=clone
    )
    plain = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs,
                        name=name or f"{model.name}_w{w:g}")
    for layer in model.layers:
        _copy_weights(layer, plain.get_layer(layer.name), slot)
    return plain


def _copy_weights(source, target, slot):
    if isinstance(source, (sl.SlimmableConv2D, sl.SlimmableDense)):
        shape = target.kernel.shape
        cin, cout = shape[-2], shape[-1]
        kernel = source.kernel.numpy()[..., :cin, :cout]
        if source.output_averaging:
            kernel = kernel * (source.max_in / cin)
        weights = [kernel] + ([source.bias.numpy()[:cout]] if source.use_bias else [])
        target.set_weights(weights)
    elif isinstance(source, sl.SlimmableDepthwiseConv2D):
        c = target.kernel.shape[2]
        weights = [source.kernel.numpy()[:, :, :c, :]]
        if source.use_bias:
            weights.append(source.bias.numpy()[:c])
        target.set_weights(weights)
    elif isinstance(source, sl.SlimmableBatchNormBase):
        c = target.gamma.shape[0]
        gamma, beta = source.gamma.numpy(), source.beta.numpy()
        if source.private_affine:
            gamma, beta = gamma[slot], beta[slot]
        mean, var = source.statistics(slot)
        target.set_weights([gamma[:c], beta[:c], mean[:c], var[:c]])
    elif source.weights:
        target.set_weights([np.asarray(v) for v in source.get_weights()])
