"""Export a trained slimmable model: per-width .tflite files, manifest.json, labels.txt and a BN bundle.

    python -m tflite_export.export --model=MODEL_DIR/final.keras --widths=0.25,0.5,0.75,1.0 \\
        --quantize=fp32,fp16,int8 --representative_data=fashion_mnist --out=OUT_DIR

For each width and precision the model is materialized as a static Keras model
(sliced kernels, that width's BN), given a softmax (`--output=probabilities`,
the default) and the signature `images` -> `probabilities` (or `logits`),
converted (BN folded by the converter; the op list is checked), and written as
`OUT_DIR/w{width}_{precision}.tflite`. Each file's top-1 is measured on the
test split through the LiteRT interpreter itself and its host latency with
`tflite_export.runtime.benchmark`. A width of a US-Net without calibrated BN
statistics is calibrated first on training images of `--representative_data`.
Everything is written into a temporary directory beside OUT_DIR that replaces
OUT_DIR only once complete.
"""

import argparse
import contextlib
import os
import sys

from tflite_export.errors import ExportError
from tflite_export.manifest import OUTPUT_KINDS
from tflite_export.model_file import load_model, run_info

__all__ = ["ExportError", "export_model", "load_model", "main", "parse_widths"]


def export_model(model, out_dir, widths=None, precisions=("fp32",), *, dataset=None, data_dir=None,
                 labels=None, preprocessing=None, model_name=None, representative=None,
                 test_data=None, calibrate_images=0, representative_images=500, eval_images=None,
                 bench_threads=(1,), bench_runs=50, output_kind="probabilities", verbose=1):
    """Exports `model` at each width and precision into `out_dir`; returns the manifest.

    Args:
        model: a trained `slimkeras.SlimmableModel` (its output: logits).
        out_dir: the export directory (created, or replaced if it holds an
            earlier export; any other non-empty directory is refused).
        widths: widths to export (default: the switches, or the calibrated
            widths of a range-trained model). An item may be a
            `(width, {stage: ratio})` pair: a searched nonuniform model.
        precisions: any of "fp32", "fp16", "int8".
        dataset, data_dir: where representative images (training split) and
            test images come from ("fashion_mnist" or a prepared tfds name).
        labels, preprocessing: for the manifest and labels.txt (default: the
            model's own `class_names`/`preprocessing`, else the dataset's).
        model_name: the manifest's model name (default: the model's name).
        representative: float32 training images instead of `dataset`'s
            (int8 activation ranges; BN calibration).
        test_data: `(images, labels)` instead of `dataset`'s test split.
        calibrate_images: if > 0, widths without calibrated BN statistics are
            calibrated on that many training images (otherwise an error).
        representative_images: training images for int8 conversion.
        eval_images: test images for top-1 (None: all; 0: no evaluation).
        bench_threads: thread counts of the latency benchmark (empty: none).
        bench_runs: steady-state runs per benchmark.
        output_kind: "probabilities" (a softmax appended) or "logits".
        verbose: 0 prints nothing, 1 a progress bar and a summary, 2 also the
            converter's and interpreter's native log lines (dropped otherwise).

    Example:

    ```python
    net = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1),
                                        num_classes=10)
    x = np.random.rand(256, 28, 28, 1).astype("float32")
    slimkeras.calibrate_bn(net, x, widths=[0.25, 1.0], verbose=0)
    manifest = tflite_export.export_model(net, out_dir, widths=[0.25, 1.0], precisions=["fp32", "int8"],
                                          representative=x, labels=[str(i) for i in range(10)],
                                          preprocessing=slimkeras.datasets.fashion_mnist.preprocessing(),
                                          verbose=0)
    [m["path"] for m in manifest["models"]]  # ['w0.25_fp32.tflite', 'w1.0_fp32.tflite', 'w0.25_int8.tflite', 'w1.0_int8.tflite']
    ```

    Raises:
        ExportError: bad widths, precisions, data or output directory, or a
            failed write (the output directory is left as it was).
    """
    from slimkeras import io as slim_io
    from tflite_export import bn_bundle, manifest as manifest_lib
    from tflite_export.export_dir import staged_directory
    from tflite_export.quiet import native_logs_filtered

    configs, precisions = _check_request(model, widths, precisions, output_kind)
    input_shape = tuple(model.inputs[0].shape[1:])
    missing = _uncalibrated(model, configs)
    if representative is None and ("int8" in precisions or (missing and calibrate_images)):
        representative = _training_images(dataset, input_shape, data_dir,
                                          max(representative_images, calibrate_images or 0))
    if test_data is None and eval_images != 0 and dataset is not None:
        test_data = _load("test", dataset, input_shape, data_dir, eval_images)
    labels, preprocessing = _labels_and_preprocessing(model, dataset, input_shape, data_dir, labels,
                                                      preprocessing)
    _calibrate(model, missing, representative, calibrate_images, dataset, verbose)
    with staged_directory(out_dir) as staging, (
            contextlib.nullcontext() if verbose >= 2 else native_logs_filtered()):
        entries = _write_models(model, configs, precisions, staging, output_kind,
                                None if representative is None else representative[:representative_images],
                                test_data, bench_threads, bench_runs, verbose)
        bundle_configs = list(dict.fromkeys(model.bn_slots.calibrated() + configs))
        bn_bundle.write_bundle(model, staging, bundle_configs, model_name)
        slim_io.write_text_atomic(os.path.join(staging, manifest_lib.LABELS_NAME),
                                  manifest_lib.labels_text(labels))
        manifest = manifest_lib.make_manifest(
            model_name or model.name, manifest_lib.training_mode(model), model.width_spec,
            labels, preprocessing, entries, precisions, output_kind)
        slim_io.write_json_atomic(os.path.join(staging, manifest_lib.MANIFEST_NAME), manifest)
    if verbose:
        print_summary(manifest, out_dir)
    return manifest


