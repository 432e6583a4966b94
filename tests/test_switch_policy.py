"""Tests of tflite_export.switch.policy, the Python twin of the Android WidthSelector.

The rule tests use expectations derived by hand from the rules in
android_demo/README.md (the same cases are checked in the Java core's
WidthSelectorTest); the trace tests replay every android_demo/traces/*.json.
"""

import math
from pathlib import Path

import pytest

from tflite_export.switch.latency_tracker import LatencyTracker
from tflite_export.switch.policy import (
    MAX_ACCURACY,
    Candidate,
    NoUsableModelError,
    SelectorConfig,
    WidthSelector,
)
from tflite_export.switch.trace_runner import load_trace, run_trace

TRACES_DIR = Path(__file__).parents[1] / "android_demo" / "traces"
TRACE_FILES = sorted(TRACES_DIR.glob("*.json"))

#: no warm-up discarding, so every reported sample counts
NO_WARMUP = SelectorConfig(warmup_runs=0)
BUDGET = 10.0  # under-margin threshold: 10 * (1 - 0.15) = 8.5


def three_models(top1=(0.80, 0.85, 0.90)):
    return [Candidate(0.25, top1[0]), Candidate(0.5, top1[1]), Candidate(0.75, top1[2])]


def benchmarked(latencies, config=NO_WARMUP, budget=BUDGET, top1=(0.80, 0.85, 0.90)):
    """A selector whose models got one benchmark sample each (None: no sample)."""
    models = three_models(top1)
    selector = WidthSelector(models, budget, config)
    for model, ms in zip(models, latencies):
        if ms is not None:
            selector.on_benchmark(model, ms)
    selector.pick()
    return selector, models


# -- LatencyTracker ------------------------------------------------------------
def test_tracker_discards_warmup_and_reports_nan_when_empty():
    tracker = LatencyTracker(window_size=4, warmup_runs=2, ema_alpha=0.5)
    tracker.add(100.0)
    tracker.add(200.0)
    assert tracker.warmup_seen() == 2
    assert tracker.count() == 0
    assert math.isnan(tracker.mean()) and math.isnan(tracker.p90())
    assert math.isnan(tracker.p50()) and math.isnan(tracker.ema())
    assert math.isnan(tracker.last())


def test_tracker_statistics_match_hand_computed_values():
    tracker = LatencyTracker(window_size=4, warmup_runs=2, ema_alpha=0.5)
    for ms in (100.0, 200.0, 1.0, 2.0, 3.0):
        tracker.add(ms)
    assert tracker.count() == 3
    assert tracker.mean() == 2.0
    assert tracker.p50() == 2.0   # sorted[ceil(1.5) - 1]
    assert tracker.p90() == 3.0   # sorted[ceil(2.7) - 1]
    assert tracker.ema() == 2.25  # 1 -> 1.5 -> 2.25
    assert tracker.last() == 3.0
    tracker.add(10.0)
    tracker.add(20.0)             # window is now [2, 3, 10, 20]
    assert tracker.last() == 20.0
    assert tracker.count() == 4
    assert tracker.mean() == 8.75
    assert tracker.p50() == 3.0   # sorted[ceil(2.0) - 1]
    assert tracker.p90() == 20.0  # sorted[ceil(3.6) - 1]
    assert tracker.ema() == 13.0625  # 6.125 -> 13.0625


@pytest.mark.parametrize("n, p50, p90", [(10, 5.0, 9.0), (20, 10.0, 18.0), (7, 4.0, 7.0)])
def test_tracker_nearest_rank_on_exact_multiples(n, p50, p90):
    tracker = LatencyTracker(window_size=n, warmup_runs=0)
    for ms in range(n, 0, -1):
        tracker.add(float(ms))
    assert (tracker.p50(), tracker.p90()) == (p50, p90)


def test_tracker_default_warmup_is_three():
    tracker = LatencyTracker()
    for _ in range(3):
        tracker.add(5.0)
    assert tracker.count() == 0
    tracker.add(5.0)
    assert tracker.count() == 1


@pytest.mark.parametrize("kwargs", [{"window_size": 0}, {"warmup_runs": -1},
                                    {"ema_alpha": 0.0}, {"ema_alpha": 1.5}])
