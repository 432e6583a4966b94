"""The command line of `python -m training.reproduce`: train the jobs, evaluate, write the report."""

import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # also for the training subprocesses

import numpy as np  # noqa: E402

import slimkeras.cli  # noqa: E402 (imports TensorFlow with its start-up lines filtered)
from slimkeras.io import write_json_atomic  # noqa: E402
from training.reproduce.jobs import ROOT, ReproductionError, plan_jobs, run_jobs, select_jobs  # noqa: E402
from training.reproduce.machine import InvocationLog, LoadSampler, elapsed, machine_info  # noqa: E402
from training.reproduce.study import grid_widths  # noqa: E402

DEFAULT_EPOCHS = 6
DEFAULT_SEEDS = "0,1"
DEFAULT_BUDGETS = "8,16"
EPOCHS = slimkeras.cli.Number(1, 10_000, integer=True)
SEED = slimkeras.cli.Number(0, 2**32 - 1, integer=True)


@dataclass
class ReproduceParams:
    """What one invocation does.

    Args:
        epochs: epochs of every job.
        seeds: the seeds of the headline comparison; the first also seeds the single-seed jobs.
        out: the folder of the jobs' folders (and invocations.json, analysis.json).
        quick: the pipeline check: 2048 training / 512 test images.
        jobs: only these jobs (a comma list of names, groups or name prefixes); None: all.
        widths: the number of grid widths in [0.25, 1.0].
        report: the results.md path.
        train_only: train, evaluate nothing.
        command: the command line, as the report shows it.
        budget_study: run the distillation budget study (`budget_study`) instead of the claims.
        budgets: its budgets (epochs), the first also the screen's.
        at_once: training jobs run side by side (`jobs.run_jobs`).
        contenders: comma list of the study's rules trained like the default, at every budget and seed.
    """

    epochs: int
    seeds: list
    out: str
    quick: bool
    jobs: str | None
    widths: int
    report: str
    train_only: bool
    command: str
    budget_study: bool = False
    budgets: tuple = ()
    at_once: int = 1
    contenders: str = ""


def build_parser():
    """The command line's parser: every number checked by `slimkeras.cli.Number` (one `error:` line, exit 2)."""
    import training.reproduce

    p = slimkeras.cli.ArgumentParser(prog="python -m training.reproduce",
                                     description=training.reproduce.__doc__.split("\n")[0])
    p.add_argument("--epochs", type=EPOCHS, default=None, help=f"epochs of every job (default {DEFAULT_EPOCHS}; --quick: 1)")
    p.add_argument("--seeds", default=None,
                   help=f"comma list (default {DEFAULT_SEEDS}; --quick: 0); the first also seeds the single-seed experiments")
    p.add_argument("--out", default="runs/reproduce", help="where the jobs' folders go")
    p.add_argument("--quick", action="store_true", help="pipeline check: 2048 training / 512 test images, 1 epoch, 6 widths")
    p.add_argument("--jobs", default=None, help="only these jobs/groups (comma list of names or prefixes)")
    p.add_argument("--widths", type=slimkeras.cli.Number(2, 1000, integer=True), default=None, help="grid widths in [0.25, 1.0] (default 20; --quick: 6)")
    p.add_argument("--report", default=None, help="results.md path (default docs/results.md; --quick: OUT/results.md)")
    p.add_argument("--train_only", action="store_true", help="train, evaluate nothing")
    p.add_argument("--jobs_at_once", type=slimkeras.cli.Number(1, 64, integer=True), default=1,
                   help="training jobs side by side, each with cores/N TensorFlow threads (2 on 2 cores: 1.5x the throughput)")
    p.add_argument("--budget_study", action="store_true",
                   help="the distillation rules x budgets study (its section of the report) instead of the claims")
    p.add_argument("--budgets", default=DEFAULT_BUDGETS,
                   help=f"epochs of each budget of --budget_study (default {DEFAULT_BUDGETS}; --quick: 1,2)")
    p.add_argument("--contenders", default="",
                   help="--budget_study: rules (comma list) trained like the default rule at every budget and seed")
    return p


def parse_args(argv=None):
    """The parameters of the command line `argv` (default sys.argv[1:]); bad input ends the
    program with one `error:` line and exit code 2."""
    p = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else DEFAULT_EPOCHS)
    seeds = args.seeds if args.seeds is not None else ("0" if args.quick else DEFAULT_SEEDS)
    seeds = _number_list(p, "seeds", seeds, SEED)
    widths = args.widths if args.widths is not None else (6 if args.quick else 20)
    report = args.report
    if report is None:
        report = os.path.join(args.out, "results.md") if args.quick else os.path.join(ROOT, "docs", "results.md")
    if not args.budget_study:
        for name in ("budgets", "contenders"):
            if getattr(args, name) != p.get_default(name):
                p.error(f"--{name} belongs to --budget_study (the claims study trains every job for --epochs)")
    elif args.epochs is not None:
        p.error(f"--epochs={args.epochs} is the claims study's: the budget study trains for each of --budgets")
    budgets = "1,2" if args.quick and args.budgets == DEFAULT_BUDGETS else args.budgets
    budgets = tuple(_number_list(p, "budgets", budgets, EPOCHS))
    return ReproduceParams(epochs=epochs, seeds=seeds, out=args.out, quick=args.quick, jobs=args.jobs, widths=widths,
                           report=report, train_only=args.train_only,
                           command="python -m training.reproduce" + "".join(f" {a}" for a in argv),
                           budget_study=args.budget_study, budgets=budgets, at_once=args.jobs_at_once,
                           contenders=args.contenders)


