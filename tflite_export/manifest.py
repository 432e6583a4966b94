"""manifest.json (schema version 1, docs/manifest_schema.md): the contract with the Android app.

`validate_manifest` is the one check of an export before it is used: the rules of
the Java core's `ManifestParser` for paths (relative, no leading `/`, no `..`
segment, no `\\`), hashes and sizes, and the fields the desktop tools read.
"""

import hashlib
import json
import math
import os
import re

from tflite_export.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
LABELS_NAME = "labels.txt"
OUTPUT_KINDS = ("probabilities", "logits")
PRECISIONS = ("fp32", "fp16", "int8")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def training_mode(model):
    """How a SlimmableModel's widths were trained, as the manifest names it."""
    if model.width_spec.is_range:
        return "universal"
    if model.has_switchable_bn:
        return "slimmable"
    return "individual" if len(model.width_spec.switches) == 1 else "naive"


def model_id(config, precision):
    """`w0.5_int8`, `w1.0_fp32`; a searched (nonuniform) model adds its ratios: `w0.8_s3x0.6_int8`.

    Args:
        config: a `slimkeras.WidthConfig`; its `key` names the width configuration.
    """
    return f"{config.key}_{precision}"


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def order_models(entries, precisions):
    """Per precision (in the given order): uniform models by ascending width, then searched ones."""
    ordered = []
    for precision in precisions:
        mine = [e for e in entries if e["precision"] == precision]
        ordered += sorted((e for e in mine if e["stage_ratios"] is None), key=lambda e: e["width"])
        ordered += [e for e in mine if e["stage_ratios"] is not None]
    return ordered


def make_manifest(model_name, mode, width_spec, labels, preprocessing, entries, precisions,
                  output_kind="probabilities"):
    """The manifest of an export whose labels lie in `LABELS_NAME` beside it."""
    universal = mode == "universal"
    return {
        "schema_version": SCHEMA_VERSION,
        "model_name": model_name,
        "mode": mode,
        "width_range": [float(width_spec.min_width), float(width_spec.max_width)] if universal else None,
        "width_list": None if universal else [float(w) for w in width_spec.switches],
        "labels": list(labels),
        "labels_file": LABELS_NAME,
        "output_kind": output_kind,
        "preprocessing": preprocessing,
        "models": order_models(entries, precisions),
    }


def labels_text(labels):
    """labels.txt: one label a line, in class order."""
    for label in labels:
        if "\n" in label or "\r" in label:
            raise ValueError(f"label {label!r} contains a line break; labels.txt needs one label a line.")
    return "".join(f"{label}\n" for label in labels)


def output_kind(manifest):
    """What the models output: "probabilities" or "logits" (exports without the key: logits)."""
    return manifest.get("output_kind", "logits")


def read_manifest(directory):
    """The manifest of an export directory (JSON object, schema version 1), else ManifestError."""
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise ManifestError(f"{directory} is not an export directory: {MANIFEST_NAME} is missing "
                            "(create one with `python -m tflite_export.export`).")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} cannot be read: {e}.") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}.") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: the top level must be a JSON object.")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"{path}: unsupported schema_version {manifest.get('schema_version')!r} "
                            f"(this version reads {SCHEMA_VERSION}).")
    return manifest


def validate_manifest(directory):
    """The manifest of `directory`, checked as the Android app checks it before use.

    Args:
        directory: an export directory.

    Returns:
        The manifest (a dict).

    Raises:
        ManifestError: no manifest, malformed fields, a path outside the export,
            or a file that is missing or differs from its sha256/bytes.
    """
    manifest = read_manifest(directory)
    path = os.path.join(directory, MANIFEST_NAME)
    problems = field_problems(manifest) or file_problems(manifest, directory)
    if problems:
        raise ManifestError(f"{path}: " + "; ".join(problems) + ". Re-export it.")
    return manifest


