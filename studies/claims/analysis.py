"""From the evaluations to the numbers the report shows: means over seeds, curves, and each
claim's verdict (pure functions of the results dicts `run_evaluations` returns)."""

import numpy as np

from studies.common.claims import (DIP_TOLERANCE, INT8_TOLERANCE, claim_collapse, claim_smooth,
                                       claim_snet_vs_individual, claim_usnet_vs_snet, compare_at_equal_macs,
                                       mean_gain)
from studies.common.study import SWITCHES4, SWITCHES8


def stats(values):
    """(mean, half-range, n) of a list of accuracies (fractions) in points."""
    v = [100.0 * x for x in values]
    if not v:
        return None
    return (float(np.mean(v)), (max(v) - min(v)) / 2.0, len(v))


def top1_at(rows, width):
    """top-1 of the uniform row at `width`, or None."""
    for r in rows or ():
        if abs(r["width"] - width) < 1e-6 and not r.get("stage_ratios"):
            return r["top1"]
    return None


def collect(results, group, key, width, width_of_job=None):
    """Accuracies (one per seed) of `group` at `width` from result[key]."""
    values = []
    for r in results.values():
        if r["group"] != group:
            continue
        if width_of_job is not None and abs(r["width_spec"]["switches"][0] - width_of_job) > 1e-6:
            continue
        a = top1_at(r.get(key), width)
        if a is not None:
            values.append(a)
    return values


def individual_at(results, width):
    """Accuracies (one per seed) of the individual networks of `width`."""
    return collect(results, "individual", "switches", width, width_of_job=width)


def by_width(rows, key="top1"):
    """{width: accuracy points} of result rows."""
    return {r["width"]: 100.0 * r[key] for r in rows or ()}


def group_curve(results, group, key="calibrated"):
    """{width: mean accuracy points over seeds} of a group's rows under `key`."""
    per_width = {}
    for r in results.values():
        if r["group"] == group:
            for row in r.get(key) or ():
                if not row.get("stage_ratios"):
                    per_width.setdefault(row["width"], []).append(100.0 * row["top1"])
    return {w: float(np.mean(v)) for w, v in sorted(per_width.items())}


def macs_of(results):
    """{width: (macs, params)} from any universal result (the profile is the architecture's)."""
    table = {}
    for r in results.values():
        for key in ("calibrated", "switches"):
            for row in r.get(key) or ():
                if not row.get("stage_ratios"):
                    table.setdefault(row["width"], (row["macs"], row["params"]))
    return table


def first_of(results, group):
    """The result of `group` with the lowest seed, or None."""
    named = sorted((r for r in results.values() if r["group"] == group), key=lambda r: r["seed"])
    return named[0] if named else None


def on_grid(width, grid):
    return any(abs(width - g) < 1e-6 for g in grid)


def _means(per_width_stats):
    return {w: v[0] for w, v in per_width_stats.items() if v}


def analyse(results, grid):
    """All numbers and claim verdicts the report shows.

    Args:
        results: {job name: result of `evaluate_job`}.
        grid: the grid widths.

    Returns:
        A JSON-able dict (with float keys where widths are keys).
    """
    A = _headline(results, grid)
    A.update(_collapse(results, grid, _means(A["individual"])))
    A.update(_ablations(results, grid))
    A.update(_int8(results))
    A.update(_stages(results, grid))
    return A


def _headline(results, grid):
    """Individual vs S-Net vs US-Net at the switches, and the US-Net's smoothness."""
    macs = macs_of(results)
    A = {"macs": {str(w): m for w, m in macs.items()}}
    ind = {w: stats(individual_at(results, w)) for w in SWITCHES4}
    s4 = {w: stats(collect(results, "s4", "switches", w)) for w in SWITCHES4}
    us = {w: stats(collect(results, "us", "calibrated", w)) for w in sorted(set(SWITCHES4) | set(SWITCHES8) | set(grid))}
    A.update(individual=ind, s4=s4, us=us)
    held, rows = claim_snet_vs_individual(_means(s4), _means(ind), SWITCHES4)
    A["claim_snet"] = {"held": held if rows else None, "rows": rows}
    held, rows = claim_usnet_vs_snet(_means(us), _means(s4), SWITCHES4)
    A["claim_usnet"] = {"held": held if rows else None, "rows": rows}
    dips = {}
    for r in results.values():
        if r["group"] == "us":
            _, dips[r["seed"]] = claim_smooth([(row["width"], 100 * row["top1"]) for row in r["calibrated"]
                                               if on_grid(row["width"], grid)])
    A["claim_smooth"] = {"held": all(d <= DIP_TOLERANCE for d in dips.values()) if dips else None, "dips": dips}
    return A


