"""Evaluating the trained networks on the test images: at their switches, at the grid widths after
BN calibration, the US-Net at nonuniform widths and the fp32 / int8 TFLite files. Each job's
evaluation is cached in its eval.json."""

import json
import os
import time

import keras
import numpy as np

import slimkeras
from slimkeras.datasets import fashion_mnist, sample_indices
from slimkeras.io import write_json_atomic
from studies.common.machine import self_cpu
from studies.common.probe import nearest_switch, probe_model, set_probe_affine
from studies.common.study import (CALIBRATION_IMAGES, REPRESENTATIVE_IMAGES, STAGE_RATIO, SWITCHES4,
                                      SWITCHES8)

EVAL_BATCH = 1000


class EvalData:
    """Normalized float32 test images, and calibration / representative training images per seed.

    Args:
        quick: the --quick subsets (the first 2,048 training and 512 test images).
    """

    def __init__(self, quick):
        train_images, _ = fashion_mnist.load_split("train")
        test_images, test_labels = fashion_mnist.load_split("test")
        if quick:
            train_images = train_images[:2048]
            test_images, test_labels = test_images[:512], test_labels[:512]
        self.quick = quick
        self.train_images = train_images
        self.test_images = self.normalize(test_images)
        self.test_labels = test_labels
        self.calibration_count = 256 if quick else CALIBRATION_IMAGES

    @staticmethod
    def normalize(images):
        return fashion_mnist.normalize(images).numpy().astype(np.float32)

    def calibration(self, seed):
        """The calibration images training.main uses for this seed (the same sample)."""
        return self.normalize(self.train_images[sample_indices(len(self.train_images), self.calibration_count, seed)])

    def representative(self, seed):
        """The int8 converter's representative images for this seed."""
        return self.normalize(self.train_images[sample_indices(len(self.train_images), REPRESENTATIVE_IMAGES,
                                                               seed + 1000)])


def evaluate_configs(net, data, calibration, configs, allow_untrained=False, calibrate=True):
    """top-1 at each config (a width or (width, {stage: ratio})), calibrating BN in chunks
    of the model's BN slots first when `calibrate`.

    Args:
        net: a `SlimmableModel`.
        data: an `EvalData`.
        calibration: the calibration images.
        configs: the configurations.
        allow_untrained: as `SlimmableModel.set_width`.
        calibrate: calibrate BN first (else use the statistics the model has).

    Returns:
        Rows with width, macs, params, top1 (and stage_ratios for nonuniform configs).
    """
    rows = slimkeras.evaluate_widths(net, (data.test_images, data.test_labels), configs,
                                     calibration if calibrate else None, len(calibration), allow_untrained,
                                     batch_size=EVAL_BATCH)
    for row in rows:  # JSON keys: the cache's form
        if "stage_ratios" in row:
            row["stage_ratios"] = {str(k): v for k, v in row["stage_ratios"].items()}
    return rows


def _switchable(net, job, data, calibration, grid):
    """Individual networks and S-Nets: at the switches with their own statistics from training;
    the S-Nets and the 1.0x network also at other widths, as a calibrated universal-BN copy."""
    result = {"switches": evaluate_configs(net, data, calibration, list(net.width_spec.switches), calibrate=False)}
    if job["group"] != "individual" or job["width"] == 1.0:
        switches = net.width_spec.switches
        widths = sorted(set(grid) | set(SWITCHES4))
        probe = probe_model(net)
        rows = []
        for index in sorted({nearest_switch(switches, w) for w in widths}):
            set_probe_affine(probe, net, index)
            part = [w for w in widths if nearest_switch(switches, w) == index]
            rows += evaluate_configs(probe, data, calibration, part)
        result["calibrated"] = sorted(rows, key=lambda r: r["width"])
    return result


def _naive(net, data, calibration, grid):
    """First with the shared running statistics of training (the S-Nets paper's naive baseline):
    the slots training.main calibrated at its end are dropped. Then calibrated at every width."""
    net.clear_bn_statistics()
    switches = evaluate_configs(net, data, calibration, SWITCHES4, calibrate=False)
    widths = sorted(set(grid) | set(SWITCHES4))
    return {"switches": switches,
            "calibrated": evaluate_configs(net, data, calibration, widths, allow_untrained=True)}


