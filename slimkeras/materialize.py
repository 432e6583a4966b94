"""Materialization: a plain Keras model of standard layers at one width."""

import keras

from slimkeras.layers import static_form
from slimkeras.model import SlimmableModel


def materialize(model, width=None, stage_ratios=None, allow_untrained=False, name=None):
    """Returns a plain Keras model equal to `model` at `width`, with no slimmable layer left.

    Every layer is replaced by its static form at that width (see
    `SlimmableLayer.static_layer`): slimmable convolutions, depthwise
    convolutions and dense layers become Keras' Conv2D, DepthwiseConv2D and
    Dense with the sliced weights (output averaging folded into the kernels);
    slimmable BNs become BatchNormalization with that width's gamma, beta and
    statistics; other layers are copied. Its inference outputs equal the
    slimmable model's at that width.

    Args:
        model: a `SlimmableModel`.
        width: the width, or a `WidthConfig` (default: the model's current width).
        stage_ratios: optional `{stage: ratio}` (nonuniform widths).
        allow_untrained: see `SlimmableModel.set_width`.
        name: the new model's name (default `{model.name}_w{width}`).

    Raises:
        ValueError: a width outside the model's spec, or one without
            calibrated BN statistics (universal BN).

    Example:

    ```python
    plain = slimkeras.materialize(model, 0.5)
    plain.export("w0.5.tflite", format="litert")
    ```
    """
    if not isinstance(model, SlimmableModel):
        raise ValueError(f"materialize needs a slimkeras SlimmableModel, got {type(model).__name__}.")
    config = model.width_config(width, stage_ratios, allow_untrained)
    model.check_inference_width(config)

    def call_static_form(layer, *args, **kwargs):
        input_shape = keras.tree.map_structure(lambda tensor: tuple(tensor.shape), args[0])
        return static_form(layer, config, input_shape)(*args, **kwargs)

    # A plain functional view of the same graph: cloning it makes a plain model (and
    # does not compile the copy as cloning a compiled model would).
    view = keras.Model(model.input, model.output, name=name or f"{model.name}_w{config.width:g}")
    return keras.models.clone_model(view, input_tensors=_new_inputs(model), clone_function=lambda layer: layer,
                                    call_function=call_static_form)


def _new_inputs(model):
    """Inputs like the model's, named as its input layers."""
    names = {id(layer.output): layer.name for layer in model.layers
             if isinstance(layer, keras.layers.InputLayer)}
    return keras.tree.map_structure(
        lambda tensor: keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=names[id(tensor)]),
        model.input,
    )
