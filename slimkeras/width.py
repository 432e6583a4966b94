"""Widths as values: the configuration type (`WidthConfig`) and what widths a model is
trained for (`WidthSpec`). Plain Python and NumPy; the TensorFlow state a model runs its
width from is `slimkeras.width_state`."""

import math
import numbers
import re

import numpy as np

# Widths and ratios are compared to this many decimal places: two are the same when
# round(value * 10**DECIMALS) is (half to even, in float64, on the host and in graphs).
DECIMALS = 6
SCALE = 10 ** DECIMALS


def quantize(value):
    """The integer a width or ratio is compared by (see DECIMALS)."""
    return round(float(value) * SCALE)


class WidthConfig:
    """One width configuration: a global width and optional per-stage ratios.

    Stage `s` of a model runs at `width * stage_ratios[s]` (stages not named
    run at `width`). Every slimkeras function that takes or returns a width
    accepts or gives this type (`set_width`, `materialize`, `profile`,
    `calibrate_bn`, `inference_function`, the BN slot table); a plain number
    still works wherever a width is asked for. Immutable and hashable.

    Two configurations are equal when their widths and every stage ratio agree
    to `DECIMALS` (6) decimal places; `key` is that rounded form as a string
    (JSON-safe, equal for equal configurations, e.g. `"w1.0_s3x0.6"`).

    Args:
        width: a positive finite number.
        stage_ratios: optional `{stage: ratio}`: stages are integers >= 1 (or
            their decimal strings, as JSON object keys are), ratios in (0, 1];
            ratios of 1 are dropped.

    Raises:
        ValueError: naming the bad value and what is allowed.

    Example:

    ```python
    WidthConfig(0.55)
    WidthConfig(1.0, {3: 0.6}).key                    # "w1.0_s3x0.6"
    WidthConfig.parse((1.0, {3: 0.6})) == WidthConfig.from_key("w1.0_s3x0.6")  # True
    ```
    """

    __slots__ = ("_width", "_ratios")

    def __init__(self, width, stage_ratios=None):
        object.__setattr__(self, "_width", check_positive_finite(width, "width"))
        object.__setattr__(self, "_ratios", parse_stage_ratios(stage_ratios))

    def __setattr__(self, name, value):
        raise AttributeError("WidthConfig is immutable; make a new one.")

    def __reduce__(self):
        return (WidthConfig, (self._width, dict(self._ratios)))

    # -- constructors --------------------------------------------------------------
    @classmethod
    def parse(cls, value):
        """A WidthConfig from what users type: `0.55`, `(1.0, {3: 0.6})`, a key
        string (`"w1.0_s3x0.6"`) or a WidthConfig (returned as it is)."""
        if isinstance(value, WidthConfig):
            return value
        if isinstance(value, str):
            return cls.from_key(value)
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError(f"Width entry {value!r} must be a width or (width, stage_ratios).")
            return cls(*value)
        return cls(value)

    @classmethod
    def from_key(cls, key):
        """The inverse of `key`."""
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            raise ValueError(f"{key!r} is not a width configuration key such as 'w0.55' or 'w1.0_s3x0.6'.")
        ratios = re.findall(r"_s(\d+)x([^_]+)", match.group(2))
        return cls(float(match.group(1)), {int(s): float(r) for s, r in ratios})

    @classmethod
    def from_json(cls, entry):
        """From `{"width": 1.0, "stage_ratios": {"3": 0.6} or null}` (the manifest's form)."""
        return cls(entry["width"], entry.get("stage_ratios"))

    @classmethod
    def from_slot_row(cls, row):
        """From a row `[width, ratio of stage 1, ..., ratio of stage n]`."""
        return cls(row[0], {i + 1: float(r) for i, r in enumerate(row[1:]) if quantize(r) != SCALE})

    # -- values ---------------------------------------------------------------------
    @property
    def width(self):
        """The global width (a float)."""
        return self._width

    @property
    def stage_ratios(self):
        """`{stage: ratio}` of the stages whose ratio is not 1 (a new dict)."""
        return dict(self._ratios)

    @property
    def is_uniform(self):
        return not self._ratios

    def multiplier(self, stage=None):
        """The width a layer of `stage` runs at: width x the stage's ratio."""
        if stage is None:
            return self._width
        return self._width * self.stage_ratios.get(stage, 1.0)

    def ratios(self, num_stages):
        """Every stage's ratio, `[ratio of stage 1, ..., of stage num_stages]`."""
        if self._ratios and self._ratios[-1][0] > num_stages:
            raise ValueError(f"{self.describe()}: stage {self._ratios[-1][0]} does not exist; "
                             f"allowed: 1..{num_stages}.")
        ratios = self.stage_ratios
        return [ratios.get(stage, 1.0) for stage in range(1, num_stages + 1)]

    def slot_row(self, num_stages):
        """`[width, *ratios(num_stages)]` as float64: the form of the BN slot table."""
        return np.array([self._width] + self.ratios(num_stages), dtype=np.float64)

    # -- forms ------------------------------------------------------------------------
    @property
    def key(self):
        """`w{width}` then `_s{stage}x{ratio}` per slimmed stage, each rounded to DECIMALS."""
        stages = "".join(f"_s{s}x{_decimal(r)}" for s, r in self._ratios)
        return f"w{_decimal(self._width)}{stages}"

    def to_json(self):
        """`{"width": ..., "stage_ratios": {"3": 0.6} or None}` (the manifest's form)."""
        ratios = {str(s): r for s, r in self._ratios}
        return {"width": self._width, "stage_ratios": ratios or None}

    def describe(self):
        """`0.55`, or `1 with stage_ratios={3: 0.6}` (for messages)."""
        ratios = self.stage_ratios
        return f"{self._width:g}" + (f" with stage_ratios={ratios}" if ratios else "")

    def _quantized(self):
        return quantize(self._width), tuple((s, quantize(r)) for s, r in self._ratios)

    def __eq__(self, other):
        if not isinstance(other, WidthConfig):
            return NotImplemented
        return self._quantized() == other._quantized()

    def __hash__(self):
        return hash(self._quantized())

    def __repr__(self):
        ratios = self.stage_ratios
        return f"WidthConfig({self._width!r}" + (f", {ratios!r})" if ratios else ")")


