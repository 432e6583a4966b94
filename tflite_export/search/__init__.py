"""Latency- or MACs-targeted greedy slimming of a trained US-Net (nonuniform per-stage widths).

    python -m tflite_export.search --model=runs/default_us/final.keras --target_ms=0.025 --out=runs/search
    python -m tflite_export.search --model=final.keras --target_macs=2e6 --out=runs/search_macs
    python -m tflite_export.search --model=final.keras --target_ms=65% --out=DIR   # of full-width latency

Starting from full width, every step tries shrinking each stage's ratio by --step (a stage whose
channel counts would not change is shrunk further, until they do), calibrates BN for each
candidate on --calib_images training images, measures top-1 on --val_images held-out TRAINING
images (the last ones of the split; never the test split, never used for calibration) and keeps
the shrink that loses least validation accuracy (ties: the one with fewer MACs). It stops at the
first configuration that meets the target. Latency is measured, never estimated from MACs: the
materialized candidate is converted to --precision and benchmarked with LiteRT (--threads
threads; --latency_stat, default p90 as the app uses, of --bench_runs invokes; the fastest of
--bench_repeats benchmarks, since other processes on the machine only add time). The final
same-latency comparison re-measures the searched model side by side with its uniform neighbours.

The global width stays 1.0: with every stage at ratio r the network is exactly the uniform width
r, so per-stage moves span the uniform widths and are finer-grained than a global move.
Stage ratios stay >= --min_ratio (default: the trained range's lower bound), so every layer runs
at a multiplier the US-Net was trained for.

Every evaluation (validation top-1, latency, final test top-1) is cached in OUT/cache.json
(written by temp file + rename after each one) under the architecture's channel counts, so a
rerun (or a run after a kill) resumes without re-measuring. OUT receives search.json, search.md
(the path and the comparison with the uniform width of the same latency) and export/ (manifest
with the uniform widths 0.25/0.5/0.75/1.0 and the searched model, see tflite_export.export).
Bad arguments and unreachable targets stop with one `error:` line and exit code 2, before OUT is
created or changed. Progress goes to stderr, the summary to stdout.

Modules: `params` (SearchParams), `targets`, `configs`, `greedy` (the decisions and the path),
`uniform` (the comparison with uniform widths), `cache`, `data`, `evaluate`, `export`, `report`,
`progress`, `run` (one search), `cli`.
"""

from tflite_export.search.cache import CACHE_NAME, Cache
from tflite_export.search.cli import main
from tflite_export.search.configs import round_ratio, with_stage_ratio
from tflite_export.errors import SearchError
from tflite_export.search.greedy import candidate_moves, choose_move, distinct_moves, greedy_path, shrink_ratio
from tflite_export.search.params import SearchParams
from tflite_export.search.run import run_search
from tflite_export.search.targets import check_reachable, check_targets, parse_target, target_met
from tflite_export.search.uniform import (
    bracket,
    bracket_values,
    closest,
    distinct_widths,
    interpolate,
    neighbourhood,
    uniform_grid,
)


__all__ = [
    "CACHE_NAME", "Cache", "SearchError", "SearchParams", "bracket", "bracket_values", "candidate_moves",
    "check_reachable", "check_targets", "choose_move", "closest", "distinct_moves", "distinct_widths",
    "greedy_path", "interpolate", "main", "neighbourhood", "parse_target", "round_ratio", "run_search",
    "shrink_ratio", "target_met", "uniform_grid", "with_stage_ratio",
]
