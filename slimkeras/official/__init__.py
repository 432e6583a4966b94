"""Import the authors' published ImageNet checkpoints (PyTorch) into slimkeras.

```python
model = slimkeras.from_official_checkpoint("us_mobilenet_v1_calibrated.pt", arch="us_mobilenet_v1")
```

or, writing a `.keras` file: `python -m slimkeras.official CHECKPOINT --arch=... --out=model.keras`.
torch (an optional extra) is imported only when a checkpoint is read. See docs/pretrained.md.
"""

from slimkeras.official.archs import ARCHS, LayerMap, OfficialArch, get_arch
from slimkeras.official.checkpoint import CheckpointError, TorchMissingError, load_state_dict
from slimkeras.official.convert import (
    conv_kernel,
    convert_state_dict,
    dense_kernel,
    depthwise_kernel,
    from_official_checkpoint,
)

__all__ = [
    "ARCHS",
    "CheckpointError",
    "LayerMap",
    "OfficialArch",
    "TorchMissingError",
    "conv_kernel",
    "convert_state_dict",
    "dense_kernel",
    "depthwise_kernel",
    "from_official_checkpoint",
    "get_arch",
    "load_state_dict",
]
