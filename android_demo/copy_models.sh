#!/usr/bin/env bash
# Copies an export folder (manifest.json, .tflite files and the manifest's labels_file, if
# any) into the app's assets, replacing the export copied before. The app verifies every
# model's SHA-256 and the labels file's line count at start-up.
# Usage: android_demo/copy_models.sh OUT_DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR   (a folder written by the exporter, with manifest.json)" >&2
    exit 2
fi
SOURCE_DIR="$1"
ASSETS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/app/src/main/assets"

if [[ ! -f "$SOURCE_DIR/manifest.json" ]]; then
    echo "error: $SOURCE_DIR/manifest.json not found; is this an export folder?" >&2
    exit 1
fi
shopt -s nullglob
models=("$SOURCE_DIR"/*.tflite)
if [[ ${#models[@]} -eq 0 ]]; then
    echo "error: no .tflite files in $SOURCE_DIR" >&2
    exit 1
fi

# The manifest's optional labels_file (a relative path), or nothing.
labels_file_of() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("labels_file") or "")' "$1"
}
labels_file="$(labels_file_of "$SOURCE_DIR/manifest.json")"
if [[ -n "$labels_file" && ! -f "$SOURCE_DIR/$labels_file" ]]; then
    echo "error: the manifest names labels_file $labels_file but $SOURCE_DIR/$labels_file is missing" >&2
    exit 1
fi

mkdir -p "$ASSETS_DIR"
if [[ -f "$ASSETS_DIR/manifest.json" ]]; then
    old_labels_file="$(labels_file_of "$ASSETS_DIR/manifest.json")"
    [[ -z "$old_labels_file" ]] || rm -f "$ASSETS_DIR/$old_labels_file"
fi
rm -f "$ASSETS_DIR"/*.tflite "$ASSETS_DIR/manifest.json"
cp "$SOURCE_DIR/manifest.json" "${models[@]}" "$ASSETS_DIR/"
if [[ -n "$labels_file" ]]; then
    mkdir -p "$(dirname "$ASSETS_DIR/$labels_file")"
    cp "$SOURCE_DIR/$labels_file" "$ASSETS_DIR/$labels_file"
fi
echo "copied manifest.json, ${#models[@]} models${labels_file:+ and $labels_file} into $ASSETS_DIR"
