"""Training slimmable networks: the trainer, its rules and learning-rate schedules.

`SlimmableTrainer` wraps a `SlimmableModel` for `compile`/`fit`; `rules` holds the
training rules as small pure functions (which widths a step trains, each width's loss,
in-place distillation as a `DistillRule`); `schedules` the papers' learning-rate
schedules (`SlimSchedule`).
"""

from slimkeras.training.rules import MODES, DistillRule, eval_widths, training_widths
from slimkeras.training.schedules import SlimSchedule
from slimkeras.training.trainer import SlimmableTrainer, default_mode

__all__ = ["DistillRule", "MODES", "SlimSchedule", "SlimmableTrainer", "default_mode", "eval_widths",
           "training_widths"]
