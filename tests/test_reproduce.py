"""studies.claims (and studies.common): the pure helpers (jobs, claim checks, aggregation) and, marked slow, the
whole --quick pipeline in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studies.claims.analysis import analyse
from studies.common.claims import (claim_collapse, claim_smooth, claim_snet_vs_individual, claim_usnet_vs_snet,
                                       compare_at_equal_macs, interpolate_at, largest_dip, mean_gain)
from studies.common.jobs import job_argv, plan_jobs, run_jobs, select_jobs
from studies.common.machine import InvocationLog, LoadSampler, machine_info
from studies.claims.plots import write_plots
from studies.common.probe import nearest_switch
from studies.claims.report import write_report
from studies.common.study import SWITCHES4, SWITCHES8, grid_widths
from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parents[1]


# -- jobs -----------------------------------------------------------------------------------------
def test_plan_has_every_experiment_of_the_issue():
    jobs = plan_jobs([0, 1])
    names = [j["name"] for j in jobs]
    assert len(names) == len(set(names))
    groups = {}
    for j in jobs:
        groups.setdefault(j["group"], []).append(j)
    # headline comparison on both seeds; the rest on the first
    assert sorted((j["width"], j["seed"]) for j in groups["individual"]) == sorted(
        (w, s) for w in SWITCHES4 for s in (0, 1))
    assert [j["seed"] for j in groups["s4"]] == [0, 1]
    assert [j["seed"] for j in groups["us"]] == [0, 1]
    for g in ("naive", "s8", "us_nodistill", "us_oa"):
        assert [j["seed"] for j in groups[g]] == [0]
    assert "--noinplace_distill" in groups["us_nodistill"][0]["overrides"]
    assert "--output_averaging" in groups["us_oa"][0]["overrides"]
    for j in groups["us"] + groups["us_oa"]:  # the claims' US-Nets distil with the paper's rule, whatever the default
        assert {"--inplace_distill", "--distill_weight=1", "--distill_gate=0", "--distill_warmup_epochs=0"} <= set(
            j["overrides"])
    assert groups["s8"][0]["overrides"] == ["--width_mult_list=0.25,0.35,0.45,0.55,0.65,0.75,0.85,1"]


def test_job_argv_puts_overrides_after_the_flagfile():
    job = plan_jobs([3])[0]
    argv = job_argv(job, "/tmp/out", epochs=5, quick=True)
    flagfile = next(i for i, a in enumerate(argv) if a.startswith("--flagfile="))
    for flag in ("--width_mult_list=0.25", "--epochs=5", "--seed=3", "--model_dir=/tmp/out/individual_025_s3",
                 "--train_limit=2048"):
        assert argv.index(flag) > flagfile
    assert os.path.exists(argv[flagfile].split("=", 1)[1])


def test_select_jobs_by_group_and_prefix():
    jobs = plan_jobs([0, 1])
    assert {j["name"] for j in select_jobs(jobs, "us")} == {"us_s0", "us_s1"}
    assert {j["name"] for j in select_jobs(jobs, "us_oa,naive")} == {"us_oa_s0", "naive_s0"}
    assert len(select_jobs(jobs, "individual_1_")) == 2
    with pytest.raises(SystemExit):
        select_jobs(jobs, "nope")


def test_completed_jobs_are_skipped(tmp_path, monkeypatch):
    job = plan_jobs([0])[0]
    model_dir = tmp_path / job["name"]
    model_dir.mkdir()
    (model_dir / "results.json").write_text(json.dumps({"train_seconds": 12.5, "epochs": 1}))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("should not train"))
    walls = run_jobs([job], str(tmp_path), 1, True, log=lambda m: None)
    assert walls[job["name"]]["wall_seconds"] == 12.5
    with pytest.raises(SystemExit, match="trained for 1 epochs, not 3"):  # never mixes budgets
        run_jobs([job], str(tmp_path), 3, True, log=lambda m: None)


FAKE_JOB = """
import json, os, sys, time
t = time.time()
time.sleep(1.0)
d = sys.argv[1]
env = {k: os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
with open(os.path.join(d, "results.json"), "w") as f:
    json.dump({"epochs": int(sys.argv[2]), "start": t, "end": time.time(), "env": env}, f)
"""


def test_jobs_run_side_by_side_with_their_share_of_the_threads(tmp_path, monkeypatch):
    from studies.common import jobs as jobs_module

    monkeypatch.setattr(jobs_module, "job_argv", lambda job, out, epochs, quick: [
        sys.executable, "-c", FAKE_JOB, os.path.join(out, job["name"]), str(epochs)])
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(name, raising=False)
    plan = plan_jobs([0])[:3]
    walls = run_jobs(plan, str(tmp_path), 2, True, log=lambda m: None, at_once=2)
    runs = [json.loads((tmp_path / j["name"] / "results.json").read_text()) for j in plan]
    assert runs[1]["start"] < runs[0]["end"]  # the first two overlapped
    assert runs[2]["start"] >= min(runs[0]["end"], runs[1]["end"]) - 0.05  # the third waited for a free slot
    assert all(r["env"] == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"} for r in runs)
    for j in plan:
        info = json.loads((tmp_path / j["name"] / "job.json").read_text())
        assert walls[j["name"]]["wall_seconds"] >= 1.0 and info["wall_seconds"] == walls[j["name"]]["wall_seconds"]
    # one at a time: TensorFlow keeps its own thread counts
    for j in plan:
        (tmp_path / j["name"] / "results.json").unlink()
    run_jobs(plan[:1], str(tmp_path), 2, True, log=lambda m: None)
    assert json.loads((tmp_path / plan[0]["name"] / "results.json").read_text())["env"] == {
        "TF_NUM_INTRAOP_THREADS": None, "TF_NUM_INTEROP_THREADS": None}


def test_grid_widths():
    g = grid_widths(20)
    assert len(g) == 20 and g[0] == 0.25 and g[-1] == 1.0 and np.all(np.diff(g) > 0)


def test_nearest_switch():
    s = SWITCHES4
    assert [nearest_switch(s, w) for w in (0.25, 0.3, 0.375, 0.6, 0.9, 1.0)] == [0, 0, 1, 1, 3, 3]


# -- claim checks ---------------------------------------------------------------------------------
def test_snet_claim_holds_and_fails():
    ind = {0.25: 80.0, 0.5: 85.0, 0.75: 88.0, 1.0: 90.0}
    held, rows = claim_snet_vs_individual({0.25: 80.6, 0.5: 84.6, 0.75: 88.0, 1.0: 89.9}, ind, SWITCHES4)
    assert held and len(rows) == 4
    held, rows = claim_snet_vs_individual({0.25: 80.6, 0.5: 84.4, 0.75: 88.0, 1.0: 89.9}, ind, SWITCHES4)
    assert not held
    assert [r["ok"] for r in rows] == [True, False, True, True]
    assert rows[1]["diff"] == pytest.approx(-0.6)


def test_usnet_claim_fails_when_much_worse():
    s = {0.25: 80.0, 1.0: 90.0}
    assert claim_usnet_vs_snet({0.25: 80.0, 1.0: 91.0}, s, [0.25, 1.0])[0]
    assert not claim_usnet_vs_snet({0.25: 79.0, 1.0: 91.0}, s, [0.25, 1.0])[0]


def test_largest_dip_and_smoothness():
    assert largest_dip([(0.25, 80), (0.5, 85), (0.75, 88), (1.0, 90)]) == 0
    assert largest_dip([(1.0, 90), (0.25, 80), (0.5, 85), (0.75, 83.5)]) == pytest.approx(1.5)
    ok, dip = claim_smooth([(0.25, 80), (0.5, 85), (0.6, 84.2), (1.0, 90)])
    assert ok and dip == pytest.approx(0.8)
    ok, dip = claim_smooth([(0.25, 80), (0.5, 85), (0.6, 83.9), (1.0, 90)])
    assert not ok and dip == pytest.approx(1.1)


def test_collapse_claim():
    us = {0.25: 80.0, 0.5: 85.0, 0.75: 88.0, 1.0: 90.0}
    collapsed, gap, at = claim_collapse({0.25: 20.0, 0.5: 84.0, 0.75: 87.0, 1.0: 90.0}, us, exclude=[1.0])
    assert collapsed and gap == pytest.approx(60.0) and at == 0.25
    collapsed, gap, at = claim_collapse({0.25: 79.0, 0.5: 84.0, 0.75: 87.0, 1.0: 10.0}, us, exclude=[1.0])
    assert not collapsed and gap == pytest.approx(1.0)  # the excluded width does not count
    assert claim_collapse({}, us) == (False, None, None)


def test_mean_gain_and_equal_macs_comparison():
    assert mean_gain({1: 3.0, 2: 5.0}, {1: 1.0, 2: 4.0, 3: 0.0}, [1, 2, 3]) == pytest.approx(1.5)
    assert mean_gain({}, {}, [1]) is None
    curves = {"a": [(1e5, 70.0), (1e6, 90.0)], "b": [(2e5, 60.0), (2e6, 80.0)]}
    means = compare_at_equal_macs(curves)
    assert means["a"] > means["b"]
    assert interpolate_at([(1e5, 70.0), (1e6, 90.0)], 10 ** 5.5) == pytest.approx(80.0)
    assert interpolate_at([(1e5, 70.0), (1e6, 90.0)], 1e7) is None


def _fake_results(snet_delta=0.0, naive_low=True):
    """Results dicts as evaluate_job writes them, with made-up accuracies."""
    grid = grid_widths(6)

    def rows(widths, f, stage=None):
        out = []
        for w in widths:
            r = {"width": w, "macs": int(1e6 * w * w), "params": int(1e4 * w), "top1": f(w)}
            if stage:
                r["stage_ratios"] = {str(stage): 0.6}
                r["macs"] = int(r["macs"] * (1 - 0.1 * stage))
            out.append(r)
        return out

    acc = lambda w: 0.8 + 0.1 * w  # noqa: E731
    res = {}
    for seed in (0, 1):
        for w in SWITCHES4:
            r = {"name": f"individual_{w}_s{seed}", "group": "individual", "seed": seed,
                 "width_spec": {"switches": [w]}, "switches": rows([w], acc)}
            if w == 1.0:
                r["calibrated"] = rows(sorted(set(grid) | set(SWITCHES4)),
                                       lambda x: acc(x) if x == 1.0 else 0.1)
            res[r["name"]] = r
        res[f"s4_s{seed}"] = {"name": f"s4_s{seed}", "group": "s4", "seed": seed,
                              "width_spec": {"switches": SWITCHES4},
                              "switches": rows(SWITCHES4, lambda w: acc(w) + snet_delta / 100),
                              "calibrated": rows(grid, lambda w: 0.5)}
        uw = sorted(set(grid) | set(SWITCHES4) | set(SWITCHES8))
        res[f"us_s{seed}"] = {"name": f"us_s{seed}", "group": "us", "seed": seed,
                              "width_spec": {"width_range": [0.25, 1.0]}, "calibrated": rows(uw, acc),
                              "switches": rows(SWITCHES4, acc), "num_stages": 3,
                              "stages": {str(s): rows(grid, lambda w, s=s: acc(w) - 0.01 * s, s) for s in (1, 2, 3)},
                              "tflite": [{"width": w, "keras": acc(w), "fp32": acc(w), "int8": acc(w) - 0.002,
                                          "fp32_bytes": 1000, "int8_bytes": 300} for w in SWITCHES4]}
    uw = sorted(set(grid) | set(SWITCHES4) | set(SWITCHES8))
    res["us_nodistill_s0"] = {"name": "us_nodistill_s0", "group": "us_nodistill", "seed": 0,
                              "width_spec": {}, "calibrated": rows(uw, lambda w: acc(w) - 0.01)}
    res["us_oa_s0"] = {"name": "us_oa_s0", "group": "us_oa", "seed": 0, "width_spec": {},
                       "calibrated": rows(uw, lambda w: acc(w) + 0.002)}
    res["naive_s0"] = {"name": "naive_s0", "group": "naive", "seed": 0, "width_spec": {"switches": SWITCHES4},
                       "switches": rows(SWITCHES4, lambda w: 0.1),
                       "calibrated": rows(sorted(set(grid) | set(SWITCHES4)),
                                          lambda w: 0.3 if naive_low else acc(w) - 0.01)}
    res["s8_s0"] = {"name": "s8_s0", "group": "s8", "seed": 0, "width_spec": {"switches": SWITCHES8},
                    "switches": rows(SWITCHES8, acc)}
    return res, grid


def test_analyse_fake_results_verdicts():
    res, grid = _fake_results()
    a = analyse(res, grid)
    assert a["claim_snet"]["held"] and a["claim_usnet"]["held"] and a["claim_smooth"]["held"]
    assert a["claim_collapse"]["held"]
    assert a["claim_collapse"]["methods"]["naive"]["worst_gap"] == pytest.approx(100 * (0.8 + 0.1 * 0.85) - 30)
    assert a["claim_collapse_snet"]["held"] and a["claim_collapse_snet"]["lowest"] == pytest.approx(50.0)
    assert a["claim_distill"]["held"] and a["claim_distill"]["narrow_gain"] == pytest.approx(1.0)
    assert a["claim_oa"]["held"] and a["claim_oa"]["switch_gain"] == pytest.approx(0.2)
    assert a["claim_int8"]["held"]
    assert a["claim_stages"]["held"] and a["claim_stages"]["best"] == "stage 1"
    assert a["individual"][0.5] == pytest.approx((85.0, 0.0, 2))

    res, grid = _fake_results(snet_delta=-0.7, naive_low=False)
    a = analyse(res, grid)
    assert not a["claim_snet"]["held"]  # 0.7 pt below the individual networks
    assert not a["claim_collapse"]["held"]  # naive calibrated is within 1 pt of the US-Net
    assert a["claim_collapse"]["methods"]["individual"]["collapsed"]


def test_report_from_fake_results(tmp_path):
    res, grid = _fake_results()
    a = analyse(res, grid)
    plots = write_plots(res, grid, str(tmp_path / "results"))
    assert set(plots) == {"spectrum.png", "naturally_slimmable.png", "stage_slimming.png"}
    meta = {"command": "python -m studies.claims --quick", "quick": True, "epochs": 1, "seeds": [0, 1],
            "jobs": 16, "walls": {"us_s0": {"wall_seconds": 10.0, "cpu_seconds": 12.0}}, "wall_train": 10.0,
            "cpu_train": 12.0, "wall_eval": 5.0, "cpu_eval": 4.0, "wall_total": 15.0,
            "invocations": [{"started": "today", "wall_seconds": 15.0, "load": {"mean": 1.0, "max": 2.0}}],
            "machine": machine_info(), "versions": "TF", "test_images": 512,
            "calibration_images": 256, "out": "tmp"}
    path = tmp_path / "results.md"
    write_report(str(path), str(tmp_path / "results"), res, a, grid, meta, plots)
    text = path.read_text()
    for needle in ("## Claims", "Table 3 style", "Table 4 style", "Stage slimming", "int8 TFLite",
                   "![FLOPs–accuracy spectrum](results/spectrum.png)", "**HELD**", "85.00 ± 0.00"):
        assert needle in text, needle


# -- the whole pipeline ---------------------------------------------------------------------------
def check_quick_output(out, seeds=(0,)):
    """The structure and plausibility of a --quick reproduction's output folder."""
    report = (out / "results.md").read_text()
    assert "## Claims" in report and "--quick" in report
    for name in ("spectrum.png", "naturally_slimmable.png", "stage_slimming.png"):
        assert (out / "results" / name).stat().st_size > 1000
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["meta"]["quick"] is True
    jobs = [j["name"] for j in plan_jobs(list(seeds))]
    grid = grid_widths(6)
    for name in jobs:
        ev = json.loads((out / name / "eval.json").read_text())
        assert ev["switches"], name
        for key in ("switches", "calibrated"):
            for row in ev.get(key, []):
                assert 0.0 <= row["top1"] <= 1.0
                assert row["macs"] > 0 and row["params"] > 0
        if ev["group"] != "individual" or ev["width_spec"]["switches"] == [1.0]:
            assert set(grid) <= {r["width"] for r in ev["calibrated"]}, name
    us = json.loads((out / "us_s0" / "eval.json").read_text())
    widths = [r["width"] for r in us["calibrated"]]
    macs = [r["macs"] for r in us["calibrated"]]
    assert widths == sorted(widths) and all(np.diff(macs) >= 0) and macs[-1] > 10 * macs[0]
    assert len(us["stages"]) == us["num_stages"] == 3
    uniform = [r for r in us["calibrated"] if r["width"] in grid]
    for stage_rows in us["stages"].values():
        assert [r["width"] for r in stage_rows] == grid
        for row, full in zip(stage_rows, uniform):
            assert row["macs"] <= full["macs"]  # a slimmed stage never costs more
        assert stage_rows[-1]["macs"] < uniform[-1]["macs"]
    for t in us["tflite"]:
        assert 0.0 <= t["int8"] <= 1.0 and t["int8_bytes"] < t["fp32_bytes"]
        assert abs(t["fp32"] - t["keras"]) <= 0.01  # the fp32 file is the Keras model
    return jobs


@needs_fashion
@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    """The whole --quick pipeline (about 4 min alone, 15 on a busy machine), then a resumed run."""
    out = tmp_path / "rep"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "studies.claims", "--quick", f"--out={out}"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = check_quick_output(out)
    # a second run resumes: nothing is retrained or re-evaluated, the report is written again
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == len(jobs) and again.stdout.count("cached") == len(jobs)
    assert len(json.loads((out / "invocations.json").read_text())) == 2


def test_invocation_log_marks_a_killed_invocation_interrupted(tmp_path):
    sampler = LoadSampler()
    first = InvocationLog(str(tmp_path), "python -m studies.claims", sampler)
    first.update(last="[9/16] naive_s0: training")  # ... then killed: never reaches "finished"
    second = InvocationLog(str(tmp_path), "python -m studies.claims", sampler)
    entries = second.update(status="finished")
    assert [e["status"] for e in entries] == ["interrupted", "finished"]
    assert entries[0]["last"] == "[9/16] naive_s0: training"
    assert json.loads((tmp_path / "invocations.json").read_text()) == entries
