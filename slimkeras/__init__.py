"""slimkeras: slimmable and universally slimmable networks for Keras 3 / TensorFlow."""

from slimkeras import layers, models
from slimkeras.calibration import calibrate_bn
from slimkeras.channels import active_channels, make_divisible
from slimkeras.materialize import materialize
from slimkeras.model import SlimmableModel
from slimkeras.profiling import profile, profile_table
from slimkeras.width import WidthConfig, WidthSpec

__version__ = "0.1.0"

__all__ = [
    "SlimmableModel",
    "WidthConfig",
    "WidthSpec",
    "active_channels",
    "calibrate_bn",
    "layers",
    "make_divisible",
    "models",
    "materialize",
    "profile",
    "profile_table",
]
