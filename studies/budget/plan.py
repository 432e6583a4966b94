"""The distillation budget study: which in-place distillation rule the default US-Net recipe should
use, measured against the same network without distillation at several training budgets.

`python -m studies.budget` trains, per budget of --budgets (epochs):
- every seed: the US-Net without distillation (`nodistill`) and the default flagfile's rule;
- the first seed: the 4-switch S-Net (`SNET`, the reference of "US-Net within 0.5 pt of the S-Net")
  and the naive shared-BN network (`NAIVE`: with the S-Net, why a US-Net trails it);
- the first budget, the first seed: every other rule of `VARIANTS` (the screen that chose the
  default);
- every budget, every seed: the contenders (`--contenders`), rules of the screen measured like the
  default before one replaces it.
Jobs go to OUT/budget/e{epochs}/{variant}_s{seed}; each is `training.main` with the variant's
flagfile (the default one for the rules) and its flags after it. The analysis below is pure:
results in, numbers out.
"""

from dataclasses import dataclass

import numpy as np

from studies.common.claims import claim_usnet_vs_snet
from studies.common.jobs import ReproductionError
from studies.common.study import PAPER_RULE, SWITCHES4

FLAGFILE = "us_mbv1_fashion"


@dataclass(frozen=True)
class Variant:
    """One training rule of the study.

    Args:
        name: the job-name prefix.
        label: what the report calls it.
        distill: trains with in-place distillation.
        rule: the --distill_* values (fractions of the budget for `warmup` and `ramp`, see `flags`;
            --distill_temperature_ramp is a share of the run already).
        warmup: labels-only share of the budget.
        ramp: share of the budget over which the soft-target share then grows.
        flagfile: the flagfile the job trains; a reference network of another flagfile (the
            S-Net) trains it as it is, without the --distill_* flags.
    """

    name: str
    label: str
    distill: bool = True
    rule: tuple = ()
    warmup: float = 0.0
    ramp: float = 0.0
    flagfile: str = FLAGFILE

    def settings(self, epochs):
        """{flag name: value} of the --distill_* flags at a budget of `epochs`."""
        values = dict(PAPER_RULE, **dict(self.rule))
        values["distill_warmup_epochs"] = self.warmup * epochs
        values["distill_ramp_epochs"] = self.ramp * epochs
        return values

    def flags(self, epochs):
        """The overrides after the flagfile."""
        if self.flagfile != FLAGFILE:
            return []
        if not self.distill:
            return ["--noinplace_distill"]
        return ["--inplace_distill"] + [f"--{k}={v:g}" for k, v in self.settings(epochs).items()]


VARIANTS = (
    Variant("nodistill", "no distillation", distill=False),
    Variant("paper", "soft targets only (the US-Nets paper)"),
    Variant("mix", "½ labels + ½ soft targets", rule=(("distill_weight", 0.5),)),
    Variant("gate", "soft targets where the widest width gives the label p ≥ 0.5, else labels",
            rule=(("distill_gate", 0.5),)),
    Variant("warmup", "labels for ¼ of the budget, then soft targets ramped in over ¼", warmup=0.25, ramp=0.25),
    Variant("mix_t2", "½ labels + ½ soft targets at temperature 2",
            rule=(("distill_weight", 0.5), ("distill_temperature", 2.0))),
    Variant("mix_tramp", "½ labels + ½ soft targets, temperature rising from 1 to 2 over the budget",
            rule=(("distill_weight", 0.5), ("distill_temperature", 2.0), ("distill_temperature_ramp", 1.0))),
)
BASELINE = "nodistill"
# The reference of the "US-Net within 0.5 pt of the S-Net" claim, trained at every budget (first seed).
SNET = Variant("s4", "S-Net, 4 switches (`s_mbv1_fashion`: switchable BN, every switch each step; "
               "no distillation)", distill=False, flagfile="s_mbv1_fashion")
# With the S-Net, the ablation of why a US-Net trails it: the same switches each step with one shared
# BN affine (statistics calibrated per width after training), trained at every budget, first seed.
NAIVE = Variant("naive", "naive shared BN (`naive_mbv1_fashion`: the 4 switches each step, one BN; "
                "statistics calibrated per width after training)", distill=False, flagfile="naive_mbv1_fashion")