def path_problem(path):
    """Why `path` is not a relative path inside the export folder (None if it is)."""
    if not isinstance(path, str) or not path:
        return f"must be a non-empty string, got {path!r}"
    if path.startswith("/") or "\\" in path or "/../" in f"/{path}/":
        return f"must be a relative path inside the export folder, got {path}"
    return None


def field_problems(manifest):
    """Descriptions of top-level and model fields the tools cannot use."""
    problems = []
    kind = manifest.get("output_kind", "logits")
    if kind not in OUTPUT_KINDS:
        problems.append(f"output_kind must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
    if "labels_file" in manifest and path_problem(manifest["labels_file"]):
        problems.append(f"labels_file {path_problem(manifest['labels_file'])}")
    models = manifest.get("models")
    if not isinstance(models, list) or not models:
        return problems + [f"models must be a non-empty list, got {models!r}"]
    for i, entry in enumerate(models):
        problems += _entry_problems(i, entry)
    return problems or _order_problems(models)


def _entry_problems(i, entry):
    if not isinstance(entry, dict):
        return [f"models[{i}] must be an object"]
    where = f"models[{i}] (id {entry.get('id')!r})"
    checks = {
        "id": lambda v: isinstance(v, str) and v != "",
        "width": lambda v: _is_number(v) and v > 0,
        "stage_ratios": lambda v: v is None or (isinstance(v, dict) and all(_is_number(r) and r > 0
                                                                            for r in v.values())),
        "precision": lambda v: v in PRECISIONS,
        "path": lambda v: path_problem(v) is None,
        "sha256": lambda v: isinstance(v, str) and _SHA256_HEX.fullmatch(v) is not None,
        "bytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "macs": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "top1": lambda v: v is None or (_is_number(v) and 0 <= v <= 1),
        "latency_ms": lambda v: isinstance(v, dict),
    }
    problems = []
    for key, valid in checks.items():
        if key not in entry:
            problems.append(f"{where}: field {key!r} is missing")
        elif not valid(entry[key]):
            detail = path_problem(entry[key]) if key == "path" else f"has a bad value {entry[key]!r}"
            problems.append(f"{where}: {key} {detail}")
    return problems


def _order_problems(models):
    """The Java core's ordering rule: uniform models of a precision by strictly increasing width."""
    previous = {}
    for entry in models:
        if entry["stage_ratios"] is not None:
            continue
        before = previous.get(entry["precision"])
        if before is not None and not before["width"] < entry["width"]:
            return [f"uniform {entry['precision']} models must have strictly increasing width: "
                    f"{entry['id']} ({entry['width']}) follows {before['id']} ({before['width']})"]
        previous[entry["precision"]] = entry
    return []


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def file_problems(manifest, directory):
    """Descriptions of model files (and labels file) that are missing or differ from their sha256/bytes.

    Paths are checked with `path_problem` before any file is touched.
    """
    problems = []
    labels_file = manifest.get("labels_file")
    if labels_file is not None:
        if path_problem(labels_file):
            problems.append(f"labels_file {path_problem(labels_file)}")
        elif not os.path.isfile(os.path.join(directory, labels_file)):
            problems.append(f"labels_file {labels_file} is missing")
    for entry in manifest["models"]:
        problem = _model_file_problem(entry, directory)
        if problem:
            problems.append(f"{entry['id']}: {problem}")
    return problems


def _model_file_problem(entry, directory):
    """Why the file of one manifest entry cannot be used (None if it can), in the Java core's order."""
    if path_problem(entry["path"]):
        return f"path {path_problem(entry['path'])}"
    path = os.path.join(directory, entry["path"])
    if not os.path.isfile(path):
        return f"{entry['path']} is missing"
    try:
        digest, size = sha256_of(path), os.path.getsize(path)
    except OSError as e:
        return f"{entry['path']} cannot be read ({e.strerror})"
    if digest != entry["sha256"]:
        return f"{entry['path']} differs from its sha256"
    if size != entry["bytes"]:
        return f"{entry['path']} has {size} bytes, the manifest says {entry['bytes']}"
    return None
