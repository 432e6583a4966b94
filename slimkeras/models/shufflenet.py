"""Slimmable ShuffleNet v1 (g=3): one definition for S-Net, US-Net, naive and individual training.

The paper's 0.5x / 1.0x / 2.0x are widths 0.5, 1.0 and 2.0 of one network
(e.g. `width_mult_list=[0.5, 1.0, 2.0]`; weights are allocated for the
largest width). Structure, at width 1.0 and 224 px input:

- stem: three parallel 3x3 stride-2 convs 3 -> 8 (`head_{i}_conv`, each
  with its own BN and ReLU), concatenated (24 channels), then a 3x3
  stride-2 max-pool without padding (112 -> 55, `head_pool`);
- stages 2, 3, 4 of 4, 8 and 4 blocks with 240, 480 and 960 output
  channels (55 -> 28 -> 14 -> 7). A block (`stage{s}_block{b}_...`):
  three 1x1 group convs `a_{i}` (+BN+ReLU), each reading its own third of
  the input (`group_{i}`; in the network's first block each reads the
  whole input, as in the paper), concatenated; channel shuffle (g=3);
  3x3 depthwise `b_depthwise` (+BN, no ReLU; stride 2 in a stage's first
  block); three 1x1 group convs `c_{i}` (+BN) each reading a third of the
  depthwise output, concatenated; then stride-1 blocks add their input,
  stride-2 blocks concatenate a 3x3 stride-2 average pool of their input
  after their own outputs (so their `c_{i}` produce `(out - in) / 3`
  channels each); a ReLU follows the add / concat;
- global average pool and the classifier (`predictions`, slices its input).

Every conv has its own BN and no bias. MACs and active parameters equal
the official S-ShuffleNet's at 0.5 / 1.0 / 2.0 (average pools counted as
C·H·W of their input, as the official profiler does).

Channel counts: the bottleneck convs `a_{i}` have `round(c * w)` channels
(c = 20, 40, 80 per group at width 1.0). The layers that write the
residual stream (the stem convs and all `c_{i}`) have a multiple of the
stem's group width `u = round(8 * w)` (`channel_ratio = c / 8`, the
official US-Nets `ratio` rule): `c * w` exactly whenever `8 * w` is an
integer (0.5, 1.0, 2.0, 0.25, 0.75, ...), and at every other width the
concatenated shortcut plus the new channels always equal the next
blocks' residual width, so a width range runs at any width (plain
per-layer rounding would make most widths' residual adds mismatch).

Stages (nonuniform widths, `set_width(w, stage_ratios=...)`): stage 1 is
the stem and the residual stream it starts (the stem convs and every
`c_{i}`: the stream carries the stem's channels through every
concatenating shortcut, so its width cannot differ between stages);
stages 2, 3 and 4 are the bottleneck width (`a_{i}` and the depthwise)
of the three block stages.

Inputs smaller than 64 px (28x28, 32x32) get the small variant: the stem
convs have stride 1 and there is no max-pool; the three stages are as
usual (32 -> 16 -> 8 -> 4 at 32 px).

Deliberate differences from the official PyTorch code: by default the
stride-2 convs, depthwise convs and average pools use TF "same" padding
(same output sizes; the pool averages only the valid pixels, PyTorch's
counts the zero padding; `padding="symmetric"` computes exactly what
PyTorch does), and the stem's max-pool runs once after the concatenation
rather than once per stem conv (the same result). The official stride-2
block applies its ReLU before concatenating the pooled shortcut; ours
after: the same, since the pooled input is a ReLU output (>= 0).
"""

import keras

from slimkeras.layers import ChannelGroup, ChannelShuffle, SlimmableDense
from slimkeras.models.common import Builder

GROUPS = 3
# Stem: three parallel 3x3 stride-2 convs of 8 channels each (24 in all at width 1.0).
STEM_GROUP_CHANNELS = 8
# (output channels, blocks) per stage at width 1.0; each stage's first block has stride 2.
STAGES = [(240, 4), (480, 8), (960, 4)]
# Bottleneck (mid) channels are a quarter of the block's output channels.
BOTTLENECK_DIVISOR = 4


