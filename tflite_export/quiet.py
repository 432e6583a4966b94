"""TensorFlow's and LiteRT's native log lines (converter, interpreter), kept out of a
notebook or terminal while the exporter works.

The converter and the interpreter log through C++ straight to file descriptor 2
(`I0000 ... reader.cc:83] Reading SavedModel ...`, `INFO: Created TensorFlow Lite
XNNPACK delegate ...`), whatever Python's logging says, and TensorFlow's Python logger
adds "Assets written to ..." at INFO. Inside `native_logs_filtered()` descriptor 2 is
captured and every line that is not such a log line is written back afterwards, so
errors and warnings of our own still show.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile

NATIVE_LOG_LINE = re.compile(r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|INFO: )")


@contextlib.contextmanager
def native_logs_filtered():
    """Runs the block with native INFO/WARNING log lines and TF's Python INFO lines dropped."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some embedded interpreters)
        saved = None
    capture = tempfile.TemporaryFile()
    if saved is not None:
        os.dup2(capture.fileno(), 2)
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
        capture.close()
        kept = [line for line in text.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