def test_tracker_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        LatencyTracker(**kwargs)


@pytest.mark.parametrize("ms", [-1.0, math.nan, math.inf])
def test_tracker_rejects_bad_samples(ms):
    with pytest.raises(ValueError):
        LatencyTracker().add(ms)


# -- pick() --------------------------------------------------------------------
def test_pick_without_samples_takes_the_narrowest():
    selector, models = benchmarked([None, None, None])
    assert selector.current() is models[0]


def test_pick_takes_the_widest_that_fits():
    selector, models = benchmarked([5.0, 8.0, 12.0])
    assert selector.current() is models[1]


def test_pick_with_nothing_fitting_takes_the_lowest_p90():
    selector, models = benchmarked([11.0, None, 15.0])
    assert selector.current() is models[0]
    selector, models = benchmarked([None, 12.0, 11.0])
    assert selector.current() is models[2]


def test_pick_in_max_accuracy_mode_takes_the_most_accurate_narrower_on_ties():
    config = SelectorConfig(warmup_runs=0, mode=MAX_ACCURACY)
    selector, models = benchmarked([5.0, 8.0, 9.0], config, top1=(0.80, 0.90, 0.85))
    assert selector.current() is models[1]
    selector, models = benchmarked([5.0, 8.0, 9.0], config, top1=(0.90, 0.90, 0.85))
    assert selector.current() is models[0]


def test_set_budget_repicks():
    selector, models = benchmarked([5.0, 8.0, 12.0])
    assert selector.set_budget(13.0) is models[2]
    assert selector.set_budget(6.0) is models[0]
    assert selector.budget_ms == 6.0


# -- switching down / up ---------------------------------------------------------
def test_k_minus_one_over_budget_runs_stay_k_switch_down():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    assert selector.current() is models[2]
    selector.on_result(models[2], 11.0)
    selector.on_result(models[2], 11.0)
    assert selector.current() is models[2]
    selector.on_result(models[2], 11.0)
    assert selector.current() is models[1]


def test_a_run_inside_the_band_resets_the_over_count():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    for ms in (11.0, 11.0, 9.5, 11.0, 11.0):  # 9.5 is in (8.5, 10]
        selector.on_result(models[2], ms)
    assert selector.current() is models[2]


def test_the_narrowest_model_stays_when_over_budget():
    selector, models = benchmarked([5.0, 12.0, 13.0])
    for _ in range(3):
        selector.on_result(models[0], 11.0)
    assert selector.current() is models[0]


def test_m_under_margin_runs_step_up_to_an_unmeasured_neighbour():
    selector, models = benchmarked([5.0, 8.0, None])
    assert selector.current() is models[1]
    for _ in range(9):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]
    selector.on_result(models[1], 4.0)
    assert selector.current() is models[2]


def test_stepping_up_follows_the_neighbours_last_probe_not_its_p90():
    selector, models = benchmarked([5.0, 8.0, 9.0])   # window 20
    assert selector.current() is models[2]
    for _ in range(3):
        selector.on_result(models[2], 11.0)       # down to 0.5; 0.75's window [9, 11, 11, 11]
    assert selector.current() is models[1]
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]        # 0.75's last sample is 11 > 10
    selector.on_result(models[2], 10.5)           # a probe over budget
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]        # last 10.5 > 10
    selector.on_result(models[2], 9.0)            # a probe: [9, 11, 11, 11, 10.5, 9]
    wider = selector.tracker(models[2])
    assert (wider.p90(), wider.last()) == (11.0, 9.0)  # sorted[ceil(5.4) - 1] = 11
    for _ in range(9):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]        # only 9 under-margin runs
    selector.on_result(models[1], 4.0)
    assert selector.current() is models[2]        # p90 11 > 10, but last 9 <= 10


