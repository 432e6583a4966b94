"""The uniform widths compared with the searched model: those of about the same latency (re-measured
side by side with it) and of about the same MACs. Pure helpers, then `uniform_neighbours` and
`compare` that use them."""

import dataclasses
import math

from slimkeras.width import WidthConfig
from tflite_export.search.configs import EPS, round_ratio


def uniform_grid(lo, hi, step):
    """Widths lo, lo+step, ..., hi (hi always included), rounded."""
    n = int(math.floor((hi - lo) / step + 1e-9))
    widths = [round_ratio(lo + k * step) for k in range(n + 1)]
    if widths[-1] < hi - EPS:
        widths.append(round_ratio(hi))
    return widths


def distinct_widths(widths, signature):
    """The widths whose `signature` (channel counts) differs from every earlier one's: the first of each."""
    seen, out = set(), []
    for w in widths:
        sig = signature(w)
        if sig not in seen:
            seen.add(sig)
            out.append(w)
    return out


def bracket(count, measure, target, start, patience=2):
    """`(lo, hi)` indices into an ascending list of `count` widths: `lo` the widest found with a measured
    value <= target, `hi` the narrowest measured one above `lo` with value > target; either may be None.

    Walks down from `start` to the first value <= target, then up from `start`; as LiteRT latency is
    not monotone in the width (channel counts that suit the kernels run faster than narrower ones),
    the upward walk goes `patience` widths past a value above the target before it stops. Measures
    only what it visits."""
    if count < 1:
        return None, None
    start = min(max(start, 0), count - 1)
    measured = {start: measure(start)}
    lo = start if measured[start] <= target else None
    if lo is None:
        for j in range(start - 1, -1, -1):
            measured[j] = measure(j)
            if measured[j] <= target:
                lo = j
                break
    misses = 0 if lo == start else 1
    j = start + 1
    while j < count and misses <= patience:
        measured[j] = measure(j)
        if measured[j] <= target:
            lo, misses = j, 0
        else:
            misses += 1
        j += 1
    above = [i for i, v in measured.items() if v > target and (lo is None or i > lo)]
    return lo, (min(above) if above else None)


def bracket_values(values, target):
    """`(lo, hi)` among measured `{index: value}`: `lo` the largest index with value <= target, `hi` the
    smallest index above `lo` (any index if `lo` is None) with value > target; either may be None."""
    lo = max((i for i, v in values.items() if v <= target), default=None)
    hi = min((i for i, v in values.items() if v > target and (lo is None or i > lo)), default=None)
    return lo, hi


def neighbourhood(lo, hi, count):
    """Sorted indices around a bracket: lo-1, lo, hi, hi+1 (those that exist), for a side-by-side re-measure."""
    picks = set()
    for i in (lo, hi):
        if i is not None:
            picks |= {i - 1, i, i + 1}
    return sorted(i for i in picks if 0 <= i < count)


def closest(indices, values, target):
    """The index (among `indices`, None skipped) whose value is closest to `target`; ties: the first."""
    options = [i for i in indices if i is not None]
    if not options:
        return None
    return min(options, key=lambda i: abs(values[i] - target))


def interpolate(x, x0, y0, x1, y1):
    """Linear interpolation of y at x between (x0, y0) and (x1, y1) (clamped; equal x0 == x1: mean)."""
    if abs(x1 - x0) < 1e-15:
        return (y0 + y1) / 2
    t = min(max((x - x0) / (x1 - x0), 0.0), 1.0)
    return y0 + t * (y1 - y0)


@dataclasses.dataclass
class UniformNeighbours:
    """The uniform widths around the searched model.

    Args:
        grid: the distinct uniform widths of the trained range, ascending.
        near: indices into `grid` re-measured side by side with the searched model.
        interleaved_ms: {signature: ms} of that side-by-side measurement.
        latency: `(searched ms, {index in near: ms})`, measured side by side.
        macs: `(searched MACs, [MACs of each grid width])`.
        latency_bracket, macs_bracket: `(lo, hi)` indices into `grid` (see `bracket_values`).
    """

    grid: list
    near: list
    interleaved_ms: dict
    latency: tuple
    macs: tuple
    latency_bracket: tuple
    macs_bracket: tuple

    def compared_indices(self):
        """Indices into `grid` of the uniform widths reported with the searched model."""
        return [i for i in list(self.near) + list(self.macs_bracket) if i is not None]


def uniform_neighbours(ev, found, min_width, max_width, uniform_step):
    """Finds the uniform widths of about the searched model's latency and MACs.

    The search's latencies were measured minutes apart on a machine whose load drifts: the searched
    model is re-measured side by side with the uniform widths around it, and compared on those.

    Args:
        ev: `Evaluator`.
        found: the searched `WidthConfig`.
        min_width, max_width: the trained width range.
        uniform_step: the grid step of the uniform widths.

    Returns:
        `UniformNeighbours`.
    """
    grid = distinct_widths(uniform_grid(min_width, max_width, uniform_step), lambda w: ev.signature(WidthConfig(w)))
    grid_macs = [ev.macs(WidthConfig(w)) for w in grid]
    found_latency, found_macs = ev.latency(found), ev.macs(found)
    start = closest(range(len(grid)), grid_macs, found_macs)
    lat_lo, lat_hi = bracket(len(grid), lambda i: ev.latency(WidthConfig(grid[i])), found_latency, start)
    macs_bracket = bracket(len(grid), lambda i: grid_macs[i], found_macs, start)
    near = neighbourhood(lat_lo, lat_hi, len(grid))
    inter = ev.interleaved_latency([found] + [WidthConfig(grid[i]) for i in near])
    found_inter = inter[ev.signature(found)]
    near_values = {i: inter[ev.signature(WidthConfig(grid[i]))] for i in near}
    return UniformNeighbours(grid=grid, near=near, interleaved_ms=inter, latency=(found_inter, near_values),
                             macs=(found_macs, grid_macs), latency_bracket=bracket_values(near_values, found_inter),
                             macs_bracket=macs_bracket)


def compare(searched, by_width, neighbours):
    """{"same_latency": ..., "same_macs": ...}: the searched row against the closest uniform width
    (and, where bracketed, the uniform top-1 interpolated at the searched value).

    Args:
        searched: the searched model's row (test_top1, val_top1).
        by_width: {uniform width: row} of the measured uniform widths.
        neighbours: `UniformNeighbours`.
    """
    grid = neighbours.grid
    comparison = {}
    for name, (x, xs), (lo, hi) in (("same_latency", neighbours.latency, neighbours.latency_bracket),
                                    ("same_macs", neighbours.macs, neighbours.macs_bracket)):
        index = closest([lo, hi], xs, x)
        if index is None:
            continue
        u = by_width[grid[index]]
        entry = {"uniform_width": grid[index], "uniform": u, "searched_value": x, "uniform_value": xs[index],
                 "bracket": [None if lo is None else grid[lo], None if hi is None else grid[hi]],
                 "test_top1_diff": searched["test_top1"] - u["test_top1"],
                 "val_top1_diff": searched["val_top1"] - u["val_top1"]}
        if lo is not None and hi is not None:
            ulo, uhi = by_width[grid[lo]], by_width[grid[hi]]
            interp = interpolate(x, xs[lo], ulo["test_top1"], xs[hi], uhi["test_top1"])
            entry["uniform_test_top1_interpolated"] = interp
            entry["test_top1_diff_interpolated"] = searched["test_top1"] - interp
        comparison[name] = entry
    return comparison
