"""The width a SlimmableModel runs at, as TensorFlow state its slimmable layers read."""

import contextlib
import weakref

import numpy as np
import tensorflow as tf

from slimkeras.width import SCALE, WidthConfig


def quantize_tensor(values):
    """`slimkeras.width.quantize` on a float64 tensor, in the graph (same arithmetic, as float64)."""
    return tf.round(values * float(SCALE))


class WidthState:
    """The width a SlimmableModel runs at, read by every slimmable layer.

    Holds variables owned by the model (created by `SlimmableModel`): `width`
    (float64 scalar) and `stage_ratios` (float64 [num_stages]), and the model's
    `BNSlotTable`, where BN layers find the slot of the current width.

    Inside one traced graph, values derived from the width (channel counts,
    the active slot) are computed once and shared by all layers; `assign`
    invalidates them, so a graph that runs several widths in a row stays right.

    While a function traces under `specialized(config)`, the graph is made for
    that one configuration instead: channel counts are Python ints (so every
    shape is static and Grappler folds the width arithmetic away) and the
    variables `width`/`stage_ratios` are not read at all.
    """

    def __init__(self, width, stage_ratios, bn_slots, num_stages):
        self.width = width
        self.stage_ratios = stage_ratios
        self.bn_slots = bn_slots
        self.num_stages = num_stages
        # Set by calibrate_bn while it traces its statistics pass.
        self.calibration_outputs = None
        self._memo = weakref.WeakKeyDictionary()  # graph -> {key: tensor}
        self._specialized = None  # the WidthConfig a width-specialised function traces for

    @contextlib.contextmanager
    def specialized(self, config):
        """Layers called inside trace a graph for this one (validated) WidthConfig."""
        saved = self._specialized
        self._specialized = config
        try:
            yield
        finally:
            self._specialized = saved

    @contextlib.contextmanager
    def statistics_pass(self):
        """BN layers called inside normalize with batch statistics and report them
        into the yielded list as (layer, mean, variance, input size, active channels,
        unbiased), where `unbiased` (a Python bool) says the variance is the unbiased
        estimate; nothing is updated."""
        self.calibration_outputs = []
        try:
            yield self.calibration_outputs
        finally:
            self.calibration_outputs = None

    # -- in-graph values -------------------------------------------------
    def _cached(self, key, fn):
        if tf.executing_eagerly():
            return fn()
        memo = self._memo.setdefault(tf.compat.v1.get_default_graph(), {})
        if key not in memo:
            memo[key] = fn()
        return memo[key]

    def multiplier(self, stage=None):
        """float64 tensor: the global width times the stage's ratio (a float when specialised)."""
        if self._specialized is not None:
            return self._specialized.multiplier(stage)
        if stage is None:
            return self._cached(("width",), lambda: tf.convert_to_tensor(self.width))

        def fn():
            return tf.convert_to_tensor(self.width) * tf.convert_to_tensor(self.stage_ratios)[stage - 1]

        return self._cached(("multiplier", stage), fn)

    def channels(self, base_channels, stage, ratio, divisor, max_channels):
        """int32 tensor: the active channel count of a layer (see channels.py); an int
        when specialised."""
        from slimkeras.channels import active_channels, tf_active_channels

        if self._specialized is not None:
            return active_channels(base_channels, self.multiplier(stage), ratio, divisor, max_channels)

        key = ("channels", base_channels, stage, ratio, divisor, max_channels)
        return self._cached(
            key,
            lambda: tf_active_channels(
                base_channels, self.multiplier(stage), ratio, divisor, max_channels
            ),
        )

    def current_row(self):
        """float64 [1 + num_stages]: the current configuration as a slot table row."""
        if self._specialized is not None:
            return tf.constant(self._specialized.slot_row(self.num_stages))
        parts = [tf.reshape(tf.convert_to_tensor(self.width), [1])]
        if self.num_stages:
            parts.append(tf.convert_to_tensor(self.stage_ratios))
        return tf.concat(parts, axis=0)

    def active_slot(self):
        """(slot index int32, found bool) of the statistics for the current width."""
        return self._cached(("slot",), lambda: self.bn_slots.lookup(self.current_row()))

    def slot_check(self, message):
        """An assert that the current width has statistics: one per graph, shared by the
        BN layers (each asserting on its own cost a node per layer per forward)."""
        _, found = self.active_slot()
        return self._cached(("slot_check",), lambda: tf.debugging.assert_equal(found, True, message=message))

    # -- host side ---------------------------------------------------------
    def current(self):
        """The current configuration (a WidthConfig)."""
        row = [float(self.width.numpy())] + [float(r) for r in np.asarray(self.stage_ratios.numpy())]
        return WidthConfig.from_slot_row(row)

    @contextlib.contextmanager
    def preserved(self):
        """Restores the width and stage ratios on exit, whatever the block set."""
        width, ratios = self.width.numpy(), self.stage_ratios.numpy()
        try:
            yield
        finally:
            self.assign(width, ratios)

    def assign_config(self, config):
        """Sets the width to a (validated) WidthConfig."""
        self.assign(config.width, config.ratios(self.num_stages))

    def assign(self, width, stage_ratios=None):
        """Sets the width from tensors (in a graph: no validation, no retrace).

        `stage_ratios` (default all 1.0) is ignored by a model without stages.
        """
        self.width.assign(_as_float64(width))
        if self.num_stages:
            if stage_ratios is None:
                stage_ratios = tf.ones([self.num_stages], tf.float64)
            self.stage_ratios.assign(_as_float64(stage_ratios))
        if not tf.executing_eagerly():
            self._memo.pop(tf.compat.v1.get_default_graph(), None)

def _as_float64(value):
    """float64 tensor; Python floats go straight to float64 (never through float32)."""
    if tf.is_tensor(value):
        return tf.cast(value, tf.float64)
    return tf.convert_to_tensor(np.asarray(value, dtype=np.float64))

