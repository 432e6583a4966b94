"""The browser twin of the app (web_demo/) in Debian's headless Chromium, on real LiteRT.js.

A small export (`benchmarks.web_latency.build_export`: the default job's network, untrained,
BN calibrated) is served by `python -m tflite_export.web`; one browser session
(web_demo/scripts/drive.mjs, puppeteer-core) visits the page on it and on hostile copies of its
manifest. The page's outputs, picks and refusals are compared with independent references: the
Python LiteRT interpreter, the Python policy, tflite_export.manifest and the Java core (CoreTool).
"""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.web_latency import WIDTHS, build_export
from fashion_data import needs_fashion
from java_core import compile_core
from tflite_export import manifest as manifest_lib, web
from tflite_export.runtime import TFLiteModel
from tflite_export.switch.policy import Candidate, SelectorConfig, WidthSelector

ROOT = Path(__file__).resolve().parents[1]
WEB_DEMO = ROOT / "web_demo"
CHROMIUM = shutil.which("chromium")
IMAGES = 4  # test images classified at every width

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("node") is None or not (WEB_DEMO / "node_modules" / "puppeteer-core").is_dir(),
    reason="needs chromium, node and `npm ci` in web_demo (make test installs them)")
pytestmark = [needs_fashion, pytest.mark.xdist_group("web_demo")]