def _check_request(model, widths, precisions, output_kind):
    """(configs, precisions) checked against the model, or ExportError."""
    import slimkeras
    from tflite_export.convert import check_precisions

    if not isinstance(model, slimkeras.SlimmableModel):
        raise ExportError(f"export needs a slimkeras SlimmableModel, got {type(model).__name__}.")
    if output_kind not in OUTPUT_KINDS:
        raise ExportError(f"--output={output_kind!r}; allowed: {', '.join(OUTPUT_KINDS)}.")
    try:
        precisions = check_precisions(precisions)
    except ValueError as e:
        raise ExportError(f"--quantize: {e}") from None
    return _resolve_configs(model, widths), precisions


def _write_models(model, configs, precisions, staging, output_kind, representative, test_data,
                  bench_threads, bench_runs, verbose):
    """Converts and writes every (config, precision) into `staging`; their manifest entries."""
    import keras

    import slimkeras
    from tflite_export.convert import check_bn_folded, convert, with_signature

    entries = []
    progress = keras.utils.Progbar(len(configs) * len(precisions), verbose=verbose, unit_name="model",
                                   stateful_metrics=["top1"])
    for config in configs:
        plain = slimkeras.materialize(model, config)
        classifier = with_signature(plain, output_kind)
        counts = slimkeras.profile(model, config)
        for precision in precisions:
            content = convert(classifier, precision, representative if precision == "int8" else None)
            check_bn_folded(content, plain)
            entry = _model_entry(content, staging, config, precision, counts, test_data,
                                 bench_threads, bench_runs)
            entries.append(entry)
            progress.add(1, [("top1", entry["top1"])] if entry["top1"] is not None else None)
    return entries


def _model_entry(content, staging, config, precision, counts, test_data, bench_threads, bench_runs):
    """Writes one .tflite file into `staging`, measures it and returns its manifest entry."""
    from tflite_export import manifest as manifest_lib
    from tflite_export.runtime import TFLiteModel, benchmark, tensor_spec

    entry_id = manifest_lib.model_id(config, precision)
    path = os.path.join(staging, f"{entry_id}.tflite")
    with open(path, "wb") as f:
        f.write(content)
    loaded = TFLiteModel(path)
    top1 = None if test_data is None else round(loaded.top1(*test_data), 6)  # argmax: any output kind
    return {
        "id": entry_id, **config.to_json(), "precision": precision, "path": os.path.basename(path),
        "sha256": manifest_lib.sha256_of(path), "bytes": os.path.getsize(path),
        "input": tensor_spec(loaded.input_details), "output": tensor_spec(loaded.output_details),
        "macs": int(counts["macs"]), "params": int(counts["params"]), "top1": top1,
        "latency_ms": {str(t): benchmark(path, t, bench_runs) for t in bench_threads},
    }


