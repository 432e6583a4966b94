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
import re

from _slimkeras_startup import filtered_fd2

NATIVE_LOG_LINE = re.compile(r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|INFO: )")


@contextlib.contextmanager
def native_logs_filtered():
    """Runs the block with native INFO/WARNING log lines and TF's Python INFO lines dropped."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with filtered_fd2(NATIVE_LOG_LINE.match):
            yield
    finally:
        logger.setLevel(level)
