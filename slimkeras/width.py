"""Width specs (switch lists and ranges), width validation, and the width state
a SlimmableModel owns and its slimmable layers read."""

import contextlib
import math
import numbers
import weakref

import numpy as np
import tensorflow as tf

# Two widths closer than this are the same width (switch lookup, BN slots).
WIDTH_TOLERANCE = 1e-6


class WidthSpec:
    """The widths a model is trained for: a switch list (S-Nets) or a range (US-Nets).

    Args:
        switches: sorted list of widths, e.g. `[0.25, 0.5, 0.75, 1.0]`. A
            one-element list is an individually trained network.
        width_range: `(lo, hi)`: any float inside, e.g. `(0.25, 1.0)`.

    Exactly one of the two is given.
    """

    def __init__(self, switches=None, width_range=None):
        if (switches is None) == (width_range is None):
            raise ValueError(
                "Give exactly one of `switches` (a list of widths) or "
                f"`width_range` (lo, hi); got switches={switches!r}, "
                f"width_range={width_range!r}."
            )
        if switches is not None:
            if isinstance(switches, numbers.Number) or len(switches) == 0:
                raise ValueError(
                    f"`switches` must be a non-empty list of widths, got {switches!r}."
                )
            values = [_check_positive_finite(w, "switch width") for w in switches]
            if len(set(values)) != len(values):
                raise ValueError(f"`switches` has duplicates: {switches!r}.")
            self.switches = sorted(values)
            self.range = None
        else:
            if isinstance(width_range, numbers.Number) or len(width_range) != 2:
                raise ValueError(
                    f"`width_range` must be a pair (lo, hi), got {width_range!r}."
                )
            lo = _check_positive_finite(width_range[0], "lower width bound")
            hi = _check_positive_finite(width_range[1], "upper width bound")
            if lo >= hi:
                raise ValueError(
                    f"`width_range` must have lo < hi, got {width_range!r}."
                )
            self.switches = None
            self.range = (lo, hi)

    @property
    def is_range(self):
        return self.range is not None

    @property
    def min_width(self):
        return self.range[0] if self.is_range else self.switches[0]

    @property
    def max_width(self):
        return self.range[1] if self.is_range else self.switches[-1]

    def describe(self):
        if self.is_range:
            return f"any width in [{self.range[0]:g}, {self.range[1]:g}]"
        return "one of the switches " + ", ".join(f"{w:g}" for w in self.switches)

    def validate(self, width, allow_untrained=False):
        """Returns `width` as a float, or raises ValueError naming what is allowed.

        `allow_untrained=True` accepts any width in (0, max_width]: for
        experiments that run a network at widths it was not trained for.
        """
        w = _check_positive_finite(width, "width", allowed=self.describe())
        if allow_untrained:
            if w > self.max_width + WIDTH_TOLERANCE:
                raise ValueError(
                    f"Width {width!r} is above the largest width {self.max_width:g}: "
                    "there are no weights for it."
                )
            return min(w, self.max_width)
        if self.is_range:
            lo, hi = self.range
            if w < lo - WIDTH_TOLERANCE or w > hi + WIDTH_TOLERANCE:
                raise ValueError(
                    f"Width {width!r} is outside the trained range; allowed: "
                    f"{self.describe()}."
                )
            return min(max(w, lo), hi)
        index = self.switch_index(w)
        if index is None:
            raise ValueError(
                f"Width {width!r} is not a switch of this slimmable network; "
                f"allowed: {self.describe()}."
            )
        return self.switches[index]

    def switch_index(self, width):
        """Index of the switch equal to `width`, or None."""
        for i, s in enumerate(self.switches or ()):
            if abs(s - width) <= WIDTH_TOLERANCE:
                return i
        return None

    def get_config(self):
        if self.is_range:
            return {"width_range": list(self.range)}
        return {"switches": list(self.switches)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"WidthSpec({self.get_config()})"


def _check_positive_finite(value, what, allowed="a positive finite number"):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{what.capitalize()} {value!r} is not a number; allowed: {allowed}.")
    v = float(value)
    if math.isnan(v) or math.isinf(v) or v <= 0:
        raise ValueError(f"{what.capitalize()} {value!r} is not allowed; allowed: {allowed}.")
    return v


def validate_stage_ratios(stage_ratios, num_stages):
    """Returns a list of `num_stages` ratios from a `{stage: ratio}` dict (stages 1-based)."""
    ratios = [1.0] * num_stages
    if not stage_ratios:
        return ratios
    if num_stages == 0:
        raise ValueError(
            f"stage_ratios={stage_ratios!r} given, but this model has no addressable stages."
        )
    if not isinstance(stage_ratios, dict):
        raise ValueError(
            f"stage_ratios must be a dict {{stage: ratio}}, got {stage_ratios!r}."
        )
    for stage, ratio in stage_ratios.items():
        try:
            index = int(stage)
        except (TypeError, ValueError):
            index = None
        if index is None or str(index) != str(stage).strip() or not 1 <= index <= num_stages:
            raise ValueError(
                f"Stage {stage!r} does not exist; allowed: 1..{num_stages}."
            )
        r = _check_positive_finite(ratio, f"ratio of stage {stage}", "a number in (0, 1]")
        if r > 1.0 + WIDTH_TOLERANCE:
            raise ValueError(
                f"Ratio {ratio!r} of stage {stage} is not allowed; allowed: a number in (0, 1]."
            )
        ratios[index - 1] = min(r, 1.0)
    return ratios


class WidthState:
    """The width a SlimmableModel runs at, read by every slimmable layer.

    Holds variables owned by the model (created by `SlimmableModel`):
    `width` (float64 scalar), `stage_ratios` (float64 [num_stages]), and the
    registry of BN statistics slots: `slot_keys` (float64 [num_slots,
    1 + num_stages], the (width, *stage_ratios) each slot holds statistics for)
    and `slot_valid` (float64 [num_slots], 1 where a slot holds statistics).

    Inside one traced graph, values derived from the width (channel counts,
    the active slot) are computed once and shared by all layers; `assign`
    invalidates them, so a graph that runs several widths in a row stays right.

    While a function traces under `specialized(width, ratios)`, the graph is
    made for that one configuration instead: channel counts are Python ints
    (so every shape is static and Grappler folds the width arithmetic away)
    and the variables `width`/`stage_ratios` are not read at all.
    """

    def __init__(self, width, stage_ratios, slot_keys, slot_valid, spec, num_stages):
        self.width = width
        self.stage_ratios = stage_ratios
        self.slot_keys = slot_keys
        self.slot_valid = slot_valid
        self.spec = spec
        self.num_stages = num_stages
        self.num_slots = int(slot_keys.shape[0])
        # Set by calibrate_bn while it traces its statistics pass.
        self.calibration_outputs = None
        self._memo = weakref.WeakKeyDictionary()  # graph -> {key: tensor}
        self._specialized = None  # (width, ratios) while a width-specialised function traces

    @contextlib.contextmanager
    def specialized(self, width, ratios):
        """Layers called inside trace a graph for this one (validated) configuration."""
        saved = self._specialized
        self._specialized = (float(width), [float(r) for r in ratios])
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
            width, ratios = self._specialized
            return width if stage is None else width * ratios[stage - 1]
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

    def current_key(self):
        if self._specialized is not None:
            width, ratios = self._specialized
            return tf.constant(self.key_of(width, ratios[:self.num_stages]))
        parts = [tf.reshape(tf.convert_to_tensor(self.width), [1])]
        if self.num_stages:
            parts.append(tf.convert_to_tensor(self.stage_ratios))
        return tf.concat(parts, axis=0)

    def active_slot(self):
        """(slot index int32, found bool) of the statistics for the current width."""

        def fn():
            keys = tf.convert_to_tensor(self.slot_keys)
            diff = tf.abs(keys - self.current_key()[tf.newaxis, :])
            match = tf.logical_and(
                tf.reduce_all(diff <= WIDTH_TOLERANCE, axis=1),
                tf.convert_to_tensor(self.slot_valid) > 0.5,
            )
            index = tf.cast(tf.argmax(tf.cast(match, tf.int32)), tf.int32)
            return index, tf.reduce_any(match)

        return self._cached(("slot",), fn)

    def slot_check(self, message):
        """An assert that the current width has statistics: one per graph, shared by the
        BN layers (each asserting on its own cost a node per layer per forward)."""
        _, found = self.active_slot()
        return self._cached(("slot_check",), lambda: tf.debugging.assert_equal(found, True, message=message))

    @contextlib.contextmanager
    def preserved(self):
        """Restores the width and stage ratios on exit, whatever the block set."""
        width, ratios = self.width.numpy(), self.stage_ratios.numpy()
        try:
            yield
        finally:
            self.assign(width, ratios)

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

    # -- host-side values --------------------------------------------------
    def key_of(self, width, ratios):
        return np.array([width] + list(ratios), dtype=np.float64)

    def find_slot(self, width, ratios):
        """Index of the valid slot holding `(width, ratios)`, or None (host side)."""
        keys = np.asarray(self.slot_keys.numpy())
        valid = np.asarray(self.slot_valid.numpy()) > 0.5
        key = self.key_of(width, ratios)
        for i in range(self.num_slots):
            if valid[i] and np.all(np.abs(keys[i] - key) <= WIDTH_TOLERANCE):
                return i
        return None

    def calibrated_configs(self):
        """List of (width, ratios) that have statistics, in slot order."""
        keys = np.asarray(self.slot_keys.numpy())
        valid = np.asarray(self.slot_valid.numpy()) > 0.5
        return [(float(k[0]), [float(r) for r in k[1:]]) for k, v in zip(keys, valid) if v]


def _as_float64(value):
    """float64 tensor; Python floats go straight to float64 (never through float32)."""
    if tf.is_tensor(value):
        return tf.cast(value, tf.float64)
    return tf.convert_to_tensor(np.asarray(value, dtype=np.float64))
