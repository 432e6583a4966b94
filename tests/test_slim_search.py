"""tflite_export.search: the greedy search rules (no model), the command line's errors, and an
end-to-end search on a tiny quickly trained US-Net (slow)."""

import json
import math
import os
import subprocess
import sys

import pytest

from slimkeras.width import WidthConfig
from tflite_export import search as ss

pytestmark = pytest.mark.xdist_group(__name__)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- targets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("0.025", (0.025, False)), ("2", (2.0, False)), ("50e6", (50e6, False)),
    ("65%", (0.65, True)), (" 120 % ", (1.2, True)),
])
def test_parse_target_accepts(text, expected):
    value, relative = ss.parse_target(text, "target_ms")
    assert relative == expected[1]
    assert value == pytest.approx(expected[0])


@pytest.mark.parametrize("text", ["-1", "0", "0.0", "nan", "inf", "-inf", "abc", "", "%", "0%", "-5%", "1e400"])
def test_parse_target_rejects(text):
    with pytest.raises(ss.SearchError, match="target_macs"):
        ss.parse_target(text, "target_macs")


def test_check_targets():
    assert ss.check_targets("0.02", None) == ("latency", 0.02, False)
    assert ss.check_targets(None, "60%") == ("macs", 0.6, True)
    with pytest.raises(ss.SearchError, match="neither"):
        ss.check_targets(None, None)
    with pytest.raises(ss.SearchError, match="both"):
        ss.check_targets("1", "1e6")


# -- moves ----------------------------------------------------------------------------------------

def test_shrink_ratio_steps_rounds_and_clamps():
    assert ss.shrink_ratio(1.0, 0.05, 0.25) == 0.95
    r = 1.0
    for _ in range(3):
        r = ss.shrink_ratio(r, 0.05, 0.25)
    assert r == 0.85  # no 0.8500000000000001 drift
    assert ss.shrink_ratio(0.27, 0.05, 0.25) == 0.25  # clamped to the minimum
    assert ss.shrink_ratio(0.25, 0.05, 0.25) is None
    assert ss.shrink_ratio(0.2, 0.05, 0.25) is None


def _config(*ratios, width=1.0):
    return WidthConfig(width, dict(enumerate(ratios, 1)))


def test_candidate_moves_one_per_stage_not_below_minimum():
    moves = ss.candidate_moves(_config(1.0, 0.5, 0.25), 3, 0.1, 0.25)
    assert moves == [(1, _config(0.9, 0.5, 0.25)), (2, _config(1.0, 0.4, 0.25))]
    assert [c.ratios(3) for _, c in moves] == [[0.9, 0.5, 0.25], [1.0, 0.4, 0.25]]
    assert ss.candidate_moves(_config(0.25, 0.25), 2, 0.05, 0.25) == []
    assert ss.candidate_moves(WidthConfig(0.75), 2, 0.05, 0.25)[0][1] == WidthConfig(0.75, {1: 0.95})


