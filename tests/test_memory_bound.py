"""Long runs in flat memory (issue 29, point 6): the switch twin's loop keeps fixed-size windows,
not per-step history, and `--record` streams the trace to disk."""

import json
import math
import sys
import tracemalloc

from tflite_export.switch.cli import SwitchSettings, _switching_loop, trace_recorder
from tflite_export.switch.policy import Candidate, SelectorConfig, WidthSelector
from tflite_export.switch.trace_runner import run_trace

WIDTHS = (0.25, 0.5, 1.0)


class FakeModels:
    """A fast fake engine: latencies that cycle through a slow and a fast phase, so the
    selector keeps switching (every code path of a long run is exercised)."""

    widths = list(WIDTHS)

    def __init__(self, period=5000):
        self.period = period
        self.calls = 0

    def time(self, width):
        self.calls += 1
        slow = (self.calls // (self.period * len(WIDTHS))) % 2
        return width * (3.0 if slow else 1.0) + (self.calls % 7) * 0.01


def _selector(budget_ms=1.5):
    candidates = [Candidate(width=w, top1=math.nan, id=f"w{w}") for w in WIDTHS]
    selector = WidthSelector(candidates, budget_ms, SelectorConfig())
    selector.pick()
    return selector


def _settings(steps):
    return SwitchSettings(budget_ms=1.5, steps=steps, load_processes=0)


def test_a_million_steps_in_flat_memory():
    steps = 1_000_000
    selector, models = _selector(), FakeModels()
    _switching_loop(selector, models, _settings(10_000), 0, lambda row, pick: None)  # warm caches
    blocks = sys.getallocatedblocks()
    summary = _switching_loop(selector, models, _settings(steps), 0, lambda row, pick: None)
    grown = sys.getallocatedblocks() - blocks
    assert summary.steps == steps and summary.switches > 100  # the selector kept switching
    assert sum(summary.picked.values()) == steps
    assert grown < 1000, f"{grown} Python objects more after {steps} steps: per-step history is kept"


def test_the_loop_keeps_nothing_per_step_under_tracemalloc():
    """The same bound in bytes, on a shorter run (tracemalloc slows every allocation)."""
    selector, models = _selector(), FakeModels(period=500)
    _switching_loop(selector, models, _settings(2_000), 0, lambda row, pick: None)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _switching_loop(selector, models, _settings(50_000), 0, lambda row, pick: None)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes more after 50,000 steps"  # per-step rows: ~15 MB


def test_record_streams_a_replayable_trace(tmp_path):
    path = tmp_path / "trace.json"
    selector, models = _selector(), FakeModels(period=50)
    header = {"name": "t", "budget_ms": 1.5, "config": {}, "budget_changes": {},
              "models": [{"width": w, "top1": None} for w in WIDTHS], "fail_to_load": [], "startup": {}}
    seen = []
    with trace_recorder(path, header) as record:
        summary = _switching_loop(selector, models, _settings(3000), 0,
                                  lambda row, pick: (record(row, pick), seen.append(pick)))
    trace = json.loads(path.read_text())
    assert len(trace["steps"]) == len(trace["expected_picks"]) == summary.steps == 3000
    assert trace["expected_picks"] == seen and summary.switches > 10
    assert run_trace(trace) == seen  # replaying the file gives the live run's picks


def test_a_failed_recording_leaves_no_file(tmp_path):
    path = tmp_path / "trace.json"
    try:
        with trace_recorder(path, {"name": "t"}) as record:
            record({0.5: 1.0}, 0.5)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert list(tmp_path.iterdir()) == []


def test_switch_command_records_its_run(tmp_path, monkeypatch, capsys):
    """`python -m tflite_export.switch --record` end to end (on a fake engine): the streamed
    file is a trace that replays to the picks the run counted."""
    from test_export_errors import write_export

    from tflite_export.switch import cli as switch

    out, record = tmp_path / "export", tmp_path / "trace.json"
    write_export(out)
    monkeypatch.setattr(switch, "LoadedModels", lambda directory, entries, threads: FakeOneModel())
    assert switch.main([str(out), "--budget_ms=1", "--steps=300", f"--record={record}"]) == 0
    trace = json.loads(record.read_text())
    assert len(trace["steps"]) == 300 and run_trace(trace) == trace["expected_picks"] == [0.5] * 300
    assert "done: 300 steps, 0 switches" in capsys.readouterr().out


class FakeOneModel:
    """The engine of `write_export`'s one model (width 0.5)."""

    failed = []
    widths = [0.5]

    def time(self, width):
        return 0.5
