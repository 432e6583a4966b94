"""Width-switching policy for slimmable models on a latency budget (stdlib only).

This module is the Python twin of ``org.slimkeras.core.WidthSelector`` in
``android_demo/core`` (the latency statistics are in
:mod:`tflite_export.switch.latency_tracker`, the replay of recorded traces in
:mod:`tflite_export.switch.trace_runner`). Both implement the same rules, step for
step, so that a latency trace replayed in Python and in Java yields the same
list of picked widths. The trace files in ``android_demo/traces/*.json`` are
generated with these modules (``android_demo/traces/make_traces.py``) and
checked by both test suites.

The policy, in short: every candidate model (one precision, uniform widths,
ascending) has a :class:`LatencyTracker`. :meth:`WidthSelector.pick` chooses
the widest model whose p90 latency fits the budget; afterwards
:meth:`WidthSelector.on_result` steps one width down after ``down_after``
consecutive over-budget runs, and one width up after ``up_after`` consecutive
runs comfortably under budget, provided the wider neighbour is unmeasured or
its most recent sample (:meth:`LatencyTracker.last`) is within the budget.
:meth:`WidthSelector.next_probe` asks the driver to run the wider neighbour
once every ``probe_every`` runs so that its statistics stay fresh.

Why the step-up test looks at the last sample and not at the p90: after a
step down, the window of the model that was left still holds the over-budget
runs that caused the step, and only probes add to it. Judged by its p90, the
wider model would need most of its window replaced by probes (up to 18 probes,
~900 runs, with the defaults) before the selector could return to it; its
latest probe is the fresh evidence, so one probe within the budget is enough.
:meth:`WidthSelector.pick` still uses the p90 to decide what "fits".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Iterable, List, Optional

from tflite_export.switch.latency_tracker import LatencyTracker, is_finite_number

__all__ = [
    "WIDEST",
    "MAX_ACCURACY",
    "Candidate",
    "NoUsableModelError",
    "SelectorConfig",
    "StepResult",
    "WidthSelector",
]

WIDEST = "widest"
MAX_ACCURACY = "max_accuracy"
_MODES = (WIDEST, MAX_ACCURACY)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One selectable model: its width multiplier and top-1 accuracy.

    Candidates are compared by identity: pass the same objects to the
    selector's methods that were given to its constructor.
    """

    width: float
    top1: float = math.nan
    id: str = ""


