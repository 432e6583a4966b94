"""The benchmark helpers: interleaved timing (medians of per-round ratios, from a fake
clock), result rows, the report writer, and one benchmark function on a tiny case.
No timing is asserted."""

import json

import numpy as np
import pytest

from benchmarks import common
from slimkeras.io import write_text_atomic
from fashion_data import needs_fashion


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_candidates(clock, durations, calls):
    """Candidates that advance the fake clock by their next duration and log their name."""
    def make(name):
        it = iter(durations[name])

        def fn():
            calls.append(name)
            clock.now += next(it)
        return fn
    return {name: make(name) for name in durations}


def test_interleaved_medians_and_median_of_per_round_ratios():
    clock, calls = FakeClock(), []
    durations = {"a": [100.0, 2.0, 4.0, 6.0, 50.0], "b": [100.0, 1.0, 1.0, 3.0, 1.0]}  # first: warmup
    t = common.interleaved(fake_candidates(clock, durations, calls), repeats=4, warmup=1,
                           clock=clock, cpu_clock=clock)
    # warmup untimed; order alternates a b | b a | a b | b a
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    np.testing.assert_allclose(t.times, [[2, 1], [4, 1], [6, 3], [50, 1]])
    assert t == {"a": 5.0, "b": 1.0}  # medians per candidate
    # per-round ratios 2, 4, 2, 50 -> median 3 (not 5/1, the ratio of the medians)
    assert t.ratio("a", "b") == pytest.approx(3.0)
    assert t.ratio("a", "b", scale_b=2.0) == pytest.approx(1.5)
    assert t.spread("a", "b") == pytest.approx((2.0, 15.5))
    assert t.cpu is not None and t.cpu.ratio("a", "b") == pytest.approx(3.0)


def test_interleaved_number_divides_and_may_differ_per_candidate():
    clock, calls = FakeClock(), []
    durations = {"x": [1.0] * 6, "y": [3.0] * 2}
    t = common.interleaved(fake_candidates(clock, durations, calls), repeats=2, warmup=0,
                           number={"x": 3, "y": 1}, clock=clock, cpu_clock=None)
    assert t == {"x": 1.0, "y": 3.0} and t.cpu is None
    assert t.ratio("y", "x") == pytest.approx(3.0)
    with pytest.raises(ValueError):
        common.interleaved({"x": lambda: None}, repeats=0)


def test_rows_tables_and_report(tmp_path, capsys):
    from benchmarks import run

    section = common.Section("demo", "Demo")
    passed = section.figure("f", "case 1", 1.01, 1.05, (1.0, 1.02), cpu_ratio=1.0)
    missed = section.figure("f", "case 2", 1.3, 1.05)
    reported = section.figure("g", "case 3", 0.5)
    assert (passed["status"], missed["status"], reported["status"]) == ("PASS", "MISS", "reported")
    table = section.table("t", ["a", "b"])
    table.add("x", 1.5)
    with pytest.raises(ValueError):
        table.add("only one value")
    assert "case 2: 1.300" in capsys.readouterr().out
    report = {"date": "today", "quick": True, "seconds": 1.0, "machine": common.machine(),
              "load_note": run.shared_machine_note([[9.0, 1, 1]], 2, 0.6), "sections": [section.as_dict()],
              "analysis": None}
    path = tmp_path / "results"
    write_text_atomic(f"{path}.json", common.dumps(report))
    write_text_atomic(f"{path}.md", run.markdown(report))
    text = (tmp_path / "results.md").read_text()
    assert "| f | case 2 | 1.300 | - | - | - | <= 1.05 | MISS |" in text
    assert "| f | case 1 | 1.010 | 1.000-1.020 | 1.000 | - | <= 1.05 | PASS |" in text
    assert "shared with other jobs" in text and "60% of the machine" in text and "| x | 1.500 |" in text
    assert "shared" not in run.shared_machine_note([[1.0, 1, 1]], 2, 0.02)
    assert json.loads((tmp_path / "results.json").read_text())["sections"][0]["rows"][0]["status"] == "PASS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]  # no temp files left


def test_forward_compare_on_a_tiny_model():
    import tensorflow as tf

    from benchmarks import forward

    model = forward.build("mobilenet_v1", 32)
    x = tf.random.normal((2, 32, 32, 3))
    dynamic_fn = forward.forward_fn(model)
    timings, diff = forward.compare(model, 0.25, x, repeats=2, number=1, dynamic_fn=dynamic_fn)
    assert set(timings) == {"slim", "dynamic", "plain"} and timings.times.shape == (2, 3)
    assert timings.ratio("slim", "plain") > 0 and diff < 1e-4
    forward.compare(model, 1.0, x, repeats=1, number=1, dynamic_fn=dynamic_fn)
    assert dynamic_fn.experimental_get_tracing_count() == 1  # one trace for both widths
    assert model.inference_function(0.25).experimental_get_tracing_count() == 1  # kept, not retraced


def test_run_rejects_unknown_benchmarks():
    from benchmarks import run

    with pytest.raises(SystemExit):
        run.parse_args(["--only=nope"])
    args = run.parse_args(["--only=forward", "--quick"])
    assert args.only == ["forward"] and args.out.endswith("results_quick")


@needs_fashion
def test_scaling_benchmark_feeds_the_batches_training_feeds():
    from benchmarks import scaling
    from training import build

    cfg = scaling.parse(["--batch_size=64"])
    benchmark_batches, _ = scaling.datasets(cfg)
    training_batches = build.build_datasets(cfg).train_from(0)
    for (x, y), (x_ref, y_ref) in zip(benchmark_batches.take(2), training_batches.take(2)):
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())  # augmented the same way
