"""Slimmable MobileNet v1: one definition for S-Net, US-Net, naive and individual training."""

import keras

from slimkeras.layers import SlimmableDense
from slimkeras.models.common import Builder

# (output channels, blocks, first stride) per resolution stage; the stem (32) is in stage 1.
IMAGENET_STAGES = [(64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2)]
# 28x28 / 32x32 inputs: the first three stages (the stem keeps its stride 2).
SMALL_STAGES = IMAGENET_STAGES[:3]


def mobilenet_v1(width_mult_list=None, width_mult_range=None, bn=None, input_shape=(224, 224, 3),
                 num_classes=1000, output_averaging=False, num_bn_slots=None, name="mobilenet_v1",
                 padding="same"):
    """Slimmable MobileNet v1 (Howard et al. 2017) with the official channel rule.

    Activations are ReLU6, as in the official code and `keras.applications.MobileNet`.
    Layers are named as in `keras.applications.MobileNet` (`conv1`,
    `conv_dw_{i}`, `conv_pw_{i}`, their `_bn`, `predictions`). Stages 1-5 are
    the resolution stages with 64, 128, 256, 512 and 1024 channels (the stem
    belongs to stage 1), addressable by `set_width(w, stage_ratios={5: 0.6})`.
    Inputs smaller than 64 px get the small variant: the first three stages
    (stem stride 2, then 64, 128 s2, 128, 256 s2, 256).

    Args:
        width_mult_list: switch list, e.g. `[0.25, 0.5, 0.75, 1.0]` (S-Net,
            naive; `[1.0]` trains an individual network).
        width_mult_range: `(lo, hi)` for a US-Net, e.g. `(0.25, 1.0)`.
        bn: "switchable", "universal" or "shared" (default: switchable for a
            list, universal for a range).
        input_shape: (height, width, channels).
        num_classes: classifier outputs.
        output_averaging: scale outputs by max/active input channels.
        num_bn_slots: how many widths can hold BN statistics (range models).
        name: model name.
        padding: "same" (TensorFlow's) or "symmetric" (PyTorch's `padding=1`
            on the stride-2 3x3 layers: explicit `ZeroPadding2D` + "valid";
            for imported PyTorch weights). Output sizes, MACs and parameters
            are the same.

    Returns:
        A `slimkeras.SlimmableModel`.

    Example:

    ```python
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0))
    model.set_width(0.55)
    ```
    """
    b = Builder(name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                output_averaging, num_bn_slots, padding)
    stages = SMALL_STAGES if b.small else IMAGENET_STAGES
    inputs = keras.Input(b.input_shape)
    x = b.conv(inputs, 32, 3, strides=2, name="conv1", stage=1)
    x = keras.layers.ReLU(6.0, name="conv1_relu")(b.norm(x, "conv1_bn"))
    block = 0
    for stage, (channels, repeats, stride) in enumerate(stages, start=1):
        for i in range(repeats):
            block += 1
            x = b.depthwise(x, strides=stride if i == 0 else 1, name=f"conv_dw_{block}")
            x = keras.layers.ReLU(6.0, name=f"conv_dw_{block}_relu")(b.norm(x, f"conv_dw_{block}_bn"))
            x = b.conv(x, channels, 1, name=f"conv_pw_{block}", stage=stage)
            x = keras.layers.ReLU(6.0, name=f"conv_pw_{block}_relu")(b.norm(x, f"conv_pw_{block}_bn"))
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
    outputs = SlimmableDense(num_classes, name="predictions", output_averaging=b.output_averaging)(x)
    return b.model(inputs, outputs, num_stages=len(stages))
