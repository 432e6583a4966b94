"""Channel-count rules of slimmable layers, in plain Python and in TensorFlow.

Both versions compute in float64 with the same operation order as the official
implementation, so the in-graph channel count of a layer equals the Python one
(and the official PyTorch code's) at every width.
"""

import tensorflow as tf


def make_divisible(v, divisor=8, min_value=1):
    """Rounds `v` to a multiple of `divisor`, never more than 10 % below `v`.

    The rule of the official slimmable/US-Nets code (min_value 1, where Keras'
    MobileNetV2 uses 8).

    >>> make_divisible(32 * 0.35)
    16
    """
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def active_channels(base_channels, multiplier, ratio=1, divisor=8, max_channels=None):
    """Channels a layer runs with at width `multiplier`.

    `make_divisible(base_channels * multiplier / ratio) * ratio`, where `ratio`
    is the expand ratio of layers whose channels are a multiple of another
    layer's (MobileNet v2's hidden layers), capped at `max_channels`.
    """
    channels = make_divisible(base_channels * multiplier / ratio, divisor) * ratio
    if max_channels is not None:
        channels = min(channels, max_channels)
    return channels


def tf_make_divisible(v, divisor=8, min_value=1):
    """`make_divisible` on a float64 scalar tensor; returns a float64 tensor."""
    divisor = tf.constant(float(divisor), tf.float64)
    new_v = tf.math.floordiv(tf.floor(v + divisor / 2.0), divisor) * divisor
    new_v = tf.maximum(tf.constant(float(min_value), tf.float64), new_v)
    return tf.where(new_v < 0.9 * v, new_v + divisor, new_v)


def tf_active_channels(base_channels, multiplier, ratio=1, divisor=8, max_channels=None):
    """`active_channels` with a float64 scalar tensor `multiplier`; returns int32."""
    v = tf.constant(float(base_channels), tf.float64) * multiplier / float(ratio)
    channels = tf_make_divisible(v, divisor) * float(ratio)
    if max_channels is not None:
        channels = tf.minimum(channels, float(max_channels))
    return tf.cast(channels, tf.int32)
