"""The official checkpoints' architectures and their module-to-layer tables.

Each architecture of the official code (JiahuiYu/slimmable_networks, `models/*.py`) is an
`OfficialArch`: the slimkeras builder that makes the same network, the width list of the
published checkpoint, and a table of `LayerMap` rows naming, for every module of the
official model that holds weights, the slimkeras layer that receives them. The tables
follow the official module names, so they are also the list of state-dict keys an import
expects (`expected_keys`). Pure Python: no torch, no TensorFlow.
"""

import dataclasses
import re
from typing import Callable, Optional, Tuple

# Kinds of LayerMap rows.
CONV = "conv"  # nn.Conv2d weight (out, in, kh, kw); no bias in the official models
DEPTHWISE = "depthwise"  # depthwise nn.Conv2d weight (channels, 1, kh, kw)
DENSE = "dense"  # nn.Linear weight (out, in) and bias (out,)
BN = "bn"  # switchable BN (S-Nets) or universal BN (US-Nets): per-width `bn.{i}`
PLAIN_BN = "plain_bn"  # one nn.BatchNorm2d shared by every width (MobileNet v2's last conv)

BN_BUFFERS = ("running_mean", "running_var")
IGNORED_SUFFIX = "num_batches_tracked"  # BN step counters: not needed for inference


@dataclasses.dataclass(frozen=True)
class LayerMap:
    """One official module with weights and the slimkeras layer it maps to.

    Attributes:
        module: the module's path in the official state dict (without the
            `module.` prefix of DataParallel), e.g. `"features.1.body.0"`.
        layer: the slimkeras layer name, e.g. `"conv_dw_1"`.
        kind: CONV, DEPTHWISE, DENSE, BN or PLAIN_BN.
    """

    module: str
    layer: str
    kind: str


def _width_list(lo, hi, step=0.025):
    return tuple(round(lo + step * i, 4) for i in range(int(round((hi - lo) / step)) + 1))


def _mobilenet_v1_map():
    rows = [LayerMap("features.0.0", "conv1", CONV), LayerMap("features.0.1", "conv1_bn", BN)]
    for block in range(1, 14):  # 13 depthwise-separable blocks: features.1 .. features.13
        body = f"features.{block}.body"
        rows += [
            LayerMap(f"{body}.0", f"conv_dw_{block}", DEPTHWISE),
            LayerMap(f"{body}.1", f"conv_dw_{block}_bn", BN),
            LayerMap(f"{body}.3", f"conv_pw_{block}", CONV),
            LayerMap(f"{body}.4", f"conv_pw_{block}_bn", BN),
        ]
    return rows + [LayerMap("classifier.0", "predictions", DENSE)]


# Expand ratios of MobileNet v2's 17 inverted residual blocks, in order.
_MOBILENET_V2_EXPANSIONS = [1] + [6] * 16


def _mobilenet_v2_map():
    rows = [LayerMap("features.0.0", "Conv1", CONV), LayerMap("features.0.1", "bn_Conv1", BN)]
    for index, t in enumerate(_MOBILENET_V2_EXPANSIONS):
        body = f"features.{index + 1}.body"
        prefix = f"block_{index}_" if index else "expanded_conv_"
        names = [] if t == 1 else [("expand", CONV), ("expand_BN", BN)]
        names += [("depthwise", DEPTHWISE), ("depthwise_BN", BN), ("project", CONV), ("project_BN", BN)]
        # Sequential positions: conv, bn, (relu) per unit; the last unit has no ReLU.
        positions = [0, 1, 3, 4, 6, 7][:len(names)]
        rows += [LayerMap(f"{body}.{p}", prefix + n, kind) for p, (n, kind) in zip(positions, names)]
    last = len(_MOBILENET_V2_EXPANSIONS) + 1
    return rows + [
        LayerMap(f"features.{last}.0", "Conv_1", CONV),
        LayerMap(f"features.{last}.1", "Conv_1_bn", PLAIN_BN),
        LayerMap("classifier.0", "predictions", DENSE),
    ]


# (stage number, blocks) of ShuffleNet's stages 2-4 and ResNet-50's conv2-conv5.
_SHUFFLENET_STAGES = [(2, 4), (3, 8), (4, 4)]
_RESNET50_STAGES = [(2, 3), (3, 4), (4, 6), (5, 3)]


def _shufflenet_map():
    rows = []
    for i in range(3):
        rows += [LayerMap(f"head_{i}.0", f"head_{i}_conv", CONV),
                 LayerMap(f"head_{i}.1", f"head_{i}_bn", BN)]
    feature = 0
    for stage, blocks in _SHUFFLENET_STAGES:
        for block in range(1, blocks + 1):
            module, prefix = f"features.{feature}", f"stage{stage}_block{block}_"
            for i in range(3):
                rows += [LayerMap(f"{module}.a_{i}.0", f"{prefix}a_{i}_conv", CONV),
                         LayerMap(f"{module}.a_{i}.1", f"{prefix}a_{i}_bn", BN)]
            # b.0 is the channel shuffle (no weights)
            rows += [LayerMap(f"{module}.b.1", f"{prefix}b_depthwise", DEPTHWISE),
                     LayerMap(f"{module}.b.2", f"{prefix}b_bn", BN)]
            for i in range(3):
                rows += [LayerMap(f"{module}.c_{i}.0", f"{prefix}c_{i}_conv", CONV),
                         LayerMap(f"{module}.c_{i}.1", f"{prefix}c_{i}_bn", BN)]
            feature += 1
    return rows + [LayerMap("classifier.0", "predictions", DENSE)]


