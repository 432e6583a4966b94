"""The command line of `python -m studies.claims`: train the jobs, evaluate, write the report."""

import os
import time
from dataclasses import dataclass

import slimkeras.cli  # imports TensorFlow with its start-up lines filtered
from slimkeras.io import jsonable, write_json_atomic
from studies.common.cli import StudyParams, parse, study_params, study_parser
from studies.common.jobs import ROOT, ReproductionError, plan_jobs, run_jobs, select_jobs
from studies.common.machine import InvocationLog, LoadSampler, elapsed, machine_info
from studies.common.study import grid_widths

DEFAULT_EPOCHS = 6
EPOCHS = slimkeras.cli.Number(1, 10_000, integer=True)


@dataclass
class ClaimsParams(StudyParams):
    """What one invocation does (`StudyParams`, and the epochs of every job)."""

    epochs: int = DEFAULT_EPOCHS


def build_parser():
    """The command line's parser: every number checked by `slimkeras.cli.Number` (one `error:` line, exit 2)."""
    import studies.claims

    p = study_parser("python -m studies.claims", studies.claims.__doc__.split("\n")[0])
    p.add_argument("--epochs", type=EPOCHS, default=None, help=f"epochs of every job (default {DEFAULT_EPOCHS}; --quick: 1)")
    return p


def parse_args(argv=None):
    """The parameters of the command line `argv` (default sys.argv[1:]); bad input ends the
    program with one `error:` line and exit code 2."""
    p = build_parser()
    args, argv = parse(p, argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else DEFAULT_EPOCHS)
    return ClaimsParams(**vars(study_params(p, args, argv)), epochs=epochs)


def main(argv=None):
    """Runs the command line `argv`; returns the exit code (2 after one `error:` line for bad input)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # for the training subprocesses
    params = parse_args(argv)
    return slimkeras.cli.run(lambda: reproduce(params), errors=(ReproductionError,))


def reproduce(params):
    """Trains the jobs not yet done, then (unless `train_only`) evaluates every network and writes
    the report, the plots and OUT/analysis.json.

    Args:
        params: a `ClaimsParams`.

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

    from studies.claims.analysis import analyse
    from studies.common.evaluate import EvalData, run_evaluations
    from studies.claims.plots import write_plots
    from studies.claims.report import write_report

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
