"""The training rules as small pure functions: which widths a step trains, which loss each gets.

- Slimmable (S-Nets, Algorithm 1) and naive training: every switch, widest first.
- Individual training: its one width.
- Universal (US-Nets): the sandwich rule: the largest and smallest width plus
  n - 2 widths drawn from U(min, max), afresh every step inside the compiled
  graph (stateless random seeded by the step, so every replica draws the same
  widths and a resumed run draws what the uninterrupted one would have).
- In-place distillation: the first (widest) width learns from the labels, the
  others from the softmax of the widest width's logits, its gradient stopped.
"""

import keras
import tensorflow as tf

MODES = ("individual", "naive", "slimmable", "universal")


def training_widths(mode, width_spec, num_sample=4, step=0, seed=0):
    """float64 tensor of the widths one training step runs, widest first.

    Args:
        mode: one of MODES.
        width_spec: the model's `slimkeras.WidthSpec`.
        num_sample: n of the sandwich rule (universal mode), >= 2.
        step: the step number (a tensor inside the graph).
        seed: the run's seed.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; allowed: {', '.join(MODES)}.")
    if mode == "universal":
        if not width_spec.is_range:
            raise ValueError(f"Universal training needs a width range, got {width_spec.describe()}.")
        if num_sample < 2:
            raise ValueError(f"The sandwich rule needs num_sample >= 2, got {num_sample}.")
        lo, hi = width_spec.range
        random = tf.random.stateless_uniform(
            [num_sample - 2], seed=tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]),
            minval=lo, maxval=hi, dtype=tf.float64,
        )
        return tf.concat([tf.constant([hi, lo], tf.float64), random], axis=0)
    if width_spec.is_range:
        raise ValueError(f"Mode {mode!r} needs a switch list, got {width_spec.describe()}.")
    widths = sorted(width_spec.switches, reverse=True)
    if mode == "individual" and len(widths) != 1:
        raise ValueError(f"Individual training trains one width, got {widths}.")
    return tf.constant(widths, tf.float64)


def soft_cross_entropy(target_probs, logits):
    """Mean cross-entropy of `logits` against soft targets (no gradient into the targets)."""
    target_probs = tf.stop_gradient(target_probs)
    return tf.reduce_mean(-tf.reduce_sum(target_probs * tf.nn.log_softmax(logits), axis=-1))


def label_loss(labels, logits, label_smoothing=0.0):
    """Mean cross-entropy of `logits` against integer labels, with label smoothing."""
    num_classes = tf.shape(logits)[-1]
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=logits.dtype)
    return tf.reduce_mean(
        keras.losses.categorical_crossentropy(
            one_hot, logits, from_logits=True, label_smoothing=label_smoothing
        )
    )


def width_loss(index, logits, labels, teacher_probs=None, label_smoothing=0.0):
    """The loss of the `index`-th width of a step.

    Width 0 (the widest) and, without distillation (`teacher_probs` None),
    every width learn from the labels; with in-place distillation the others
    learn from the widest width's predicted probabilities.
    """
    if index == 0 or teacher_probs is None:
        return label_loss(labels, logits, label_smoothing)
    return soft_cross_entropy(teacher_probs, logits)


def distillation_target(logits):
    """The widest width's probabilities as a target: no gradient flows back through it."""
    return tf.stop_gradient(tf.nn.softmax(logits))


def decayed_variables(model):
    """Weight decay applies to conv (not depthwise) and dense kernels only (official recipe)."""
    from slimkeras.layers import SlimmableConv2D, SlimmableDense

    kinds = (SlimmableConv2D, SlimmableDense, keras.layers.Conv2D, keras.layers.Dense)
    return [
        layer.kernel for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, kinds)
    ]


def eval_widths(width_spec):
    """Widths evaluated at the end of a run: the switches, or lo, lo+0.1, ..., hi for a range."""
    if not width_spec.is_range:
        return list(width_spec.switches)
    lo, hi = width_spec.range
    widths, w = [], lo
    while w < hi - 1e-9:
        widths.append(round(w, 6))
        w += 0.1
    return widths + [hi]
