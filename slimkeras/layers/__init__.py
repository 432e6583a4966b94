"""Slimmable Keras layers."""

from slimkeras.layers.base import SlimmableLayer
from slimkeras.layers.batch_norm import (
    SharedBatchNormalization,
    SlimmableBatchNormBase,
    SwitchableBatchNormalization,
    UniversalBatchNormalization,
)
from slimkeras.layers.conv import SlimmableConv2D, SlimmableDense, SlimmableDepthwiseConv2D
from slimkeras.layers.shuffle import ChannelGroup, ChannelShuffle

BATCH_NORMS = {
    "switchable": SwitchableBatchNormalization,
    "universal": UniversalBatchNormalization,
    "shared": SharedBatchNormalization,
}

__all__ = [
    "BATCH_NORMS",
    "ChannelGroup",
    "ChannelShuffle",
    "SharedBatchNormalization",
    "SlimmableBatchNormBase",
    "SlimmableConv2D",
    "SlimmableDense",
    "SlimmableDepthwiseConv2D",
    "SlimmableLayer",
    "SwitchableBatchNormalization",
    "UniversalBatchNormalization",
]