_KEY = re.compile(r"w([^_]+)((?:_s\d+x[^_]+)*)")


def _decimal(value):
    """`value` rounded to DECIMALS places, in its shortest form (`0.55`, `1.0`)."""
    return repr(quantize(value) / SCALE)


def check_positive_finite(value, what, allowed="a positive finite number"):
    """`value` as a float, or ValueError naming it and what is `allowed`."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{what.capitalize()} {value!r} is not a number; allowed: {allowed}.")
    v = float(value)
    if math.isnan(v) or math.isinf(v) or v <= 0:
        raise ValueError(f"{what.capitalize()} {value!r} is not allowed; allowed: {allowed}.")
    return v


def parse_stage_ratios(stage_ratios, num_stages=None):
    """`((stage, ratio), ...)` sorted by stage, ratios of 1 left out, from a `{stage: ratio}`
    dict; with `num_stages`, stages above it are refused."""
    if not stage_ratios:
        return ()
    if num_stages == 0:
        raise ValueError(
            f"stage_ratios={stage_ratios!r} given, but this model has no addressable stages."
        )
    if not isinstance(stage_ratios, dict):
        raise ValueError(
            f"stage_ratios must be a dict {{stage: ratio}}, got {stage_ratios!r}."
        )
    allowed = "an integer >= 1" if num_stages is None else f"1..{num_stages}"
    ratios = {}
    for stage, ratio in stage_ratios.items():
        index = _stage_number(stage)
        if index is None or (num_stages is not None and index > num_stages):
            raise ValueError(f"Stage {stage!r} does not exist; allowed: {allowed}.")
        r = check_positive_finite(ratio, f"ratio of stage {stage}", "a number in (0, 1]")
        if quantize(r) > SCALE:
            raise ValueError(
                f"Ratio {ratio!r} of stage {stage} is not allowed; allowed: a number in (0, 1]."
            )
        if quantize(r) != SCALE:
            ratios[index] = r
    return tuple(sorted(ratios.items()))


def _stage_number(stage):
    """`stage` as an int >= 1 (from an int or its decimal string), or None."""
    if isinstance(stage, bool):
        return None
    try:
        index = int(stage)
    except (TypeError, ValueError):
        return None
    return index if str(index) == str(stage).strip() and index >= 1 else None


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
            values = [check_positive_finite(w, "switch width") for w in switches]
            if len(set(values)) != len(values):
                raise ValueError(f"`switches` has duplicates: {switches!r}.")
            self.switches = sorted(values)
            self.range = None
        else:
            if isinstance(width_range, numbers.Number) or len(width_range) != 2:
                raise ValueError(
                    f"`width_range` must be a pair (lo, hi), got {width_range!r}."
                )
            lo = check_positive_finite(width_range[0], "lower width bound")
            hi = check_positive_finite(width_range[1], "upper width bound")
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
        w = check_positive_finite(width, "width", allowed=self.describe())
        if allow_untrained:
            if quantize(w) > quantize(self.max_width):
                raise ValueError(
                    f"Width {width!r} is above the largest width {self.max_width:g}: "
                    "there are no weights for it."
                )
            return min(w, self.max_width)
        if self.is_range:
            lo, hi = self.range
            if not quantize(lo) <= quantize(w) <= quantize(hi):
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
            if quantize(s) == quantize(width):
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
