"""Learning-rate schedules of the papers' recipes, updated every step, with linear warm-up."""

import math

import keras
import tensorflow as tf

SCHEDULES = ("constant", "linear", "exp", "multistep", "cosine")


def learning_rate(step, base_lr, schedule, total_steps, steps_per_epoch, warmup_steps=0,
                  gamma=0.98, milestones=()):
    """The learning rate at `step` (plain Python numbers; the Keras schedule mirrors it).

    linear: base_lr * (1 - t/T); exp: base_lr * gamma ** epoch; multistep: base_lr *
    gamma ** (milestone epochs passed); cosine: base_lr * (1 + cos(pi t/T)) / 2.
    During the first `warmup_steps` the rate rises linearly to the schedule's value.
    """
    epoch = step // steps_per_epoch
    if schedule == "constant":
        lr = base_lr
    elif schedule == "linear":
        lr = base_lr * max(0.0, 1.0 - step / total_steps)
    elif schedule == "exp":
        lr = base_lr * gamma**epoch
    elif schedule == "multistep":
        lr = base_lr * gamma ** sum(epoch >= m for m in milestones)
    elif schedule == "cosine":
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    else:
        raise ValueError(f"Unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}.")
    if step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr


@keras.saving.register_keras_serializable(package="slimkeras_training")
class SlimSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate` as a Keras schedule (computed in-graph from the optimizer step)."""

    def __init__(self, base_lr, schedule, total_steps, steps_per_epoch, warmup_steps=0,
                 gamma=0.98, milestones=()):
        if schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}.")
        self.base_lr = float(base_lr)
        self.schedule = schedule
        self.total_steps = int(total_steps)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_steps = int(warmup_steps)
        self.gamma = float(gamma)
        self.milestones = [int(m) for m in milestones]

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        epoch = tf.floor(step / self.steps_per_epoch)
        base = tf.constant(self.base_lr, tf.float32)
        if self.schedule == "constant":
            lr = base
        elif self.schedule == "linear":
            lr = base * tf.maximum(0.0, 1.0 - step / self.total_steps)
        elif self.schedule == "exp":
            lr = base * tf.pow(self.gamma, epoch)
        elif self.schedule == "multistep":
            passed = tf.add_n([tf.cast(epoch >= m, tf.float32) for m in self.milestones] or [0.0])
            lr = base * tf.pow(self.gamma, passed)
        else:
            lr = base * 0.5 * (1.0 + tf.cos(math.pi * tf.minimum(step, self.total_steps) / self.total_steps))
        if self.warmup_steps:
            lr = lr * tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return lr

    def get_config(self):
        return dict(base_lr=self.base_lr, schedule=self.schedule, total_steps=self.total_steps,
                    steps_per_epoch=self.steps_per_epoch, warmup_steps=self.warmup_steps,
                    gamma=self.gamma, milestones=self.milestones)
