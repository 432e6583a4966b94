"""Rolling latency statistics of one model (stdlib only).

The Python twin of ``org.slimkeras.core.LatencyTracker`` in ``android_demo/core``;
both compute the same numbers from the same samples.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Sequence

__all__ = ["LatencyTracker", "is_finite_number"]


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) that is finite."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """Nearest-rank percentile: ``sorted[ceil(percent/100 * n) - 1]``.

    Computed with integers so that it never depends on float rounding of
    ``0.9 * n`` (the Java twin does the same).
    """
    n = len(sorted_values)
    rank = (percent * n + 99) // 100
    return sorted_values[rank - 1]


class LatencyTracker:
    """Rolling latency statistics of one model.

    The first ``warmup_runs`` samples the tracker ever receives are discarded
    (counted by :meth:`warmup_seen`); later samples go into a rolling window of
    the last ``window_size`` samples, and into an exponential moving average.
    Statistics of an empty window are NaN, which callers treat as "unknown".

    Args:
        window_size: samples kept in the rolling window (>= 1).
        warmup_runs: first samples discarded (>= 0).
        ema_alpha: weight of a new sample in the moving average, in (0, 1].
    """

    def __init__(self, window_size: int = 20, warmup_runs: int = 3,
                 ema_alpha: float = 0.2) -> None:
        if not isinstance(window_size, int) or window_size < 1:
            raise ValueError(f"window_size must be an int >= 1, got {window_size!r}")
        if not isinstance(warmup_runs, int) or warmup_runs < 0:
            raise ValueError(f"warmup_runs must be an int >= 0, got {warmup_runs!r}")
        if not is_finite_number(ema_alpha) or not 0.0 < ema_alpha <= 1.0:
            raise ValueError(f"ema_alpha must be in (0, 1], got {ema_alpha!r}")
        self._warmup_runs = warmup_runs
        self._ema_alpha = float(ema_alpha)
        self._window: deque = deque(maxlen=window_size)
        self._warmup_seen = 0
        self._ema = math.nan

    def add(self, ms: float) -> None:
        """Record one latency sample in milliseconds (finite, >= 0)."""
        if not is_finite_number(ms) or ms < 0:
            raise ValueError(f"latency must be a finite number >= 0 ms, got {ms!r}")
        if self._warmup_seen < self._warmup_runs:
            self._warmup_seen += 1
            return
        ms = float(ms)
        self._window.append(ms)
        if math.isnan(self._ema):
            self._ema = ms
        else:
            self._ema = self._ema_alpha * ms + (1.0 - self._ema_alpha) * self._ema

    def warmup_seen(self) -> int:
        """Number of samples discarded as warm-up so far."""
        return self._warmup_seen

    def count(self) -> int:
        """Number of samples in the rolling window."""
        return len(self._window)

    def last(self) -> float:
        """The most recent sample in the window, NaN if empty."""
        if not self._window:
            return math.nan
        return self._window[-1]

    def mean(self) -> float:
        """Mean of the window (summed in order, like the Java twin), NaN if empty."""
        if not self._window:
            return math.nan
        total = 0.0
        for value in self._window:
            total += value
        return total / len(self._window)

    def p50(self) -> float:
        """Nearest-rank median of the window, NaN if empty."""
        return self._percentile(50)

    def p90(self) -> float:
        """Nearest-rank 90th percentile of the window, NaN if empty."""
        return self._percentile(90)

    def ema(self) -> float:
        """Exponential moving average of all kept samples, NaN before the first."""
        return self._ema

    def _percentile(self, percent: int) -> float:
        if not self._window:
            return math.nan
        return _nearest_rank(sorted(self._window), percent)