def shufflenet(width_mult_list=None, width_mult_range=None, bn=None, input_shape=(224, 224, 3),
               num_classes=1000, output_averaging=False, num_bn_slots=None, name="shufflenet",
               padding="same"):
    """Slimmable ShuffleNet v1 (Zhang et al. 2018), groups=3, as the S-Nets' S-ShuffleNet.

    The paper's 0.5x / 1.0x / 2.0x are widths 0.5, 1.0 and 2.0 of one network;
    the structure, its channel rule, its stages and how it differs from the
    official code are in the module's docstring.

    Args:
        width_mult_list, width_mult_range, bn, input_shape, num_classes,
        output_averaging, num_bn_slots, name, padding: as `mobilenet_v1`.

    Returns:
        A `slimkeras.SlimmableModel`.

    Example:

    ```python
    model = slimkeras.models.shufflenet(width_mult_list=[0.5, 1.0, 2.0])
    model.set_width(0.5)
    slimkeras.profile(model)["macs"]  # 37750836
    ```
    """
    b = Builder(name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                output_averaging, num_bn_slots, padding)
    inputs = keras.Input(b.input_shape)
    x = _stem(b, inputs)
    in_channels = GROUPS * STEM_GROUP_CHANNELS
    for stage, (out_channels, repeats) in enumerate(STAGES, start=2):
        for index in range(repeats):
            first_block = stage == 2 and index == 0
            x = _block(b, x, f"stage{stage}_block{index + 1}_", stage, in_channels, out_channels,
                       2 if index == 0 else 1, first_block)
            in_channels = out_channels
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
    outputs = SlimmableDense(num_classes, name="predictions", output_averaging=b.output_averaging)(x)
    return b.model(inputs, outputs, num_stages=1 + len(STAGES))


def _stream_conv(b, x, filters, kernel_size, strides, name):
    """A residual-stream conv: a multiple of the stem's group width (module docstring)."""
    return b.conv(x, filters, kernel_size, strides=strides, name=name, stage=1,
                  channel_ratio=filters // STEM_GROUP_CHANNELS, divisor=1)


def _stem(b, inputs):
    """Three parallel 3x3 convs (+BN+ReLU), concatenated, then (large inputs) a max-pool."""
    heads = []
    for i in range(GROUPS):
        h = _stream_conv(b, inputs, STEM_GROUP_CHANNELS, 3, 1 if b.small else 2, f"head_{i}_conv")
        heads.append(keras.layers.ReLU(name=f"head_{i}_relu")(b.norm(h, f"head_{i}_bn")))
    x = keras.layers.Concatenate(name="head_concat")(heads)
    if not b.small:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="head_pool")(x)
    return x


def _block(b, x, prefix, stage, in_channels, out_channels, stride, first_block):
    """One ShuffleNet unit: group 1x1 convs, shuffle, depthwise, group 1x1 convs, then the
    shortcut (added, or pooled and concatenated at stride 2) and a ReLU."""
    mid_group = out_channels // BOTTLENECK_DIVISOR // GROUPS
    parts = []
    for i in range(GROUPS):
        part = x if first_block else ChannelGroup(GROUPS, i, name=f"{prefix}group_{i}")(x)
        part = b.conv(part, mid_group, 1, name=f"{prefix}a_{i}_conv", stage=stage, divisor=1)
        parts.append(keras.layers.ReLU(name=f"{prefix}a_{i}_relu")(b.norm(part, f"{prefix}a_{i}_bn")))
    y = keras.layers.Concatenate(name=f"{prefix}a_concat")(parts)
    y = ChannelShuffle(GROUPS, name=f"{prefix}shuffle")(y)
    y = b.norm(b.depthwise(y, strides=stride, name=f"{prefix}b_depthwise"), f"{prefix}b_bn")
    new_channels = out_channels - in_channels if stride == 2 else out_channels
    parts = []
    for i in range(GROUPS):
        part = ChannelGroup(GROUPS, i, name=f"{prefix}c_group_{i}")(y)
        part = _stream_conv(b, part, new_channels // GROUPS, 1, 1, f"{prefix}c_{i}_conv")
        parts.append(b.norm(part, f"{prefix}c_{i}_bn"))
    y = keras.layers.Concatenate(name=f"{prefix}c_concat")(parts)
    if stride == 2:
        pooled = b.average_pool(x, 3, 2, name=f"{prefix}pool")
        y = keras.layers.Concatenate(name=f"{prefix}concat")([y, pooled])
    else:
        y = keras.layers.Add(name=f"{prefix}add")([y, x])
    return keras.layers.ReLU(name=f"{prefix}relu")(y)