def _quantized_signature(config):
    """Fake channel counts: 64 channels per stage, multiples of 16 (so small steps often change nothing)."""
    return tuple(max(16, int(64 * r + 8) // 16 * 16) for r in config.ratios(2))


def test_distinct_moves_skip_no_op_shrinks():
    moves = ss.distinct_moves(_config(1.0, 1.0), 2, 0.05, 0.25, _quantized_signature)
    # 64*0.95=60.8 -> 64 (no change), 0.9 -> 57.6 -> 64, 0.85 -> 54.4 -> 48: the first real change.
    assert moves == [(1, _config(0.85, 1.0)), (2, _config(1.0, 0.85))]
    for _, config in moves:
        assert _quantized_signature(config) != _quantized_signature(_config(1.0, 1.0))


def test_distinct_moves_drop_stages_that_cannot_change():
    # 0.3 -> 19.2 -> 16 is already the floor of 16 channels: shrinking to 0.25 changes nothing.
    assert ss.distinct_moves(_config(0.3, 1.0), 2, 0.05, 0.25, _quantized_signature) == [(2, _config(0.3, 0.85))]
    assert ss.distinct_moves(_config(0.3, 0.3), 2, 0.05, 0.25, _quantized_signature) == []


def test_choose_move_least_loss_then_fewer_macs_then_lower_stage():
    a = {"stage": 1, "val_top1": 0.90, "macs": 100}
    b = {"stage": 2, "val_top1": 0.91, "macs": 300}
    c = {"stage": 3, "val_top1": 0.91, "macs": 200}
    d = {"stage": 4, "val_top1": 0.91, "macs": 200}
    assert ss.choose_move([a, b]) is b
    assert ss.choose_move([a, b, c]) is c
    assert ss.choose_move([d, c, a]) is c
    with pytest.raises(ss.SearchError):
        ss.choose_move([])


def test_target_met_and_reachability():
    assert ss.target_met(0.02, 0.02) and ss.target_met(0.019, 0.02)
    assert not ss.target_met(0.021, 0.02) and not ss.target_met(None, 0.02)
    ss.check_reachable("macs", 1e6, 263536, "every stage at 0.25")
    with pytest.raises(ss.SearchError, match=r"--target_macs=1000 is unreachable.*263,536 MACs"):
        ss.check_reachable("macs", 1000, 263536, "every stage at 0.25")
    with pytest.raises(ss.SearchError, match=r"unreachable.*0\.0058 ms"):
        ss.check_reachable("latency", 0.001, 0.0058, "every stage at 0.25")


# -- the uniform widths of the same latency -----------------------------------------------------------

def test_bracket_walks_from_the_start_and_measures_only_what_it_needs():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    calls = []

    def measure(i):
        calls.append(i)
        return values[i]

    assert ss.bracket(10, measure, 4.5, start=2) == (3, 4)
    assert calls == [2, 3, 4, 5, 6]  # up past the crossing by `patience` (2) widths, then stop
    calls.clear()
    assert ss.bracket(10, measure, 4.5, start=6) == (3, 4)
    assert calls == [6, 5, 4, 3, 7, 8]
    calls.clear()
    assert ss.bracket(10, measure, 4.5, start=2, patience=0) == (3, 4)
    assert calls == [2, 3, 4]
    assert ss.bracket(10, lambda i: values[i], 0.5, start=3) == (None, 0)
    assert ss.bracket(10, lambda i: values[i], 100, start=3) == (9, None)
    assert ss.bracket(10, lambda i: values[i], 4, start=3) == (3, 4)  # equal counts as within
    assert ss.bracket(0, lambda i: values[i], 4, start=0) == (None, None)


def test_bracket_looks_past_a_local_bump():
    # Latency is not monotone in the width: width 3 runs faster than width 2.
    values = [1, 2, 5, 3, 6, 7, 8, 9]
    assert ss.bracket(8, lambda i: values[i], 4, start=0) == (3, 4)
    assert ss.bracket(8, lambda i: values[i], 4, start=0, patience=0) == (1, 2)
    assert ss.bracket(8, lambda i: values[i], 4, start=2) == (3, 4)  # start above target: also looks up


def test_bracket_values_closest_interpolate():
    values = {3: 0.020, 4: 0.024, 5: 0.023, 6: 0.030}
    assert ss.bracket_values(values, 0.0235) == (5, 6)
    assert ss.bracket_values(values, 0.01) == (None, 3)
    assert ss.bracket_values(values, 0.5) == (6, None)
    assert ss.closest([5, 6], values, 0.0235) == 5
    assert ss.closest([None, 6], values, 0.0235) == 6
    assert ss.closest([None, None], values, 0.0235) is None
    assert ss.interpolate(0.5, 0.0, 10.0, 1.0, 20.0) == pytest.approx(15.0)
    assert ss.interpolate(2.0, 0.0, 10.0, 1.0, 20.0) == pytest.approx(20.0)  # clamped
    assert ss.interpolate(1.0, 1.0, 10.0, 1.0, 20.0) == pytest.approx(15.0)


def test_uniform_grid_distinct_widths_neighbourhood():
    grid = ss.uniform_grid(0.25, 1.0, 0.05)
    assert grid[0] == 0.25 and grid[-1] == 1.0 and len(grid) == 16 and 0.7 in grid
    assert ss.uniform_grid(0.25, 1.0, 0.2) == [0.25, 0.45, 0.65, 0.85, 1.0]
    assert ss.distinct_widths([0.5, 0.51, 0.52, 0.6], lambda w: round(w, 1)) == [0.5, 0.6]
    assert ss.neighbourhood(3, 4, 10) == [2, 3, 4, 5]
    assert ss.neighbourhood(None, 0, 10) == [0, 1]
    assert ss.neighbourhood(9, None, 10) == [8, 9]


def test_with_stage_ratio_makes_a_new_config_and_drops_ratios_of_one():
    config = ss.with_stage_ratio(WidthConfig(1.0), 2, 0.6)
    assert config == WidthConfig(1.0, {2: 0.6}) and config.key == "w1.0_s2x0.6"
    assert ss.with_stage_ratio(config, 3, 0.85).stage_ratios == {2: 0.6, 3: 0.85}
    assert ss.with_stage_ratio(config, 2, 1.0) == WidthConfig(1.0)


# -- the cache ------------------------------------------------------------------------------------

def test_cache_writes_atomically_and_refuses_another_model(tmp_path):
    cache = ss.Cache("abc")
    cache.put("val", "s", "32-64", {"val_top1": 0.5})  # in memory only: no directory yet
    path = tmp_path / ss.CACHE_NAME
    cache.attach(str(path))
    cache.put("latency", "t", "32-64", {"ms": 0.02})
    assert not [p for p in os.listdir(tmp_path) if p != ss.CACHE_NAME]  # no temp file left
    loaded = ss.Cache.load(str(path), "abc")
    assert loaded.get("val", "s", "32-64") == {"val_top1": 0.5}
    assert loaded.get("latency", "t", "32-64") == {"ms": 0.02}
    assert loaded.get("latency", "other settings", "32-64") is None
    assert loaded.hits == 2
    with pytest.raises(ss.SearchError, match="another model"):
        ss.Cache.load(str(path), "def")
    path.write_text("{not json")
    with pytest.raises(ss.SearchError, match="not a readable search cache"):
        ss.Cache.load(str(path), "abc")


# -- command-line errors (no model is loaded for these) --------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ([], "got neither"),
    (["--target_ms=0.02", "--target_macs=1e6"], "got both"),
    (["--target_ms=-1"], "must be positive"),
    (["--target_ms=0"], "must be positive"),
    (["--target_macs=nan"], "must be positive"),
    (["--target_macs=lots"], "not a number"),
    (["--target_ms=50%", "--step=0"], "--step: '0' is out of range"),
    (["--target_ms=50%", "--step=1"], "--step=1.0"),
    (["--target_ms=50%", "--val_images=0"], "--val_images: '0' is out of range"),
    (["--target_ms=50%", "--min_ratio=1.5"], "--min_ratio: '1.5' is out of range"),
    (["--target_ms=50%", "--bogus=1"], "unrecognized arguments"),
])
def test_bad_arguments_one_error_line_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    parse_errors = ("--bogus=1", "--step=0", "--val_images=0", "--min_ratio=1.5")  # refused by the parser
    with pytest.raises(SystemExit) if set(parse_errors) & set(args) else _no_raise():
        rc = ss.main([f"--model={tmp_path / 'final.keras'}", f"--out={out}"] + args)
        assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.exists()