ALL_VARIANTS = VARIANTS + (SNET, NAIVE)


def variant_named(name):
    for v in ALL_VARIANTS:
        if v.name == name:
            return v
    raise ReproductionError(f"unknown variant {name!r}; allowed: {', '.join(v.name for v in ALL_VARIANTS)}")


def default_variant(config, epochs):
    """The rule of `VARIANTS` whose flags give the default flagfile's settings `config` (a parsed
    `training.config.RunConfig`) at `epochs`; None if none does."""
    for v in VARIANTS:
        if config.inplace_distill != v.distill:
            continue
        if not v.distill or all(abs(getattr(config, k) - x) < 1e-9 for k, x in v.settings(epochs).items()):
            return v
    return None


def plan_budget_jobs(budgets, seeds, default, contenders=()):
    """{epochs: [job dicts]} of the study (job dicts as `jobs.plan_jobs`'s, group = variant name).

    Args:
        budgets: the epochs of each budget, the first the screen's.
        seeds: every budget's seeds; the first also seeds the screen and the references (`SNET`, `NAIVE`).
        default: the `Variant` of the default flagfile.
        contenders: `Variant`s trained like the default, at every budget and seed.
    """
    plan = {}
    for b, epochs in enumerate(budgets):
        jobs = {}
        for i, seed in enumerate(seeds):
            screen = VARIANTS if b == 0 and i == 0 else ()
            reference = (SNET, NAIVE) if i == 0 else ()
            for v in [variant_named(BASELINE), default, *contenders, *screen, *reference]:
                name = f"{v.name}_s{seed}"
                jobs.setdefault(name, dict(name=name, group=v.name, seed=seed, flagfile=v.flagfile,
                                           overrides=v.flags(epochs)))
        plan[epochs] = list(jobs.values())
    return plan


def grid_stats(results, variant, grid, key="calibrated"):
    """{width: (mean, half-range, n)} in points of `variant`'s top-1 over its seeds, at the widths of
    `grid` it was evaluated at: after BN calibration, or (key "switches") at its switches as evaluated
    for the claims (an S-Net with its own BN statistics)."""
    per_width = {w: [] for w in grid}
    for r in results.values():
        if r["group"] == variant:
            rows = {round(row["width"], 6): row["top1"] for row in r[key] if not row.get("stage_ratios")}
            for w in grid:
                if round(w, 6) in rows:
                    per_width[w].append(100.0 * rows[round(w, 6)])
    return {w: (float(np.mean(v)), (max(v) - min(v)) / 2.0, len(v)) for w, v in per_width.items() if v}


def seeds_of(results, variant):
    return sorted(r["seed"] for r in results.values() if r["group"] == variant)


def on_shared_seeds(results, variants):
    """(the seeds every one of `variants` has, sorted; the results of those seeds)."""
    seeds = set.intersection(*(set(seeds_of(results, v)) for v in variants))
    return sorted(seeds), {k: r for k, r in results.items() if r["seed"] in seeds}


def compare(results, variant, grid, baseline=BASELINE):
    """`variant` − `baseline` over the seeds both have, in points.

    Returns:
        dict: gaps {width: mean gap}, narrow (mean over widths ≤ 0.5), wide (> 0.5), at_025,
        at_1 (gap at 1.0), spread_1 (the larger half-range of the two at 1.0), worst (width, gap),
        worse ([(width, gap)] that break "gap ≥ 0 at every width, at 1.0 ≥ −spread_1", by width),
        never_worse (none does), seeds, gap_sd (`seed_gap_sd`).
    """
    seeds, chosen = on_shared_seeds(results, [variant, baseline])
    a, b = grid_stats(chosen, variant, grid), grid_stats(chosen, baseline, grid)
    gaps = {w: a[w][0] - b[w][0] for w in grid if w in a and w in b}
    if not gaps:
        return None
    top = max(gaps)
    spread = max(a[top][1], b[top][1])
    worst = min(gaps.items(), key=lambda kv: kv[1])
    worse = sorted((w, g) for w, g in gaps.items() if g < (-spread if w == top else 0))
    return dict(gaps=gaps, seeds=seeds, narrow=_mean(gaps, lambda w: w <= 0.5 + 1e-9),
                wide=_mean(gaps, lambda w: w > 0.5 + 1e-9), at_025=gaps.get(min(gaps)), at_1=gaps[top],
                spread_1=spread, worst=worst, worse=worse, never_worse=not worse,
                gap_sd=seed_gap_sd(chosen, variant, sorted(gaps), seeds, baseline))


