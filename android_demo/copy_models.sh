#!/usr/bin/env bash
# Copies an export folder (manifest.json + .tflite files) into the app's assets, replacing
# the models copied before. The app verifies every file's SHA-256 at start-up.
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

mkdir -p "$ASSETS_DIR"
rm -f "$ASSETS_DIR"/*.tflite "$ASSETS_DIR/manifest.json"
cp "$SOURCE_DIR/manifest.json" "${models[@]}" "$ASSETS_DIR/"
echo "copied manifest.json and ${#models[@]} models into $ASSETS_DIR"
