"""MACs and parameters of a layer from its active shapes, as the official profiler counts.

Convolutions count Cin·Cout·k²·Hout·Wout / groups, dense layers in·out (bias
ignored), average pooling C·H·W of its input; parameters are the weights in
use (kernels, biases) plus gamma and beta (2·C) of each BN. Slimmable layers
answer with their `cost` method; Keras' own layers by the rules below; every
other layer counts nothing.
"""

import collections
import functools

import keras
import numpy as np

from slimkeras.layers.base import SlimmableLayer

LayerCost = collections.namedtuple("LayerCost", ["kind", "macs", "params"])
LayerCost.__doc__ = """MACs and active parameters of one layer; `kind` is "conv", "linear",
"bn" or "avgpool" (what `profile` sums them into)."""


def conv_cost(kernel_size, in_channels, out_channels, output_shape, groups=1, use_bias=False):
    """A (grouped) 2D convolution's cost; `output_shape` is (batch, H, W, C)."""
    k = int(np.prod(kernel_size))
    h, w = output_shape[1:3]
    weights = k * in_channels * out_channels // groups
    return LayerCost("conv", weights * h * w, weights + (out_channels if use_bias else 0))


def dense_cost(in_features, units, use_bias=False):
    return LayerCost("linear", in_features * units, in_features * units + (units if use_bias else 0))


def batch_norm_cost(channels):
    return LayerCost("bn", 0, 2 * channels)


def average_pool_cost(input_shape):
    """C·H·W of the pool's input: one add per input value."""
    return LayerCost("avgpool", int(np.prod(input_shape[1:])), 0)


def _keras_conv(layer, input_shapes, output_shape):
    return conv_cost(layer.kernel_size, input_shapes[0][-1], output_shape[-1], output_shape,
                     layer.groups, layer.use_bias)


def _keras_depthwise(layer, input_shapes, output_shape):
    channels = input_shapes[0][-1]
    return conv_cost(layer.kernel_size, channels, output_shape[-1], output_shape, channels, layer.use_bias)


def _keras_dense(layer, input_shapes, output_shape):
    return dense_cost(input_shapes[0][-1], output_shape[-1], layer.use_bias)


def _keras_batch_norm(layer, input_shapes, output_shape):
    return batch_norm_cost(input_shapes[0][-1])


def _keras_average_pool(layer, input_shapes, output_shape):
    return average_pool_cost(input_shapes[0])


# Keras' own layers that cost something; a layer of any other type counts nothing.
KERAS_LAYER_COSTS = (
    (keras.layers.DepthwiseConv2D, _keras_depthwise),
    (keras.layers.Conv2D, _keras_conv),
    (keras.layers.Dense, _keras_dense),
    (keras.layers.BatchNormalization, _keras_batch_norm),
    ((keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D), _keras_average_pool),
)


def cost_function(layer):
    """How `layer` counts: a function `(input_shapes, output_shape) -> LayerCost or None`
    (its `cost` method for a slimmable layer, its type's rule for a Keras layer), or
    None for a layer that counts nothing whatever its shapes."""
    if isinstance(layer, SlimmableLayer):
        return layer.cost
    for types, rule in KERAS_LAYER_COSTS:
        if isinstance(layer, types):
            return functools.partial(rule, layer)
    return None
