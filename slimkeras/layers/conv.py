"""Slimmable convolution and dense layers: full-size weights, sliced in `call`."""

import keras
import tensorflow as tf

from slimkeras.channels import active_channels
from slimkeras.layers.base import SlimmableLayer, channel_count, check_positive_int, check_width_multiple


def _pair(value, name):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ValueError(f"`{name}` must be a positive int or a pair of them, got {value!r}.")
    return tuple(value)


def _conv_output_size(size, kernel, stride, padding):
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


class _SlicedOutputMixin:
    """Output-channel bookkeeping shared by SlimmableConv2D and SlimmableDense."""

    def _init_output(self, units, slice_output, channel_ratio, divisor, max_width, output_averaging):
        self.units_base = check_positive_int(units, "filters/units")
        self.slice_output = bool(slice_output)
        self.channel_ratio = check_positive_int(channel_ratio, "channel_ratio")
        self.divisor = check_positive_int(divisor, "divisor")
        self.max_width = check_width_multiple(max_width, "max_width")
        self.output_averaging = bool(output_averaging)
        if self.slice_output:
            self.max_units = active_channels(
                self.units_base, self.max_width, self.channel_ratio, self.divisor
            )
        else:
            self.max_units = self.units_base

    def active_units(self, multiplier):
        """Output channels at the (host-side) width multiplier of this layer's stage."""
        if not self.slice_output:
            return self.max_units
        return active_channels(
            self.units_base, multiplier, self.channel_ratio, self.divisor, self.max_units
        )

    def _active_units_tensor(self):
        return self.width_state.channels(
            self.units_base, self.stage, self.channel_ratio, self.divisor, self.max_units
        )

    def _averaging_scale(self, active_in, dtype):
        """max input channels / active input channels (supplementary §1)."""
        return tf.cast(self.max_in, dtype) / tf.cast(active_in, dtype)

    def _output_config(self):
        return {
            "slice_output": self.slice_output,
            "channel_ratio": self.channel_ratio,
            "divisor": self.divisor,
            "max_width": self.max_width,
            "output_averaging": self.output_averaging,
        }


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableConv2D(_SlicedOutputMixin, SlimmableLayer):
    """2D convolution whose input and output channels follow the model's width.

    The kernel is allocated at the largest width; `call` uses
    `kernel[:, :, :active_in, :active_out]`, where `active_in` is the channel
    count of the input tensor and `active_out` is
    `make_divisible(filters * w / channel_ratio, divisor) * channel_ratio`
    for the width multiplier `w` of the layer's stage.

    Args:
        filters: output channels at width 1.0.
        kernel_size: int or pair.
        strides: int or pair.
        padding: "same" or "valid".
        use_bias: whether to add a bias (sliced like the output).
        slice_output: False for layers that keep all outputs at every width
            (e.g. MobileNet v2's last 1x1 conv); their input is still sliced.
        channel_ratio: the `ratio` of the official code: output channels are a
            multiple of it (MobileNet v2's expansion layers use the expand ratio).
        divisor: channel counts are rounded to multiples of it (8 as the
            official code; 1 rounds to the nearest integer).
        max_width: the largest width the layer runs at; weights are allocated
            for it (e.g. 2.0 for ShuffleNet 2.0x).
        stage: 1-based stage whose ratio scales this layer (nonuniform widths).
        output_averaging: multiply the output by max/active input channels.
        kernel_initializer, bias_initializer, kernel_regularizer: as Keras' Conv2D.

    Example:

    ```python
    x = keras.Input((32, 32, 3))
    y = slimkeras.layers.SlimmableConv2D(64, 3, strides=2)(x)
    model = slimkeras.SlimmableModel(x, y, width_spec=WidthSpec(width_range=(0.25, 1.0)))
    model.set_width(0.5)  # the conv now computes 32 channels
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        use_bias=False,
        slice_output=True,
        channel_ratio=1,
        divisor=8,
        max_width=1.0,
        output_averaging=False,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_output(filters, slice_output, channel_ratio, divisor, max_width, output_averaging)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        if padding not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same' or 'valid', got {padding!r}.")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    @property
    def filters(self):
        return self.units_base

    def build(self, input_shape):
        self.max_in = input_shape[-1]
        if self.max_in is None:
            raise ValueError(f"Layer '{self.name}' needs a known input channel count.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.max_in, self.max_units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.max_units,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        active_in = channel_count(inputs)
        if self.slice_output:
            active_out = self._active_units_tensor()
            kernel = self.kernel[:, :, :active_in, :active_out]
        else:
            kernel = self.kernel[:, :, :active_in, :]
        outputs = tf.nn.conv2d(
            inputs, kernel, strides=(1,) + self.strides + (1,), padding=self.padding.upper()
        )
        if self.output_averaging:
            outputs = outputs * self._averaging_scale(active_in, outputs.dtype)
        if self.use_bias:
            bias = self.bias[:active_out] if self.slice_output else self.bias
            outputs = tf.nn.bias_add(outputs, bias)
        return outputs

    def compute_output_shape(self, input_shape):
        h = _conv_output_size(input_shape[1], self.kernel_size[0], self.strides[0], self.padding)
        w = _conv_output_size(input_shape[2], self.kernel_size[1], self.strides[1], self.padding)
        return (input_shape[0], h, w, self.max_units)

    def get_config(self):
        config = super().get_config()
        config.update(self._output_config())
        config.update(
            {
                "filters": self.units_base,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableDepthwiseConv2D(SlimmableLayer):
    """Depthwise 2D convolution over however many channels its input has.

    The kernel is `[kh, kw, max_channels, 1]` and `call` uses its first
    `active_in` channels. Never output-averaged: each output of a depthwise
    convolution reads a single input channel.

    Args:
        kernel_size, strides, padding, use_bias: as Keras' DepthwiseConv2D
            (depth multiplier 1).
        depthwise_initializer, bias_initializer: as Keras' DepthwiseConv2D.

    Example:

    ```python
    y = slimkeras.layers.SlimmableDepthwiseConv2D(3, strides=2)(x)
    ```
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="same",
        use_bias=False,
        depthwise_initializer="he_normal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        if padding not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same' or 'valid', got {padding!r}.")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = keras.initializers.get(depthwise_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.max_in = input_shape[-1]
        if self.max_in is None:
            raise ValueError(f"Layer '{self.name}' needs a known input channel count.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.max_in, 1),
            initializer=self.depthwise_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.max_in,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        active = channel_count(inputs)
        outputs = tf.nn.depthwise_conv2d(
            inputs,
            self.kernel[:, :, :active, :],
            strides=(1,) + self.strides + (1,),
            padding=self.padding.upper(),
        )
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias[:active])
        return outputs

    def compute_output_shape(self, input_shape):
        h = _conv_output_size(input_shape[1], self.kernel_size[0], self.strides[0], self.padding)
        w = _conv_output_size(input_shape[2], self.kernel_size[1], self.strides[1], self.padding)
        return (input_shape[0], h, w, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "depthwise_initializer": keras.initializers.serialize(self.depthwise_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableDense(_SlicedOutputMixin, SlimmableLayer):
    """Dense layer that reads however many features its input has.

    By default only the input is sliced (the classifier of a slimmable
    network keeps all its classes); `slice_output=True` slices the units too.

    Args:
        units: output units at width 1.0.
        use_bias: whether to add a bias.
        slice_output, channel_ratio, divisor, max_width, stage,
        output_averaging: as SlimmableConv2D.
        kernel_initializer, bias_initializer, kernel_regularizer: as Keras' Dense.

    Example:

    ```python
    logits = slimkeras.layers.SlimmableDense(10)(pooled_features)
    ```
    """

    def __init__(
        self,
        units,
        use_bias=True,
        slice_output=False,
        channel_ratio=1,
        divisor=8,
        max_width=1.0,
        output_averaging=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_output(units, slice_output, channel_ratio, divisor, max_width, output_averaging)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    @property
    def units(self):
        return self.units_base

    def build(self, input_shape):
        self.max_in = input_shape[-1]
        if self.max_in is None:
            raise ValueError(f"Layer '{self.name}' needs a known input feature count.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.max_in, self.max_units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.max_units,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        active_in = channel_count(inputs)
        if self.slice_output:
            active_out = self._active_units_tensor()
            kernel = self.kernel[:active_in, :active_out]
        else:
            kernel = self.kernel[:active_in, :]
        outputs = tf.matmul(inputs, kernel)
        if self.output_averaging:
            outputs = outputs * self._averaging_scale(active_in, outputs.dtype)
        if self.use_bias:
            outputs = outputs + (self.bias[:active_out] if self.slice_output else self.bias)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.max_units,)

    def get_config(self):
        config = super().get_config()
        config.update(self._output_config())
        config.update(
            {
                "units": self.units_base,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