def _number_list(parser, name, text, number):
    """The distinct numbers of the comma list `text` of flag `name`; bad or none: `parser.error`."""
    try:
        values = slimkeras.cli.number_list(name, [v for v in text.split(",") if v.strip()], number)
    except ValueError as e:
        parser.error(str(e).rstrip("."))
    if not values:
        parser.error(f"--{name}={text!r}: give {number.allowed()}, or several separated by commas")
    return values


def main(argv=None):
    """Runs the command line `argv`; returns the exit code (2 after one `error:` line for bad input)."""
    params = parse_args(argv)
    if params.budget_study:
        from training.reproduce.budget_cli import budget_study

        return slimkeras.cli.run(lambda: budget_study(params), errors=(ReproductionError,))
    return slimkeras.cli.run(lambda: reproduce(params), errors=(ReproductionError,))


def reproduce(params):
    """Trains the jobs not yet done, then (unless `train_only`) evaluates every network and writes
    the report, the plots and OUT/analysis.json.

    Args:
        params: a `ReproduceParams`.

    Raises:
        ReproductionError: a --jobs pattern that matches nothing, or an --out holding networks
            trained for other epochs.
    """
    t0 = time.time()
    jobs = select_jobs(plan_jobs(params.seeds), params.jobs)
    out = os.path.abspath(params.out)
    os.makedirs(out, exist_ok=True)
    sampler = LoadSampler().start()
    invocation = InvocationLog(out, params.command, sampler)

    def log(msg):
        print(msg, flush=True)
        invocation.update(last=msg.strip())

    log(f"Reproduction: {len(jobs)} jobs, {params.epochs} epoch(s), seeds {params.seeds}, into {out}")
    walls = run_jobs(jobs, out, params.epochs, params.quick, log, params.at_once)
    if params.train_only:
        sampler.stop()
        invocation.update(status="finished")
        return
    plots = _evaluate_and_report(params, jobs, out, walls, sampler, invocation, log)
    log(f"Wrote {params.report} and {len(plots)} plot(s) in {_plot_dir(params)} ({elapsed(t0)} elapsed)")


def _evaluate_and_report(params, jobs, out, walls, sampler, invocation, log):
    """Evaluates every network, checks the claims, writes the report, the plots and analysis.json;
    returns {file name: path} of the plots."""
    import keras
    import tensorflow as tf

    from training.reproduce.analysis import analyse
    from training.reproduce.evaluate import EvalData, run_evaluations
    from training.reproduce.plots import write_plots
    from training.reproduce.report import write_report

    tf.get_logger().setLevel("ERROR")
    data = EvalData(params.quick)
    grid = grid_widths(params.widths)
    results = run_evaluations(jobs, out, data, grid, params.epochs, log)
    analysis = analyse(results, grid)
    plot_dir = _plot_dir(params)
    plots = write_plots(results, grid, plot_dir)
    sampler.stop()
    meta = {
        "command": params.command, "quick": params.quick, "epochs": params.epochs, "seeds": params.seeds,
        "jobs": len(jobs), "walls": walls, "invocations": invocation.update(status="finished"),
        "wall_train": sum(w["wall_seconds"] for w in walls.values()),
        "cpu_train": sum(w["cpu_seconds"] or 0.0 for w in walls.values()),
        "wall_eval": sum(r.get("eval_seconds", 0.0) for r in results.values()),
        "cpu_eval": sum(r.get("eval_cpu_seconds", 0.0) for r in results.values()),
        "machine": machine_info(), "versions": f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "test_images": len(data.test_labels), "calibration_images": data.calibration_count,
        "out": os.path.relpath(out, ROOT) if out.startswith(ROOT) else out,
    }
    meta["wall_total"] = meta["wall_train"] + meta["wall_eval"]
    write_report(params.report, plot_dir, results, analysis, grid, meta, plots)
    write_json_atomic(os.path.join(out, "analysis.json"), jsonable({"analysis": analysis, "meta": meta}), indent=1)
    return plots


def _plot_dir(params):
    return os.path.join(os.path.dirname(os.path.abspath(params.report)), "results")


def jsonable(obj):
    """`obj` with numpy scalars as Python numbers, tuples as lists and keys as strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj
