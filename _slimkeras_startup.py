"""slimkeras' interpreter start-up hook (run by `slimkeras_startup.pth`, stdlib only): when
TensorFlow is first imported, by anything (`import keras` with its TensorFlow backend, before
`import slimkeras`), its known CUDA/CPU start-up lines are kept out of the terminal or notebook.

TensorFlow's C++ code writes those lines straight to file descriptor 2 while it loads, before
any log level applies. The hook adds one finder to `sys.meta_path` that acts on the name
`tensorflow` alone: it lets the real finder find it and runs its module with descriptor 2
captured, then writes back every line that is not a known start-up message. Nothing is imported
at start-up and no environment variable is set; `SLIMKERAS_QUIET_STARTUP=0` turns it off.
"""

import contextlib
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


def is_noise(line):
    """Whether `line` is one of TensorFlow's known start-up lines."""
    return any(n in line for n in NOISE)


@contextlib.contextmanager
def filtered_fd2(drop):
    """Runs the block with descriptor 2 captured; writes back the lines for which `drop` is false."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()  # Python-level writes made meanwhile go through the capture too
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not drop(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def noise_filtered():
    """`filtered_fd2` dropping TensorFlow's known start-up lines."""
    return filtered_fd2(is_noise)


class _QuietLoader:
    """The real loader of `tensorflow`, its module run inside `noise_filtered`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with noise_filtered():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietTensorFlowFinder:
    """Finds nothing itself: for `tensorflow`, the real spec with a `_QuietLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        import importlib.util

        sys.meta_path.remove(self)  # once, and no recursion into this finder
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install():
    """Adds the finder (once), unless TensorFlow is loaded already or SLIMKERAS_QUIET_STARTUP=0."""
    if os.environ.get("SLIMKERAS_QUIET_STARTUP") == "0" or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


try:
    install()
except Exception:  # a start-up hook must never stop the interpreter
    pass
