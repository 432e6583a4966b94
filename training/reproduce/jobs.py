"""The training jobs: which `python -m training.main` runs the study needs, and running them.

A job is skipped when its results.json exists, so an interrupted reproduction resumes.
"""

import json
import os
import subprocess
import sys
import time

from slimkeras.io import write_json_atomic
from training.reproduce.machine import children_cpu, elapsed
from training.reproduce.study import SWITCHES4, SWITCHES8

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS_DIR = os.path.join(ROOT, "training", "flags")


class ReproductionError(SystemExit):
    """Bad input met while planning or resuming (a --jobs pattern that matches nothing, an --out
    holding networks of another budget). The command prints it as one `error:` line and exits
    with code 2; called from elsewhere it ends the program like `SystemExit`."""


def width_tag(w):
    return f"{w:g}".replace(".", "")


def _job(name, group, seed, flagfile, overrides=(), **extra):
    return dict(name=name, group=group, **extra, seed=seed, flagfile=flagfile, overrides=list(overrides))


def plan_jobs(seeds):
    """The training jobs: dicts with name, group, width (individual), seed, flagfile, overrides.

    Args:
        seeds: the seeds of the headline comparison; the first also seeds the single-seed jobs.
    """
    first = seeds[0]
    jobs = [_job(f"individual_{width_tag(w)}_s{seed}", "individual", seed, "individual_mbv1_fashion",
                 [f"--width_mult_list={w:g}"], width=w)
            for seed in seeds for w in SWITCHES4]
    jobs.append(_job(f"naive_s{first}", "naive", first, "naive_mbv1_fashion"))
    jobs += [_job(f"s4_s{seed}", "s4", seed, "s_mbv1_fashion") for seed in seeds]
    jobs.append(_job(f"s8_s{first}", "s8", first, "s_mbv1_fashion",
                     ["--width_mult_list=" + ",".join(f"{w:g}" for w in SWITCHES8)]))
    jobs += [_job(f"us_s{seed}", "us", seed, "us_mbv1_fashion") for seed in seeds]
    jobs.append(_job(f"us_nodistill_s{first}", "us_nodistill", first, "us_mbv1_fashion", ["--noinplace_distill"]))
    jobs.append(_job(f"us_oa_s{first}", "us_oa", first, "us_mbv1_fashion", ["--output_averaging"]))
    return jobs


def select_jobs(jobs, patterns):
    """Jobs named by the comma-separated `patterns`: a job name, a group (individual, naive, s4,
    s8, us, us_nodistill, us_oa), or else a name prefix.

    Raises:
        ReproductionError: a pattern that matches no job.
    """
    if not patterns:
        return jobs
    chosen = set()
    for p in (p.strip() for p in patterns.split(",") if p.strip()):
        exact = {j["name"] for j in jobs if p in (j["name"], j["group"])}
        matched = exact or {j["name"] for j in jobs if j["name"].startswith(p)}
        if not matched:
            raise ReproductionError(f"--jobs: {p!r} matches none of: {', '.join(j['name'] for j in jobs)}")
        chosen |= matched
    return [j for j in jobs if j["name"] in chosen]


def quick_overrides():
    return ["--train_limit=2048", "--eval_limit=512", "--calibration_images=256"]


def job_argv(job, out, epochs, quick):
    """The command line of one job (its overrides after the flagfile)."""
    argv = [sys.executable, "-m", "training.main", f"--flagfile={os.path.join(FLAGS_DIR, job['flagfile'])}.flags"]
    argv += job["overrides"]
    argv += [f"--epochs={epochs}", f"--seed={job['seed']}", "--verbose=0",
             f"--model_dir={os.path.join(out, job['name'])}"]
    if quick:
        argv += quick_overrides()
    return argv


def run_jobs(jobs, out, epochs, quick, log=print):
    """Runs the training jobs not yet done.

    Args:
        jobs: from `plan_jobs` / `select_jobs`.
        out: the folder of the jobs' folders.
        epochs: epochs of every job; a finished job of another budget is an error.
        quick: train on the --quick subsets.
        log: called with each progress line.

    Returns:
        {name: {wall_seconds, cpu_seconds}} of every job (recorded ones for skipped jobs).

    Raises:
        ReproductionError: a finished job trained for other epochs.
        SystemExit: a job that failed.
    """
    walls = {}
    start = time.time()
    for i, job in enumerate(jobs, 1):
        model_dir = os.path.join(out, job["name"])
        results = os.path.join(model_dir, "results.json")
        info_path = os.path.join(model_dir, "job.json")
        if os.path.exists(results):
            _check_budget(model_dir, results, epochs)
            walls[job["name"]] = _recorded(info_path, results)
            log(f"[{i}/{len(jobs)}] {job['name']}: done before, skipped")
            continue
        log(f"[{i}/{len(jobs)}] {job['name']}: training ({elapsed(start)} elapsed)")
        wall, cpu = _train(job, model_dir, job_argv(job, out, epochs, quick))
        walls[job["name"]] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
        log(f"[{i}/{len(jobs)}] {job['name']}: done in {wall:.0f} s, {cpu:.0f} CPU s ({elapsed(start)} elapsed)")
    return walls


def _check_budget(model_dir, results, epochs):
    with open(results) as f:
        trained = json.load(f).get("epochs")
    if trained != epochs:
        raise ReproductionError(f"{model_dir} holds a network trained for {trained} epochs, not {epochs}: "
                                "pass another --out (or delete that folder).")


def _train(job, model_dir, argv):
    """Runs one job into `model_dir` (output in train.log), records job.json; returns (wall, CPU) seconds."""
    os.makedirs(model_dir, exist_ok=True)
    t, cpu = time.time(), children_cpu()
    load = os.getloadavg()[0]
    with open(os.path.join(model_dir, "train.log"), "a") as f:
        code = subprocess.call(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONPATH=ROOT))
    wall, cpu = time.time() - t, children_cpu() - cpu
    if code != 0 or not os.path.exists(os.path.join(model_dir, "results.json")):
        raise SystemExit(f"Job {job['name']} failed (exit {code}); see {model_dir}/train.log")
    write_json_atomic(os.path.join(model_dir, "job.json"),
                      {"argv": argv[1:], "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                       "load_before": load, "load_after": os.getloadavg()[0]}, indent=1)
    return wall, cpu


def _recorded(info_path, results_path):
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        return {"wall_seconds": info["wall_seconds"], "cpu_seconds": info.get("cpu_seconds")}
    with open(results_path) as f:  # trained outside reproduce: its training time only
        return {"wall_seconds": json.load(f).get("train_seconds", 0.0), "cpu_seconds": None}
