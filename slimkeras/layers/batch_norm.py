"""Batch normalization for slimmable networks: switchable, universal and shared.

All three normalize however many channels their input has, slicing their
full-size parameters, and keep their running statistics in "slots": one row
per width configuration, indexed through the model's WidthState (see
`WidthState.active_slot`).

- SwitchableBatchNormalization (S-Nets): gamma, beta, mean and variance all
  private per switch; training updates the current switch's statistics.
- UniversalBatchNormalization (US-Nets): gamma/beta shared and sliced;
  training uses batch statistics only; statistics exist only for the widths
  `slimkeras.calibrate_bn` calibrated, and inference at any other width is an
  error.
- SharedBatchNormalization (naive training): one BN shared by every width,
  its running statistics a mixture of all widths trained; calibrated slots,
  where present, override them.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from slimkeras.checks import check_int
from slimkeras.layers.base import SlimmableLayer, channel_count
from slimkeras.layers.costs import batch_norm_cost

BNParameters = collections.namedtuple("BNParameters", ["gamma", "beta", "mean", "variance"])
BNParameters.__doc__ = "A BN layer's parameters at one width configuration (numpy arrays)."

DEFAULT_SLOTS = 32  # calibrated widths universal and shared BN hold at once, unless told otherwise

_MISSING_STATISTICS = (
    "The current width has no BN statistics. "
    "Calibrate it first: slimkeras.calibrate_bn(model, data, widths=[...])."
)


class SlimmableBatchNormBase(SlimmableLayer):
    """Shared machinery of the slimmable batch norms (not used directly).

    Args:
        num_slots: rows of running statistics (the model's BN slots: its
            switches for switchable BN, its calibration capacity otherwise).
        momentum: running-average momentum (0.9 is PyTorch's 0.1).
        epsilon: added to the variance (PyTorch's default 1e-5).
        synchronized: under tf.distribute, compute training batch statistics
            over the global batch (all replicas) instead of each replica's.
    """

    private_affine = False
    default_num_slots = DEFAULT_SLOTS
    has_default_statistics = False
    updates_slot_in_training = False
    requires_slot_at_inference = True

    def __init__(self, num_slots=None, momentum=0.9, epsilon=1e-5, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if num_slots is None:
            num_slots = self.default_num_slots
            if num_slots is None:
                raise ValueError(
                    f"{type(self).__name__} needs `num_slots`: the number of switches of the model "
                    "it is built into (num_slots=4 for switches [0.25, 0.5, 0.75, 1.0]).")
        self.num_slots = check_int(num_slots, "num_slots")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}.")
        if not float(epsilon) > 0.0:
            raise ValueError(f"`epsilon` must be > 0, got {epsilon!r}.")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.synchronized = bool(synchronized)

    def build(self, input_shape):
        self.max_channels = input_shape[-1]
        if self.max_channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known channel count.")
        affine_shape = (
            (self.num_slots, self.max_channels) if self.private_affine else (self.max_channels,)
        )
        self.gamma = self.add_weight(name="gamma", shape=affine_shape, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=affine_shape, initializer="zeros")
        stats_shape = (self.num_slots, self.max_channels)
        self.slot_mean = self.add_weight(
            name="slot_mean", shape=stats_shape, initializer="zeros",
            trainable=False, aggregation="mean", autocast=False,
        )
        self.slot_variance = self.add_weight(
            name="slot_variance", shape=stats_shape, initializer="ones",
            trainable=False, aggregation="mean", autocast=False,
        )
        if self.has_default_statistics:
            self.moving_mean = self.add_weight(
                name="moving_mean", shape=(self.max_channels,), initializer="zeros",
                trainable=False, aggregation="mean", autocast=False,
            )
            self.moving_variance = self.add_weight(
                name="moving_variance", shape=(self.max_channels,), initializer="ones",
                trainable=False, aggregation="mean", autocast=False,
            )

    def _affine(self, slot, active):
        if self.private_affine:
            return self.gamma[slot, :active], self.beta[slot, :active]
        return self.gamma[:active], self.beta[:active]

    def _moving_update(self, variable, batch_value, active, row=None):
        """variable[row, :active] <- momentum * old + (1 - momentum) * batch_value."""
        padded = tf.pad(batch_value, [[0, self.max_channels - active]])
        mask = tf.sequence_mask(active, self.max_channels, dtype=variable.dtype)
        if row is not None:
            mask = tf.one_hot(row, self.num_slots, dtype=variable.dtype)[:, tf.newaxis] * mask
            padded = padded[tf.newaxis, :]
        variable.assign(variable + (1.0 - self.momentum) * mask * (padded - variable))

    def call(self, inputs, training=None):
        active = channel_count(inputs)
        axes = list(range(len(inputs.shape) - 1))
        state = self.width_state
        slot, found = state.active_slot()
        if state.calibration_outputs is not None:
            return self._statistics_pass(inputs, axes, slot, active)
        if training:
            mean, variance = self._batch_moments(inputs, axes)
            if self.updates_slot_in_training:
                tf.debugging.assert_equal(
                    found, True,
                    message=f"BN layer '{self.name}': the width is not a switch.",
                )
                self._moving_update(self.slot_mean, mean, active, slot)
                self._moving_update(self.slot_variance, variance, active, slot)
            elif self.has_default_statistics:
                self._moving_update(self.moving_mean, mean, active)
                self._moving_update(self.moving_variance, variance, active)
        else:
            slot_mean = self.slot_mean[slot, :active]
            slot_variance = self.slot_variance[slot, :active]
            if self.requires_slot_at_inference:
                with tf.control_dependencies([state.slot_check(_MISSING_STATISTICS)]):
                    mean = tf.identity(slot_mean)
                variance = slot_variance
            else:
                mean = tf.where(found, slot_mean, self.moving_mean[:active])
                variance = tf.where(found, slot_variance, self.moving_variance[:active])
        gamma, beta = self._affine(slot, active)
        return tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)

    def _statistics_pass(self, inputs, axes, slot, active):
        """Calibration: normalize with the batch statistics and report them (see
        `WidthState.statistics_pass`); one fused kernel computes both where it applies
        (4-D float32), and reports the unbiased variance."""
        gamma, beta = self._affine(slot, active)
        fused = len(inputs.shape) == 4 and inputs.dtype == tf.float32
        if fused:
            empty = tf.constant([], tf.float32)
            outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=empty, variance=empty,
                epsilon=self.epsilon, is_training=True,
            )
        else:
            mean, variance = tf.nn.moments(inputs, axes)
            outputs = tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)
        self.width_state.calibration_outputs.append(
            (self, mean, variance, tf.size(inputs, out_type=tf.int64), active, fused)
        )
        return outputs

    def _batch_moments(self, inputs, axes):
        context = tf.distribute.get_replica_context()
        if not (self.synchronized and context and context.num_replicas_in_sync > 1):
            return tf.nn.moments(inputs, axes)
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), inputs.dtype)
        total, squares, count = context.all_reduce(
            tf.distribute.ReduceOp.SUM,
            [tf.reduce_sum(inputs, axes), tf.reduce_sum(tf.square(inputs), axes), count],
        )
        mean = total / count
        return mean, tf.maximum(squares / count - tf.square(mean), 0.0)

    def statistics(self, slot=None):
        """(mean, variance) numpy arrays at full channel size: a slot's, or the default."""
        if slot is None:
            return self.moving_mean.numpy(), self.moving_variance.numpy()
        return self.slot_mean.numpy()[slot], self.slot_variance.numpy()[slot]

    def set_statistics(self, slot, mean, variance):
        """Writes a slot's statistics (the inverse of `statistics(slot)`).

        `mean` and `variance` hold the first `c` channels (that width's
        active channels, `c <= max_channels`); the rest of the row is reset
        to mean 0, variance 1. This only writes the layer's table: a
        universal/shared BN slot is used once the model's slot registry
        names its width (as `slimkeras.calibrate_bn` does).

        Args:
            slot: row index, `0 <= slot < num_slots`.
            mean, variance: 1-D arrays of equal length c.

        Example:

        ```python
        layer.set_statistics(0, np.zeros(16), np.ones(16))
        ```
        """
        if not (isinstance(slot, int) and 0 <= slot < self.num_slots):
            raise ValueError(f"`slot` must be an int in [0, {self.num_slots}), got {slot!r}.")
        mean, variance = np.asarray(mean).reshape(-1), np.asarray(variance).reshape(-1)
        c = mean.shape[0]
        if variance.shape != (c,) or not 0 < c <= self.max_channels:
            raise ValueError(
                f"BN layer '{self.name}': mean/variance must have equal lengths in "
                f"[1, {self.max_channels}], got {mean.shape[0]} and {variance.shape[0]}."
            )
        for table, values, fill in ((self.slot_mean, mean, 0.0), (self.slot_variance, variance, 1.0)):
            rows = np.array(table.numpy())
            rows[slot] = fill
            rows[slot, :c] = values
            table.assign(rows)

    def parameters(self, config, channels=None):
        """This layer's `BNParameters` (gamma, beta, mean, variance) at `config`.

        The statistics are those inference at `config` uses: its slot's, or for
        shared BN without one, the running statistics.

        Args:
            config: a `WidthConfig` of the model.
            channels: how many (active) channels to return; default all.

        Raises:
            ValueError: `config` has no BN statistics (universal BN not calibrated there).
        """
        slot = self.width_state.bn_slots.find(config)
        if slot is None and not self.has_default_statistics:
            raise ValueError(
                f"BN layer '{self.name}': width {config.describe()} has no BN statistics. "
                f"Calibrate it first: slimkeras.calibrate_bn(model, data, widths=[...])."
            )
        gamma, beta = self.gamma.numpy(), self.beta.numpy()
        if self.private_affine:
            gamma, beta = gamma[slot], beta[slot]
        mean, variance = self.statistics(slot)
        return BNParameters(*(values[:channels] for values in (gamma, beta, mean, variance)))

    def static_layer(self, config, input_shape):
        layer = keras.layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, name=self.name, dtype=self.dtype_policy
        )
        layer.build(input_shape)
        layer.set_weights(list(self.parameters(config, input_shape[-1])))
        return layer

    def cost(self, input_shapes, output_shape):
        return batch_norm_cost(input_shapes[0][-1])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_slots": self.num_slots, "momentum": self.momentum, "epsilon": self.epsilon,
             "synchronized": self.synchronized}
        )
        return config