def _universal(net, data, calibration, grid, do_stages):
    """US-Nets: calibrated at every width; with `do_stages`, also with one stage at STAGE_RATIO."""
    widths = sorted(set(grid) | set(SWITCHES4) | set(SWITCHES8))
    result = {"calibrated": evaluate_configs(net, data, calibration, widths)}
    result["switches"] = [r for r in result["calibrated"] if r["width"] in SWITCHES4]
    if do_stages:
        result["stages"] = {}
        for stage in range(1, net.num_stages + 1):
            configs = [(w, {stage: STAGE_RATIO}) for w in grid]
            result["stages"][str(stage)] = evaluate_configs(net, data, calibration, configs)
        result["num_stages"] = net.num_stages
    return result


def evaluate_job(job, model_dir, data, grid, do_stages=False, do_tflite=False, log=print):
    """All evaluations of one trained network.

    Args:
        job: from `plan_jobs`.
        model_dir: its folder (with final.keras).
        data: an `EvalData`.
        grid: the grid widths.
        do_stages: also the nonuniform widths (US-Nets).
        do_tflite: also the fp32 / int8 TFLite files at the 4 switches.
        log: called with each progress line.

    Returns:
        A JSON-able dict (the job's eval.json without its cache key).
    """
    start, cpu = time.time(), self_cpu()
    net = keras.saving.load_model(os.path.join(model_dir, "final.keras"))
    calibration = data.calibration(job["seed"])
    group = job["group"]
    result = {"name": job["name"], "group": group, "seed": job["seed"],
              "width_spec": net.width_spec.get_config()}
    if group in ("individual", "s4", "s8"):
        result.update(_switchable(net, job, data, calibration, grid))
    elif group == "naive":
        result.update(_naive(net, data, calibration, grid))
    else:
        result.update(_universal(net, data, calibration, grid, do_stages))
    if do_tflite:
        log(f"    {job['name']}: TFLite fp32/int8 at {SWITCHES4}")
        result["tflite"] = evaluate_tflite(net, data, calibration, job["seed"])
    result["eval_seconds"] = round(time.time() - start, 1)
    result["eval_cpu_seconds"] = round(self_cpu() - cpu, 1)
    return result


def evaluate_tflite(net, data, calibration, seed):
    """fp32 and int8 TFLite top-1 at the 4 switches (files converted from `materialize`)."""
    from tflite_export.convert import convert
    from tflite_export.runtime import TFLiteModel

    if net.uses_universal_bn:
        slimkeras.calibrate_bn(net, calibration, widths=SWITCHES4, num_images=len(calibration),
                               clear=True, verbose=0)
    representative = data.representative(seed)
    rows = []
    for w in SWITCHES4:
        plain = slimkeras.materialize(net, w)
        logits = np.concatenate([plain(data.test_images[i:i + EVAL_BATCH], training=False).numpy()
                                 for i in range(0, len(data.test_images), EVAL_BATCH)])
        keras_top1 = float(np.mean(np.argmax(logits, -1) == data.test_labels))
        fp32 = convert(plain, "fp32")
        int8 = convert(plain, "int8", representative=representative)
        rows.append({
            "width": w, "keras": keras_top1,
            "fp32": TFLiteModel(fp32).top1(data.test_images, data.test_labels),
            "int8": TFLiteModel(int8).top1(data.test_images, data.test_labels),
            "fp32_bytes": len(fp32), "int8_bytes": len(int8),
        })
    return rows


def run_evaluations(jobs, out, data, grid, epochs, log=print, extras=True):
    """Evaluates every job, cached in its eval.json (kept while grid, --quick and epochs are the same).

    With `extras` (the claims study), the first seed's US-Net is also evaluated at nonuniform
    widths; its US-Net and 4-switch S-Net as TFLite files.

    Returns:
        {name: result of `evaluate_job`}.
    """
    results = {}
    first_seed = jobs[0]["seed"] if jobs else 0
    key = {"grid": grid, "quick": data.quick, "epochs": epochs}
    for i, job in enumerate(jobs, 1):
        model_dir = os.path.join(out, job["name"])
        path = os.path.join(model_dir, "eval.json")
        if os.path.exists(path):
            with open(path) as f:
                cached = json.load(f)
            if cached.get("key") == key:
                results[job["name"]] = cached
                log(f"[eval {i}/{len(jobs)}] {job['name']}: cached")
                continue
        main = job["seed"] == first_seed
        log(f"[eval {i}/{len(jobs)}] {job['name']}")
        result = evaluate_job(job, model_dir, data, grid,
                              do_stages=extras and job["group"] == "us" and main,
                              do_tflite=extras and job["group"] in ("us", "s4") and main, log=log)
        result["key"] = key
        write_json_atomic(path, result, indent=1)
        results[job["name"]] = result
    return results
