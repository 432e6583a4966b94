"""What the studies' command lines share: their common flags and parameters."""

import os
import sys
from dataclasses import dataclass

import slimkeras.cli
from studies.common.jobs import ROOT

SEED = slimkeras.cli.Number(0, 2**32 - 1, integer=True)
DEFAULT_SEEDS = "0,1"


@dataclass
class StudyParams:
    """What one invocation of a study does, whichever study.

    Args:
        seeds: the seeds; the first also seeds the single-seed jobs.
        out: the folder of the jobs' folders (and invocations.json, analysis.json).
        quick: the pipeline check: 2048 training / 512 test images.
        jobs: only these jobs (a comma list of names, groups or name prefixes); None: all.
        widths: the number of grid widths in [0.25, 1.0].
        report: the results.md path.
        train_only: train, evaluate nothing.
        at_once: training jobs run side by side (`jobs.run_jobs`).
        command: the command line, as the report shows it.
    """

    seeds: list
    out: str
    quick: bool
    jobs: str | None
    widths: int
    report: str
    train_only: bool
    at_once: int
    command: str


def study_parser(prog, description):
    """A parser with the flags every study takes; every number checked by `slimkeras.cli.Number`."""
    p = slimkeras.cli.ArgumentParser(prog=prog, description=description)
    p.add_argument("--seeds", default=None,
                   help=f"comma list (default {DEFAULT_SEEDS}; --quick: 0); the first also seeds the single-seed jobs")
    p.add_argument("--out", default="runs/reproduce", help="where the jobs' folders go")
    p.add_argument("--quick", action="store_true", help="pipeline check: 2048 training / 512 test images, 6 widths")
    p.add_argument("--jobs", default=None, help="only these jobs/groups (comma list of names or prefixes)")
    p.add_argument("--widths", type=slimkeras.cli.Number(2, 1000, integer=True), default=None,
                   help="grid widths in [0.25, 1.0] (default 20; --quick: 6)")
    p.add_argument("--report", default=None, help="results.md path (default docs/results.md; --quick: OUT/results.md)")
    p.add_argument("--train_only", action="store_true", help="train, evaluate nothing")
    p.add_argument("--jobs_at_once", type=slimkeras.cli.Number(1, 64, integer=True), default=1,
                   help="training jobs side by side, each with cores/N TensorFlow threads (2 on 2 cores: 1.5x the throughput)")
    return p


def study_params(parser, args, argv):
    """The `StudyParams` of parsed `args` (defaults resolved; bad input: `parser.error`)."""
    seeds = number_list(parser, "seeds", args.seeds if args.seeds is not None else ("0" if args.quick else DEFAULT_SEEDS),
                        SEED)
    report = args.report
    if report is None:
        report = os.path.join(args.out, "results.md") if args.quick else os.path.join(ROOT, "docs", "results.md")
    return StudyParams(seeds=seeds, out=args.out, quick=args.quick, jobs=args.jobs,
                       widths=args.widths if args.widths is not None else (6 if args.quick else 20),
                       report=report, train_only=args.train_only, at_once=args.jobs_at_once,
                       command=f"python -m {parser.prog.split()[-1]}" + "".join(f" {a}" for a in argv))


def parse(parser, argv):
    """`parser`'s namespace of `argv` (default sys.argv[1:]) and the list parsed."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return parser.parse_args(argv), argv


def number_list(parser, name, text, number):
    """The distinct numbers of the comma list `text` of flag `name`; bad or none: `parser.error`."""
    try:
        values = slimkeras.cli.number_list(name, [v for v in text.split(",") if v.strip()], number)
    except ValueError as e:
        parser.error(str(e).rstrip("."))
    if not values:
        parser.error(f"--{name}={text!r}: give {number.allowed()}, or several separated by commas")
    return values
