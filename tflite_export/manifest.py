"""manifest.json (schema version 1, docs/manifest_schema.md): the contract with the Android app."""

import hashlib
import json
import os


SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


def training_mode(model):
    """How a SlimmableModel's widths were trained, as the manifest names it."""
    if model.width_spec.is_range:
        return "universal"
    if model.has_switchable_bn:
        return "slimmable"
    return "individual" if len(model.width_spec.switches) == 1 else "naive"


def model_id(width, stage_ratios, precision):
    """`w0.5_int8`, `w1.0_fp32`; a searched (nonuniform) model adds its ratios: `w0.8_s3x0.6_int8`."""
    stages = "".join(f"_s{k}x{v:g}" for k, v in sorted((stage_ratios or {}).items(), key=lambda kv: int(kv[0])))
    return f"w{_number(width)}{stages}_{precision}"


def _number(value):
    text = f"{value:g}"
    return text if any(c in text for c in ".e") else f"{text}.0"


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


def make_manifest(model_name, mode, width_spec, labels, preprocessing, entries, precisions):
    universal = mode == "universal"
    return {
        "schema_version": SCHEMA_VERSION,
        "model_name": model_name,
        "mode": mode,
        "width_range": [float(width_spec.min_width), float(width_spec.max_width)] if universal else None,
        "width_list": None if universal else [float(w) for w in width_spec.switches],
        "labels": list(labels),
        "preprocessing": preprocessing,
        "models": order_models(entries, precisions),
    }


def read_manifest(directory):
    """The manifest of an export directory, with a clear error when there is none."""
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"{directory} is not an export directory: {MANIFEST_NAME} is missing "
                         "(create one with `python -m tflite_export.export`).")
    with open(path) as f:
        try:
            manifest = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}.") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: unsupported schema_version {manifest.get('schema_version')!r} "
                         f"(this version reads {SCHEMA_VERSION}).")
    return manifest


def file_problems(manifest, directory):
    """Descriptions of model files that are missing or differ from their sha256/bytes."""
    problems = []
    for entry in manifest["models"]:
        path = os.path.join(directory, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['id']}: {entry['path']} is missing")
        elif os.path.getsize(path) != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['id']}: {entry['path']} differs from its sha256/bytes")
    return problems
