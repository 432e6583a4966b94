"""Crash-safe file writes: a temporary name beside the target, fsync, then one rename.

A reader sees the old file or the new one, never a half-written one; a failed
write (a full disk, an exception in the writer) leaves the old file untouched
and no temporary file behind. The file gets the permissions the umask allows
(0644 under umask 022), as a plain `open` would give it.
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
        os.chmod(tmp, default_mode())  # mkstemp's 0600 would hide the file from other users
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def umask():
    """The process's umask (read from /proc where it can be, else set and restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory=False):
    """The mode `open` (0666) or `mkdir` (0777) give under the umask: 0644 / 0755 under 022."""
    return (0o777 if directory else 0o666) & ~umask()


def write_text_atomic(path, text):
    """Writes `text` (str or bytes) to `path` crash-safely."""
    mode = "wb" if isinstance(text, bytes) else "w"
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        f.write(text)


def write_json_atomic(path, data, indent=2):
    """Writes `data` as JSON to `path` crash-safely."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def jsonable(obj):
    """`obj` with NumPy scalars as Python numbers, tuples as lists and keys as strings (for JSON)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj


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
