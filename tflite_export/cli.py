"""Shared command-line behaviour of the tflite_export tools."""

import sys


def run(action):
    """Calls `action()`; bad input (a ValueError) becomes one `error:` line and exit code 2."""
    try:
        action()
    except ValueError as e:  # ExportError, DataError and the library's validation errors
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
