"""Slimmable MobileNet v2: one definition for S-Net, US-Net, naive and individual training."""

import keras

from slimkeras.layers import SlimmableDense
from slimkeras.models.common import Builder

# (expand ratio t, output channels c, blocks n, first stride s), as in the paper.
IMAGENET_BLOCKS = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]
# 28x28 / 32x32 inputs: stem stride 2, then the blocks up to 64 channels, 24 at stride 1.
SMALL_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2)]
LAST_CHANNELS = 1280


def mobilenet_v2(width_mult_list=None, width_mult_range=None, bn=None, input_shape=(224, 224, 3),
                 num_classes=1000, output_averaging=False, num_bn_slots=None, name="mobilenet_v2",
                 padding="same"):
    """Slimmable MobileNet v2 (Sandler et al. 2018) with the official channel rule.

    Hidden (expanded) layers have `t * make_divisible(c_in * w)` channels (the
    official `ratio` rule); the last 1x1 conv keeps its 1280 outputs at every
    width and slices only its input; the classifier is not sliced. Layers are
    named as in `keras.applications.MobileNetV2` (`Conv1`, `block_{i}_expand`,
    `block_{i}_depthwise`, `block_{i}_project`, `Conv_1`, `predictions`).
    Stages are the resolution stages (1: 112², the stem and 16; 2: 56²;
    3: 28²; 4: 14²; 5: 7² at 224 px input). Inputs smaller than 64 px get the
    small variant (stem stride 2, blocks up to 64 channels).

    Args:
        width_mult_list, width_mult_range, bn, input_shape, num_classes,
        output_averaging, num_bn_slots, name, padding: as `mobilenet_v1`.

    Returns:
        A `slimkeras.SlimmableModel`.
    """
    b = Builder(name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                output_averaging, num_bn_slots, padding)
    blocks = SMALL_BLOCKS if b.small else IMAGENET_BLOCKS
    inputs = keras.Input(b.input_shape)
    stage = 1
    x = b.conv(inputs, 32, 3, strides=2, name="Conv1", stage=stage)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(b.norm(x, "bn_Conv1"))
    in_channels = 32
    index = 0
    for t, c, n, s in blocks:
        for i in range(n):
            stride = s if i == 0 else 1
            if stride == 2:
                stage += 1
            prefix = f"block_{index}_" if index else "expanded_conv_"
            shortcut = x
            if t != 1:
                x = b.conv(x, in_channels * t, 1, name=prefix + "expand", stage=stage if stride == 1 else stage - 1,
                           channel_ratio=t)
                x = keras.layers.ReLU(6.0, name=prefix + "expand_relu")(b.norm(x, prefix + "expand_BN"))
            x = b.depthwise(x, strides=stride, name=prefix + "depthwise")
            x = keras.layers.ReLU(6.0, name=prefix + "depthwise_relu")(b.norm(x, prefix + "depthwise_BN"))
            x = b.conv(x, c, 1, name=prefix + "project", stage=stage)
            x = b.norm(x, prefix + "project_BN")
            if stride == 1 and in_channels == c:
                x = keras.layers.Add(name=prefix + "add")([shortcut, x])
            in_channels = c
            index += 1
    x = b.conv(x, LAST_CHANNELS, 1, name="Conv_1", slice_output=False)
    x = keras.layers.ReLU(6.0, name="out_relu")(b.norm(x, "Conv_1_bn"))
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
    outputs = SlimmableDense(num_classes, name="predictions", output_averaging=b.output_averaging)(x)
    return b.model(inputs, outputs, num_stages=stage)