@dataclass(frozen=True)
class SelectorConfig:
    """Tuning of :class:`WidthSelector` (defaults match the Java ``Config``)."""

    down_after: int = 3
    up_after: int = 10
    up_margin: float = 0.15
    probe_every: int = 50
    mode: str = WIDEST
    window_size: int = 20
    warmup_runs: int = 3
    ema_alpha: float = 0.2

    def __post_init__(self) -> None:
        for name in ("down_after", "up_after", "probe_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not is_finite_number(self.up_margin) or not 0.0 <= self.up_margin < 1.0:
            raise ValueError(f"up_margin must be in [0, 1), got {self.up_margin!r}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        LatencyTracker(self.window_size, self.warmup_runs, self.ema_alpha)  # validates

    @classmethod
    def from_dict(cls, overrides: Optional[Dict[str, Any]]) -> "SelectorConfig":
        """Build a config from a trace's ``"config"`` object (unknown keys rejected)."""
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
        return cls(**overrides)

    def new_tracker(self) -> LatencyTracker:
        """A tracker with this config's window, warm-up and EMA parameters."""
        return LatencyTracker(self.window_size, self.warmup_runs, self.ema_alpha)


class NoUsableModelError(RuntimeError):
    """Raised by :meth:`WidthSelector.pick` when every model failed to load."""


@dataclass(frozen=True)
class StepResult:
    """What one :meth:`WidthSelector.step` ran and decided.

    Attributes:
        ran: the model that was current when the step began; it ran once.
        ms: its latency.
        probe: the wider neighbour probed after it, or None.
        probe_ms: the probe's latency, or None without a probe.
        current: the current model after the step (the one to run next).
    """

    ran: Candidate
    ms: float
    probe: Optional[Candidate]
    probe_ms: Optional[float]
    current: Candidate

    @property
    def switched(self) -> bool:
        """Whether the step changed the current model."""
        return self.current is not self.ran


class WidthSelector:
    """Picks the model to run next from measured latencies and a budget.

    ``models`` are the candidates of one precision with uniform width, sorted by
    strictly increasing width. See the module docstring and
    ``android_demo/README.md`` for the rules; they are kept identical to the
    Java ``WidthSelector``.
    """

    def __init__(self, models: Iterable[Candidate], budget_ms: float,
                 config: Optional[SelectorConfig] = None) -> None:
        self._models: List[Candidate] = list(models)
        self._config = config if config is not None else SelectorConfig()
        if not self._models:
            raise ValueError("the model list is empty")
        for model in self._models:
            if not is_finite_number(model.width) or model.width <= 0:
                raise ValueError(f"model width must be > 0, got {model.width!r}")
            if self._config.mode == MAX_ACCURACY and not is_finite_number(model.top1):
                raise ValueError(
                    f"mode {MAX_ACCURACY!r} needs top1 for every model; width "
                    f"{model.width} has {model.top1!r}")
        for narrower, wider in zip(self._models, self._models[1:]):
            if not narrower.width < wider.width:
                raise ValueError(
                    "model widths must be strictly ascending; got "
                    f"{narrower.width} before {wider.width}")
        self._check_budget(budget_ms)
        self._budget = float(budget_ms)
        self._index = {id(model): i for i, model in enumerate(self._models)}
        self._trackers = [self._config.new_tracker() for _ in self._models]
        self._failed = [False] * len(self._models)
        self._current: Optional[int] = None
        self._over = 0
        self._under = 0
        self._runs_since_probe = 0

    # -- queries ---------------------------------------------------------
    @property
    def budget_ms(self) -> float:
        """The latency budget in milliseconds."""
        return self._budget

    @property
    def config(self) -> SelectorConfig:
        """The selector's configuration."""
        return self._config

    def models(self) -> List[Candidate]:
        """The candidates, narrowest first."""
        return list(self._models)

    def current(self) -> Optional[Candidate]:
        """The model to run now (None before the first :meth:`pick`)."""
        return None if self._current is None else self._models[self._current]

    def tracker(self, model: Candidate) -> LatencyTracker:
        """The latency tracker of ``model``."""
        return self._trackers[self._position(model)]

    def is_failed(self, model: Candidate) -> bool:
        """Whether ``model`` was marked as failed."""
        return self._failed[self._position(model)]

    # -- commands --------------------------------------------------------
    def mark_failed(self, model: Candidate) -> None:
        """Never pick ``model`` again; re-pick if it is the current model."""
        i = self._position(model)
        self._failed[i] = True
        if self._current == i:
            self.pick()

    def pick(self) -> Candidate:
        """Choose the current model from scratch and reset the counters.

        Among non-failed models that fit (have samples and p90 <= budget):
        the widest (mode ``widest``) or the most accurate, the narrower on a tie
        (mode ``max_accuracy``). If none fits: the model with the lowest p90
        among those with samples; if none has samples: the narrowest.
        """
        alive = [i for i in range(len(self._models)) if not self._failed[i]]
        if not alive:
            raise NoUsableModelError("every model failed to load")
        fitting = [i for i in alive if self._fits(i)]
        if fitting:
            chosen = self._best_of_fitting(fitting)
        else:
            measured = [i for i in alive if self._trackers[i].count() > 0]
            chosen = self._lowest_p90(measured) if measured else alive[0]
        self._switch_to(chosen)
        return self._models[chosen]

    def on_benchmark(self, model: Candidate, ms: float) -> None:
        """Record a start-up benchmark sample; changes no decision state."""
        self._trackers[self._position(model)].add(ms)

    def on_result(self, model: Candidate, ms: float) -> None:
        """Record a measured run and apply the switching rules if it is current."""
        i = self._position(model)
        self._trackers[i].add(ms)
        if i != self._current:
            return  # a probe: statistics only
        self._runs_since_probe += 1
        cfg = self._config
        if ms > self._budget:
            self._over += 1
            self._under = 0
            if self._over >= cfg.down_after:
                narrower = self._neighbour(i, -1)
                if narrower is not None:
                    self._switch_to(narrower)
                self._over = self._under = 0
        elif ms <= self._budget * (1.0 - cfg.up_margin):
            self._under += 1
            self._over = 0
            if self._under >= cfg.up_after:
                wider = self._neighbour(i, +1)
                if wider is not None and self._may_step_up(i, wider):
                    self._switch_to(wider)
                self._over = self._under = 0
        else:
            self._over = self._under = 0

    def step(self, run_model: Callable[[Candidate], float]) -> StepResult:
        """Runs the current model once and, when one is due, a probe; applies the rules.

        Exactly: (1) ``ms = run_model(current)``, then :meth:`on_result` with it
        (which may switch); (2) if :meth:`next_probe` then names a model (the wider
        neighbour of the model current after (1)), ``probe_ms = run_model(probe)``
        and :meth:`on_result` with it (statistics only: the probe is not current);
        (3) returns both runs and the current model after them.

        Args:
            run_model: runs a candidate once and returns its latency in ms.

        Raises:
            RuntimeError: :meth:`pick` was never called.
        """
        ran = self.current()
        if ran is None:
            raise RuntimeError("call pick() before step()")
        ms = run_model(ran)
        self.on_result(ran, ms)
        probe = self.next_probe()
        probe_ms = None
        if probe is not None:
            probe_ms = run_model(probe)
            self.on_result(probe, probe_ms)
        return StepResult(ran, ms, probe, probe_ms, self.current())

    def next_probe(self) -> Optional[Candidate]:
        """The wider neighbour to run once now, or None.

        Due every ``probe_every`` runs of the current model; the driver reports
        the probe's latency with :meth:`on_result`.
        """
        if self._current is None or self._runs_since_probe < self._config.probe_every:
            return None
        wider = self._neighbour(self._current, +1)
        if wider is None:
            return None
        self._runs_since_probe = 0
        return self._models[wider]

    def set_budget(self, budget_ms: float) -> Candidate:
        """Change the budget and re-pick."""
        self._check_budget(budget_ms)
        self._budget = float(budget_ms)
        return self.pick()

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _check_budget(budget_ms: Any) -> None:
        if not is_finite_number(budget_ms) or budget_ms <= 0:
            raise ValueError(f"budget must be a finite number > 0 ms, got {budget_ms!r}")

    def _position(self, model: Candidate) -> int:
        try:
            return self._index[id(model)]
        except KeyError:
            raise ValueError(f"{model!r} is not one of this selector's models") from None

    def _fits(self, i: int) -> bool:
        tracker = self._trackers[i]
        return tracker.count() > 0 and tracker.p90() <= self._budget

    def _best_of_fitting(self, fitting: List[int]) -> int:
        if self._config.mode == WIDEST:
            return fitting[-1]
        best = fitting[0]
        for i in fitting[1:]:
            if self._models[i].top1 > self._models[best].top1:
                best = i
        return best

    def _lowest_p90(self, measured: List[int]) -> int:
        best = measured[0]
        for i in measured[1:]:
            if self._trackers[i].p90() < self._trackers[best].p90():
                best = i
        return best

    def _neighbour(self, i: int, step: int) -> Optional[int]:
        """The nearest non-failed model from ``i`` in direction ``step``."""
        j = i + step
        while 0 <= j < len(self._models):
            if not self._failed[j]:
                return j
            j += step
        return None

    def _may_step_up(self, current: int, wider: int) -> bool:
        """Whether ``up_after`` under-margin runs may switch from ``current`` to ``wider``.

        ``wider`` qualifies if it has no samples or its most recent sample is
        within the budget (not its p90: after a step down its window still holds
        the over-budget runs that caused the step, and its latest probe is the
        fresh evidence). MAX_ACCURACY also requires it to be more accurate.
        """
        tracker = self._trackers[wider]
        if tracker.count() > 0 and not tracker.last() <= self._budget:
            return False
        if self._config.mode == MAX_ACCURACY:
            return self._models[wider].top1 > self._models[current].top1
        return True

    def _switch_to(self, i: int) -> None:
        self._current = i
        self._over = self._under = 0
        self._runs_since_probe = 0
