"""What every architecture builder shares: width spec, BN choice, conv-BN-ReLU."""

import json

import keras

from slimkeras.layers import BATCH_NORMS, SlimmableConv2D, SlimmableDepthwiseConv2D
from slimkeras.model import DEFAULT_BN_SLOTS, SlimmableModel
from slimkeras.width import WidthSpec

SMALL_INPUT = 64  # inputs smaller than this (28x28, 32x32) get the small variant


class Builder:
    """Holds one builder call's choices and makes its layers.

    Args:
        width_mult_list: switch list (S-Nets, naive, individual).
        width_mult_range: `(lo, hi)` (US-Nets).
        bn: "switchable" | "universal" | "shared" (default: switchable for a
            switch list, universal for a range).
        input_shape, num_classes, output_averaging: as the builders'.
        num_bn_slots: BN statistics capacity (default: switches, or 32).
    """

    def __init__(self, name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                 output_averaging, num_bn_slots):
        builder_kwargs = dict(
            width_mult_list=width_mult_list, width_mult_range=width_mult_range, bn=bn,
            input_shape=list(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape,
            num_classes=num_classes, output_averaging=output_averaging, num_bn_slots=num_bn_slots,
        )
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
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
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

    def conv(self, x, filters, kernel_size, strides=1, name=None, stage=None, slice_output=True,
             channel_ratio=1, divisor=8, padding="same"):
        return SlimmableConv2D(
            filters, kernel_size, strides=strides, padding=padding, name=name, stage=stage,
            slice_output=slice_output, channel_ratio=channel_ratio, divisor=divisor,
            max_width=self.max_width, output_averaging=self.output_averaging,
            kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal"),
        )(x)

    def depthwise(self, x, strides=1, name=None, kernel_size=3):
        return SlimmableDepthwiseConv2D(kernel_size, strides=strides, name=name)(x)

    def norm(self, x, name):
        return BATCH_NORMS[self.bn](num_slots=self.num_bn_slots, name=name)(x)

    def model(self, inputs, outputs, num_stages):
        return SlimmableModel(
            inputs, outputs, width_spec=self.spec, num_stages=num_stages,
            num_bn_slots=self.num_bn_slots, architecture=self.architecture, name=self.name,
        )
