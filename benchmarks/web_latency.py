"""In-page LiteRT.js latency of the default job's export against the Python LiteRT interpreter.

    python -m benchmarks.web_latency [--runs=200] [--warmup_ms=3000] [--out=benchmarks/web_latency]

Exports the default job's network (US-MobileNet v1, 28×28×1, 10 classes, widths 0.25 / 0.5 /
0.75 / 1.0; fp32, fp16, int8) with BN calibrated on Fashion-MNIST and untrained weights: latency
depends on the architecture only. Adds int8 files with float32 input/output (the only int8 files
LiteRT.js 2.5.3 can run). Then, per precision and thread count (1, 2), the page
(`web_demo/`, headless Chromium, `python -m tflite_export.web`) benchmarks every width after
its warm-up; `tflite_export.runtime.benchmark` (what `tflite_export.bench` runs) times the same
files before and after the page, and the table gives page p50 / Python p50 (the mean of its two
measurements). Also: page start-up (LiteRT.js load, files checked, models compiled) and each
model's load + compile time. Writes OUT.md and OUT.json.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (0.25, 0.5, 0.75, 1.0)
THREADS = (1, 2)


def build_export(out_dir, precisions=("fp32", "int8"), calibration_images=256):
    """Exports the default job's network, untrained, BN calibrated at `WIDTHS`; (manifest, model, images)."""
    import keras

    import slimkeras
    from slimkeras.datasets import load_images
    from tflite_export.export import export_model

    keras.utils.set_random_seed(0)
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1), num_classes=10)
    images, _ = load_images("fashion_mnist", "train", (28, 28, 1), None, calibration_images, 0)
    slimkeras.calibrate_bn(model, images, widths=list(WIDTHS), num_images=len(images), verbose=0)
    manifest = export_model(model, str(out_dir), list(WIDTHS), precisions, dataset="fashion_mnist",
                            representative=images, eval_images=0, bench_threads=(), verbose=0)
    return manifest, model, images


def add_float_io_int8(out_dir, manifest, model, images):
    """Writes OUT_DIR/int8_float_io/: the int8 widths with float32 input/output, and their manifest."""
    import slimkeras
    from tflite_export import manifest as manifest_lib
    from tflite_export.convert import convert, with_signature
    from tflite_export.runtime import TFLiteModel, tensor_spec

    folder = Path(out_dir) / "int8_float_io"
    folder.mkdir()
    entries = []
    for entry in (m for m in manifest["models"] if m["precision"] == "int8"):
        plain = slimkeras.materialize(model, entry["width"])
        path = folder / entry["path"]
        path.write_bytes(convert(with_signature(plain), "int8", images, float_io=True))
        loaded = TFLiteModel(path)
        entries.append({**entry, "sha256": manifest_lib.sha256_of(path), "bytes": path.stat().st_size,
                        "input": tensor_spec(loaded.input_details), "output": tensor_spec(loaded.output_details)})
    (folder / "labels.txt").write_text((Path(out_dir) / "labels.txt").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "models": entries}))


def python_p50(out_dir, manifest, runs):
    """{(precision, threads, width): Python p50 ms} of every file."""
    from tflite_export.runtime import benchmark

    result = {}
    for entry in manifest["models"]:
        folder = Path(out_dir) / ("int8_float_io" if entry["precision"] == "int8" else "")
        for t in THREADS:
            result[entry["precision"], t, entry["width"]] = benchmark(folder / entry["path"], t, runs, 20)["p50"]
    return result


def page_visits(base, runs, warmup_ms):
    """The page's state after its start-up benchmark, per (precision, threads)."""
    plan, keys = [], []
    for precision, folder in (("fp32", ""), ("fp16", ""), ("int8", "int8_float_io/")):
        for t in THREADS:
            plan.append({"url": f"{base}?loop=0&runs={runs}&warmup_ms={warmup_ms}&threads={t}"
                                f"&precision={precision}&export=/export/{folder}"})
            keys.append((precision, t))
    with tempfile.TemporaryDirectory() as work:
        plan_file = Path(work) / "plan.json"
        plan_file.write_text(json.dumps(plan))
        done = subprocess.run(["node", "scripts/drive.mjs", str(plan_file)], cwd=ROOT / "web_demo",
                              capture_output=True, text=True, check=True)
    return dict(zip(keys, json.loads(done.stdout)))


def table(pages, before, after):
    """Markdown rows: per precision, threads and width the page's and Python's p50 and their ratio."""
    lines = ["| precision | threads | width | page p50 ms | page p90 ms | Python p50 ms | page / Python | load + compile ms |",
             "|---|---|---|---|---|---|---|---|"]
    for (precision, t), visit in pages.items():
        for m in visit["state"]["models"]:
            python = statistics.mean([before[precision, t, m["width"]], after[precision, t, m["width"]]])
            lines.append(f"| {precision} | {t} | {m['width']} | {m['bench']['p50']:.3f} | {m['bench']['p90']:.3f} | "
                         f"{python:.4f} | {m['bench']['p50'] / python:.1f}× | {m['initMs']:.1f} |")
    lines += ["", "| precision | threads | cross-origin isolated | LiteRT.js load ms | start-up to compiled ms |",
              "|---|---|---|---|---|"]
    for (precision, t), visit in pages.items():
        s = visit["state"]
        lines.append(f"| {precision} | {t} | {s['crossOriginIsolated']} | {s['timings']['liteRtMs']:.0f} | "
                     f"{s['timings']['compiledMs']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    """Runs the comparison; returns 0."""
    from slimkeras.cli import ArgumentParser
    from tflite_export import web

    parser = ArgumentParser(prog="python -m benchmarks.web_latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per width (page and Python)")
    parser.add_argument("--warmup_ms", type=int, default=3000, help="the page's untimed warm-up")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "web_latency"), help="OUT.md and OUT.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        out_dir = Path(work) / "export"
        manifest, model, images = build_export(out_dir, ("fp32", "fp16", "int8"))
        add_float_io_int8(out_dir, manifest, model, images)
        server = web.make_server(str(out_dir), port=0, samples=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            before = python_p50(out_dir, manifest, args.runs)
            pages = page_visits(f"http://127.0.0.1:{server.server_address[1]}/", args.runs, args.warmup_ms)
            after = python_p50(out_dir, manifest, args.runs)
        finally:
            server.shutdown()
    report = table(pages, before, after)
    load = os.getloadavg()
    header = (f"# In-page LiteRT.js latency (`python -m benchmarks.web_latency --runs={args.runs} "
              f"--warmup_ms={args.warmup_ms}`)\n\n{os.cpu_count()} CPU cores, load average {load[0]:.1f} "
              f"at the end; Chromium headless, WASM (XNNPACK).\n\n")
    Path(args.out + ".md").write_text(header + report + "\n")
    Path(args.out + ".json").write_text(json.dumps({
        "pages": {f"{p}_{t}": v["state"] for (p, t), v in pages.items()},
        "python_before": {f"{p}_{t}_{w}": v for (p, t, w), v in before.items()},
        "python_after": {f"{p}_{t}_{w}": v for (p, t, w), v in after.items()}}, indent=1))
    print(header + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
