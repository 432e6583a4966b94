"""TensorFlow's start-up noise on machines without a GPU, kept out of users' terminals.

Importing TensorFlow without CUDA prints lines such as `cudart_stub.cc: Could not
find cuda drivers` and `failed call to cuInit` (and, on CPUs where oneDNN is on,
`oneDNN custom operations are on`) straight to file descriptor 2, before any
log level applies. We import it (and enumerate GPUs, which is when
CUDA is probed) with descriptor 2 captured, then write back every line that is
not one of those known messages.
"""

import os
import sys
import tempfile

NOISE = (
    "All log messages before absl::InitializeLog",
    "cudart_stub.cc",
    "cpu_feature_guard.cc",
    "To enable the following instructions",
    "cuda_platform.cc",
    "failed call to cuInit",
    "oneDNN custom operations are on",
)


def import_tensorflow_quietly():
    """Imports TensorFlow with its known CUDA/CPU start-up lines filtered out (once)."""
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some embedded interpreters)
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read().decode(errors="replace"))


def _replay(text):
    kept = [line for line in text.splitlines(keepends=True) if not any(n in line for n in NOISE)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
