"""The training jobs: which `python -m training.main` runs the study needs, and running them.

A job is skipped when its results.json exists, so an interrupted reproduction resumes.
"""

import json
import os
import subprocess
import sys
import time

from slimkeras.io import write_json_atomic
from studies.common.machine import elapsed
from studies.common.study import PAPER_RULE, SWITCHES4, SWITCHES8

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
    # The US-Nets of the claims distil with the paper's rule; the default flagfile's rule is the
    # budget study's subject (`studies.budget`).
    paper = [f"--{k}={v:g}" for k, v in PAPER_RULE.items()]
    jobs += [_job(f"us_s{seed}", "us", seed, "us_mbv1_fashion", ["--inplace_distill", *paper]) for seed in seeds]
    jobs.append(_job(f"us_nodistill_s{first}", "us_nodistill", first, "us_mbv1_fashion", ["--noinplace_distill"]))
    jobs.append(_job(f"us_oa_s{first}", "us_oa", first, "us_mbv1_fashion",
                     ["--inplace_distill", *paper, "--output_averaging"]))
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
        matched = {j["name"] for j in matching_jobs(jobs, p)}
        if not matched:
            raise ReproductionError(f"--jobs: {p!r} matches none of: {', '.join(j['name'] for j in jobs)}")
        chosen |= matched
    return [j for j in jobs if j["name"] in chosen]


def matching_jobs(jobs, pattern):
    """The jobs `pattern` names: by name or group, or else by name prefix."""
    return [j for j in jobs if pattern in (j["name"], j["group"])] or [j for j in jobs if j["name"].startswith(pattern)]


def quick_overrides():
    return ["--train_limit=2048", "--eval_limit=512", "--calibration_images=256"]


def job_argv(job, out, epochs, quick):
    """The command line of one job (its overrides after the flagfile)."""
    argv = [sys.executable, "-m", "training.main", f"--flagfile={os.path.join(FLAGS_DIR, job['flagfile'])}.flags"]
    argv += job["overrides"]
    argv += [f"--epochs={epochs}", f"--seed={job['seed']}", "--verbose=0", "--eval_every_epochs=0",
             f"--model_dir={os.path.join(out, job['name'])}"]
    if quick:
        argv += quick_overrides()
    return argv


def run_jobs(jobs, out, epochs, quick, log=print, at_once=1):
    """Runs the training jobs not yet done, `at_once` at a time.

    Args:
        jobs: from `plan_jobs` / `select_jobs`.
        out: the folder of the jobs' folders.
        epochs: epochs of every job; a finished job of another budget is an error.
        quick: train on the --quick subsets.
        log: called with each progress line.
        at_once: jobs trained side by side, each with cores / at_once TensorFlow threads
            (TensorFlow's thread pools spin-wait: two 2-thread jobs on 2 cores slow each other down,
            two 1-thread jobs trained 1.47x the images per second of one 2-thread job on 2 cores).

    Returns:
        {name: {wall_seconds, cpu_seconds}} of every job (recorded ones for skipped jobs).

    Raises:
        ReproductionError: a finished job trained for other epochs.
        SystemExit: a job that failed.
    """
    walls = run_pool([(job, os.path.join(out, job["name"]), epochs) for job in jobs], quick, log, at_once)
    return {job["name"]: walls[os.path.join(out, job["name"])] for job in jobs}


def run_pool(entries, quick, log=print, at_once=1):
    """`run_jobs` for (job, model_dir, epochs) entries of any budgets; returns {model_dir: times}."""
    walls, todo, running = {}, [], {}
    start = time.time()
    for job, model_dir, epochs in entries:
        results = os.path.join(model_dir, "results.json")
        if os.path.exists(results):
            _check_budget(model_dir, results, epochs)
            walls[model_dir] = _recorded(os.path.join(model_dir, "job.json"), results)
            log(f"{job['name']} ({epochs} epochs): done before, skipped")
        else:
            todo.append((job, model_dir, epochs))
    threads = max(1, (os.cpu_count() or 1) // at_once)
    for i, (job, model_dir, epochs) in enumerate(todo, 1):
        while len(running) >= at_once:
            _finish_one(running, walls, start, log)
        log(f"[{i}/{len(todo)}] {job['name']} ({epochs} epochs): training ({elapsed(start)} elapsed)")
        argv = job_argv(job, os.path.dirname(model_dir), epochs, quick)
        running.update([_start(job, model_dir, argv, threads if at_once > 1 else None)])
    while running:
        _finish_one(running, walls, start, log)
    return walls


def _check_budget(model_dir, results, epochs):
    with open(results) as f:
        trained = json.load(f).get("epochs")
    if trained != epochs:
        raise ReproductionError(f"{model_dir} holds a network trained for {trained} epochs, not {epochs}: "
                                "pass another --out (or delete that folder).")


def _start(job, model_dir, argv, threads):
    """Starts one job into `model_dir` (output in train.log); returns (pid, its state)."""
    os.makedirs(model_dir, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=ROOT)
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    with open(os.path.join(model_dir, "train.log"), "a") as f:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    # The Popen object is kept: one dropped while running would be reaped by the next Popen.
    return proc.pid, dict(proc=proc, job=job, model_dir=model_dir, argv=argv, t=time.time(),
                          load=os.getloadavg()[0])


def _finish_one(running, walls, start, log):
    """Waits for one running job, records its job.json and times (from its own rusage)."""
    pid, status, usage = os.wait4(-1, 0)
    state = running.pop(pid, None)
    if state is None:  # not one of ours
        return
    job, model_dir = state["job"], state["model_dir"]
    code = state["proc"].returncode = os.waitstatus_to_exitcode(status)
    wall, cpu = time.time() - state["t"], usage.ru_utime + usage.ru_stime
    if code != 0 or not os.path.exists(os.path.join(model_dir, "results.json")):
        raise SystemExit(f"Job {job['name']} failed (exit {code}); see {model_dir}/train.log")
    write_json_atomic(os.path.join(model_dir, "job.json"),
                      {"argv": state["argv"][1:], "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                       "load_before": state["load"], "load_after": os.getloadavg()[0]}, indent=1)
    walls[model_dir] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
    log(f"{job['name']}: done in {wall:.0f} s, {cpu:.0f} CPU s ({elapsed(start)} elapsed)")


def _recorded(info_path, results_path):
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        return {"wall_seconds": info["wall_seconds"], "cpu_seconds": info.get("cpu_seconds")}
    with open(results_path) as f:  # trained outside reproduce: its training time only
        return {"wall_seconds": json.load(f).get("train_seconds", 0.0), "cpu_seconds": None}
