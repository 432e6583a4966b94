"""Crash-safe file writes: a temporary name beside the target, fsync, then one rename.

A reader sees the old file or the new one, never a half-written one; a failed
write (a full disk, an exception in the writer) leaves the old file untouched
and no temporary file behind.
"""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in `path`'s folder; on success it is synced and renamed to `path`.

    The temporary name ends with `path`'s own file name, so writers that insist on
    an extension (`model.save` wants `.keras`, `save_weights` `.weights.h5`) accept it.

    Example:

    ```python
    with atomic_path("final.keras") as tmp:
        model.save(tmp)
    ```
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix="-" + os.path.basename(path), dir=directory)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def write_text_atomic(path, text):
    """Writes `text` (str or bytes) to `path` crash-safely."""
    mode = "wb" if isinstance(text, bytes) else "w"
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        f.write(text)


def write_json_atomic(path, data, indent=2):
    """Writes `data` as JSON to `path` crash-safely."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def _fsync_file(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_directory(directory):
    with contextlib.suppress(OSError):  # some file systems refuse to open folders
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
