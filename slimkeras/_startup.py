"""TensorFlow's start-up noise on machines without a GPU, kept out of users' terminals.

Importing TensorFlow without CUDA prints lines such as `cudart_stub.cc: Could not
find cuda drivers` (and, on CPUs where oneDNN is on, `oneDNN custom operations are
on`) straight to file descriptor 2, before any log level applies
(`TF_CPP_MIN_LOG_LEVEL` does not hide them); the first use of a device adds
`failed call to cuInit`. We import TensorFlow and enumerate GPUs (which is when
CUDA is probed) with descriptor 2 captured, then write back every line that is not
one of those known messages.

When TensorFlow was imported before slimkeras (`import keras` first, with the
TensorFlow backend), its import lines are already printed and cannot be taken
back: only an interpreter start-up hook (a `.pth` file) could catch them, and
setuptools cannot ship one with an editable install (README, Install). We still
probe the devices quietly, so the later cuInit line does not appear.
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

_done = False


def import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with the known CUDA/CPU start-up lines filtered
    out (once per process; a TensorFlow imported earlier only has its devices probed)."""
    global _done
    if _done:
        return
    _done = True
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (some embedded interpreters)
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        finally:
            try:
                sys.stderr.flush()  # Python-level writes made meanwhile go through the capture too
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read().decode(errors="replace"))


def _replay(text):
    kept = [line for line in text.splitlines(keepends=True) if not any(n in line for n in NOISE)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
