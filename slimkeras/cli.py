"""Command-line conventions of slimkeras' commands: absl flags (`--flagfile`, `--helpfull`),
and bad input as one `error:` line with exit code 2, never a traceback."""

import sys

from absl import flags
from absl.flags import argparse_flags


class ArgumentParser(argparse_flags.ArgumentParser):
    """`argparse.ArgumentParser` with absl's `--flagfile` and `--helpfull`.

    A bad or missing argument, or an unreadable flagfile, prints one `error:` line
    and exits with code 2. Global absl flags of other modules are not inherited.

    Example:

    ```python
    parser = ArgumentParser(prog="python -m tflite_export.bench", description=__doc__)
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    ```
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("inherited_absl_flags", flags.FlagValues())
        super().__init__(**kwargs)

    def parse_known_args(self, args=None, namespace=None):
        try:
            return super().parse_known_args(args, namespace)
        except flags.Error as e:  # e.g. a flagfile that cannot be read
            self.error(str(e).removeprefix("ERROR:: "))

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def run(action, errors=(ValueError,)):
    """Calls `action()`; returns 0, or 2 after one `error:` line for an error of `errors`."""
    try:
        action()
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