# name -> (how the manifest is spoilt, what the page must say); each is served as a sub-folder.
HOSTILE = {
    "parent_path": (lambda m, d: m["models"][0].update(path="../../../../etc/passwd"),
                    'models[0] (id "w0.25_fp32").path must be a relative path inside the export folder'),
    "absolute_path": (lambda m, d: m["models"][1].update(path="/etc/passwd"),
                      'models[1] (id "w0.5_fp32").path must be a relative path inside the export folder'),
    "wrong_sha256": (lambda m, d: m["models"][2].update(sha256="0" * 64),
                     "SHA256_MISMATCH: model w0.75_fp32: w0.75_fp32.tflite has sha256"),
    "labels_lines": (lambda m, d: (d / "labels.txt").write_text("".join(f"{x}\n" for x in m["labels"][:9])),
                     "labels_file labels.txt has 9 lines but the manifest has 10 labels"),
}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """The small export (fp32 and int8) plus the hostile copies of it in sub-folders."""
    out = tmp_path_factory.mktemp("web") / "export"
    build_export(out)
    for name, (spoil, _) in HOSTILE.items():
        copy = out / name
        copy.mkdir()
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["models"] = [m for m in manifest["models"] if m["precision"] == "fp32"]
        for entry in manifest["models"]:
            shutil.copy(out / entry["path"], copy / entry["path"])
        shutil.copy(out / "labels.txt", copy / "labels.txt")
        spoil(manifest, copy)
        (copy / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def core_build():
    return compile_core("pytest-web")


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    """`python -m tflite_export.web EXPORT --port=0` as a user starts it; yields its URL."""
    log = tmp_path_factory.mktemp("server") / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "tflite_export.web", str(export_dir), "--port=0"],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, log.read_text()[-3000:]
        yield line.split(" at ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)


def odd_image():
    """A 37×30 RGBA image of random colours: exercises the centre crop, resize and grey."""
    return np.random.default_rng(3).integers(0, 256, (30, 37, 4), dtype=np.uint8)


@pytest.fixture(scope="module")
def visits(server, export_dir, tmp_path_factory):
    """The browser's results: the good export (threads 1) and each hostile copy."""
    work = tmp_path_factory.mktemp("browser")
    plan = [{"url": f"{server}?loop=0&runs=40&warmup_ms=400", "samples": IMAGES, "budgets": "auto",
             "preprocess": {"rgba": odd_image().reshape(-1).tolist(), "width": 37},
             "screenshot": str(work / "page.png")}]
    plan += [{"url": f"{server}?loop=0&export=/export/{name}/"} for name in HOSTILE]
    (work / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(["node", "scripts/drive.mjs", str(work / "plan.json")], cwd=WEB_DEMO,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    return {"good": results[0], **dict(zip(HOSTILE, results[1:])), "screenshot": work / "page.png"}


def fashion_test_images(count):
    from slimkeras.datasets import fashion_mnist

    images, labels = fashion_mnist.load_split("test")
    return images[:count, :, :, 0], labels[:count]


def normalized(gray_levels, preprocessing):
    """Python's twin of the page's (and the Java core's) arithmetic for a gray image."""
    luma = 0.299 * gray_levels + 0.587 * gray_levels + 0.114 * gray_levels  # R = G = B
    return ((luma / preprocessing["scale"] - preprocessing["mean"][0]) / preprocessing["std"][0]).astype(np.float32)


def test_the_exported_files_have_batch_1(export_dir):
    for path in export_dir.glob("*.tflite"):
        details = TFLiteModel(path).input_details
        assert list(details["shape_signature"]) == [1, 28, 28, 1], path.name


@needs_browser
def test_every_width_in_the_browser_equals_python_litert(visits, export_dir):
    good = visits["good"]
    assert good["state"]["state"] == "ready", (good["error"], good["console"])
    manifest = json.loads((export_dir / "manifest.json").read_text())
    fp32 = [m for m in manifest["models"] if m["precision"] == "fp32"]
    assert good["state"]["loaded"] == [m["id"] for m in fp32]
    assert good["state"]["crossOriginIsolated"]
    levels, labels = fashion_test_images(IMAGES)
    agree = 0
    for image, level, result in zip(good["images"], levels, labels):
        assert image["sample"]["label"] == manifest["labels"][result]
        expected_input = normalized(level.astype(np.float64), manifest["preprocessing"]).reshape(-1)
        np.testing.assert_array_equal(np.float32(image["input"]), expected_input)
        for entry, width in zip(fp32, image["widths"]):
            assert width["id"] == entry["id"]
            reference = TFLiteModel(export_dir / entry["path"]).predict(expected_input.reshape(1, 28, 28, 1))[0]
            page = np.float32(width["probabilities"])
            assert np.max(np.abs(page - reference)) <= 1e-5, (entry["id"], page, reference)
            assert np.argmax(page) == np.argmax(reference), entry["id"]
            agree += 1
    assert agree == IMAGES * len(WIDTHS)


@needs_browser
def test_budgets_pick_what_the_python_policy_picks_from_the_page_measurements(visits):
    good = visits["good"]
    models = good["state"]["models"]
    assert [m["width"] for m in models] == list(WIDTHS)
    for m in models:  # the page's own start-up benchmark: 40 runs, the last 20 in the window
        assert m["bench"]["runs"] == 40 and len(m["window"]) == 20 and m["bench"]["p50"] > 0
    budgets = [p["budget"] for p in good["picks"]]
    p90s = [sorted(m["window"])[math.ceil(0.9 * len(m["window"])) - 1] for m in models]
    assert budgets[0] < min(p90s) and budgets[2] > max(p90s)
    for pick in good["picks"]:
        candidates = [Candidate(width=m["width"]) for m in models]
        selector = WidthSelector(candidates, pick["budget"], SelectorConfig(warmup_runs=0))
        for candidate, m in zip(candidates, models):
            for ms in m["window"]:
                selector.on_benchmark(candidate, ms)
        assert selector.pick().width == pick["picked"], pick
    assert good["picks"][2]["picked"] == WIDTHS[-1]


@needs_browser
def test_int8_files_are_listed_as_not_runnable(visits):
    unrunnable = visits["good"]["state"]["unrunnable"]
    assert [u["id"] for u in unrunnable] == [f"w{w}_int8" for w in WIDTHS]
    assert "Element type INT8 is not supported" in unrunnable[0]["reason"]


@needs_browser
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_manifest_is_refused_with_its_message_and_no_model_loaded(name, visits, export_dir, core_build):
    result = visits[name]
    assert result["state"]["state"] == "error"
    assert result["state"]["loaded"] == []
    assert HOSTILE[name][1] in result["error"], result["error"]
    java = subprocess.run(["java", "-cp", str(core_build), "org.slimkeras.core.CoreTool",
                           "manifest", str(export_dir / name)], capture_output=True, text=True)
    assert java.returncode == 1 and java.stdout.startswith("INVALID"), java.stdout
    if name != "labels_lines":  # tflite_export.manifest does not count the labels' lines
        with pytest.raises(manifest_lib.ManifestError):
            manifest_lib.validate_manifest(export_dir / name)


@needs_browser
def test_preprocessing_equals_the_java_core_on_the_same_pixels(visits, export_dir, core_build, tmp_path):
    image = tmp_path / "odd.rgba"
    image.write_bytes(odd_image().tobytes())
    java = subprocess.run(["java", "-cp", str(core_build), "org.slimkeras.core.CoreTool",
                           "pixels", str(export_dir), str(image), "37"], capture_output=True, text=True)
    assert java.returncode == 0, java.stdout + java.stderr
    expected = np.float32([float(v) for v in java.stdout.split()])
    assert expected.shape == (28 * 28,) and np.std(expected) > 0.1
    np.testing.assert_array_equal(np.float32(visits["good"]["preprocessed"]), expected)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_imagenet_resize_and_crop_in_js_equal_the_java_core(core_build, tmp_path):
    """src/image.js (run by node) and CoreTool pixels on one RGB image, with resize and crop."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "m.tflite").write_bytes(b"model")
    tensor = {"dtype": "float32", "quantization": None}
    manifest = {
        "schema_version": 1, "model_name": "m", "mode": "slimmable", "width_range": None, "width_list": [1.0],
        "labels": ["a", "b"], "output_kind": "probabilities",
        "preprocessing": {"height": 32, "width": 32, "channels": 3, "scale": 255.0, "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225], "layout": "NHWC", "resize": 37, "crop": 32},
        "models": [{"id": "m", "width": 1.0, "stage_ratios": None, "precision": "fp32", "path": "m.tflite",
                    "sha256": manifest_lib.sha256_of(export / "m.tflite"), "bytes": 5,
                    "input": {"shape": [1, 32, 32, 3], **tensor}, "output": {"shape": [1, 2], **tensor},
                    "macs": 1, "params": 1, "top1": None, "latency_ms": {}}],
    }
    (export / "manifest.json").write_text(json.dumps(manifest))
    image = np.random.default_rng(5).integers(0, 256, (41, 53, 4), dtype=np.uint8)
    (tmp_path / "image.rgba").write_bytes(image.tobytes())
    java = subprocess.run(["java", "-cp", str(core_build), "org.slimkeras.core.CoreTool", "pixels", str(export),
                           str(tmp_path / "image.rgba"), "53"], capture_output=True, text=True)
    assert java.returncode == 0, java.stdout + java.stderr
    script = ("import {normalize, toModelPixels} from './src/image.js';"
              "const [rgba, p] = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));"
              "const image = {width: 53, height: 41, rgba: Uint8ClampedArray.from(rgba)};"
              "console.log(Array.from(normalize(toModelPixels(image, p), p)).join('\\n'));")
    args = tmp_path / "args.json"
    args.write_text(json.dumps([image.reshape(-1).tolist(), manifest["preprocessing"]]))
    node = subprocess.run(["node", "--input-type=module", "-e", script.replace("require('fs')", "(await import('node:fs'))"),
                           str(args)], cwd=WEB_DEMO, capture_output=True, text=True)
    assert node.returncode == 0, node.stderr
    expected = np.float32([float(v) for v in java.stdout.split()])
    assert expected.shape == (32 * 32 * 3,)
    np.testing.assert_array_equal(np.float32([float(v) for v in node.stdout.split()]), expected)


@needs_browser
def test_the_screenshot_shows_the_page_and_the_dom_holds_the_top1_label(visits):
    import tensorflow as tf

    good = visits["good"]
    pixels = tf.io.decode_png(visits["screenshot"].read_bytes()).numpy()
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50
    from slimkeras.datasets import fashion_mnist

    last = good["images"][-1]["widths"]  # the page shows the current width's answer
    current = next(w for w in last if w["width"] == good["state"]["current"])
    assert good["top1Dom"] == fashion_mnist.LABELS[int(np.argmax(current["probabilities"]))]


def test_sample_pngs_decode_to_the_test_images(export_dir):
    import tensorflow as tf

    from tflite_export.web_samples import fashion_samples

    manifest = json.loads((export_dir / "manifest.json").read_text())
    samples = fashion_samples(manifest, count=3)
    levels, labels = fashion_test_images(3)
    assert [label for _, label, _ in samples] == [manifest["labels"][i] for i in labels]
    for (_, _, png), level in zip(samples, levels):
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy()[:, :, 0], level)


def test_a_folder_that_is_not_an_export_is_one_error_line(tmp_path, capsys):
    assert web.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "manifest.json is missing" in err[0]


@pytest.mark.parametrize("flag", ["--port=70000", "--port=http", "--samples=-1"])
def test_a_bad_flag_is_one_error_line(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        web.main([str(tmp_path), flag])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag.split("=")[1] in err[0] and "allowed" in err[0]


def test_the_server_serves_only_the_page_litert_and_the_export(export_dir):
    import threading
    import urllib.error
    import urllib.request

    if not (WEB_DEMO / "node_modules" / "@litertjs" / "core").is_dir():
        pytest.skip("needs `npm ci` in web_demo")
    server = web.make_server(str(export_dir), port=0, samples=2, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{base}/") as page:
            assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert page.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        with urllib.request.urlopen(f"{base}/node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm") as wasm:
            assert wasm.headers["Content-Type"] == "application/wasm"
        with urllib.request.urlopen(f"{base}/samples/index.json") as index:
            assert [s["label"] for s in json.load(index)] == ["Ankle boot", "Pullover"]
        with urllib.request.urlopen(f"{base}/export/manifest.json") as manifest:
            assert json.load(manifest)["schema_version"] == 1
        for path in ["/export/%2e%2e/%2e%2e/etc/passwd", "/export/../web/etc", "/node_modules/puppeteer-core/package.json",
                     "/tflite_export/web.py", "/export/nothing.tflite"]:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path)
            assert refused.value.code == 404, path
    finally:
        server.shutdown()
        server.server_close()
