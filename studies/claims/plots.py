"""The report's PNG plots: the FLOPs-accuracy spectrum, 'naturally slimmable?' and stage slimming."""

import os

import numpy as np
from matplotlib.figure import Figure

from studies.claims.analysis import by_width, first_of, group_curve, individual_at, macs_of, on_grid
from studies.common.study import LABELS, STAGE_RATIO, SWITCHES4


def write_plots(results, grid, plot_dir):
    """Writes the plots the results allow into `plot_dir`.

    Args:
        results: {job name: result of `evaluate_job`}.
        grid: the grid widths.
        plot_dir: the folder of the PNG files.

    Returns:
        {file name: path} of the plots written.
    """
    os.makedirs(plot_dir, exist_ok=True)
    macs = {w: m for w, (m, _) in macs_of(results).items()}
    paths = {}
    for name, plot in (("spectrum.png", _spectrum), ("naturally_slimmable.png", _naturally_slimmable),
                       ("stage_slimming.png", _stage_slimming)):
        fig = Figure(figsize=(6.4, 4.2), dpi=100)  # no pyplot: the caller's backend stays as it is
        ax = fig.add_subplot()
        title = plot(ax, results, grid, macs)
        if title is None:
            continue
        paths[name] = os.path.join(plot_dir, name)
        _finish(fig, ax, paths[name], title)
    return paths


def _curve(ax, macs, points, label, style="o-", **kw):
    """Plots [(width, accuracy)] against the MACs of each width."""
    points = sorted(points)
    kw.setdefault("ms", 3)
    if points:
        ax.plot([macs[w] / 1e6 for w, _ in points], [a for _, a in points], style, label=label, **kw)


def _finish(fig, ax, path, title):
    ax.set_xlabel("MACs (M)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def _on_grid(curve, grid):
    return [(w, a) for w, a in curve.items() if on_grid(w, grid)]


def _spectrum(ax, results, grid, macs):
    """The FLOPs-accuracy spectrum of every method (means over seeds)."""
    _curve(ax, macs, _on_grid(group_curve(results, "us"), grid), LABELS["us"], "o-", lw=2)
    _curve(ax, macs, _on_grid(group_curve(results, "us_nodistill"), grid), LABELS["us_nodistill"], ".-")
    _curve(ax, macs, _on_grid(group_curve(results, "us_oa"), grid), LABELS["us_oa"], ".-")
    _curve(ax, macs, list(group_curve(results, "s4", "switches").items()), LABELS["s4"], "s--", ms=6)
    _curve(ax, macs, list(group_curve(results, "s8", "switches").items()), LABELS["s8"], "^--")
    ind = [(w, float(np.mean([100 * a for a in individual_at(results, w)])))
           for w in SWITCHES4 if individual_at(results, w)]
    _curve(ax, macs, ind, "individual", "D", ms=6, color="k")
    return "Fashion-MNIST, MobileNet v1 (28 px): FLOPs-accuracy spectrum"


def _naturally_slimmable(ax, results, grid, macs):
    """Supplementary Fig. 2: every network at the grid widths after calibration."""
    _curve(ax, macs, _on_grid(group_curve(results, "us"), grid), LABELS["us"], "o-", lw=2)
    for group, label in (("s4", "S-Net 4-switch, calibrated"), ("naive", "naive shared BN, calibrated"),
                         ("individual", "individual 1.0, calibrated")):
        r = first_of({k: v for k, v in results.items() if v.get("calibrated")}, group)
        if r:
            _curve(ax, macs, _on_grid(by_width(r["calibrated"]), grid), label, ".-")
    return "Naturally slimmable? (after BN calibration)"


def _stage_slimming(ax, results, grid, macs):
    """Supplementary Fig. 1: the first US-Net with one stage slimmed; None without those results."""
    us = first_of(results, "us")
    if not (us and us.get("stages")):
        return None
    uniform = [(r["macs"] / 1e6, 100 * r["top1"]) for r in us["calibrated"] if on_grid(r["width"], grid)]
    ax.plot(*zip(*sorted(uniform)), "o-", ms=3, label="uniform")
    for stage, rows in us["stages"].items():
        pts = sorted((r["macs"] / 1e6, 100 * r["top1"]) for r in rows)
        ax.plot(*zip(*pts), ".-", label=f"stage {stage} at {STAGE_RATIO:g}× the width")
    return "Nonuniform widths of the US-Net (seed %d)" % us["seed"]