def test_a_last_probe_over_budget_blocks_stepping_up_even_if_the_p90_fits():
    selector, models = benchmarked([5.0, 8.0, None])
    assert selector.current() is models[1]
    for _ in range(10):
        selector.on_result(models[2], 9.0)        # probes of 0.75 (not current)
    selector.on_result(models[2], 11.0)           # window [9 x 10, 11]
    wider = selector.tracker(models[2])
    assert (wider.p90(), wider.last()) == (9.0, 11.0)  # sorted[ceil(9.9) - 1] = 9
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]        # last 11 > 10
    selector.on_result(models[2], 10.0)           # last 10 <= 10 (budget inclusive)
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[2]


def test_max_accuracy_does_not_step_up_to_a_less_accurate_model():
    config = SelectorConfig(warmup_runs=0, mode=MAX_ACCURACY)
    selector, models = benchmarked([5.0, 8.0, 9.0], config, top1=(0.80, 0.90, 0.85))
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]


def test_results_of_a_non_current_model_only_update_its_tracker():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    for _ in range(5):
        selector.on_result(models[0], 50.0)
    assert selector.current() is models[2]
    assert selector.tracker(models[0]).count() == 6


# -- failures ----------------------------------------------------------------
def test_failed_model_is_never_picked_and_current_failure_repicks():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    selector.mark_failed(models[2])
    assert selector.current() is models[1]
    for _ in range(10):
        selector.on_result(models[1], 4.0)
    assert selector.current() is models[1]
    for _ in range(60):
        selector.on_result(models[1], 9.0)
        assert selector.next_probe() is None
    assert selector.set_budget(100.0) is models[1]


def test_switching_down_skips_a_failed_model():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    selector.mark_failed(models[1])
    for _ in range(3):
        selector.on_result(models[2], 11.0)
    assert selector.current() is models[0]


def test_every_model_failed_raises():
    selector, models = benchmarked([5.0, 8.0, 9.0])
    selector.mark_failed(models[0])
    selector.mark_failed(models[1])
    with pytest.raises(NoUsableModelError):
        selector.mark_failed(models[2])


# -- probes ------------------------------------------------------------------
def test_probe_is_due_every_p_runs_of_the_current_model():
    config = SelectorConfig(warmup_runs=0, probe_every=3)
    selector, models = benchmarked([5.0, 8.0, 12.0], config)
    assert selector.current() is models[1]
    for _ in range(2):
        selector.on_result(models[1], 9.0)
        assert selector.next_probe() is None
    selector.on_result(models[1], 9.0)
    assert selector.next_probe() is models[2]
    assert selector.next_probe() is None


def test_no_probe_at_the_widest_model():
    config = SelectorConfig(warmup_runs=0, probe_every=1)
    selector, models = benchmarked([5.0, 8.0, 9.0], config)
    selector.on_result(models[2], 9.0)
    assert selector.next_probe() is None


# -- step() -------------------------------------------------------------------
def test_step_runs_the_current_model_then_a_due_probe_of_the_new_current_ones_neighbour():
    config = SelectorConfig(warmup_runs=0, probe_every=2, down_after=1)
    selector, models = benchmarked([5.0, 8.0, None], config)
    assert selector.current() is models[1]
    latencies = {0.25: 3.0, 0.5: 9.0, 0.75: 12.0}
    calls = []

    def run_model(model):
        calls.append(model.width)
        return latencies[model.width]

    first = selector.step(run_model)            # 9.0 in band: no switch, no probe yet
    assert calls == [0.5] and first.ran is models[1] and first.ms == 9.0
    assert first.probe is None and first.probe_ms is None and first.current is models[1]
    assert not first.switched
    second = selector.step(run_model)           # second run of 0.5: its probe of 0.75 is due
    assert calls == [0.5, 0.5, 0.75]
    assert (second.probe, second.probe_ms, second.current) == (models[2], 12.0, models[1])
    assert selector.tracker(models[2]).last() == 12.0
    latencies[0.5] = 11.0                        # over budget, down_after=1: switch to 0.25
    third = selector.step(run_model)
    assert calls == [0.5, 0.5, 0.75, 0.5]       # a switch resets the probe count: no probe
    assert third.ran is models[1] and third.current is models[0] and third.switched


def test_step_before_pick_raises():
    selector = WidthSelector(three_models(), BUDGET, NO_WARMUP)
    with pytest.raises(RuntimeError, match="pick"):
        selector.step(lambda model: 1.0)


