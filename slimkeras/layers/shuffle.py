"""Stateless channel layers of ShuffleNet: channel shuffle and group split.

Both work with however many channels their input has (a slimmable network's
channel count changes with its width), so they are plain Keras layers, not
SlimmableLayers: `slimkeras.materialize` keeps them as they are, and in a
materialized model they see a fixed channel count.
"""

import keras
import tensorflow as tf

from slimkeras.checks import check_int


def _check_groups(groups):
    check_int(groups, "groups")
    return groups


def _channels(inputs, groups, layer_name):
    """The channel count of `inputs` (a Python int if static, else a tensor)."""
    static = inputs.shape[-1]
    if static is not None:
        if static % groups:
            raise ValueError(
                f"Layer '{layer_name}': {static} input channels cannot be split into "
                f"{groups} equal groups."
            )
        return static
    channels = tf.shape(inputs)[-1]
    with tf.control_dependencies([
        tf.debugging.assert_equal(
            channels % groups, 0,
            message=f"Layer '{layer_name}': the input channels cannot be split into "
                    f"{groups} equal groups.",
        )
    ]):
        return tf.identity(channels)


def _check_static_shape(input_shape, groups, layer_name):
    channels = input_shape[-1]
    if channels is not None and channels % groups:
        raise ValueError(
            f"Layer '{layer_name}': {channels} input channels cannot be split into "
            f"{groups} equal groups."
        )
    return channels


@keras.saving.register_keras_serializable(package="slimkeras")
class ChannelShuffle(keras.layers.Layer):
    """Channel shuffle of ShuffleNet (Zhang et al. 2018) over the last axis.

    Views the `C` channels as a `(groups, C // groups)` grid and transposes it,
    so output channel `j * groups + i` is input channel `i * (C // groups) + j`:
    each group of the next grouped convolution then reads channels from every
    group of the previous one. Works with a channel count known only at run
    time (reshape-transpose-reshape with `tf.shape`); `C` must be divisible by
    `groups`.

    Args:
        groups: number of groups (3 in ShuffleNet g=3).

    Example:

    ```python
    y = slimkeras.layers.ChannelShuffle(3)(x)  # x: (..., 6) -> channels 0,2,4,1,3,5
    ```
    """

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = _check_groups(groups)

    def call(self, inputs):
        channels = _channels(inputs, self.groups, self.name)
        rank = len(inputs.shape)
        shape = tf.shape(inputs)
        grid = tf.concat([shape[:-1], [self.groups, channels // self.groups]], axis=0)
        x = tf.reshape(inputs, grid)
        x = tf.transpose(x, list(range(rank - 1)) + [rank, rank - 1])
        return tf.reshape(x, shape)

    def compute_output_shape(self, input_shape):
        _check_static_shape(input_shape, self.groups, self.name)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["groups"] = self.groups
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class ChannelGroup(keras.layers.Layer):
    """One of `groups` equal channel groups: `x[..., index*C/g:(index+1)*C/g]`.

    Splits the channels as they are at run time, so a slimmable network's
    per-group convolutions each read their own group at every width. `C`
    must be divisible by `groups`.

    Args:
        groups: number of equal groups the channels are split into.
        index: which group to return, `0 <= index < groups`.

    Example:

    ```python
    parts = [slimkeras.layers.ChannelGroup(3, i)(x) for i in range(3)]
    ```
    """

    def __init__(self, groups, index, **kwargs):
        super().__init__(**kwargs)
        self.groups = _check_groups(groups)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < groups:
            raise ValueError(
                f"`index` must be an integer in [0, {groups}), got {index!r}."
            )
        self.index = index

    def call(self, inputs):
        size = _channels(inputs, self.groups, self.name) // self.groups
        return inputs[..., self.index * size:(self.index + 1) * size]

    def compute_output_shape(self, input_shape):
        channels = _check_static_shape(input_shape, self.groups, self.name)
        return tuple(input_shape[:-1]) + (None if channels is None else channels // self.groups,)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "index": self.index})
        return config
