"""Slimmable convolution and depthwise convolution layers, and the base of every kernel layer:
full-size weights, sliced in `call`."""

import keras
import tensorflow as tf

from slimkeras.channels import active_channels
from slimkeras.checks import check_int
from slimkeras.layers.base import SlimmableLayer, channel_count, check_width_multiple
from slimkeras.layers.costs import conv_cost


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


def _spatial_arguments(kernel_size, strides, padding):
    """Validated (kernel_size, strides, padding) of a 2D convolution."""
    if padding not in ("same", "valid"):
        raise ValueError(f"`padding` must be 'same' or 'valid', got {padding!r}.")
    return _pair(kernel_size, "kernel_size"), _pair(strides, "strides"), padding


def _conv_output_size(size, kernel, stride, padding):
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _conv_output_shape(layer, input_shape, channels):
    h = _conv_output_size(input_shape[1], layer.kernel_size[0], layer.strides[0], layer.padding)
    w = _conv_output_size(input_shape[2], layer.kernel_size[1], layer.strides[1], layer.padding)
    return (input_shape[0], h, w, channels)


class SlimmableKernelLayer(SlimmableLayer):
    """What the slimmable convolution, depthwise convolution and dense layers share.

    A kernel allocated for the widest input and output, and an optional bias,
    both sliced in `call` to the active channels (output averaging, where a
    subclass allows it, scales the output by max/active input channels); the
    static form is the Keras layer of `_keras_layer` with the sliced weights.

    A subclass says how its kernel is shaped (`_kernel_shape`), applied
    (`_apply_kernel`) and sliced (`_slice_kernel`), how many outputs are
    active (`max_outputs`, `output_channels`, `_active_outputs`), which Keras
    layer is its static form (`_keras_layer`), and its `cost`.

    Args:
        use_bias: whether to add a bias (sliced like the output).
        kernel_initializer, bias_initializer, kernel_regularizer: for the
            kernel and the bias, as Keras' layers take them.
        stage: see SlimmableLayer.
    """

    output_averaging = False

    def __init__(self, use_bias=False, kernel_initializer="he_normal", bias_initializer="zeros",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        self.max_in = input_shape[-1]
        if self.max_in is None:
            raise ValueError(f"Layer '{self.name}' needs a known input channel count.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(self.max_in),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.max_outputs,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        active_in = channel_count(inputs)
        active_out = self._active_outputs(active_in)
        outputs = self._apply_kernel(inputs, self._slice_kernel(self.kernel, active_in, active_out))
        if self.output_averaging:  # max / active input channels (supplementary §1)
            outputs = outputs * (tf.cast(self.max_in, outputs.dtype) / tf.cast(active_in, outputs.dtype))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias if active_out is None else self.bias[:active_out])
        return outputs

    def static_layer(self, config, input_shape):
        in_channels = input_shape[-1]
        out_channels = self.output_channels(config.multiplier(self.stage), in_channels)
        layer = self._keras_layer(out_channels)
        layer.build(input_shape)
        kernel = self._slice_kernel(self.kernel.numpy(), in_channels, out_channels)
        if self.output_averaging:
            kernel = kernel * (self.max_in / in_channels)
        layer.set_weights([kernel] + ([self.bias.numpy()[:out_channels]] if self.use_bias else []))
        return layer

    def _slice_kernel(self, kernel, in_channels, out_channels):
        """The kernel (a variable or an array) cut to the active channels (None: all)."""
        return kernel[..., :in_channels, :out_channels]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


class SlicedOutputLayer(SlimmableKernelLayer):
    """A kernel layer whose output channels follow the width: SlimmableConv2D, SlimmableDense.

    Args:
        units: output channels at width 1.0.
        slice_output, channel_ratio, divisor, max_width, output_averaging: see
            SlimmableConv2D.
        **kwargs: SlimmableKernelLayer's.
    """

    def __init__(self, units, slice_output, channel_ratio, divisor, max_width, output_averaging, **kwargs):
        super().__init__(**kwargs)
        self.units_base = check_int(units, "filters/units")
        self.slice_output = bool(slice_output)
        self.channel_ratio = check_int(channel_ratio, "channel_ratio")
        self.divisor = check_int(divisor, "divisor")
        self.max_width = check_width_multiple(max_width, "max_width")
        self.output_averaging = bool(output_averaging)
        if self.slice_output:
            self.max_units = active_channels(
                self.units_base, self.max_width, self.channel_ratio, self.divisor
            )
        else:
            self.max_units = self.units_base

    @property
    def max_outputs(self):
        return self.max_units

    def active_units(self, multiplier):
        """Output channels at the (host-side) width multiplier of this layer's stage."""
        if not self.slice_output:
            return self.max_units
        return active_channels(
            self.units_base, multiplier, self.channel_ratio, self.divisor, self.max_units
        )

    def output_channels(self, multiplier, in_channels):
        return self.active_units(multiplier)

    def _active_outputs(self, active_in):
        """The active output channels in the graph, or None when the output is not sliced."""
        if not self.slice_output:
            return None
        return self.width_state.channels(
            self.units_base, self.stage, self.channel_ratio, self.divisor, self.max_units
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "slice_output": self.slice_output,
                "channel_ratio": self.channel_ratio,
                "divisor": self.divisor,
                "max_width": self.max_width,
                "output_averaging": self.output_averaging,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableConv2D(SlicedOutputLayer):
    """2D convolution whose input and output channels follow the model's width.

    The kernel is allocated at the largest width; `call` uses
    `kernel[:, :, :active_in, :active_out]`, where `active_in` is the channel
    count of the input tensor and `active_out` is
    `make_divisible(filters * w / channel_ratio, divisor) * channel_ratio`
    for the width multiplier `w` of the layer's stage. Its static form is a
    Keras `Conv2D`.

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
        super().__init__(
            filters, slice_output, channel_ratio, divisor, max_width, output_averaging,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer, **kwargs,
        )
        self.kernel_size, self.strides, self.padding = _spatial_arguments(kernel_size, strides, padding)

    @property
    def filters(self):
        return self.units_base

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.max_units)

    def _apply_kernel(self, inputs, kernel):
        return tf.nn.conv2d(
            inputs, kernel, strides=(1,) + self.strides + (1,), padding=self.padding.upper()
        )

    def _keras_layer(self, out_channels):
        return keras.layers.Conv2D(
            out_channels, self.kernel_size, strides=self.strides, padding=self.padding,
            use_bias=self.use_bias, name=self.name, dtype=self.dtype_policy,
        )

    def cost(self, input_shapes, output_shape):
        return conv_cost(self.kernel_size, input_shapes[0][-1], output_shape[-1], output_shape,
                         use_bias=self.use_bias)

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(self, input_shape, self.max_units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.units_base,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableDepthwiseConv2D(SlimmableKernelLayer):
    """Depthwise 2D convolution over however many channels its input has.

    The kernel is `[kh, kw, max_channels, 1]` and `call` uses its first
    `active_in` channels. Never output-averaged: each output of a depthwise
    convolution reads a single input channel. Its static form is a Keras
    `DepthwiseConv2D`.

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
        super().__init__(use_bias=use_bias, kernel_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.kernel_size, self.strides, self.padding = _spatial_arguments(kernel_size, strides, padding)

    @property
    def depthwise_initializer(self):
        return self.kernel_initializer

    @property
    def max_outputs(self):
        return self.max_in

    def output_channels(self, multiplier, in_channels):
        return in_channels

    def _active_outputs(self, active_in):
        return active_in

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, 1)

    def _slice_kernel(self, kernel, in_channels, out_channels):
        return kernel[..., :in_channels, :]

    def _apply_kernel(self, inputs, kernel):
        return tf.nn.depthwise_conv2d(
            inputs, kernel, strides=(1,) + self.strides + (1,), padding=self.padding.upper()
        )

    def _keras_layer(self, out_channels):
        return keras.layers.DepthwiseConv2D(
            self.kernel_size, strides=self.strides, padding=self.padding,
            use_bias=self.use_bias, name=self.name, dtype=self.dtype_policy,
        )

    def cost(self, input_shapes, output_shape):
        channels = input_shapes[0][-1]
        return conv_cost(self.kernel_size, channels, channels, output_shape, groups=channels,
                         use_bias=self.use_bias)

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(self, input_shape, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "depthwise_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
