"""Exports the uniform widths and the searched model (a manifest entry with `stage_ratios`)."""

import os

from slimkeras.width import WidthConfig
from tflite_export.errors import SearchError

EXPORT_WIDTHS = (0.25, 0.5, 0.75, 1.0)


def export_searched(model, ev, export_dir, found, export_widths, params):
    """Exports `export_widths` (uniform) and the searched configuration to `export_dir`.

    Skipped when `export_dir`'s manifest already holds every model with intact files.

    Args:
        model: the US-Net.
        ev: `Evaluator` (calibrates BN on --final_calib_images; its calibration and test images).
        export_dir: the export directory.
        found: the searched `WidthConfig`.
        export_widths: the uniform widths.
        params: `SearchParams` (precision, threads, bench_runs, final_calib_images, data_dir).

    Returns:
        {"dir", "ids", "searched_id", "reused"}.
    """
    from tflite_export import manifest as manifest_lib
    from tflite_export.export import ExportError, export_model

    wanted = [WidthConfig(w) for w in export_widths] + [found]
    ids = [manifest_lib.model_id(c, params.precision) for c in wanted]
    info = {"dir": export_dir, "ids": ids, "searched_id": ids[-1]}
    if _holds(manifest_lib, export_dir, ids):
        return {**info, "reused": True}
    ev.calibrate(wanted, params.final_calib_images)
    try:
        export_model(model, export_dir, widths=wanted,
                     precisions=[params.precision], dataset="fashion_mnist", data_dir=params.data_dir,
                     representative=ev.data.calib, test_data=ev.data.test, calibrate_images=0,
                     bench_threads=(params.threads,), bench_runs=params.bench_runs, verbose=0)
    except ExportError as e:
        raise SearchError(f"export: {e}") from None
    return {**info, "reused": False}


def _holds(manifest_lib, export_dir, ids):
    """Whether the export in `export_dir` has every model of `ids`, with intact files."""
    if not os.path.isfile(os.path.join(export_dir, manifest_lib.MANIFEST_NAME)):
        return False
    try:
        existing = manifest_lib.read_manifest(export_dir)
        have = {m["id"] for m in existing["models"]}
        return set(ids) <= have and not manifest_lib.file_problems(existing, export_dir)
    except ValueError:
        return False
