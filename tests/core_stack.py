"""The small slimmable stack the core tests share, and its plain-Keras twin."""

import keras
import numpy as np

import slimkeras
from slimkeras import WidthConfig, WidthSpec, active_channels
from slimkeras.layers import BATCH_NORMS, SlimmableConv2D, SlimmableDense, SlimmableDepthwiseConv2D

SWITCHES = [0.25, 0.5, 0.75, 1.0]

RANGE = (0.25, 1.0)

def small_stack(bn="universal", switches=None, width_range=RANGE, output_averaging=False,
                num_bn_slots=None, num_stages=0, input_shape=(12, 12, 3)):
    """conv-bn-relu, dw-bn-relu, 1x1 (stage 2) -bn-relu, pool, dense: a mini MobileNet."""
    spec = WidthSpec(switches=switches) if switches else WidthSpec(width_range=width_range)
    slots = num_bn_slots or (len(switches) if switches else 8)
    norm = BATCH_NORMS[bn]
    x = inputs = keras.Input(input_shape)
    x = SlimmableConv2D(24, 3, strides=2, name="conv1", stage=1 if num_stages else None)(x)
    x = norm(num_slots=slots, name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = SlimmableDepthwiseConv2D(3, name="dw")(x)
    x = norm(num_slots=slots, name="bn2")(x)
    x = keras.layers.ReLU()(x)
    x = SlimmableConv2D(40, 1, name="pw", output_averaging=output_averaging,
                        stage=2 if num_stages else None)(x)
    x = norm(num_slots=slots, name="bn3")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = SlimmableDense(7, name="fc", output_averaging=output_averaging)(x)
    return slimkeras.SlimmableModel(inputs, outputs, width_spec=spec, num_bn_slots=slots,
                                    num_stages=num_stages)

def randomize(model):
    """Random weights and random (positive) statistics in every slot."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for v in layer.weights:
            if v.path.endswith(("slot_variance", "moving_variance")):
                v.assign(rng.uniform(0.5, 2.0, v.shape).astype("float32"))
            elif v.dtype == "float32":
                v.assign(rng.normal(0, 0.5, v.shape).astype("float32"))

def mark_calibrated(model, widths):
    """Slot i holds width i (its statistics: whatever `randomize` put there)."""
    model.bn_slots.record(range(len(widths)), [WidthConfig(w) for w in widths])

def plain_stack(model, width, slot, input_shape=(12, 12, 3), output_averaging=False):
    """The same stack from plain Keras layers with sliced weights and `slot`'s statistics."""
    c1 = active_channels(24, width)
    c3 = active_channels(40, width)
    x = inputs = keras.Input(input_shape)
    conv1 = keras.layers.Conv2D(c1, 3, strides=2, padding="same", use_bias=False)
    bn1, bn2, bn3 = (keras.layers.BatchNormalization(epsilon=1e-5) for _ in range(3))
    dw = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    pw = keras.layers.Conv2D(c3, 1, use_bias=False)
    fc = keras.layers.Dense(7)
    x = keras.layers.ReLU()(bn1(conv1(x)))
    x = keras.layers.ReLU()(bn2(dw(x)))
    x = keras.layers.ReLU()(bn3(pw(x)))
    outputs = fc(keras.layers.GlobalAveragePooling2D()(x))
    plain = keras.Model(inputs, outputs)

    def bn_weights(name, c):
        layer = model.get_layer(name)
        gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
        if gamma.ndim == 2:
            gamma, beta = gamma[slot], beta[slot]
        if slot is None:
            mean, var = layer.statistics()
        else:
            mean, var = layer.statistics(slot)
        return [gamma[:c], beta[:c], mean[:c], var[:c]]

    scale_pw = (24 / c1) if output_averaging else 1.0
    scale_fc = (40 / c3) if output_averaging else 1.0
    conv1.set_weights([model.get_layer("conv1").kernel.numpy()[:, :, :, :c1]])
    bn1.set_weights(bn_weights("bn1", c1))
    dw.set_weights([model.get_layer("dw").kernel.numpy()[:, :, :c1, :]])
    bn2.set_weights(bn_weights("bn2", c1))
    pw.set_weights([model.get_layer("pw").kernel.numpy()[:, :, :c1, :c3] * scale_pw])
    bn3.set_weights(bn_weights("bn3", c3))
    fc_layer = model.get_layer("fc")
    fc.set_weights([fc_layer.kernel.numpy()[:c3] * scale_fc, fc_layer.bias.numpy()])
    return plain

IMAGES = np.random.default_rng(1).normal(size=(6, 12, 12, 3)).astype("float32")
