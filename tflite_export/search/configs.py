"""The search's configurations are `WidthConfig`s: a global width and per-stage ratios. Ratios
are rounded as the search makes them, so steps never drift (0.8500000000000001)."""

from slimkeras.width import WidthConfig

RATIO_DECIMALS = 6
EPS = 1e-9


def round_ratio(ratio):
    """`ratio` rounded to `RATIO_DECIMALS` places (no 0.8500000000000001 drift between steps)."""
    return round(float(ratio), RATIO_DECIMALS)


def with_stage_ratio(config, stage, ratio):
    """`config` with stage `stage` at `ratio` (a new `WidthConfig`)."""
    return WidthConfig(config.width, {**config.stage_ratios, stage: ratio})

