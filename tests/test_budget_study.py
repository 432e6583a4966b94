"""The distillation budget study: its plan, its comparison rule and its report section (fake results)."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import config
from studies.budget import report as budget_report
from studies.budget.plan import (VARIANTS, analyse_budgets, compare, default_variant,
                                             plan_budget_jobs, variant_named)
from studies.budget.cli import parse_args
from studies.claims.cli import parse_args as parse_claims_args
from studies.common.jobs import ReproductionError
from studies.common.study import grid_widths
from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parents[1]


def test_each_variant_parses_to_its_rule_and_is_recognised_as_the_default():
    for v in VARIANTS:
        cfg = config.parse(["prog", "--flagfile=us_mbv1_fashion", "--model_dir=x", *v.flags(8)])
        assert default_variant(cfg, 8) == v
        assert cfg.inplace_distill == v.distill
    warm = variant_named("warmup")
    cfg = config.parse(["prog", "--flagfile=us_mbv1_fashion", "--model_dir=x", *warm.flags(16)])
    assert (cfg.distill_warmup_epochs, cfg.distill_ramp_epochs) == (4.0, 4.0)  # a quarter of 16 each
    assert default_variant(cfg, 8) != warm  # the warm-up scales with the budget
    tramp = config.parse(["prog", "--flagfile=us_mbv1_fashion", "--model_dir=x", *variant_named("mix_tramp").flags(16)])
    assert (tramp.distill_temperature, tramp.distill_temperature_ramp) == (2.0, 1.0)  # over the run
    assert config.distill_rule(dataclasses.replace(tramp, epochs=16)).temperature_ramp_epochs == 16.0
    # the shipped default flagfile is one of the study's rules
    assert default_variant(config.parse(["prog", "--flagfile=us_mbv1_fashion"]), 8) is not None
    with pytest.raises(ReproductionError, match="unknown variant 'greedy'"):
        variant_named("greedy")


def test_plan_screens_every_rule_once_and_runs_baseline_and_default_everywhere():
    default = variant_named("gate")
    plan = plan_budget_jobs([8, 16], [0, 1], default)
    assert sorted(j["name"] for j in plan[8]) == sorted(
        [f"{v.name}_s0" for v in VARIANTS] + ["nodistill_s1", "gate_s1", "s4_s0", "naive_s0"])
    assert sorted(j["name"] for j in plan[16]) == ["gate_s0", "gate_s1", "naive_s0", "nodistill_s0", "nodistill_s1",
                                                   "s4_s0"]
    gate16 = next(j for j in plan[16] if j["name"] == "gate_s1")
    assert gate16["seed"] == 1 and gate16["group"] == "gate" and "--distill_gate=0.5" in gate16["overrides"]
    assert gate16["flagfile"] == "us_mbv1_fashion"
    snet = next(j for j in plan[16] if j["name"] == "s4_s0")
    assert snet["flagfile"] == "s_mbv1_fashion" and snet["overrides"] == [] and snet["group"] == "s4"
    cfg = config.parse(["prog", "--flagfile=s_mbv1_fashion", "--model_dir=x", *snet["overrides"]])
    assert cfg.mode == "slimmable" and cfg.width_mult_list == [0.25, 0.5, 0.75, 1.0]
    naive = next(j for j in plan[8] if j["name"] == "naive_s0")
    assert naive["flagfile"] == "naive_mbv1_fashion" and naive["overrides"] == []
    us = config.parse(["prog", "--flagfile=us_mbv1_fashion", "--model_dir=x"])
    for name in ("s_mbv1_fashion", "naive_mbv1_fashion"):  # the references train with the US-Net's recipe
        ref = config.parse(["prog", f"--flagfile={name}", "--model_dir=x"])
        assert all(getattr(ref, k) == getattr(us, k) for k in ("epochs", "batch_size", "lr", "lr_schedule", "warmup_epochs",
                                              "weight_decay", "arch", "dataset")), name


def fake(group, seed, base, narrow_bonus, wide_bonus, grid):
    rows = [{"width": w, "top1": base + (narrow_bonus if w <= 0.5 else wide_bonus) + 0.001 * seed}
            for w in sorted(set(grid) | {0.5, 0.75})]
    return {"name": f"{group}_s{seed}", "group": group, "seed": seed, "calibrated": rows}


def fake_results(grid, default_bonus=(0.004, 0.001), paper_bonus=(-0.01, -0.003)):
    res = {}
    for seed in (0, 1):
        for group, (n, w) in (("nodistill", (0, 0)), ("gate", default_bonus)):
            r = fake(group, seed, 0.85, n, w, grid)
            res[r["name"]] = r
    r = fake("paper", 0, 0.85, *paper_bonus, grid)
    res[r["name"]] = r
    return res


def with_snet(results, top1, naive=None):
    """`results` and an S-Net of seed 0 with `top1` {switch: fraction} at its switches (its own BN
    statistics) and a calibrated grid that would pass for another network; and a naive network of
    seed 0 with `naive` {switch: fraction} after calibration (and other numbers without)."""
    switches = [{"width": w, "top1": a} for w, a in top1.items()]
    calibrated = [{"width": w, "top1": 0.99} for w in (0.25, 0.5, 0.75, 1.0)]
    results = {**results, "s4_s0": {"name": "s4_s0", "group": "s4", "seed": 0, "switches": switches,
                                    "calibrated": calibrated}}
    if naive:
        results["naive_s0"] = {"name": "naive_s0", "group": "naive", "seed": 0,
                               "switches": [{"width": w, "top1": 0.1} for w in naive],
                               "calibrated": [{"width": w, "top1": a} for w, a in naive.items()]}
    return results


def test_compare_gaps_over_shared_seeds_and_never_worse_rule():
    grid = grid_widths(6)
    res = fake_results(grid)
    c = compare(res, "gate", grid)
    assert c["seeds"] == [0, 1] and c["narrow"] == pytest.approx(0.4) and c["wide"] == pytest.approx(0.1)
    assert c["never_worse"] and c["at_1"] == pytest.approx(0.1)
    paper = compare(res, "paper", grid)
    assert paper["seeds"] == [0] and paper["narrow"] == pytest.approx(-1.0) and not paper["never_worse"]
    assert paper["worst"] == (grid[0], pytest.approx(-1.0))
    assert c["gap_sd"] == pytest.approx(0.0, abs=1e-9) and paper["gap_sd"] is None  # both seeds gain alike
    noisy = fake_results(grid)
    next(r for r in noisy["gate_s1"]["calibrated"] if r["width"] == grid[2])["top1"] += 0.02  # 2 pt more at one
    assert compare(noisy, "gate", grid)["gap_sd"] == pytest.approx(2 ** 0.5 / 6)  # SD of (g, g + 2), over 6
    # at 1.0 a loss inside the seed spread is tolerated, one outside it is not
    res = fake_results(grid, default_bonus=(0.004, 0.0))
    res["gate_s0"]["calibrated"][-1]["top1"] -= 0.001  # -0.05 pt mean at 1.0, spread 0.05-0.1
    assert compare(res, "gate", grid)["never_worse"] and compare(res, "gate", grid)["worse"] == []
    res["gate_s1"]["calibrated"][-1]["top1"] -= 0.01  # both seeds ~1 pt lower, spread still 0.1
    c = compare(res, "gate", grid)
    assert not c["never_worse"] and [w for w, _ in c["worse"]] == [1.0]
    res = fake_results(grid, default_bonus=(0.004, 0.0))
    res["gate_s1"]["calibrated"][1]["top1"] -= 0.02  # a narrow width worse: never tolerated
    c = compare(res, "gate", grid)
    assert not c["never_worse"] and c["worse"] == [(grid[1], pytest.approx(-0.6))]


def test_report_section_replaces_its_old_version_and_keeps_the_rest(tmp_path):
    grid = grid_widths(6)
    # seed 0 of gate: 85.4 at widths <= 0.5, 85.1 above; the S-Net 0.4 pt above at 0.25x, 0.6 at 0.75x
    snet = {0.25: 0.858, 0.5: 0.854, 0.75: 0.857, 1.0: 0.851}
    naive = {0.25: 0.852, 0.5: 0.855, 0.75: 0.853, 1.0: 0.85}
    analysis = analyse_budgets({8: with_snet(fake_results(grid), snet, naive),
                                16: with_snet(fake_results(grid, paper_bonus=(0.002, 0.001)), snet)},
                               grid, sorted(set(grid) | {0.5, 0.75}), "gate")
    versus = analysis[8]["snet"]["gate"]
    assert versus["seeds"] == [0] and not versus["held"]
    assert [round(r["diff"], 6) for r in versus["rows"]] == [-0.4, 0.0, -0.6, 0.0]
    assert analysis[8]["stats"]["s4"][0.75] == (pytest.approx(85.7), 0.0, 1)
    assert "s4" not in analysis[8]["compare"] and "naive" not in analysis[8]["compare"]
    assert "naive" not in analysis[8]["snet"] and analysis[16]["ablation"] is None  # the fake 16-epoch results lack one
    ablation = analysis[8]["ablation"]
    assert ablation["seeds"] == [0] and [n for n, _ in ablation["rows"]] == ["s4", "naive", "nodistill", "gate"]
    assert ablation["rows"][1][1] == {0.25: pytest.approx(85.2), 0.5: pytest.approx(85.5),
                                      0.75: pytest.approx(85.3), 1.0: pytest.approx(85.0)}  # calibrated
    assert ablation["rows"][3][1][0.25] == pytest.approx(85.4)  # gate, seed 0 only
    meta = {"command": "python -m studies.budget", "time": "T", "default": "gate",
            "seeds": [0, 1], "screen_epochs": 8, "calibration_images": 2048}
    path = tmp_path / "results.md"
    path.write_text("# Report\n\n## Claims\n\nold claims\n")
    budget_report.write_budget_section(str(path), analysis, grid, meta)
    first = path.read_text()
    assert first.startswith("# Report\n\n## Claims\n\nold claims\n") and first.count(budget_report.BEGIN) == 1
    assert "**8 epochs**: the paper's rule (`paper`) **does not help**" in first
    assert "**16 epochs**: the paper's rule (`paper`) **helps**" in first
    assert "the default rule `gate` **helps** the narrow widths (+0.40 pt" in first
    assert ("never worse than no distillation (one seed's gap at a width varies by 0.00 pt from seed to seed: "
            "the mean of 2 is uncertain by ≈ ± 0.00 at each width)") in first
    assert "| gate | 2 | 85.45 ± 0.05 | 85.45 ± 0.05 | 85.15 ± 0.05 | 85.15 ± 0.05 |" in first
    assert ('"US-Net within 0.5 pt of the S-Net at the switches" **does not hold** for `gate` '
            "(US − S: 0.25× -0.40, 0.5× +0.00, 0.75× -0.60, 1× +0.00; seed 0)") in first
    assert "**does not hold** for `paper` (US − S: 0.25× -1.80, 0.5× -1.40, 0.75× -1.00, 1× -0.40; seed 0)" in first
    assert "| s4 | 1 | 85.80 | 85.40 | 85.70 | 85.10 | – | – | – | – | – |" in first
    assert ("| naive | + one shared BN (statistics calibrated per width) | 85.20 (-0.60) | 85.50 (+0.10) "
            "| 85.30 (-0.40) | 85.00 (-0.10) |") in first
    assert "| gate | + in-place distillation (`gate`) | 85.40 (+0.40) | 85.40 (+0.40) |" in first
    assert "the paper's rule (`paper`) **does not help**" in first and "the contender" not in first
    with_contender = budget_report.render(analysis, grid, dict(meta, contenders=["paper"]))
    assert "US-Net (`gate`), the contender `paper` (`--contenders`), and the same network" in with_contender
    assert ("**8 epochs**: the default rule `gate` **helps**" in with_contender
            and "the paper's rule (`paper`)" not in with_contender)  # stated once, as the contender
    assert ("the contender `paper` **does not help** the narrow widths (-1.00 pt" in with_contender
            and "**worse** than no distillation at 0.25× (-1.00), 0.4× (-1.00), 0.55× (-0.30), 0.7× (-0.30), "
                "0.85× (-0.30), 1× (-0.30);" in with_contender)  # one seed: no seed-to-seed noise stated
    path.write_text(first.replace("old claims", "new claims") + "\n## After\n")
    budget_report.write_budget_section(str(path), analysis, grid, meta)
    second = path.read_text()
    assert second.count(budget_report.BEGIN) == 1 and "new claims" in second and second.endswith("## After\n")


def test_budgets_flag_is_checked():
    assert parse_args(["--budgets=4,12"]).budgets == (4, 12)
    assert parse_args(["--quick"]).budgets == (1, 2)
    for bad in ("--budgets=8,x", "--budgets=0", "--budgets=8,8", "--epochs=4"):
        with pytest.raises(SystemExit):
            parse_args([bad])
    for study_only in ("--budgets=4,12", "--contenders=mix_t2"):  # not silently ignored by the claims study
        with pytest.raises(SystemExit):
            parse_claims_args([study_only])
    assert parse_claims_args(["--epochs=3"]).epochs == 3


@pytest.mark.slow
@pytest.mark.timeout(3600)
@needs_fashion
def test_quick_budget_study_end_to_end(tmp_path):
    """python -m studies.budget --quick (12 short jobs, 2 at a time) writes its section into the report; a rerun resumes."""
    out, report = tmp_path / "rep", tmp_path / "results.md"
    report.write_text("# Report\n\nkept\n")
    command = [sys.executable, "-m", "studies.budget", "--quick", "--jobs_at_once=2",
               f"--out={out}", f"--report={report}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = report.read_text()
    assert text.startswith("# Report\n\nkept\n") and "### Claims by budget" in text
    assert "**1 epochs**" in text and "**2 epochs**" in text
    assert text.count('"US-Net within 0.5 pt of the S-Net at the switches"') >= 2  # the default rule, each budget
    analysis = json.loads((out / "budget" / "analysis.json").read_text())["analysis"]
    assert set(analysis) == {"1", "2"} and set(analysis["1"]["stats"]) == {v.name for v in VARIANTS} | {"s4", "naive"}
    for budget, jobs in (("1", len(VARIANTS) + 2), ("2", 4)):
        for name in os.listdir(out / "budget" / f"e{budget}"):
            ev = json.loads((out / "budget" / f"e{budget}" / name / "eval.json").read_text())
            assert len(ev["calibrated"]) >= 6 and all(0 <= r["top1"] <= 1 for r in ev["calibrated"])
        assert len(os.listdir(out / "budget" / f"e{budget}")) == jobs
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0 and again.stdout.count("skipped") == len(VARIANTS) + 6, again.stdout
    assert report.read_text() == text  # same numbers, same section


def test_jobs_filter_keeps_what_it_names_at_every_budget():
    from studies.budget.cli import select_budget_jobs

    plan = plan_budget_jobs([8, 16], [0, 1], variant_named("mix"))
    chosen = select_budget_jobs(plan, "nodistill_s0,mix")
    assert {e: sorted(j["name"] for j in jobs) for e, jobs in chosen.items()} == {
        8: ["mix_s0", "mix_s1", "nodistill_s0"], 16: ["mix_s0", "mix_s1", "nodistill_s0"]}
    assert list(select_budget_jobs(plan, "gate")) == [8]  # the screen's rules: first budget only
    chosen = select_budget_jobs(plan, "e8/nodistill,e16/mix_s0")
    assert {e: sorted(j["name"] for j in jobs) for e, jobs in chosen.items()} == {
        8: ["nodistill_s0", "nodistill_s1"], 16: ["mix_s0"]}
    with pytest.raises(ReproductionError, match="e16/'gate' names no job"):
        select_budget_jobs(plan, "e16/gate")
    with pytest.raises(ReproductionError, match="'greedy' names no job"):
        select_budget_jobs(plan, "greedy")


def test_contenders_train_like_the_default_at_every_budget_and_seed():
    from studies.budget.cli import contender_variants

    contenders = contender_variants("mix_t2, warmup")
    assert [v.name for v in contenders] == ["mix_t2", "warmup"]
    plan = plan_budget_jobs([8, 16], [0, 1], variant_named("mix"), contenders)
    names16 = sorted(j["name"] for j in plan[16])
    assert names16 == sorted(["nodistill_s0", "nodistill_s1", "mix_s0", "mix_s1", "mix_t2_s0", "mix_t2_s1",
                              "warmup_s0", "warmup_s1", "s4_s0", "naive_s0"])
    assert len(plan[8]) == len({j["name"] for j in plan[8]})  # the screen's job is not planned twice
    warm16 = next(j for j in plan[16] if j["name"] == "warmup_s1")
    assert "--distill_warmup_epochs=4" in warm16["overrides"]  # the rule at this budget
    assert contender_variants("") == []
    with pytest.raises(ReproductionError, match="'s4' is not a rule of the study"):
        contender_variants("s4")  # references are not rules
