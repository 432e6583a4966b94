"""The model zoo: one builder per architecture for every training mode."""

from slimkeras.models.mobilenet_v1 import mobilenet_v1
from slimkeras.models.mobilenet_v2 import mobilenet_v2
from slimkeras.models.resnet import resnet50
from slimkeras.models.shufflenet import shufflenet

BUILDERS = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "resnet50": resnet50,
    "shufflenet": shufflenet,
}


def build(architecture, **kwargs):
    """Builds a zoo model by name: `build("mobilenet_v1", width_mult_range=(0.25, 1.0))`."""
    if architecture not in BUILDERS:
        raise ValueError(f"Unknown architecture {architecture!r}; allowed: {sorted(BUILDERS)}.")
    return BUILDERS[architecture](**kwargs)


__all__ = ["BUILDERS", "build", "mobilenet_v1", "mobilenet_v2", "resnet50", "shufflenet"]
