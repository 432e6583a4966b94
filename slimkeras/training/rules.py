"""The training rules as small pure functions: which widths a step trains, which loss each gets.

- Slimmable (S-Nets, Algorithm 1) and naive training: every switch, widest first.
- Individual training: its one width.
- Universal (US-Nets): the sandwich rule: the largest and smallest width plus
  n - 2 widths drawn from U(min, max), afresh every step inside the compiled
  graph (stateless random seeded by the step, so every replica draws the same
  widths and a resumed run draws what the uninterrupted one would have); the
  static-width step computes the same draw on the host (`static.host_widths`).
- In-place distillation: the first (widest) width learns from the labels, the
  others from the softmax of the widest width's logits, its gradient stopped.
  A `DistillRule` says how much: the paper's rule (soft targets only), or a mix
  with the labels that may start late, ramp up, soften and gate per image.
"""

from dataclasses import dataclass

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


def float32_logits(logits):
    """float16/bfloat16 logits as float32 (softmax and loss in float32); others unchanged."""
    if logits.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(logits, tf.float32)
    return logits


def label_loss(labels, logits, label_smoothing=0.0):
    """Mean cross-entropy of `logits` against integer labels, with label smoothing."""
    return tf.reduce_mean(_label_losses(labels, logits, label_smoothing))


def _label_losses(labels, logits, label_smoothing):
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1], dtype=logits.dtype)
    return keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=label_smoothing)


@dataclass(frozen=True)
class DistillRule:
    """How the narrower widths learn under in-place distillation.

    Per image, a narrower width's loss is `(1 - a) * label loss + a * soft loss`,
    `a = soft_target_weight(epoch) * gate`, where the soft loss is the cross-entropy
    against the widest width's probabilities at temperature T = `distill_temperature(epoch)`
    (times T², so its gradient keeps its scale) and `gate` is 1 where the widest
    width gives the image's label a probability >= `gate`, else 0. The defaults are
    the paper's rule: soft targets only, from the first step, for every image.

    Args:
        weight: the soft loss's share once fully on, in [0, 1].
        warmup_epochs: before this many epochs, labels only.
        ramp_epochs: then the share grows linearly from 0 to `weight` over this many epochs.
        temperature: softens teacher and student alike (> 0).
        temperature_ramp_epochs: the temperature rises linearly from 1 at the start to
            `temperature` at this epoch (0: `temperature` from the first step); a teacher
            that is still poor early on gives flat targets at T > 1.
        gate: in [0, 1]; 0 distils every image.
    """

    weight: float = 1.0
    warmup_epochs: float = 0.0
    ramp_epochs: float = 0.0
    temperature: float = 1.0
    temperature_ramp_epochs: float = 0.0
    gate: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {self.weight}.")
        for name in ("warmup_epochs", "ramp_epochs", "temperature_ramp_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        if not 0.0 <= self.gate <= 1.0:
            raise ValueError(f"gate must be in [0, 1], got {self.gate}.")


def soft_target_weight(rule, epoch):
    """The soft loss's share at `epoch` (a float, fractional inside an epoch; a tensor in the graph):
    0 during the warm-up, then a linear ramp to `rule.weight`."""
    epoch = tf.cast(epoch, tf.float32)
    if rule.ramp_epochs > 0:
        ramp = tf.clip_by_value((epoch - rule.warmup_epochs) / rule.ramp_epochs, 0.0, 1.0)
    else:
        ramp = tf.cast(epoch >= rule.warmup_epochs, tf.float32)
    return rule.weight * ramp


def distill_temperature(rule, epoch):
    """The temperature at `epoch` (a float tensor): `rule.temperature`, reached linearly from 1
    over `rule.temperature_ramp_epochs`."""
    if rule.temperature_ramp_epochs <= 0:
        return tf.constant(rule.temperature, tf.float32)
    progress = tf.clip_by_value(tf.cast(epoch, tf.float32) / rule.temperature_ramp_epochs, 0.0, 1.0)
    return 1.0 + (rule.temperature - 1.0) * progress


def distillation_target(logits, temperature=1.0):
    """The widest width's probabilities at `temperature` as a target: no gradient flows back through it."""
    return tf.stop_gradient(tf.nn.softmax(logits / temperature))


def distill_loss(logits, labels, teacher_logits, rule, epoch, label_smoothing=0.0):
    """Mean loss of a narrower width under in-place distillation with `rule` (see `DistillRule`)."""
    labels = tf.cast(labels, tf.int32)
    teacher_logits = tf.stop_gradient(teacher_logits)
    t = tf.cast(distill_temperature(rule, epoch), logits.dtype)
    soft = -tf.reduce_sum(distillation_target(teacher_logits, t) * tf.nn.log_softmax(logits / t), axis=-1) * t * t
    share = tf.cast(soft_target_weight(rule, epoch), soft.dtype) * tf.ones_like(soft)
    if rule.gate > 0:
        p_label = tf.gather(tf.nn.softmax(teacher_logits), labels, batch_dims=1)
        share *= tf.cast(p_label >= rule.gate, soft.dtype)
    hard = _label_losses(labels, logits, label_smoothing)
    return tf.reduce_mean((1.0 - share) * hard + share * soft)


def width_loss(index, logits, labels, teacher_logits=None, label_smoothing=0.0, rule=DistillRule(), epoch=0.0):
    """The loss of the `index`-th width of a step.

    Width 0 (the widest) and, without distillation (`teacher_logits` None),
    every width learn from the labels; with in-place distillation the others
    learn as `rule` says from the widest width's logits (`distill_loss`).
    """
    if index == 0 or teacher_logits is None:
        return label_loss(labels, logits, label_smoothing)
    return distill_loss(logits, labels, teacher_logits, rule, epoch, label_smoothing)


def sum_gradients(total, gradients):
    """`total` plus one width's `gradients` (None: a variable that width does not use): the
    widths' gradients are summed, not averaged."""
    return [t if g is None else t + tf.convert_to_tensor(g) for t, g in zip(total, gradients)]


def decayed_variables(model):
    """Weight decay applies to conv (not depthwise) and dense kernels only (official recipe)."""
    from slimkeras import _compat
    from slimkeras.layers import SlimmableConv2D, SlimmableDense

    kinds = (SlimmableConv2D, SlimmableDense, keras.layers.Conv2D, keras.layers.Dense)
    return [
        layer.kernel for layer in _compat.flatten_layers(model)
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