def _resnet50_map():
    rows = [LayerMap("features.0.0", "conv1_conv", CONV), LayerMap("features.0.1", "conv1_bn", BN)]
    feature = 1
    for stage, blocks in _RESNET50_STAGES:
        for block in range(1, blocks + 1):
            module, prefix = f"features.{feature}", f"conv{stage}_block{block}_"
            for unit, (conv, bn) in enumerate([(0, 1), (3, 4), (6, 7)], start=1):
                rows += [LayerMap(f"{module}.body.{conv}", f"{prefix}{unit}_conv", CONV),
                         LayerMap(f"{module}.body.{bn}", f"{prefix}{unit}_bn", BN)]
            if block == 1:  # projection shortcut of each stage's first block
                rows += [LayerMap(f"{module}.shortcut.0", f"{prefix}0_conv", CONV),
                         LayerMap(f"{module}.shortcut.1", f"{prefix}0_bn", BN)]
            feature += 1
    return rows + [LayerMap("classifier.0", "predictions", DENSE)]


@dataclasses.dataclass(frozen=True)
class OfficialArch:
    """An architecture of the official code and how slimkeras builds it.

    Attributes:
        name: the official model file's name (`models/{name}.py`), e.g.
            `"us_mobilenet_v1"`.
        builder: the `slimkeras.models` builder, e.g. `"mobilenet_v1"`.
        universal: True for US-Nets (universal BN, a width range).
        widths: the published checkpoint's `width_mult_list` (S-Nets: its
            switches; US-Nets: the widths its BN statistics were calibrated at).
        width_range: the US-Net's trained range `(lo, hi)`; None for S-Nets.
        layer_map: returns the module-to-layer table.
        checkpoint: the published file's name in the official model zoo.
    """

    name: str
    builder: str
    universal: bool
    widths: Tuple[float, ...]
    width_range: Optional[Tuple[float, float]]
    layer_map: Callable[[], list]
    checkpoint: str


ARCHS = {
    a.name: a
    for a in [
        OfficialArch("s_mobilenet_v1", "mobilenet_v1", False, (0.25, 0.5, 0.75, 1.0), None,
                     _mobilenet_v1_map, "s_mobilenet_v1_0.25_0.5_0.75_1.0.pt"),
        OfficialArch("s_mobilenet_v2", "mobilenet_v2", False, (0.35, 0.5, 0.75, 1.0), None,
                     _mobilenet_v2_map, "s_mobilenet_v2_0.35_0.5_0.75_1.0.pt"),
        OfficialArch("s_shufflenet", "shufflenet", False, (0.5, 1.0, 2.0), None,
                     _shufflenet_map, "s_shufflenet_0.5_1.0_2.0.pt"),
        OfficialArch("s_resnet50", "resnet50", False, (0.25, 0.5, 0.75, 1.0), None,
                     _resnet50_map, "s_resnet50_0.25_0.5_0.75_1.0.pt"),
        OfficialArch("us_mobilenet_v1", "mobilenet_v1", True, _width_list(0.25, 1.0), (0.25, 1.0),
                     _mobilenet_v1_map, "us_mobilenet_v1_calibrated.pt"),
        OfficialArch("us_mobilenet_v2", "mobilenet_v2", True, _width_list(0.35, 1.0), (0.35, 1.0),
                     _mobilenet_v2_map, "us_mobilenet_v2_calibrated.pt"),
    ]
}
# The official file is models/s_resnet.py (depth 50 in its config).
ALIASES = {"s_resnet": "s_resnet50"}


def get_arch(name):
    """The `OfficialArch` called `name` (an official model file name).

    Raises:
        ValueError: an unknown name, listing the allowed ones.

    Example:

    >>> get_arch("us_mobilenet_v1").builder
    'mobilenet_v1'
    """
    key = ALIASES.get(name, name)
    if key not in ARCHS:
        raise ValueError(f"Unknown arch {name!r}; allowed: {', '.join(sorted(ARCHS))}.")
    return ARCHS[key]


def expected_keys(arch, num_widths):
    """The state-dict keys (no `module.` prefix, no `num_batches_tracked`) of `arch` with
    `num_widths` per-width BNs."""
    keys = []
    for row in arch.layer_map():
        m = row.module
        if row.kind in (CONV, DEPTHWISE):
            keys.append(f"{m}.weight")
        elif row.kind == DENSE:
            keys += [f"{m}.weight", f"{m}.bias"]
        elif row.kind == PLAIN_BN:
            keys += [f"{m}.weight", f"{m}.bias"] + [f"{m}.{b}" for b in BN_BUFFERS]
        elif arch.universal:  # shared affine, statistics per width
            keys += [f"{m}.weight", f"{m}.bias"]
            keys += [f"{m}.bn.{i}.{b}" for i in range(num_widths) for b in BN_BUFFERS]
        else:  # switchable: a private BatchNorm2d per switch
            keys += [f"{m}.bn.{i}.{p}" for i in range(num_widths)
                     for p in ("weight", "bias") + BN_BUFFERS]
    return keys


_BN_INDEX = re.compile(r"\.bn\.\d+\.")


def key_signature(keys):
    """The keys with every per-width BN index replaced by `*` (independent of the width
    list's length), `num_batches_tracked` left out: what identifies an architecture."""
    return frozenset(_BN_INDEX.sub(".bn.*.", k) for k in keys if not k.endswith(IGNORED_SUFFIX))


def guess_arch(keys):
    """Names of the architectures whose key signature equals that of `keys`."""
    signature = key_signature(keys)
    return [name for name, arch in ARCHS.items() if key_signature(expected_keys(arch, 1)) == signature]


def bn_width_count(keys, module):
    """How many per-width BNs (`{module}.bn.{i}.`) the keys hold for `module`."""
    pattern = re.compile(re.escape(module) + r"\.bn\.(\d+)\.")
    return len({m.group(1) for k in keys for m in [pattern.match(k)] if m})
