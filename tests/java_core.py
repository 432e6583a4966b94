"""The Android app's plain-Java core, compiled for tests that run it on real exports."""

import shutil
import subprocess
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "android_demo" / "core"


def compile_core(name):
    """Compiles the core's main sources into android_demo/core/build/NAME; skips without a JDK."""
    if shutil.which("javac") is None:
        pytest.skip("needs a JDK")
    build = CORE / "build" / name
    sources = [str(p) for p in (CORE / "src" / "main" / "java").rglob("*.java")]
    subprocess.run(["javac", "--release", "8", "-encoding", "UTF-8", "-d", str(build), *sources],
                   check=True, capture_output=True)
    return build