@keras.saving.register_keras_serializable(package="slimkeras")
class SwitchableBatchNormalization(SlimmableBatchNormBase):
    """Switchable BN (S-Nets): private gamma, beta, mean and variance per switch.

    Args:
        num_slots: the number of switches of the model.
        momentum, epsilon: see SlimmableBatchNormBase.

    Example:

    ```python
    y = slimkeras.layers.SwitchableBatchNormalization(num_slots=4)(x)
    ```
    """

    private_affine = True
    default_num_slots = None  # the model's switches: the layer cannot know them
    updates_slot_in_training = True


@keras.saving.register_keras_serializable(package="slimkeras")
class UniversalBatchNormalization(SlimmableBatchNormBase):
    """Universal BN (US-Nets): shared, sliced gamma/beta; statistics per calibrated width.

    Training normalizes with batch statistics and stores none; after training,
    `slimkeras.calibrate_bn` computes statistics for any widths, and inference
    at a width without them raises an error saying how to calibrate it.

    Args:
        num_slots: how many widths can hold calibrated statistics at once
            (default 32; the model takes its BN slot count from its BN layers).
        momentum, epsilon: see SlimmableBatchNormBase.

    Example:

    ```python
    y = slimkeras.layers.UniversalBatchNormalization()(x)
    ```
    """


@keras.saving.register_keras_serializable(package="slimkeras")
class SharedBatchNormalization(SlimmableBatchNormBase):
    """Naively shared BN: one set of parameters and running statistics for every width.

    The baseline the S-Nets paper shows failing: its running statistics mix
    every width trained. Calibrated statistics, where `calibrate_bn` made
    them, are used instead at their widths.

    Args:
        num_slots: how many widths can hold calibrated statistics at once
            (default 32; the model takes its BN slot count from its BN layers).
        momentum, epsilon: see SlimmableBatchNormBase.
    """

    has_default_statistics = True
    requires_slot_at_inference = False