def test_missing_model_and_foreign_out_dir(tmp_path, capsys):
    out = tmp_path / "out"
    assert ss.main([f"--model={tmp_path / 'missing.keras'}", f"--out={out}", "--target_ms=0.02"]) == 2
    assert "no such file" in capsys.readouterr().err and not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert ss.main([f"--model={tmp_path / 'missing.keras'}", f"--out={out}", "--target_ms=0.02"]) == 2
    assert "holds no search" in capsys.readouterr().err
    assert os.listdir(out) == ["notes.txt"]


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- end to end (slow): a tiny US-Net trained here, a latency search, a rerun, errors ---------------------

def _run(args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m"] + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("tiny_us")
    result = _run(["training.main", "--flagfile=training/flags/us_mbv1_fashion.flags", f"--model_dir={model_dir}",
                   "--train_limit=2560", "--epochs=1", "--eval_limit=200", "--eval_widths=0.25,1.0",
                   "--calibration_images=256", "--verbose=0"])
    assert result.returncode == 0, result.stderr[-3000:]
    return str(model_dir / "final.keras")


SMALL = ["--val_images=500", "--calib_images=128", "--final_calib_images=256", "--test_images=500",
         "--step=0.1", "--bench_runs=300", "--bench_repeats=3", "--uniform_step=0.05"]


@pytest.mark.slow
def test_search_end_to_end_resume_and_errors(tiny_model, tmp_path):
    from tflite_export import manifest as manifest_lib

    out = tmp_path / "search"
    first = _run(["tflite_export.search", f"--model={tiny_model}", f"--out={out}", "--target_ms=70%"] + SMALL)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "step  1" in first.stderr  # progress lines
    r = json.loads((out / "search.json").read_text())
    f, t = r["found"], r["target"]
    assert t["kind"] == "latency" and t["relative"]
    assert t["value"] == pytest.approx(0.7 * t["full_width_value"])
    assert f["target_met"] and f["steps"] >= 1
    assert r["path"][-1]["latency_ms"] <= t["value"]
    # The path: from full width, one stage narrower per step, never below the minimum.
    path = r["path"]
    assert path[0]["ratios"] == [1.0, 1.0, 1.0] and path[0]["move"] is None
    for before, after in zip(path, path[1:]):
        changed = [i for i, (a, b) in enumerate(zip(before["ratios"], after["ratios"])) if a != b]
        assert len(changed) == 1 and after["ratios"][changed[0]] < before["ratios"][changed[0]]
        assert min(after["ratios"]) >= r["settings"]["min_ratio"] - 1e-9
        assert after["macs"] < before["macs"]
        chosen = max(c["val_top1"] for c in after["candidates"])
        assert after["val_top1"] == chosen
    assert f["ratios"] == path[-1]["ratios"] and 0 <= f["test_top1"] <= 1 and 0 <= f["val_top1"] <= 1
    assert r["settings"]["val_split"].startswith("training images 59500..59999")
    # The comparison with the uniform width of the same latency.
    c = r["comparison"]["same_latency"]
    assert 0.25 <= c["uniform_width"] <= 1.0
    assert c["test_top1_diff"] == pytest.approx(f["test_top1"] - c["uniform"]["test_top1"])
    md = (out / "search.md").read_text()
    assert "the same latency" in md and "Path from full width" in md
    # The export: uniform widths plus the searched model, with its stage ratios.
    manifest = manifest_lib.read_manifest(str(out / "export"))
    assert not manifest_lib.file_problems(manifest, str(out / "export"))
    entries = {m["id"]: m for m in manifest["models"]}
    for w in ("0.25", "0.5", "0.75", "1.0"):
        assert entries[f"w{w}_fp32"]["stage_ratios"] is None
    searched = entries[r["export"]["searched_id"]]
    expected = {str(i + 1): x for i, x in enumerate(f["ratios"]) if x != 1.0}
    assert searched["stage_ratios"] == pytest.approx(expected) and searched["width"] == 1.0
    assert searched["macs"] == f["macs"] and searched["top1"] is not None

    # A rerun resumes from the cache: no new evaluation, the same result.
    cache_before = (out / "cache.json").read_text()
    second = _run(["tflite_export.search", f"--model={tiny_model}", f"--out={out}", "--target_ms=70%"] + SMALL)
    assert second.returncode == 0, second.stderr[-3000:]
    r2 = json.loads((out / "search.json").read_text())
    assert r2["evaluations"]["new_total"] == 0 and r2["evaluations"]["cached"] > 0
    assert r2["found"]["ratios"] == f["ratios"] and r2["export"]["reused"]
    assert (out / "cache.json").read_text() == cache_before

    # Unreachable targets: one error line, exit 2, the output directory untouched.
    listing = sorted(os.listdir(out))
    for target in ("--target_macs=1000", "--target_ms=0.00001"):
        bad = _run(["tflite_export.search", f"--model={tiny_model}", f"--out={out}", target] + SMALL)
        lines = [l for l in bad.stderr.splitlines() if l.startswith("error:")]
        assert bad.returncode == 2 and len(lines) == 1 and "unreachable" in lines[0], bad.stderr[-2000:]
        assert "Traceback" not in bad.stderr
        assert sorted(os.listdir(out)) == listing and (out / "cache.json").read_text() == cache_before
    fresh = tmp_path / "never"
    bad = _run(["tflite_export.search", f"--model={tiny_model}", f"--out={fresh}", "--target_macs=1000"] + SMALL)
    assert bad.returncode == 2 and not fresh.exists()

    # A MACs target in the same directory reuses the validation numbers already measured.
    third = _run(["tflite_export.search", f"--model={tiny_model}", f"--out={out}", "--target_macs=60%"] + SMALL)
    assert third.returncode == 0, third.stderr[-3000:]
    r3 = json.loads((out / "search.json").read_text())
    assert r3["target"]["kind"] == "macs" and r3["found"]["target_met"]
    assert r3["found"]["macs"] <= 0.6 * r3["full_width"]["macs"]
    assert r3["evaluations"]["cached"] > 0
    assert math.isfinite(r3["comparison"]["same_macs"]["test_top1_diff"])
