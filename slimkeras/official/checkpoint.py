"""Reading an official checkpoint file into NumPy arrays, safely (torch is imported here only,
when a file is read)."""

import os

TORCH_INSTALL_HINT = (
    "reading PyTorch checkpoints needs torch: pip install 'slimkeras[torch]' "
    "(the CPU build: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be imported; the message names what is wrong."""


class TorchMissingError(ImportError):
    """torch is not installed; the message says how to install it."""


def import_torch():
    """torch, or TorchMissingError with the install command."""
    try:
        import torch
    except ImportError:
        raise TorchMissingError(TORCH_INSTALL_HINT) from None
    return torch


def strip_module_prefix(state):
    """The state dict without DataParallel's `module.` prefix (where every key has it)."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


class _Placeholder:
    """Stands in for a pickled Python object of a checkpoint (e.g. the official training
    meters): built by the weights-only unpickler without running any code of the file,
    holding nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _placeholders(torch, path):
    """Inert placeholder classes for the globals of `path` that weights-only loading
    does not allow (named as they are, so the unpickler resolves them to these)."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    classes = []
    for full_name in names:
        module, _, name = full_name.rpartition(".")
        classes.append(type(name, (_Placeholder,), {"__module__": module, "__qualname__": name}))
    return classes


def load_state_dict(path):
    """The official checkpoint at `path` as `{key: float32 numpy array}` (no `module.`).

    Loads with `torch.load(weights_only=True)`: tensors and plain containers
    only, no code of the file runs. Other pickled Python objects (the
    official train.py also saves its optimizer state and meters) are loaded
    as inert placeholders and ignored.

    Args:
        path: the `.pt` file.

    Raises:
        TorchMissingError: torch is not installed.
        CheckpointError: a missing, truncated or foreign file.

    Example:

    ```python
    state = load_state_dict("us_mobilenet_v1_calibrated.pt")
    state["features.0.0.weight"].shape  # (32, 3, 3, 3)
    ```
    """
    torch = import_torch()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist (or is not a file).")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            if "weights_only" not in str(e):
                raise
            with torch.serialization.safe_globals(_placeholders(torch, path)):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path!r} is not a readable PyTorch file (truncated or corrupt?): "
            f"{type(e).__name__}: {message[:200]}"
        ) from None
    if isinstance(obj, dict) and "model" in obj:
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(
            f"checkpoint {path!r} holds no state dict: expected {{'model': state_dict, ...}} "
            f"(the official train.py's format) or a state dict, got {type(obj).__name__}."
        )
    state = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"checkpoint {path!r}: entry {key!r} is a {type(value).__name__}, not a tensor; "
                "expected a state dict of tensors."
            )
        state[key] = value.detach().cpu().numpy()
    return strip_module_prefix(state)
