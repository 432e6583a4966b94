"""The export directory on disk: written complete into a staging directory, then swapped in.

A failed export (an exception, a full disk, an I/O error) leaves `out_dir` as it
was and no staging directory behind. The directory gets the permissions the umask
allows (0755 under umask 022), so a web server or another account can read it.
"""

import contextlib
import os
import shutil
import tempfile

from slimkeras.io import default_mode
from tflite_export.errors import ExportError
from tflite_export.manifest import MANIFEST_NAME


@contextlib.contextmanager
def staged_directory(out_dir):
    """Yields a fresh directory beside `out_dir`; when the block succeeds it replaces `out_dir`.

    Args:
        out_dir: the export directory: new, empty, or holding an earlier export
            (any other non-empty directory is refused).

    Raises:
        ExportError: `out_dir` cannot be used, or a write failed (`OSError`, e.g.
            ENOSPC or EIO): one line naming the folder and the cause.
    """
    out_dir = os.path.abspath(out_dir)
    staging = _staging_directory(out_dir)
    try:
        yield staging
        _replace_directory(staging, out_dir)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        where = f" ({e.filename})" if e.filename else ""
        raise ExportError(f"--out={out_dir} cannot be written: {e.strerror or e}{where}; "
                          f"{out_dir} was left as it was.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _staging_directory(out_dir):
    """A fresh temporary directory beside `out_dir` (checks that `out_dir` may be written)."""
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise ExportError(f"--out={out_dir} exists and is not a directory.")
        if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, MANIFEST_NAME)):
            raise ExportError(f"--out={out_dir} is a non-empty directory that holds no export "
                              "(no manifest.json); choose a new or empty directory.")
    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
        os.chmod(staging, default_mode(directory=True))  # mkdtemp's 0700 would hide the export
        return staging
    except OSError as e:
        raise ExportError(f"--out={out_dir} cannot be written: {e.strerror} ({e.filename}).") from None


def _replace_directory(staging, out_dir):
    """Renames `staging` to `out_dir`; an earlier `out_dir` is removed only after that succeeded."""
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=os.path.dirname(out_dir))
        os.rmdir(old)
        os.replace(out_dir, old)
    try:
        os.replace(staging, out_dir)
    except OSError:
        if old:
            os.replace(old, out_dir)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)
