"""slimkeras: slimmable and universally slimmable networks for Keras 3 / TensorFlow."""

from slimkeras._startup import import_tensorflow_quietly

import_tensorflow_quietly()

from slimkeras._compat import check_backend  # noqa: E402

check_backend()

from slimkeras import callbacks, datasets, io, layers, models, plots, training  # noqa: E402
from slimkeras.calibration import calibrate_bn
from slimkeras.channels import active_channels, make_divisible
from slimkeras.evaluation import evaluate_top1, evaluate_widths
from slimkeras.materialize import materialize
from slimkeras.model import SlimmableModel
from slimkeras.profiling import profile, profile_table
from slimkeras.training import DistillRule, SlimmableTrainer, SlimSchedule
from slimkeras.width import WidthConfig, WidthSpec

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: the checkpoint importer (slimkeras.official) loads only when asked for; torch
    # only when it reads a checkpoint.
    if name == "from_official_checkpoint":
        from slimkeras.official import from_official_checkpoint

        return from_official_checkpoint
    raise AttributeError(f"module 'slimkeras' has no attribute {name!r}")


__all__ = [
    "DistillRule",
    "SlimSchedule",
    "SlimmableModel",
    "SlimmableTrainer",
    "WidthConfig",
    "WidthSpec",
    "active_channels",
    "calibrate_bn",
    "callbacks",
    "datasets",
    "evaluate_top1",
    "evaluate_widths",
    "io",
    "from_official_checkpoint",
    "layers",
    "make_divisible",
    "models",
    "materialize",
    "plots",
    "profile",
    "profile_table",
    "training",
]
