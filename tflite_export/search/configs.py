"""Configurations of the search: a global width and one ratio per stage (a tuple, the
search's working form), and the `WidthConfig` they stand for wherever they leave it."""

from slimkeras.width import WidthConfig

RATIO_DECIMALS = 6
EPS = 1e-9


def round_ratio(ratio):
    """`ratio` rounded to `RATIO_DECIMALS` places (no 0.8500000000000001 drift between steps)."""
    return round(float(ratio), RATIO_DECIMALS)


def width_config(width, ratios):
    """The `WidthConfig` of `width` with one ratio per stage (stages at 1.0 dropped)."""
    return WidthConfig(width, dict(enumerate(ratios, 1)))


def stage_dict(ratios):
    """{stage: ratio} of the stages not at 1.0 (as WidthConfig compares them)."""
    return width_config(1.0, ratios).stage_ratios


def describe(width, ratios):
    """`w1 s1×0.9 s3×0.6` (uniform: `w0.75`)."""
    parts = [f"w{width:g}"] + [f"s{s}×{r:g}" for s, r in stage_dict(ratios).items()]
    return " ".join(parts)
