"""The search's progress on stderr in Keras' style: one line per step and a `keras.utils.Progbar`
over that step's candidates (stdout keeps the final summary)."""

import contextlib
import sys


class SearchProgress:
    """Shows each step's start, its candidates as they are evaluated, and the kept move.

    Args:
        kind: "latency" or "macs" (what the target measures).
        target: the absolute target (ms or MACs).
        verbose: 0 shows nothing.
    """

    def __init__(self, kind, target, verbose=1):
        self.kind, self.target, self.verbose = kind, target, verbose
        self._bar = None

    def _value(self, value):
        return f"{value:.4f} ms" if self.kind == "latency" else f"{value / 1e6:.3f} M MACs"

    def _print(self, text):
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    def start(self, config, value, val_top1):
        """The full-width start: its configuration (text), measured value and validation top-1."""
        self._print(f"step  0: {config}: {self._value(value)}, val {100 * val_top1:.2f} % "
                    f"(target {self._value(self.target)})")

    def step(self, step, config, value, candidates):
        """A step from `config` (text, measured `value`) starts with `candidates` moves to evaluate."""
        import keras

        self._print(f"step {step:>2}: {config} at {self._value(value)} (target {self._value(self.target)}): "
                    f"{candidates} candidates")
        self._bar = keras.utils.Progbar(candidates, verbose=self.verbose, unit_name="candidate",
                                        stateful_metrics=["val_top1", "ms", "M_MACs"])
        self._count, self._done = candidates, 0

    def evaluated(self):
        """One candidate of the current step is evaluated."""
        self._done += 1
        if self._done < self._count:
            self._update(self._done, finalize=False)

    def kept(self, value, val_top1):
        """The step ends with the kept move's measured value and validation top-1."""
        name, shown = ("ms", value) if self.kind == "latency" else ("M_MACs", value / 1e6)
        self._update(self._count, values=[("val_top1", val_top1), (name, shown)], finalize=True)

    def _update(self, current, values=None, finalize=None):
        with contextlib.redirect_stdout(sys.stderr):
            self._bar.update(current, values=values, finalize=finalize)
