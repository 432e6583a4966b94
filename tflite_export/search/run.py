"""One search, from the parameters to OUT/search.json, search.md and export/."""

import dataclasses
import os

from slimkeras.io import write_json_atomic, write_text_atomic
from tflite_export.manifest import sha256_of
from tflite_export.search.cache import CACHE_NAME, Cache
from slimkeras.width import WidthConfig
from tflite_export.search.configs import EPS, round_ratio
from tflite_export.search.data import load_data
from tflite_export.errors import SearchError
from tflite_export.search.evaluate import Evaluator
from tflite_export.search.export import EXPORT_WIDTHS, export_searched
from tflite_export.search.greedy import greedy_path
from tflite_export.search.progress import SearchProgress
from tflite_export.search.report import render_markdown
from tflite_export.search.targets import check_reachable, check_targets, target_met
from tflite_export.search.uniform import compare, uniform_neighbours


def prepare_out(out):
    """Checks --out before anything is measured; returns the cache path."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise SearchError(f"--out={out} exists and is not a directory.")
    cache_path = os.path.join(out, CACHE_NAME)
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(cache_path):
        raise SearchError(f"--out={out} is a non-empty directory that holds no search ({CACHE_NAME}); "
                          "choose a new or empty directory.")
    parent = os.path.dirname(out)
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        raise SearchError(f"--out={out} cannot be written (no write permission in {parent}).")
    return cache_path


def load_us_net(path):
    """The model at `path`, which must be a US-Net trained on a width range with universal BN."""
    from tflite_export.export import ExportError, load_model

    try:
        model = load_model(path)
    except ExportError as e:
        raise SearchError(str(e)) from None
    spec = model.width_spec
    if not spec.is_range or not model.uses_universal_bn or model.num_stages < 1:
        raise SearchError(f"--model={path}: nonuniform widths need a US-Net trained on a width range with "
                          f"universal BN and stages; this one has {spec.describe()} and {model.num_stages} stages.")
    return model


def min_ratio_of(spec, min_ratio):
    """`(min_ratio, lowest)`: the smallest stage ratio allowed (--min_ratio, default the trained
    range's lower bound `lowest`), checked against that bound."""
    width = float(spec.max_width)
    lowest = spec.min_width / width
    chosen = lowest if min_ratio is None else min_ratio
    if not lowest - EPS <= chosen <= 1.0 - EPS:
        raise SearchError(f"--min_ratio={min_ratio}: allowed {lowest:g} (the trained range's lower bound "
                          f"{spec.min_width:g} / width {width:g}) up to below 1.")
    return round_ratio(max(chosen, lowest)), lowest


@dataclasses.dataclass(frozen=True)
class Target:
    """The target of a search.

    Args:
        kind: "latency" (ms) or "macs".
        value: the absolute target.
        given: the flag's text.
        relative: whether it was given as a percentage of full width.
        full_width_value: the full-width latency or MACs.
    """

    kind: str
    value: float
    given: str
    relative: bool
    full_width_value: float


def absolute_target(ev, params, width, min_ratio, lowest):
    """The `Target`; raises SearchError if even every stage at `min_ratio` misses it (measured
    before the output directory is touched)."""
    kind, value, relative = check_targets(params.target_ms, params.target_macs)
    full = WidthConfig(width)
    narrowest = WidthConfig(width, {stage: min_ratio for stage in range(1, ev.model.num_stages + 1)})
    narrow_text = f"width {width:g}, every stage at ratio {min_ratio:g}"
    hint = (f" or lower --min_ratio (down to {lowest:g}, the trained range's lower bound)"
            if min_ratio > lowest + EPS else f" ({min_ratio:g} is the trained range's lower bound)")
    if kind == "latency":
        full_value = ev.latency(full)
        target = value * full_value if relative else value
        threads = f"{params.threads} thread{'s' if params.threads > 1 else ''}"
        detail = f" ({params.latency_stat}, {params.precision}, {threads}) on this machine"
        check_reachable(kind, target, ev.latency(narrowest), narrow_text, detail, hint)
    else:
        full_value = ev.macs(full)
        target = value * full_value if relative else value
        check_reachable(kind, target, ev.macs(narrowest), narrow_text, hint=hint)
    given = params.target_ms if kind == "latency" else params.target_macs
    return Target(kind, target, given, relative, full_value)


def run_search(params):
    """The whole search; returns the search.json dict.

    Args:
        params: `SearchParams` (checked).

    Raises:
        SearchError: bad input or an unreachable target, before OUT is created or changed.
    """
    check_targets(params.target_ms, params.target_macs)
    out = os.path.abspath(params.out)
    cache_path = prepare_out(out)
    if not os.path.isfile(params.model):
        raise SearchError(f"--model={params.model}: no such file (give the final.keras a training run wrote).")
    model_sha = sha256_of(params.model)
    cache = Cache.load(cache_path, model_sha) if os.path.exists(cache_path) else Cache(model_sha)
    model = load_us_net(params.model)
    width = float(model.width_spec.max_width)
    min_ratio, lowest = min_ratio_of(model.width_spec, params.min_ratio)
    ev = Evaluator(model, load_data(params, model.inputs[0].shape[1:]), cache, params)
    target = absolute_target(ev, params, width, min_ratio, lowest)

    os.makedirs(out, exist_ok=True)
    cache.attach(cache_path)

    def metric(config):
        return ev.latency(config) if target.kind == "latency" else ev.macs(config)

    progress = SearchProgress(target.kind, target.value, verbose=0 if params.quiet else 1)
    path, found = greedy_path(ev, width, model.num_stages, min_ratio, params.step, target.value, metric, progress)
    rows = measure_rows(ev, params, found)
    result = {
        "model": os.path.abspath(params.model), "model_sha256": model_sha,
        "target": dataclasses.asdict(target),
        "settings": settings_of(params, ev.data, width, min_ratio, model.num_stages),
        "found": {**rows["searched"], "ratios": path[-1]["ratios"], "search_val_top1": path[-1]["val_top1"],
                  "steps": len(path) - 1, "target_met": target_met(metric(found), target.value)},
        "full_width": rows["full_width"], "comparison": rows["comparison"], "uniform": rows["uniform"],
        "path": path,
        "export": export_searched(model, ev, os.path.join(out, "export"), found, rows["export_widths"], params),
        "evaluations": {"new": dict(cache.new), "new_total": sum(cache.new.values()), "cached": cache.hits},
    }
    write_text_atomic(os.path.join(out, "search.md"), render_markdown(result))
    write_json_atomic(os.path.join(out, "search.json"), result)
    return result


def measure_rows(ev, params, found):
    """The final numbers (BN on --final_calib_images) of the searched model and the uniform widths
    compared with it, and the comparison.

    Returns:
        {"searched": row, "full_width": row, "uniform": [row], "comparison": see `uniform.compare`,
        "export_widths": the uniform widths to export}.
    """
    spec = ev.model.width_spec
    neighbours = uniform_neighbours(ev, found, spec.min_width, spec.max_width, params.uniform_step)
    export_widths = [w for w in EXPORT_WIDTHS if spec.min_width - EPS <= w <= spec.max_width + EPS]
    uniform_widths = sorted({neighbours.grid[i] for i in neighbours.compared_indices()} | set(export_widths))
    finals = ev.final([found] + [WidthConfig(w) for w in uniform_widths])

    def row(config):
        sig = ev.signature(config)
        return {"config": config.key, "width": config.width,
                "stage_ratios": {str(k): v for k, v in config.stage_ratios.items()},
                "macs": ev.macs(config), "latency_ms": ev.cached_latency(config),
                "latency_ms_interleaved": neighbours.interleaved_ms.get(sig),
                "val_top1": finals[sig]["val_top1"], "test_top1": finals[sig]["test_top1"]}

    searched = row(found)
    uniform_rows = [row(WidthConfig(w)) for w in uniform_widths]
    comparison = compare(searched, {r["width"]: r for r in uniform_rows}, neighbours)
    return {"searched": searched, "full_width": row(WidthConfig(found.width)), "uniform": uniform_rows,
            "comparison": comparison, "export_widths": export_widths}


def settings_of(params, data, width, min_ratio, num_stages):
    """search.json's "settings": how the search decided and measured."""
    val_count = len(data.val[0])
    return {"step": params.step, "min_ratio": min_ratio, "global_width": width, "num_stages": num_stages,
            "val_images": val_count,
            "val_split": f"training images {data.calib_pool}..{data.calib_pool + val_count - 1} (held out)",
            "calib_images": params.calib_images, "final_calib_images": params.final_calib_images,
            "test_images": len(data.test[0]), "precision": params.precision, "threads": params.threads,
            "latency_stat": params.latency_stat, "bench_runs": params.bench_runs,
            "bench_repeats": params.bench_repeats, "uniform_step": params.uniform_step, "seed": params.seed}
