"""Command-line conventions of slimkeras' commands: absl flags (`--flagfile`, `--helpfull`),
and bad input as one `error:` line with exit code 2, never a traceback."""

import argparse
import math
import sys
from dataclasses import dataclass

from absl import flags
from absl.flags import argparse_flags

COUNT_MAX = 10**9  # the sane upper bound of a count (images, steps, runs): more is a typo


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

    def _get_values(self, action, arg_strings):
        # argparse drops a value `--` (`--steps=--`) and hands the flag an empty list,
        # bypassing its `type=`: refuse it as the bad value it is.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {action.option_strings[0]}: '--' is not a value")
        return super()._get_values(action, arg_strings)

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


@dataclass(frozen=True)
class Number:
    """What a numeric flag allows: a finite int or float in [lo, hi] (lo excluded with `lo_open`).

    One check for every numeric flag of every command: NaN, ±inf, values out of
    range and non-numbers are refused with a message naming the flag, the value
    and what is allowed. As an argparse `type=` it parses the text:

    ```python
    parser.add_argument("--runs", type=Number(1, COUNT_MAX, integer=True), default=100)
    parser.add_argument("--budget_ms", type=Number(0, 1e6, lo_open=True), required=True)
    ```

    Args:
        lo, hi: the smallest and largest value allowed (both required: every number has a
            sane upper bound).
        integer: only integers (text like `2.5` or `1e3` is refused).
        lo_open: `lo` itself is not allowed.
    """

    lo: float
    hi: float
    integer: bool = False
    lo_open: bool = False

    def allowed(self):
        """What is allowed, in words: `an integer in [1, 1000]`, `a number in (0, 10]`."""
        kind, fmt = ("an integer", "d") if self.integer else ("a number", "g")
        return f"{kind} in {'(' if self.lo_open else '['}{self.lo:{fmt}}, {self.hi:{fmt}}]"

    def is_allowed(self, value):
        """Whether `value` is a finite number of the right kind in the range."""
        numeric = isinstance(value, int if self.integer else (int, float)) and not isinstance(value, bool)
        return (numeric and math.isfinite(value) and self.lo <= value <= self.hi
                and not (self.lo_open and value == self.lo))

    def check(self, name, value):
        """Returns `value`, or raises ValueError: `--name must be <allowed>, got <value>.`."""
        if not self.is_allowed(value):
            raise ValueError(f"--{name} must be {self.allowed().removeprefix('a number ')}, got {value!r}.")
        return value

    def parse(self, text):
        """The allowed number that `text` spells; raises ValueError naming `text` and what is allowed."""
        try:
            value = int(text) if self.integer else float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{text!r} is not {self.allowed().split(' in ')[0]}; allowed: {self.allowed()}") from None
        if not self.is_allowed(value):
            raise ValueError(f"{text!r} is out of range; allowed: {self.allowed()}")
        return value

    def __call__(self, text):
        """argparse's `type=`: the number, or `argparse.ArgumentTypeError` (one `error:` line)."""
        try:
            return self.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None


WIDTH = Number(0, 4, lo_open=True)  # a width multiplier; the library checks it against the model


def optional(number):
    """An argparse `type=` like `number` that also takes `none` or an empty text (None)."""

    def parse(text):
        return None if text.strip().lower() in ("", "none") else number(text)

    return parse


def check_numbers(values, bounds):
    """Checks each `values[name]` (None: unset, allowed) against `bounds[name]`, a `Number`.

    Raises:
        ValueError: the first value not allowed, as `--name must be ..., got value.`.
    """
    for name, number in bounds.items():
        if values[name] is not None:
            number.check(name, values[name])


def number_list(name, items, number, distinct=True):
    """The numbers of a comma-list flag's `items` (strings), each checked by `number`.

    Raises:
        ValueError: an item that is not allowed, or (with `distinct`) a duplicate, naming the flag.
    """
    values = []
    for item in items:
        try:
            values.append(number.parse(str(item).strip()))
        except ValueError as e:
            raise ValueError(f"--{name}: {e}.") from None
    if distinct and len(set(values)) != len(values):
        raise ValueError(f"--{name}={','.join(map(str, items))} has duplicates; give each value once.")
    return values


def run_command(parser, argv, action):
    """A command's `main`: `action(args)` of `parser`'s parse of `argv`; returns 0, or 2 after one
    `error:` line for a bad flag or a ValueError of the action (0 after --help)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a bad flag (after its one `error:` line) or --help
        return stop.code
    return run(lambda: action(args))


def run(action, errors=(ValueError,)):
    """Calls `action()`; returns 0, or 2 after one `error:` line for an error of `errors`."""
    try:
        action()
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
