"""Replay of recorded latency traces through the width-switching policy (stdlib only).

A trace (``android_demo/traces/*.json``, or ``python -m tflite_export.switch
--record``) holds per step the latency every model would have had; replaying it
through :class:`~tflite_export.switch.policy.WidthSelector` gives the width picked
after each step. The Java ``org.slimkeras.core.TraceRunner`` replays the same
files and must give the same picks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Union

from tflite_export.switch.policy import Candidate, SelectorConfig, WidthSelector

__all__ = ["load_trace", "run_trace"]

_TRACE_KEYS = ("budget_ms", "models", "steps")


def load_trace(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a trace JSON file (see ``android_demo/traces``) and check its keys."""
    with open(path, encoding="utf-8") as handle:
        trace = json.load(handle)
    if not isinstance(trace, dict):
        raise ValueError(f"{path}: a trace must be a JSON object")
    missing = [key for key in _TRACE_KEYS if key not in trace]
    if missing:
        raise ValueError(f"{path}: trace lacks {missing}")
    return trace


def _width_key_map(mapping: Dict[str, Any], what: str) -> Dict[float, Any]:
    """Turn ``{"0.25": value}`` into ``{0.25: value}``."""
    try:
        return {float(key): value for key, value in mapping.items()}
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{what} must be an object keyed by width strings") from None


def run_trace(trace: Dict[str, Any]) -> List[float]:
    """Replay a trace through a :class:`WidthSelector`; return the picked widths.

    The loop is the one of the Java ``TraceRunner``: mark failed models, feed
    the start-up samples (ascending width), pick, then per step apply a budget
    change, :meth:`WidthSelector.step` with the step's latencies, and record the
    current width.

    Args:
        trace: a trace as :func:`load_trace` returns it.
    """
    selector = _started_selector(trace)
    steps = trace["steps"]
    budget_changes = {int(t): budget for t, budget in trace.get("budget_changes", {}).items()}
    for t in budget_changes:
        if not 0 <= t < len(steps):
            raise ValueError(f"budget change at step {t} is outside 0..{len(steps) - 1}")
    picks: List[float] = []
    for t, raw_row in enumerate(steps):
        row = _width_key_map(raw_row, f"step {t}")
        if t in budget_changes:
            selector.set_budget(budget_changes[t])

        def latency(model: Candidate, row=row, t=t) -> float:
            if model.width not in row:
                raise ValueError(f"step {t} has no latency for width {model.width}")
            return row[model.width]

        picks.append(selector.step(latency).current.width)
    return picks


def _started_selector(trace: Dict[str, Any]) -> WidthSelector:
    """The trace's selector after failed models, start-up samples and the first pick."""
    models = [Candidate(width=m["width"],
                        top1=math.nan if m.get("top1") is None else m["top1"])
              for m in trace["models"]]
    by_width = {m.width: m for m in models}
    selector = WidthSelector(models, trace["budget_ms"],
                             SelectorConfig.from_dict(trace.get("config")))
    for width in trace.get("fail_to_load", []):
        if width not in by_width:
            raise ValueError(f"width {width!r} is not one of the trace's models")
        selector.mark_failed(by_width[width])
    startup = _width_key_map(trace.get("startup", {}), "startup")
    for model in models:
        for ms in startup.get(model.width, []):
            selector.on_benchmark(model, ms)
    selector.pick()
    return selector