def _collapse(results, grid, ind_means):
    """Do the naive network, the individual 1.0x network and the S-Net collapse at untrained widths?"""
    # "Collapse" is measured against what individually trained networks reach at that width
    # (the mean over seeds, interpolated linearly in width between 0.25, 0.5, 0.75 and 1.0).
    reference = {}
    if len(ind_means) >= 2:
        xs = sorted(ind_means)
        reference = {g: float(np.interp(g, xs, [ind_means[x] for x in xs])) for g in grid}
    collapse = {}
    for group, exclude in (("naive", SWITCHES4), ("individual", [1.0]), ("s4", SWITCHES4)):
        curve = {}
        for r in sorted(results.values(), key=lambda r: r["seed"]):
            if r["group"] == group and r.get("calibrated"):
                curve = by_width(r["calibrated"])
                break
        grid_curve = {w: a for w, a in curve.items() if on_grid(w, grid)}
        collapsed, worst, at = claim_collapse(grid_curve, reference, exclude=exclude)
        untrained = [w for w in grid_curve if not any(abs(w - e) < 1e-6 for e in exclude)]
        collapse[group] = {"collapsed": collapsed, "worst_gap": worst, "at": at,
                           "mean_gap": mean_gain(reference, grid_curve, untrained),
                           "lowest": min((grid_curve[w] for w in untrained), default=None)}
    evaluated = [c for g, c in collapse.items() if c["worst_gap"] is not None and g != "s4"]
    snet = collapse["s4"]
    return {"claim_collapse": {"held": all(c["collapsed"] for c in evaluated) if evaluated else None,
                               "methods": {g: c for g, c in collapse.items() if g != "s4"}},
            "claim_collapse_snet": {"held": snet["collapsed"] if snet["worst_gap"] is not None else None, **snet}}


def _ablations(results, grid):
    """The US-Net's in-place distillation and output averaging (first seed): their gains."""
    A = {}
    first_us, nd, oa = first_of(results, "us"), first_of(results, "us_nodistill"), first_of(results, "us_oa")
    if first_us and nd:
        a, b = by_width(first_us["calibrated"]), by_width(nd["calibrated"])
        narrow = [w for w in grid if w <= 0.5 + 1e-9]
        c = {"narrow_gain": mean_gain(a, b, narrow), "gain_025": mean_gain(a, b, [0.25]),
             "wide_gain": mean_gain(a, b, [w for w in grid if w > 0.5]), "all_gain": mean_gain(a, b, grid),
             "narrow": narrow}
        c["held"] = bool(c["narrow_gain"] and c["narrow_gain"] > 0)
        A["claim_distill"] = c
    if first_us and oa:
        a, b = by_width(oa["calibrated"]), by_width(first_us["calibrated"])
        c = {"switch_gain": mean_gain(a, b, SWITCHES4), "grid_gain": mean_gain(a, b, grid),
             "per_switch": {w: a[w] - b[w] for w in SWITCHES4 if w in a and w in b}}
        c["held"] = bool(c["switch_gain"] is not None and c["switch_gain"] > 0)
        A["claim_oa"] = c
    return A


def _int8(results):
    """The int8 drop (points) of every TFLite evaluation."""
    int8 = {}
    for r in results.values():
        if r.get("tflite"):
            int8[r["group"]] = [{**t, "drop": 100 * (t["fp32"] - t["int8"])} for t in r["tflite"]]
    return {"int8": int8, "claim_int8": {
        "held": all(t["drop"] <= INT8_TOLERANCE for rows in int8.values() for t in rows) if int8 else None}}


def _stages(results, grid):
    """Slimming which stage costs least accuracy at equal MACs (first US-Net)."""
    first_us = first_of(results, "us")
    if not (first_us and first_us.get("stages")):
        return {}
    curves = {"uniform": [(r["macs"], 100 * r["top1"]) for r in first_us["calibrated"] if on_grid(r["width"], grid)]}
    for stage, rows in first_us["stages"].items():
        curves[f"stage {stage}"] = [(r["macs"], 100 * r["top1"]) for r in rows]
    equal = compare_at_equal_macs(curves)
    stage_means = {k: v for k, v in (equal or {}).items() if k.startswith("stage")}
    last = f"stage {first_us['num_stages']}"
    return {"claim_stages": {"equal_macs": equal,
                             "held": bool(stage_means) and min(stage_means, key=stage_means.get) == last,
                             "best": max(stage_means, key=stage_means.get) if stage_means else None}}
