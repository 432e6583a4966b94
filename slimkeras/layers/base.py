"""The base class of slimmable layers: the width state of their model, their static form
and their cost at a width configuration."""

import keras
import tensorflow as tf

from slimkeras.checks import check_int


class SlimmableLayer(keras.layers.Layer):
    """A layer whose active size follows the width of the SlimmableModel it is in.

    The model binds its `WidthState` to every SlimmableLayer it contains when it
    is created; layers never hold the width themselves. Besides `call`, a
    slimmable layer answers for one `WidthConfig` what it is there:
    `static_layer` (a plain Keras layer with the sliced weights, which
    `slimkeras.materialize` assembles) and `cost` (what `slimkeras.profile`
    sums).

    Args:
        stage: optional 1-based stage number; nonuniform widths scale this
            layer's output channels by the stage's ratio (see
            `SlimmableModel.set_width(w, stage_ratios={...})`).
    """

    def __init__(self, stage=None, **kwargs):
        super().__init__(**kwargs)
        if stage is not None:
            check_int(stage, "stage")
        self.stage = stage
        self._width_state = None

    def bind_width_state(self, state):
        self._width_state = state

    @property
    def width_state(self):
        if self._width_state is None:
            raise RuntimeError(
                f"Layer '{self.name}' is not part of a SlimmableModel: slimmable layers "
                "read their width from the model. Build a slimkeras.SlimmableModel "
                "(or use a builder from slimkeras.models) around them."
            )
        return self._width_state

    def static_layer(self, config, input_shape):
        """The plain Keras layer that computes what this layer computes at `config`.

        Args:
            config: a validated `WidthConfig` of the model.
            input_shape: this layer's input shape at `config` (active channels).

        Returns:
            A built Keras layer of the same name holding the sliced weights.
        """
        raise NotImplementedError(f"materialize does not know how to convert layer '{self.name}'.")

    def cost(self, input_shapes, output_shape):
        """The `LayerCost` (MACs, active parameters) of this layer at the active shapes of
        a configuration (a list of input shapes, the output shape), or None when it
        counts nothing."""
        return None

    def get_config(self):
        config = super().get_config()
        config["stage"] = self.stage
        return config


def static_form(layer, config, input_shape):
    """The plain Keras layer computing what `layer` (any layer of a SlimmableModel) computes
    at `config`: a slimmable layer's `static_layer`, else a copy of `layer`."""
    if isinstance(layer, SlimmableLayer):
        return layer.static_layer(config, input_shape)
    copy = layer.__class__.from_config(layer.get_config())
    if layer.weights:
        copy.build(input_shape)
        copy.set_weights(layer.get_weights())
    return copy


def check_width_multiple(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    return float(value)


def channel_count(inputs):
    """The channel count of `inputs`: an int where the graph knows it (the input image,
    every layer of a width-specialised trace), else an int32 tensor (a width-dynamic
    trace, where it follows the width variable)."""
    static = inputs.shape[-1]
    return static if static is not None else tf.shape(inputs)[-1]
