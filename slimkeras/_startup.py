"""TensorFlow's start-up noise on machines without a GPU, kept out of users' terminals.

Importing TensorFlow without CUDA prints lines such as `cudart_stub.cc: Could not
find cuda drivers` (and, on CPUs where oneDNN is on, `oneDNN custom operations are
on`) straight to file descriptor 2, before any log level applies
(`TF_CPP_MIN_LOG_LEVEL` does not hide them); the first use of a device adds
`failed call to cuInit`. We import TensorFlow and enumerate GPUs (which is when
CUDA is probed) with descriptor 2 captured, then write back every line that is not
one of those known messages.

When TensorFlow was imported before slimkeras (`import keras` first, with the
TensorFlow backend), its import lines were caught by the interpreter start-up hook
installed with the package (`_slimkeras_startup`, run by `slimkeras_startup.pth`); we
still probe the devices quietly, so the later cuInit line does not appear either.
"""

from _slimkeras_startup import noise_filtered

_done = False


def import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with the known CUDA/CPU start-up lines filtered
    out (once per process; a TensorFlow imported earlier only has its devices probed)."""
    global _done
    if _done:
        return
    _done = True
    with noise_filtered():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