def print_summary(manifest, out_dir):
    """Prints what was exported: per model its MACs, size, top-1 and single-thread p90."""
    print(f"\nExported {len(manifest['models'])} models ({manifest['output_kind']}) and "
          f"{manifest['labels_file']} to {out_dir}")
    print(f"{'id':>22} {'MACs (M)':>9} {'KB':>8} {'top-1 %':>8} {'p90 ms (1 thr)':>15}")
    for m in manifest["models"]:
        top1 = f"{100 * m['top1']:.2f}" if m["top1"] is not None else "-"
        p90 = m["latency_ms"].get("1", {}).get("p90")
        print(f"{m['id']:>22} {m['macs'] / 1e6:>9.2f} {m['bytes'] / 1024:>8.1f} {top1:>8} "
              f"{'-' if p90 is None else f'{p90:.3f}':>15}")


def _labels_and_preprocessing(model, dataset, input_shape, data_dir, labels, preprocessing):
    """The manifest's labels and preprocessing: the given ones, else the model's own, else the dataset's."""
    labels = labels if labels is not None else getattr(model, "class_names", None)
    preprocessing = preprocessing if preprocessing is not None else getattr(model, "preprocessing", None)
    if labels is None or preprocessing is None:
        if dataset is None:
            raise ExportError("The manifest needs the class labels and preprocessing: pass "
                              "--representative_data=DATASET, or labels= and preprocessing=.")
        from slimkeras.datasets import metadata

        try:
            default_labels, default_preprocessing = metadata(dataset, input_shape, data_dir)
        except ValueError as e:  # DataError
            raise ExportError(str(e)) from None
        labels = labels if labels is not None else default_labels
        preprocessing = preprocessing if preprocessing is not None else default_preprocessing
    classes = model.outputs[0].shape[-1]
    if len(labels) != classes:
        raise ExportError(f"{len(labels)} labels for a model of {classes} classes; give one label per class.")
    return list(labels), dict(preprocessing)


def _resolve_configs(model, widths):
    """The requested WidthConfigs (each once), validated against the model's spec."""
    if widths is None:
        if model.width_spec.is_range:
            widths = [c for c in model.bn_slots.calibrated() if c.is_uniform]
            if not widths:
                raise ExportError(
                    f"Model '{model.name}' was trained on the width range {model.width_spec.describe()} "
                    "and has no calibrated width: pass --widths=... and --representative_data=DATASET.")
        else:
            widths = list(model.width_spec.switches)
    if not widths:
        raise ExportError("--widths is empty; give at least one width.")
    configs = []
    for item in widths:
        width, stage_ratios = item if isinstance(item, (tuple, list)) else (item, None)
        try:
            configs.append(model.width_config(width, stage_ratios))
        except ValueError as e:
            raise ExportError(f"--widths: {e}") from None
    return list(dict.fromkeys(configs))


def _training_images(dataset, input_shape, data_dir, count):
    if dataset is None:
        raise ExportError("int8 conversion and BN calibration need training images: "
                          "pass --representative_data=DATASET (e.g. fashion_mnist).")
    images, _ = _load("train", dataset, input_shape, data_dir, count, seed=0)
    return images


def _load(split, dataset, input_shape, data_dir, limit, seed=None):
    from slimkeras.datasets import DataError, load_images

    try:
        return load_images(dataset, split, input_shape, data_dir, limit, seed)
    except DataError as e:
        raise ExportError(str(e)) from None


def _uncalibrated(model, configs):
    """The configs of a universal-BN model that have no calibrated BN statistics."""
    if not model.uses_universal_bn:
        return []
    return [c for c in configs if model.bn_slots.find(c) is None]


