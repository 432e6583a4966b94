#!/usr/bin/env python3
"""Generate the latency traces in this folder (stdlib only, fixed seeds).

Each trace is a synthetic per-step latency table for four widths of one
model; ``expected_picks`` is computed with the Python policy twin
(``tflite_export/switch/policy.py``). The Java ``TraceRunner`` tests and
``tests/test_switch_policy.py`` both replay every ``*.json`` here and must
reproduce ``expected_picks`` exactly.

Run from anywhere: ``python android_demo/traces/make_traces.py``.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

TRACES_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TRACES_DIR.parents[1]))

from tflite_export.switch.trace_runner import run_trace  # noqa: E402

WIDTHS = [0.25, 0.5, 0.75, 1.0]
BASE_MS = {0.25: 0.9, 0.5: 1.6, 0.75: 2.6, 1.0: 3.9}
TOP1 = {0.25: 0.868, 0.5: 0.875, 0.75: 0.887, 1.0: 0.898}
NOISE_SIGMA = 0.05       # multiplicative log-normal noise of every sample
JITTER_PROB = 0.03       # chance that one sample is a single-run hiccup
JITTER_FACTOR = 1.35
STARTUP_RUNS = 8         # the first 3 are slow warm-up runs, as on a phone
STARTUP_WARMUP_FACTOR = 1.5

Load = Callable[[int], float]


def steady(_: int) -> float:
    """No extra load."""
    return 1.0


def thermal(t: int) -> float:
    """Ramp up by 60 % over steps 60-140, hold to 200, recover by 260."""
    if t < 60:
        return 1.0
    if t < 140:
        return 1.0 + 0.6 * (t - 60) / 80
    if t < 200:
        return 1.6
    if t < 260:
        return 1.6 - 0.6 * (t - 200) / 60
    return 1.0


def spike(t: int) -> float:
    """A background job doubles every latency for steps 100-139."""
    return 2.0 if 100 <= t < 140 else 1.0


def sample(rng: random.Random, width: float, factor: float) -> float:
    """One latency sample in ms, rounded to microseconds."""
    ms = BASE_MS[width] * factor * math.exp(rng.gauss(0.0, NOISE_SIGMA))
    if rng.random() < JITTER_PROB:
        ms *= JITTER_FACTOR
    return round(ms, 3)


def make_trace(name: str, description: str, seed: int, n_steps: int, budget_ms: float,
               load: Load = steady, config: Optional[Dict] = None,
               top1: Optional[Dict[float, float]] = None, fail_to_load: Sequence[float] = (),
               with_startup: bool = True,
               budget_changes: Optional[Dict[int, float]] = None) -> Dict:
    """Build one trace dict, expected picks included."""
    rng = random.Random(seed)
    top1 = top1 or TOP1
    startup = {}
    if with_startup:
        for w in WIDTHS:
            if w in fail_to_load:
                continue
            startup[str(w)] = [
                sample(rng, w, STARTUP_WARMUP_FACTOR if i < 3 else 1.0)
                for i in range(STARTUP_RUNS)]
    steps = [{str(w): sample(rng, w, load(t)) for w in WIDTHS} for t in range(n_steps)]
    trace = {
        "name": name,
        "description": description,
        "budget_ms": budget_ms,
        "config": config or {},
        "models": [{"width": w, "top1": top1[w]} for w in WIDTHS],
        "fail_to_load": list(fail_to_load),
        "startup": startup,
        "budget_changes": {str(t): b for t, b in (budget_changes or {}).items()},
        "steps": steps,
    }
    trace["expected_picks"] = run_trace(trace)
    return trace


def all_traces() -> List[Dict]:
    """The trace set kept in this folder."""
    return [
        make_trace(
            "steady_load", "Constant load at a 3.0 ms budget: settles on width 0.75; "
            "probes of 1.0 keep failing the budget.",
            seed=1, n_steps=200, budget_ms=3.0),
        make_trace(
            "thermal_throttling", "Latencies ramp up by 60 % (steps 60-140), hold, and "
            "recover by step 260, with the default config: the selector steps down to "
            "0.5 at step 83; width 0.75's window still holds throttled samples (p90 over "
            "budget), but its probe at step 283 is within budget, so the selector steps "
            "back up to 0.75 at step 288, after the next 10 runs under the margin count.",
            seed=2, n_steps=400, budget_ms=3.0, load=thermal),
        make_trace(
            "background_load_spike", "A background job doubles latencies for steps "
            "100-139 (budget 3.0 ms), with a short window (5) and frequent probes (every "
            "10 runs): the selector steps down to 0.25 and, as probes within budget come "
            "in after the spike, back up to 0.5 (step 153) and 0.75 (step 173).",
            seed=3, n_steps=300, budget_ms=3.0, load=spike,
            config={"window_size": 5, "probe_every": 10}),
        make_trace(
            "budget_change", "Budget 3.0 ms, lowered to 2.0 ms at step 80 and raised "
            "to 5.0 ms at step 160; each change re-picks at once.",
            seed=4, n_steps=240, budget_ms=3.0, budget_changes={80: 2.0, 160: 5.0}),
        make_trace(
            "fail_to_load", "Width 0.5 fails to load and there is no start-up benchmark "
            "(budget 3.4 ms): the selector starts at the narrowest width, climbs past "
            "0.5 to 0.75 and tries unmeasured 1.0 twice (its first 3 runs are "
            "discarded as warm-up, so it is still unmeasured after the first try) "
            "before settling on 0.75.",
            seed=5, n_steps=200, budget_ms=3.4, fail_to_load=[0.5], with_startup=False),
        make_trace(
            "max_accuracy", "MAX_ACCURACY mode with an int8 width 1.0 that is less "
            "accurate than 0.75: 0.75 is kept although 1.0 fits; the budget drops to "
            "2.4 ms at step 100 (-> 0.5) and returns to 5.0 ms at step 150.",
            seed=6, n_steps=200, budget_ms=5.0, config={"mode": "max_accuracy"},
            top1={0.25: 0.868, 0.5: 0.881, 0.75: 0.889, 1.0: 0.884},
            budget_changes={100: 2.4, 150: 5.0}),
    ]


def run_lengths(picks: List[float]) -> str:
    """'0.75x200' style summary of a pick list."""
    out, start = [], 0
    for i in range(1, len(picks) + 1):
        if i == len(picks) or picks[i] != picks[start]:
            out.append(f"{picks[start]}x{i - start}")
            start = i
    return ", ".join(out)


def main() -> None:
    for trace in all_traces():
        path = TRACES_DIR / f"{trace['name']}.json"
        path.write_text(json.dumps(trace, indent=1) + "\n", encoding="utf-8")
        print(f"{path.name}: {len(trace['steps'])} steps; picks {run_lengths(trace['expected_picks'])}")


if __name__ == "__main__":
    main()
