"""The command line of the search: `python -m tflite_export.search` (see the package's docstring)."""

import sys

from tflite_export.search.params import LATENCY_STATS, PRECISIONS, SearchParams


def build_parser():
    """The absl-style parser (`--flagfile`, `--helpfull`; a bad flag: one `error:` line, exit 2)."""
    import argparse

    from slimkeras.cli import COUNT_MAX, ArgumentParser, Number, optional

    import tflite_export.search as package

    images = Number(1, COUNT_MAX, integer=True)
    ratio = Number(0, 1, lo_open=True)

    p = ArgumentParser(prog="python -m tflite_export.search", description=package.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the trained US-Net (final.keras)")
    p.add_argument("--out", required=True, help="output directory (cache.json, search.json, search.md, export/)")
    p.add_argument("--target_ms", default=None, help="latency target in ms, or N%% of the full-width latency")
    p.add_argument("--target_macs", default=None, help="MACs target (e.g. 2e6), or N%% of the full-width MACs")
    p.add_argument("--val_images", type=images, default=5000, help="held-out training images (the split's last N)")
    p.add_argument("--calib_images", type=images, default=512, help="BN calibration images per candidate")
    p.add_argument("--final_calib_images", type=images, default=2048, help="BN calibration images of the final numbers")
    p.add_argument("--test_images", type=optional(images), default=None, help="test images for the final top-1 (default all)")
    p.add_argument("--step", type=ratio, default=0.05, help="ratio step of a move")
    p.add_argument("--min_ratio", type=optional(ratio), default=None, help="smallest stage ratio (default: range low / high)")
    p.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    p.add_argument("--threads", type=Number(1, 256, integer=True), default=1)
    p.add_argument("--latency_stat", default="p90", choices=list(LATENCY_STATS),
                   help="p90 (the app's criterion) or p50")
    p.add_argument("--bench_runs", type=Number(1, 10**7, integer=True), default=2000, help="steady-state invokes per benchmark")
    p.add_argument("--bench_repeats", type=Number(1, 1000, integer=True), default=5, help="benchmarks per configuration (the fastest counts)")
    p.add_argument("--uniform_step", type=ratio, default=0.01, help="grid of the uniform widths compared")
    p.add_argument("--eval_batch", type=Number(1, 2**20, integer=True), default=1000)
    p.add_argument("--data_dir", default=None, help="Fashion-MNIST IDX directory")
    p.add_argument("--seed", type=Number(0, 2**32 - 1, integer=True), default=0)
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None):
    """Runs a search; returns 0, or 2 after one `error:` line for bad input or an unreachable target."""
    import slimkeras.cli

    from tflite_export.errors import SearchError
    from tflite_export.search.report import summary
    from tflite_export.search.run import run_search
    from tflite_export.search.targets import check_targets

    params = SearchParams(**vars(build_parser().parse_args(argv)))

    def action():
        params.check()
        check_targets(params.target_ms, params.target_macs)
        result = run_search(params)
        if not params.quiet:
            print("\n".join(summary(result)))

    return slimkeras.cli.run(action, errors=(SearchError,))


if __name__ == "__main__":
    sys.exit(main())