def _calibrate(model, missing, representative, calibrate_images, dataset, verbose):
    """Calibrates BN for the `missing` configs on `calibrate_images` training images, or says how to."""
    import slimkeras
    from slimkeras.calibration import CALIBRATION_IMAGES

    if not missing:
        return
    names = ", ".join(c.describe() for c in missing)
    if not calibrate_images:
        calibrated = ", ".join(c.describe() for c in model.bn_slots.calibrated()) or "none"
        raise ExportError(
            f"Width {names} has no calibrated BN statistics in model '{model.name}' (calibrated: "
            f"{calibrated}). Pass --representative_data=DATASET to calibrate it on "
            f"{CALIBRATION_IMAGES} training images before exporting, or --calibrate_images=N "
            "for N images.")
    images = representative[:calibrate_images]
    if verbose:
        source = f" of {dataset}" if dataset else ""
        print(f"Calibrating BN for {names} on {len(images)} training images{source}.")
    try:
        slimkeras.calibrate_bn(model, images, widths=missing, num_images=len(images), verbose=verbose)
    except ValueError as e:
        raise ExportError(f"--calibrate_images: {e}") from None


def parse_widths(text):
    """`"0.25,0.5"` -> [0.25, 0.5]; "" -> None (the default widths)."""
    from slimkeras.cli import WIDTH, number_list

    if not text:
        return None
    try:
        return number_list("widths", text.split(","), WIDTH)
    except ValueError as e:
        raise ExportError(f"{e} Give e.g. --widths=0.25,0.5,1.0.") from None


def _parser():
    from slimkeras.calibration import CALIBRATION_IMAGES
    from slimkeras.cli import COUNT_MAX, ArgumentParser, Number, optional

    count = Number(0, COUNT_MAX, integer=True)
    parser = ArgumentParser(prog="python -m tflite_export.export", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the trained .keras file (MODEL_DIR/final.keras)")
    parser.add_argument("--out", required=True, help="the export directory to write")
    parser.add_argument("--widths", default="", help="comma-separated widths (default: switches / calibrated widths)")
    parser.add_argument("--quantize", default="fp32", help="comma-separated precisions: fp32, fp16, int8")
    parser.add_argument("--output", default="probabilities", choices=OUTPUT_KINDS,
                        help="what the models output: probabilities (a softmax appended) or logits")
    parser.add_argument("--representative_data", default=None,
                        help="dataset of the representative/test images (default: the training run's); "
                             "uncalibrated US widths are calibrated on its training images")
    parser.add_argument("--data_dir", default=None, help="where the dataset lies")
    parser.add_argument("--calibrate_images", type=optional(count), default=None,
                        help=f"calibrate BN of uncalibrated widths on N training images (default: "
                             f"{CALIBRATION_IMAGES} with --representative_data, else none)")
    parser.add_argument("--representative_images", type=Number(1, COUNT_MAX, integer=True), default=500, help="images for int8 ranges")
    parser.add_argument("--eval_images", type=optional(count), default=None, help="test images for top-1 (0: skip)")
    parser.add_argument("--threads", default="1", help="benchmark thread counts (comma-separated)")
    parser.add_argument("--bench_runs", type=Number(0, 10**7, integer=True), default=50, help="steady-state benchmark runs (0: skip)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv=None):
    """`python -m tflite_export.export`; returns the exit code (2 after one `error:` line)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: its INFO and WARNING lines
    from slimkeras.calibration import CALIBRATION_IMAGES
    from slimkeras.cli import run
    from tflite_export.bench import parse_threads

    args = _parser().parse_args(argv)
    calibrate_images = args.calibrate_images
    if calibrate_images is None:
        calibrate_images = CALIBRATION_IMAGES if args.representative_data else 0

    def action():
        info = run_info(args.model)
        export_model(
            load_model(args.model), args.out, parse_widths(args.widths), args.quantize,
            dataset=args.representative_data or info.get("dataset"), data_dir=args.data_dir,
            labels=info.get("labels"), preprocessing=info.get("preprocessing"),
            calibrate_images=calibrate_images, representative_images=args.representative_images,
            eval_images=args.eval_images,
            bench_threads=parse_threads(args.threads) if args.bench_runs > 0 else (),
            bench_runs=max(args.bench_runs, 1), output_kind=args.output, verbose=0 if args.quiet else 1,
        )

    return run(action)


if __name__ == "__main__":
    sys.exit(main())