def seed_gap_sd(results, variant, widths, seeds, baseline=BASELINE):
    """How much one seed's gap `variant` − `baseline` at one width varies from seed to seed: the
    standard deviation over `seeds` (points), averaged over `widths` (evaluated for both networks at
    every seed); None below 2 seeds.
    A mean over n seeds is uncertain by about gap_sd / √n at each width."""
    if len(seeds) < 2:
        return None
    per_seed = []
    for seed in seeds:
        one = {k: r for k, r in results.items() if r["seed"] == seed}
        a, b = grid_stats(one, variant, widths), grid_stats(one, baseline, widths)
        per_seed.append([a[w][0] - b[w][0] for w in widths])
    return float(np.mean(np.std(per_seed, axis=0, ddof=1)))


def _mean(gaps, keep):
    values = [g for w, g in gaps.items() if keep(w)]
    return float(np.mean(values)) if values else None


def versus_snet(results, variant):
    """`variant` against the S-Net at the 4 switches over the seeds both have (means, points).

    Returns:
        dict: held ("US-Net ≥ S-Net − 0.5 at every switch"), rows (`claims.claim_usnet_vs_snet`'s),
        seeds; None without a shared seed.
    """
    seeds, chosen = on_shared_seeds(results, [variant, SNET.name])
    if not seeds:
        return None
    us = {w: s[0] for w, s in grid_stats(chosen, variant, SWITCHES4).items()}
    snet = {w: s[0] for w, s in grid_stats(chosen, SNET.name, SWITCHES4, key="switches").items()}
    held, rows = claim_usnet_vs_snet(us, snet, SWITCHES4)
    return dict(held=held, rows=rows, seeds=seeds)


def snet_ablation(results, default):
    """From the S-Net to the default US-Net one change at a time, at the 4 switches over the seeds all
    four have: S-Net (private BN) → `NAIVE` (one shared BN) → `nodistill` (the sandwich's widths)
    → `default` (in-place distillation).

    Returns:
        dict: seeds, rows [(variant, {switch: mean top-1 points})]; None unless all four were trained.
    """
    names = [SNET.name, NAIVE.name, BASELINE, default]
    seeds, chosen = on_shared_seeds(results, names)
    if not seeds:
        return None
    rows = [(name, {w: s[0] for w, s in grid_stats(chosen, name, SWITCHES4,
                                                    key="switches" if name == SNET.name else "calibrated").items()})
            for name in names]
    return dict(seeds=seeds, rows=rows)


def analyse_budgets(results_by_budget, grid, widths, default):
    """For every budget {epochs: {"stats": {variant: grid_stats at `widths` (the S-Net's at its
    switches)}, "compare": {rule: compare(...) on `grid`}, "snet": {rule: versus_snet(...)},
    "ablation": snet_ablation(..., `default`)}}."""
    analysis = {}
    for epochs, results in sorted(results_by_budget.items()):
        variants = sorted({r["group"] for r in results.values()}, key=[v.name for v in ALL_VARIANTS].index)
        entry = {"stats": {}, "compare": {}, "snet": {}, "ablation": snet_ablation(results, default)}
        for v in variants:
            if v == SNET.name:
                entry["stats"][v] = grid_stats(results, v, SWITCHES4, key="switches")
                continue
            entry["stats"][v] = grid_stats(results, v, widths)
            if v == NAIVE.name:
                continue
            if v != BASELINE:
                entry["compare"][v] = compare(results, v, grid)
            if SNET.name in variants:
                entry["snet"][v] = versus_snet(results, v)
        analysis[epochs] = entry
    return analysis