# -- validation -------------------------------------------------------------
@pytest.mark.parametrize("budget", [0.0, -1.0, math.nan, math.inf])
def test_bad_budget_raises(budget):
    with pytest.raises(ValueError, match="budget"):
        WidthSelector(three_models(), budget)


def test_empty_model_list_raises():
    with pytest.raises(ValueError, match="empty"):
        WidthSelector([], BUDGET)


@pytest.mark.parametrize("widths", [(0.5, 0.25), (0.5, 0.5)])
def test_widths_not_ascending_raise(widths):
    with pytest.raises(ValueError, match="ascending"):
        WidthSelector([Candidate(w, 0.8) for w in widths], BUDGET)


def test_max_accuracy_needs_top1():
    with pytest.raises(ValueError, match="top1"):
        WidthSelector([Candidate(0.5)], BUDGET, SelectorConfig(mode=MAX_ACCURACY))


def test_unknown_model_raises():
    selector, _ = benchmarked([5.0, 8.0, 9.0])
    with pytest.raises(ValueError, match="not one of"):
        selector.on_result(Candidate(0.25, 0.8), 1.0)


@pytest.mark.parametrize("overrides", [{"down_after": 0}, {"up_margin": 1.0},
                                       {"mode": "fastest"}, {"no_such_key": 1}])
def test_bad_config_raises(overrides):
    with pytest.raises(ValueError):
        SelectorConfig.from_dict(overrides)


# -- traces -----------------------------------------------------------------------
#: rows t0..t7 and t8..t15 of the hand trace below
SLOW_WIDE = {"0.5": 4.0, "1.0": 12.0}
FAST_WIDE = {"0.5": 4.0, "1.0": 9.0}
HAND_TRACE = {
    "name": "hand_derived",
    "budget_ms": 10.0,
    "config": {"down_after": 2, "up_after": 3, "probe_every": 4,
               "warmup_runs": 0, "window_size": 2},
    "models": [{"width": 0.5, "top1": 0.85}, {"width": 1.0, "top1": 0.9}],
    "fail_to_load": [],
    "startup": {},
    "budget_changes": {"15": 8.0},
    "steps": [SLOW_WIDE] * 8 + [FAST_WIDE] * 8,
}
# t0 no samples -> 0.5; t2 third under-margin run, 1.0 unmeasured -> up;
# t4 second over-budget run -> down, 1.0's window [12, 12]; t7 up blocked (last 12);
# t8 probe -> [12, 9]: p90 12 > 10 but last 9; t10 third under-margin run -> up;
# t11-t14 1.0 runs 9, in band (8.5, 10], and 1.0 is widest (no probes);
# t15 budget 8 -> re-pick: 1.0's p90 of [9, 9] is 9 > 8, 0.5 fits.
HAND_PICKS = [0.5, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5,
              0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]


def test_hand_derived_trace():
    assert run_trace(HAND_TRACE) == HAND_PICKS


def test_failed_model_in_a_trace_is_never_picked_even_if_fastest():
    trace = {
        "budget_ms": 10.0,
        "config": {"warmup_runs": 0, "up_after": 2},
        "models": [{"width": 0.25, "top1": 0.8}, {"width": 0.5, "top1": 0.85},
                   {"width": 1.0, "top1": 0.9}],
        "fail_to_load": [0.5],
        "startup": {"0.25": [3.0], "1.0": [20.0]},
        "steps": [{"0.25": 3.0, "0.5": 1.0, "1.0": 20.0}] * 4,
    }
    assert run_trace(trace) == [0.25] * 4


def test_trace_folder_has_the_promised_traces():
    names = {path.stem for path in TRACE_FILES}
    assert {"steady_load", "thermal_throttling", "background_load_spike",
            "budget_change", "fail_to_load", "max_accuracy"} <= names


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_trace_file_expected_picks_are_reproduced(path):
    trace = load_trace(path)
    assert 150 <= len(trace["steps"]) <= 400
    assert len(trace["expected_picks"]) == len(trace["steps"])
    assert run_trace(trace) == trace["expected_picks"]
