"""What every architecture builder shares: width spec, BN choice, conv-BN-ReLU."""

import json

import keras
import tensorflow as tf

from slimkeras.checks import check_int
from slimkeras.layers import BATCH_NORMS, SlimmableConv2D, SlimmableDepthwiseConv2D
from slimkeras.model import DEFAULT_BN_SLOTS, SlimmableModel
from slimkeras.width import WidthSpec

SMALL_INPUT = 64  # inputs smaller than this (28x28, 32x32) get the small variant
PADDINGS = ("same", "symmetric")


class Builder:
    """Holds one builder call's choices and makes its layers.

    Args:
        width_mult_list: switch list (S-Nets, naive, individual).
        width_mult_range: `(lo, hi)` (US-Nets).
        bn: "switchable" | "universal" | "shared" (default: switchable for a
            switch list, universal for a range).
        input_shape, num_classes, output_averaging: as the builders'.
        num_bn_slots: BN statistics capacity (default: switches, or 32).
        padding: "same" (TensorFlow's: a stride-2 layer pads only bottom/right
            on even sizes) or "symmetric" (PyTorch's `padding=k // 2`: every
            side, by explicit `ZeroPadding2D` layers before "valid" strided
            layers; for weights imported from PyTorch, see `slimkeras.official`).
    """

    def __init__(self, name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                 output_averaging, num_bn_slots, padding="same"):
        builder_kwargs = dict(
            width_mult_list=width_mult_list, width_mult_range=width_mult_range, bn=bn,
            input_shape=list(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape,
            num_classes=num_classes, output_averaging=output_averaging, num_bn_slots=num_bn_slots,
        )
        if padding not in PADDINGS:
            raise ValueError(f"`padding` must be one of {list(PADDINGS)}, got {padding!r}.")
        if padding != "same":  # recorded only when not the default: older records stay equal
            builder_kwargs["padding"] = padding
        self.padding = padding
        if width_mult_list is None and width_mult_range is None:
            width_mult_list = [1.0]
        self.spec = WidthSpec(switches=width_mult_list, width_range=width_mult_range)
        if bn is None:
            bn = "universal" if self.spec.is_range else "switchable"
        if bn not in BATCH_NORMS:
            raise ValueError(f"`bn` must be one of {sorted(BATCH_NORMS)}, got {bn!r}.")
        if bn == "switchable" and self.spec.is_range:
            raise ValueError(
                "bn='switchable' needs a switch list (width_mult_list); a width range needs "
                "bn='universal' (or 'shared')."
            )
        if (
            not isinstance(input_shape, (tuple, list))
            or len(input_shape) != 3
            or not all(isinstance(d, int) and d > 0 for d in input_shape)
        ):
            raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
        check_int(num_classes, "num_classes")
        self.name = name
        self.bn = bn
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.output_averaging = bool(output_averaging)
        self.max_width = self.spec.max_width
        if num_bn_slots is None:
            num_bn_slots = len(self.spec.switches) if not self.spec.is_range else DEFAULT_BN_SLOTS
        if bn == "switchable":
            num_bn_slots = len(self.spec.switches)
        self.num_bn_slots = num_bn_slots
        self.small = min(input_shape[:2]) < SMALL_INPUT
        # JSON-normal form (lists, not tuples), so it equals itself after a .keras round trip.
        self.architecture = json.loads(json.dumps({"name": name, **builder_kwargs}))

    def _pad(self, x, kernel_size, strides, name):
        """(input, padding) of a layer: with symmetric padding, a strided layer reads an
        explicitly zero-padded input with "valid" padding (stride 1 "same" is symmetric)."""
        if self.padding == "symmetric" and strides > 1 and kernel_size > 1:
            return keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x), "valid"
        return x, "same"

    def conv(self, x, filters, kernel_size, strides=1, name=None, stage=None, slice_output=True,
             channel_ratio=1, divisor=8):
        x, padding = self._pad(x, kernel_size, strides, name)
        return SlimmableConv2D(
            filters, kernel_size, strides=strides, padding=padding, name=name, stage=stage,
            slice_output=slice_output, channel_ratio=channel_ratio, divisor=divisor,
            max_width=self.max_width, output_averaging=self.output_averaging,
            kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal"),
        )(x)

    def depthwise(self, x, strides=1, name=None, kernel_size=3):
        x, padding = self._pad(x, kernel_size, strides, name)
        return SlimmableDepthwiseConv2D(kernel_size, strides=strides, padding=padding, name=name)(x)

    def max_pool(self, x, pool_size, strides, name):
        """Max pooling with "same" output size (after a ReLU, so zero padding equals
        PyTorch's -inf padding in symmetric mode)."""
        x, padding = self._pad(x, pool_size, strides, name)
        return keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)

    def average_pool(self, x, pool_size, strides, name):
        """Average pooling with "same" output size: TensorFlow's (averages the valid
        pixels only) or, in symmetric mode, PyTorch's `AvgPool2d(k, s, k // 2)` (zero
        padding on every side, counted in the average)."""
        if self.padding == "symmetric":
            return ZeroPaddedAveragePooling2D(pool_size, strides, pool_size // 2, name=name)(x)
        return keras.layers.AveragePooling2D(pool_size, strides=strides, padding="same", name=name)(x)

    def norm(self, x, name):
        return BATCH_NORMS[self.bn](num_slots=self.num_bn_slots, name=name)(x)

    def model(self, inputs, outputs, num_stages):
        return SlimmableModel(
            inputs, outputs, width_spec=self.spec, num_stages=num_stages,
            num_bn_slots=self.num_bn_slots, architecture=self.architecture, name=self.name,
        )


@keras.saving.register_keras_serializable(package="slimkeras")
class ZeroPaddedAveragePooling2D(keras.layers.AveragePooling2D):
    """PyTorch's `AvgPool2d(pool_size, strides, pad)` (count_include_pad=True).

    Zero-pads `pad` pixels on every side, then averages each window, the
    padded zeros included (always divided by the window size). A subclass of
    Keras' AveragePooling2D, so profiling counts it as an average pool of its
    (unpadded) input and `materialize` keeps it as it is.

    Args:
        pool_size: int or pair.
        strides: int or pair.
        pad: pixels of zeros on each side.

    Example:

    ```python
    y = ZeroPaddedAveragePooling2D(3, 2, 1)(x)  # (1, 28, 28, C) -> (1, 14, 14, C)
    ```
    """

    def __init__(self, pool_size, strides, pad, **kwargs):
        kwargs.pop("padding", None)  # always "valid" on the padded input (config round trip)
        super().__init__(pool_size=pool_size, strides=strides, padding="valid", **kwargs)
        check_int(pad, "pad", minimum=0)
        self.pad = pad

    def call(self, inputs):
        p = self.pad
        return super().call(tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]]))

    def compute_output_shape(self, input_shape):
        grown = [None if d is None else d + 2 * self.pad for d in input_shape[1:3]]
        return super().compute_output_shape((input_shape[0], *grown, input_shape[3]))

    def get_config(self):
        config = super().get_config()
        config["pad"] = self.pad
        return config
