"""LiteRT latency benchmark of every model of an export; results go into its manifest.

    python -m tflite_export.bench OUT_DIR [--threads=1,2] [--runs=100] [--warmup_runs=10]

Per model and thread count, like LiteRT's benchmark_model: init time, first run,
warm-up mean, then steady-state mean/std/p50/p90 over `--runs` invokes of batch 1.
The manifest's `latency_ms` is replaced (atomically) and a table printed.
"""

import argparse
import os
import sys


def bench_export(out_dir, threads=(1,), runs=100, warmup_runs=10, verbose=1):
    """Benchmarks every model of the export in `out_dir`; returns the updated manifest.

    Args:
        out_dir: an export directory.
        threads: thread counts (each >= 1).
        runs: steady-state invokes per model and thread count (>= 1).
        warmup_runs: invokes before them (>= 0).
        verbose: 1 shows a progress bar and prints the table.

    Raises:
        ValueError: bad arguments; ManifestError (a ValueError) for an export that
            `manifest.validate_manifest` refuses.
    """
    import keras

    from slimkeras.io import write_json_atomic
    from tflite_export import manifest as manifest_lib
    from tflite_export.runtime import benchmark

    manifest = manifest_lib.validate_manifest(out_dir)
    if not threads or any(t < 1 for t in threads):
        raise ValueError(f"--threads must list thread counts >= 1, got {list(threads)}.")
    if runs < 1 or warmup_runs < 0:
        raise ValueError(f"--runs must be >= 1 and --warmup_runs >= 0, got {runs} and {warmup_runs}.")
    progress = keras.utils.Progbar(len(manifest["models"]) * len(threads), verbose=verbose,
                                   unit_name="benchmark", stateful_metrics=["p90_ms"])
    for entry in manifest["models"]:
        path = os.path.join(out_dir, entry["path"])
        entry["latency_ms"] = {}
        for t in threads:
            entry["latency_ms"][str(t)] = benchmark(path, t, runs, warmup_runs)
            progress.add(1, [("p90_ms", entry["latency_ms"][str(t)]["p90"])])
    write_json_atomic(os.path.join(out_dir, manifest_lib.MANIFEST_NAME), manifest)
    if verbose:
        print_table(manifest, threads)
    return manifest


def print_table(manifest, threads):
    """Prints each model's latency statistics per thread count."""
    print(f"{'model':>22} {'MACs (M)':>9} {'thr':>4} {'init':>8} {'first':>8} {'mean':>8} "
          f"{'std':>7} {'p50':>8} {'p90':>8}  (ms)")
    for entry in manifest["models"]:
        for t in threads:
            r = entry["latency_ms"][str(t)]
            print(f"{entry['id']:>22} {entry['macs'] / 1e6:>9.2f} {t:>4} {r['init']:>8.3f} {r['first']:>8.3f} "
                  f"{r['mean']:>8.3f} {r['std']:>7.3f} {r['p50']:>8.3f} {r['p90']:>8.3f}")


def parse_threads(text):
    """`"1,2"` -> [1, 2]; ValueError naming the value unless each is a distinct thread count in [1, 256]."""
    from slimkeras.cli import Number, number_list

    threads = number_list("threads", [t for t in text.split(",") if t.strip()], Number(1, 256, integer=True))
    if not threads:
        raise ValueError(f"--threads={text!r}: give thread counts like 1,2.")
    return threads


def build_parser():
    """The command line's parser: every number checked by `slimkeras.cli.Number` (one `error:` line, exit 2)."""
    from slimkeras.cli import ArgumentParser, Number

    parser = ArgumentParser(prog="python -m tflite_export.bench", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="an export directory (holding manifest.json)")
    parser.add_argument("--threads", default="1", help="comma-separated thread counts, e.g. 1,2")
    parser.add_argument("--runs", type=Number(1, 10**7, integer=True), default=100,
                        help="steady-state runs per model")
    parser.add_argument("--warmup_runs", type=Number(0, 10**7, integer=True), default=10)
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv=None):
    """`python -m tflite_export.bench`; returns the exit code (2 after one `error:` line)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: its INFO and WARNING lines
    from slimkeras.cli import run_command

    return run_command(build_parser(), argv, lambda args: bench_export(
        args.out_dir, parse_threads(args.threads), args.runs, args.warmup_runs, verbose=0 if args.quiet else 1))


if __name__ == "__main__":
    sys.exit(main())
