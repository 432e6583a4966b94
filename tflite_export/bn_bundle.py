"""The calibrated BN bundle: every calibrated width's BN parameters, for re-fusing at runtime.

`bn_bundle.npz` holds, per configuration `cK` and BN layer `L`, the arrays
`cK/L/mean` and `cK/L/variance` (sliced to that width's channels), plus
`cK/L/gamma`, `cK/L/beta` for private affine parameters (switchable BN) or
`L/gamma`, `L/beta` once for shared ones (universal and shared BN; slice
`[:channels]`). `bn_bundle.json` indexes it:

    {"schema_version": 1, "file": "bn_bundle.npz", "sha256": ..., "model_name": ...,
     "layers": [{"name", "kind", "input_layer", "max_channels", "epsilon", "private_affine"}],
     "configs": [{"key": "c0", "width": 0.25, "stage_ratios": null, "channels": {L: C}}]}

A runtime holding the full-width convolution kernels re-fuses BN for any of
those widths: slice the kernel feeding `L` (its `input_layer`) to the
width's channels and fold with `fold_bn`.
"""

import hashlib
import json
import os

import numpy as np

from slimkeras.width import WidthConfig

SCHEMA_VERSION = 1
NPZ_NAME, INDEX_NAME = "bn_bundle.npz", "bn_bundle.json"


def input_layer_of(layer, model):
    """The layer of `model` whose output feeds `layer`."""
    from slimkeras.profiling import producers

    return producers(model)[id(layer.input)]


def write_bundle(model, out_dir, configs, model_name=None):
    """Writes bn_bundle.npz + bn_bundle.json for `configs` (WidthConfigs) of `model`.

    Each configuration uses the statistics `materialize` would: its calibrated
    slot, or (shared BN without one) the running statistics.

    Returns the index dict.
    """
    arrays, entries, layers = {}, [], []
    for layer in model.bn_layers:
        layers.append({
            "name": layer.name, "kind": type(layer).__name__, "input_layer": input_layer_of(layer, model).name,
            "max_channels": int(layer.max_channels), "epsilon": float(layer.epsilon),
            "private_affine": bool(layer.private_affine),
        })
        if not layer.private_affine:
            arrays[f"{layer.name}/gamma"] = layer.gamma.numpy()
            arrays[f"{layer.name}/beta"] = layer.beta.numpy()
    from slimkeras.profiling import active_bn_channels

    for k, (config, channels) in enumerate(zip(configs, active_bn_channels(model, configs))):
        key = f"c{k}"
        for layer in model.bn_layers:
            gamma, beta, mean, variance = layer.parameters(config, channels[layer.name])
            arrays[f"{key}/{layer.name}/mean"] = mean
            arrays[f"{key}/{layer.name}/variance"] = variance
            if layer.private_affine:
                arrays[f"{key}/{layer.name}/gamma"] = gamma
                arrays[f"{key}/{layer.name}/beta"] = beta
        entries.append({"key": key, **config.to_json(), "channels": channels})
    npz_path = os.path.join(out_dir, NPZ_NAME)
    with open(npz_path, "wb") as f:
        np.savez(f, **arrays)
    with open(npz_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    index = {"schema_version": SCHEMA_VERSION, "file": NPZ_NAME, "sha256": digest,
             "model_name": model_name or model.name, "layers": layers, "configs": entries}
    with open(os.path.join(out_dir, INDEX_NAME), "w") as f:
        json.dump(index, f, indent=1)
    return index


class BNBundle:
    """A bundle read back from a directory (checks the npz against the index's sha256)."""

    def __init__(self, directory):
        with open(os.path.join(directory, INDEX_NAME)) as f:
            self.index = json.load(f)
        if self.index.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{INDEX_NAME}: unsupported schema_version {self.index.get('schema_version')!r}.")
        path = os.path.join(directory, self.index["file"])
        with open(path, "rb") as f:
            content = f.read()
        if hashlib.sha256(content).hexdigest() != self.index["sha256"]:
            raise ValueError(f"{path} does not match the sha256 in {INDEX_NAME}.")
        with np.load(path) as npz:
            self.arrays = {k: npz[k] for k in npz.files}
        self.layers = {entry["name"]: entry for entry in self.index["layers"]}

    @property
    def configs(self):
        return self.index["configs"]

    def find(self, width, stage_ratios=None):
        """The config entry of `width` (a number or WidthConfig, with optional `{stage: ratio}`),
        matched as WidthConfigs are equal; KeyError listing those held."""
        wanted = WidthConfig.parse(width) if stage_ratios is None else WidthConfig(width, stage_ratios)
        for entry in self.configs:
            if WidthConfig.from_json(entry) == wanted:
                return entry
        held = ", ".join(WidthConfig.from_json(c).describe() for c in self.configs)
        raise KeyError(f"The BN bundle has no width {wanted.describe()}; it holds: {held}.")

    def parameters(self, entry, layer_name):
        """(gamma, beta, mean, variance, epsilon) of a BN layer at a config entry."""
        layer = self.layers[layer_name]
        c = entry["channels"][layer_name]
        prefix = f"{entry['key']}/{layer_name}"
        if layer["private_affine"]:
            gamma, beta = self.arrays[f"{prefix}/gamma"], self.arrays[f"{prefix}/beta"]
        else:
            gamma, beta = self.arrays[f"{layer_name}/gamma"][:c], self.arrays[f"{layer_name}/beta"][:c]
        return gamma, beta, self.arrays[f"{prefix}/mean"], self.arrays[f"{prefix}/variance"], layer["epsilon"]


def fold_bn(kernel, bias, gamma, beta, mean, variance, epsilon, depthwise=False):
    """A convolution followed by inference-mode BN as one convolution: (kernel, bias).

    `kernel` is already sliced to the width ([..., in, out], or depthwise
    [h, w, channels, 1]); `bias` may be None.
    """
    scale = gamma / np.sqrt(variance + epsilon)
    if depthwise:
        folded = kernel * scale[np.newaxis, np.newaxis, :, np.newaxis]
    else:
        folded = kernel * scale
    shift = beta - mean * scale
    if bias is not None:
        shift = shift + bias * scale
    return folded.astype(np.float32), shift.astype(np.float32)
