"""Configurations of the search: a global width and one ratio per stage (pure, no TensorFlow)."""

RATIO_DECIMALS = 6
EPS = 1e-9


def round_ratio(ratio):
    """`ratio` rounded to `RATIO_DECIMALS` places (no 0.8500000000000001 drift between steps)."""
    return round(float(ratio), RATIO_DECIMALS)


def stage_dict(ratios):
    """{stage: ratio} of the stages not at 1.0 (what set_width / the manifest take)."""
    return {i + 1: float(r) for i, r in enumerate(ratios) if abs(r - 1.0) > EPS}


def describe(width, ratios):
    """`w1 s1×0.9 s3×0.6` (uniform: `w0.75`)."""
    parts = [f"w{width:g}"] + [f"s{s}×{r:g}" for s, r in stage_dict(ratios).items()]
    return " ".join(parts)
