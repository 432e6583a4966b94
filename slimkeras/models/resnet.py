"""Slimmable ResNet-50: one definition for S-Net, US-Net, naive and individual training."""

import keras

from slimkeras.layers import SlimmableDense
from slimkeras.models.common import Builder

STEM_CHANNELS = 64
# (bottleneck channels, blocks) per stage conv2..conv5; outputs are EXPANSION x bottleneck.
RESNET50_STAGES = [(64, 3), (128, 4), (256, 6), (512, 3)]
EXPANSION = 4


def resnet50(width_mult_list=None, width_mult_range=None, bn=None, input_shape=(224, 224, 3),
             num_classes=1000, output_averaging=False, num_bn_slots=None, name="resnet50",
             padding="same"):
    """Slimmable ResNet-50 (He et al. 2016), v1.5 as the official S-ResNet-50.

    Stem: 7x7 stride-2 conv with 64 channels + BN + ReLU and a 3x3 stride-2
    max-pool (224 -> 112 -> 56). Then bottleneck stages conv2..conv5 of 3, 4,
    6 and 3 blocks with 64, 128, 256 and 512 bottleneck channels and four
    times as many outputs: 1x1 -> 3x3 -> 1x1 convs, each with BN (ReLU after
    the first two), plus a shortcut, then a ReLU. The first block of each
    stage has a 1x1 projection shortcut conv + BN; conv3..conv5 downsample
    with stride 2 on the 3x3 conv and on the shortcut conv (v1.5). Global
    average pool and the classifier (slices its input). Channels follow the
    official rule `make_divisible(c * w)` (multiples of 8); MACs and active
    parameters equal the official S-ResNet-50's at 1.0 / 0.75 / 0.5 / 0.25.

    Layers are named as in `keras.applications.ResNet50`: `conv1_conv`,
    `conv1_bn`, `conv1_relu`, `pool1_pool`, `conv{s}_block{b}_{1,2,3}_conv`
    and `_bn`, the shortcut `conv{s}_block{b}_0_conv` / `_0_bn`,
    `conv{s}_block{b}_add`, `conv{s}_block{b}_out`, `avg_pool`,
    `predictions`. At width 1.0 every conv and dense kernel has the shape of
    the same-named one in `keras.applications.ResNet50`. Deliberate
    differences from it: no conv biases (a BN follows every conv, as in the
    official code); the stride of a downsampling block is on the 3x3 conv
    (v1.5), not on the first 1x1; "same" padding instead of explicit
    `ZeroPadding2D` layers (same output sizes; `padding="symmetric"` pads as
    PyTorch and keras.applications do); BN epsilon 1e-5 (PyTorch's).

    Stages (nonuniform widths): 1 is the stem, 2..5 are conv2..conv5 (the
    shortcut conv of a stage's first block belongs to that stage, so every
    add sees equal channel counts).

    Inputs smaller than 64 px (28x28, 32x32) get the small (CIFAR-style)
    variant: a 3x3 stride-1 stem conv and no max-pool, then the same four
    stages (32 -> 32 -> 16 -> 8 -> 4 at 32 px).

    Args:
        width_mult_list, width_mult_range, bn, input_shape, num_classes,
        output_averaging, num_bn_slots, name, padding: as `mobilenet_v1`.

    Returns:
        A `slimkeras.SlimmableModel`.

    Example:

    ```python
    model = slimkeras.models.resnet50(width_mult_list=[0.25, 0.5, 0.75, 1.0])
    slimkeras.profile(model, 0.25)["macs"]  # 278110720
    ```
    """
    b = Builder(name, width_mult_list, width_mult_range, bn, input_shape, num_classes,
                output_averaging, num_bn_slots, padding)
    inputs = keras.Input(b.input_shape)
    if b.small:
        x = b.conv(inputs, STEM_CHANNELS, 3, strides=1, name="conv1_conv", stage=1)
    else:
        x = b.conv(inputs, STEM_CHANNELS, 7, strides=2, name="conv1_conv", stage=1)
    x = keras.layers.ReLU(name="conv1_relu")(b.norm(x, "conv1_bn"))
    if not b.small:
        x = b.max_pool(x, 3, 2, name="pool1_pool")
    for stage, (mid, repeats) in enumerate(RESNET50_STAGES, start=2):
        for index in range(repeats):
            stride = 2 if index == 0 and stage > 2 else 1
            x = _bottleneck(b, x, f"conv{stage}_block{index + 1}_", stage, mid, stride, projection=index == 0)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = SlimmableDense(num_classes, name="predictions", output_averaging=b.output_averaging)(x)
    return b.model(inputs, outputs, num_stages=1 + len(RESNET50_STAGES))


def _bottleneck(b, x, prefix, stage, mid, stride, projection):
    """1x1 -> 3x3 (stride) -> 1x1 convs with BN (ReLU after the first two), the shortcut (a
    1x1 projection conv + BN in a stage's first block), the add and a ReLU."""
    # Body first, then the shortcut: the order of the official code (and profile).
    y = b.conv(x, mid, 1, name=prefix + "1_conv", stage=stage)
    y = keras.layers.ReLU(name=prefix + "1_relu")(b.norm(y, prefix + "1_bn"))
    y = b.conv(y, mid, 3, strides=stride, name=prefix + "2_conv", stage=stage)
    y = keras.layers.ReLU(name=prefix + "2_relu")(b.norm(y, prefix + "2_bn"))
    y = b.norm(b.conv(y, mid * EXPANSION, 1, name=prefix + "3_conv", stage=stage), prefix + "3_bn")
    shortcut = x
    if projection:
        shortcut = b.conv(x, mid * EXPANSION, 1, strides=stride, name=prefix + "0_conv", stage=stage)
        shortcut = b.norm(shortcut, prefix + "0_bn")
    y = keras.layers.Add(name=prefix + "add")([y, shortcut])
    return keras.layers.ReLU(name=prefix + "out")(y)
