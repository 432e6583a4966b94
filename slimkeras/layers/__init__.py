"""Slimmable Keras layers."""

from slimkeras.layers.base import SlimmableLayer, static_form
from slimkeras.layers.batch_norm import (
    BNParameters,
    SharedBatchNormalization,
    SlimmableBatchNormBase,
    SwitchableBatchNormalization,
    UniversalBatchNormalization,
)
from slimkeras.layers.conv import SlimmableConv2D, SlimmableDepthwiseConv2D, SlimmableKernelLayer
from slimkeras.layers.dense import SlimmableDense
from slimkeras.layers.costs import LayerCost, cost_function
from slimkeras.layers.shuffle import ChannelGroup, ChannelShuffle

BATCH_NORMS = {
    "switchable": SwitchableBatchNormalization,
    "universal": UniversalBatchNormalization,
    "shared": SharedBatchNormalization,
}

__all__ = [
    "BATCH_NORMS",
    "BNParameters",
    "ChannelGroup",
    "ChannelShuffle",
    "LayerCost",
    "SharedBatchNormalization",
    "SlimmableBatchNormBase",
    "SlimmableConv2D",
    "SlimmableDense",
    "SlimmableDepthwiseConv2D",
    "SlimmableKernelLayer",
    "SlimmableLayer",
    "SwitchableBatchNormalization",
    "UniversalBatchNormalization",
    "cost_function",
    "static_form",
]
