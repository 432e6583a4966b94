"""`python -m studies.budget`: train the study's jobs, evaluate them on the grid,
write the report's budget-study section and OUT/budget/analysis.json."""

import os
import time
from dataclasses import dataclass

import slimkeras.cli  # imports TensorFlow with its start-up lines filtered
from slimkeras.io import jsonable, write_json_atomic
from studies.common.cli import StudyParams, number_list, parse, study_params, study_parser
from training import config as training_config
from studies.budget.plan import FLAGFILE, VARIANTS, analyse_budgets, default_variant, plan_budget_jobs
from studies.common.jobs import ReproductionError, matching_jobs, run_pool
from studies.common.machine import elapsed
from studies.common.study import SWITCHES4, grid_widths

DEFAULT_BUDGETS = "8,16"
EPOCHS = slimkeras.cli.Number(1, 10_000, integer=True)


@dataclass
class BudgetParams(StudyParams):
    """What one invocation does (`StudyParams`, and the study's own).

    Args:
        budgets: the budgets (epochs), the first also the screen's.
        contenders: comma list of the study's rules trained like the default, at every budget and seed.
    """

    budgets: tuple = ()
    contenders: str = ""


def build_parser():
    """The command line's parser: every number checked by `slimkeras.cli.Number` (one `error:` line, exit 2)."""
    p = study_parser("python -m studies.budget", __doc__.split("\n")[0])
    p.add_argument("--budgets", default=DEFAULT_BUDGETS,
                   help=f"epochs of each budget (default {DEFAULT_BUDGETS}; --quick: 1,2)")
    p.add_argument("--contenders", default="", help="rules (comma list) trained like the default rule at every "
                                                    "budget and seed")
    return p


def parse_args(argv=None):
    """The parameters of the command line `argv` (default sys.argv[1:]); bad input ends the
    program with one `error:` line and exit code 2."""
    p = build_parser()
    args, argv = parse(p, argv)
    budgets = "1,2" if args.quick and args.budgets == DEFAULT_BUDGETS else args.budgets
    return BudgetParams(**vars(study_params(p, args, argv)), budgets=tuple(number_list(p, "budgets", budgets, EPOCHS)),
                        contenders=args.contenders)


def main(argv=None):
    """Runs the command line `argv`; returns the exit code (2 after one `error:` line for bad input)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # for the training subprocesses
    params = parse_args(argv)
    return slimkeras.cli.run(lambda: budget_study(params), errors=(ReproductionError,))


def default_rule_variant():
    """The study's `Variant` of the default flagfile's distillation settings."""
    cfg = training_config.parse(["prog", f"--flagfile={FLAGFILE}"])
    variant = default_variant(cfg, cfg.epochs)
    if variant is None:
        raise ReproductionError(f"the distillation settings of training/flags/{FLAGFILE}.flags are none of the "
                                "study's rules (studies/budget/plan.py VARIANTS): add them there")
    return variant


def contender_variants(names):
    """The rules of `VARIANTS` a comma list `names` (--contenders) names.

    Raises:
        ReproductionError: a name that is not a rule of the study.
    """
    rules = {v.name: v for v in VARIANTS}
    chosen = [n.strip() for n in (names or "").split(",") if n.strip()]
    for n in chosen:
        if n not in rules:
            raise ReproductionError(f"--contenders: {n!r} is not a rule of the study; allowed: {', '.join(rules)}")
    return [rules[n] for n in chosen]


def select_budget_jobs(plan, patterns):
    """`plan` with only the jobs `patterns` (as `--jobs`: names, variants or name prefixes) name, at
    every budget, or at one with `e{epochs}/` before the pattern; budgets left without jobs are dropped.

    Raises:
        ReproductionError: a pattern that names no job at any budget.
    """
    if not patterns:
        return plan
    chosen = {}
    for p in (p.strip() for p in patterns.split(",") if p.strip()):
        found = False
        budget, _, name = p.rpartition("/")
        for epochs, jobs in plan.items():
            if budget and budget != f"e{epochs}":
                continue
            hits = matching_jobs(jobs, name)
            chosen.setdefault(epochs, []).extend(j for j in hits if j not in chosen[epochs])
            found = found or bool(hits)
        if not found:
            raise ReproductionError(f"--jobs: {budget + '/' if budget else ''}{name!r} names no job of the budget study")
    return {e: [j for j in plan[e] if j in chosen[e]] for e in plan if chosen.get(e)}


def budget_study(params):
    """Trains the jobs not yet done, then (unless `train_only`) evaluates and writes the section.

    Args:
        params: a `BudgetParams`.
    """
    t0 = time.time()
    default = default_rule_variant()
    contenders = contender_variants(params.contenders)
    planned = plan_budget_jobs(params.budgets, params.seeds, default, contenders)
    plan = select_budget_jobs(planned, params.jobs)
    out = os.path.join(os.path.abspath(params.out), "budget")
    total = sum(len(j) for j in plan.values())
    print(f"Budget study: default rule {default.name!r}, budgets {list(plan)} epochs, seeds {params.seeds}, "
          f"{total} jobs, into {out}", flush=True)
    walls = run_pool([(job, os.path.join(out, f"e{epochs}", job["name"]), epochs)
                      for epochs, jobs in plan.items() for job in jobs], params.quick, at_once=params.at_once)
    if params.train_only:
        return
    analysis, meta = _evaluate(params, plan, out, walls, default, contenders)
    meta["not_run"] = [f"{j['name']} ({epochs} epochs)" for epochs, jobs in planned.items() for j in jobs
                       if j not in plan.get(epochs, [])]
    from studies.budget.report import write_budget_section

    write_budget_section(params.report, analysis, grid_widths(params.widths), meta)
    write_json_atomic(os.path.join(out, "analysis.json"), jsonable({"analysis": analysis, "meta": meta}), indent=1)
    print(f"Wrote the budget study into {params.report} ({elapsed(t0)} elapsed)", flush=True)


def _evaluate(params, plan, out, walls, default, contenders):
    from studies.common.evaluate import EvalData, run_evaluations

    data = EvalData(params.quick)
    grid = grid_widths(params.widths)
    results, eval_seconds = {}, 0.0
    for epochs, jobs in plan.items():
        results[epochs] = run_evaluations(jobs, os.path.join(out, f"e{epochs}"), data, grid, epochs, extras=False)
        eval_seconds += sum(r.get("eval_seconds", 0.0) for r in results[epochs].values())
    analysis = analyse_budgets(results, grid, sorted(set(grid) | set(SWITCHES4)), default.name)
    train = list(walls.values())
    cpu = sum(w["cpu_seconds"] or 0.0 for w in train)
    time_text = (f"training: {len(train)} jobs, {sum(w['wall_seconds'] for w in train) / 60:.0f} min of job "
                 f"wall time summed over the jobs" + (f", {cpu / 60:.0f} CPU-min" if cpu else "")
                 + f"; evaluation: {eval_seconds / 60:.1f} min")
    meta = {"command": params.command, "time": time_text, "default": default.name, "seeds": params.seeds,
            "contenders": [v.name for v in contenders],
            "screen_epochs": params.budgets[0], "calibration_images": data.calibration_count}
    return analysis, meta

