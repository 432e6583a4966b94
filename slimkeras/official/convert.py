"""Import the official PyTorch checkpoints (JiahuiYu/slimmable_networks) into slimkeras.

The checkpoint format is the official train.py's: `torch.save({'model': state_dict, ...})`
of a DataParallel wrapper (every key starts with `module.`); a bare state dict is accepted
too. Weights go to the matching slimkeras model, built with PyTorch's symmetric padding so
that its logits equal the PyTorch model's at every published width:

- conv kernels (out, in, kh, kw) -> (kh, kw, in, out); depthwise (c, 1, kh, kw) ->
  (kh, kw, c, 1); classifier (out, in) -> (in, out), bias as is;
- S-Nets: switch i's private BN (`bn.{i}.weight/bias/running_mean/running_var`) -> slot i;
- US-Nets: the shared `weight`/`bias` -> gamma/beta; `bn.{i}.running_mean/var` (one per
  width of the checkpoint's width_mult_list, each of that width's channels) -> a
  calibrated slot for that width, so those widths run with no calibration;
- a BN shared by every width (MobileNet v2's last conv) -> every slot.

Reading the file (torch, imported only then): `slimkeras.official.checkpoint`.
"""

import numpy as np

from slimkeras.official import archs as archs_lib
from slimkeras.official import imagenet
from slimkeras.official.checkpoint import CheckpointError, load_state_dict, strip_module_prefix
from slimkeras.profiling import active_bn_channels

# US-Nets: BN slots left free beside the checkpoint's widths, for widths calibrated later.
FREE_BN_SLOTS = 32


# -- tensor layouts (one pure function each) ---------------------------------------------
def conv_kernel(weight):
    """PyTorch conv weight (out, in, kh, kw) -> Keras kernel (kh, kw, in, out).

    Example:

    >>> conv_kernel(np.zeros((8, 3, 3, 3))).shape
    (3, 3, 3, 8)
    """
    return np.transpose(weight, (2, 3, 1, 0))


def depthwise_kernel(weight):
    """PyTorch depthwise weight (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).

    Example:

    >>> depthwise_kernel(np.zeros((16, 1, 3, 3))).shape
    (3, 3, 16, 1)
    """
    return np.transpose(weight, (2, 3, 0, 1))


def dense_kernel(weight):
    """PyTorch linear weight (out, in) -> Keras Dense kernel (in, out).

    Example:

    >>> dense_kernel(np.zeros((1000, 1024))).shape
    (1024, 1000)
    """
    return np.transpose(weight)


# -- building and filling the model ------------------------------------------------------
def parse_widths(arch, width_mult_list=None):
    """The checkpoint's width list as a tuple of floats (default: the published one).

    Raises:
        CheckpointError: a malformed list, or a US width outside the trained range.
    """
    if width_mult_list is None:
        return tuple(arch.widths)
    given = width_mult_list
    if isinstance(width_mult_list, str):
        width_mult_list = [w for w in width_mult_list.split(",") if w.strip()]
    try:
        widths = tuple(float(w) for w in width_mult_list)
    except (TypeError, ValueError):
        raise CheckpointError(f"width_mult_list {given!r} is not a list of numbers.") from None
    if not widths or any(not np.isfinite(w) or w <= 0 for w in widths) or len(set(widths)) != len(widths):
        raise CheckpointError(
            f"width_mult_list {given!r}: need distinct positive widths, e.g. "
            f"{','.join(f'{w:g}' for w in arch.widths[:4])}."
        )
    if arch.universal:
        lo, hi = arch.width_range
        outside = [w for w in widths if not lo - 1e-6 <= w <= hi + 1e-6]
        if outside:
            raise CheckpointError(
                f"width_mult_list: {outside} outside {arch.name}'s trained range [{lo:g}, {hi:g}]."
            )
    return widths


def build_model(arch, widths, num_classes=1000, image_size=224):
    """The empty slimkeras model of `arch` (symmetric padding, BN epsilon 1e-5) for the
    checkpoint's `widths`: their switches (S-Nets) or the trained range with a BN slot
    for each width plus FREE_BN_SLOTS free ones for `calibrate_bn` (US-Nets)."""
    from slimkeras import models

    kwargs = dict(input_shape=(image_size, image_size, 3), num_classes=num_classes,
                  padding="symmetric", name=arch.name)
    if arch.universal:
        kwargs.update(width_mult_range=arch.width_range, bn="universal",
                      num_bn_slots=len(widths) + FREE_BN_SLOTS)
    else:
        kwargs.update(width_mult_list=sorted(widths), bn="switchable")
    return models.build(arch.builder, **kwargs)


def check_keys(state, arch, widths):
    """Raises CheckpointError naming missing/unexpected keys (and the architecture the
    checkpoint looks like, or the width count its BNs hold)."""
    keys = set(state)
    expected = set(archs_lib.expected_keys(arch, len(widths)))
    present = {k for k in keys if not k.endswith(archs_lib.IGNORED_SUFFIX)}
    missing, unexpected = sorted(expected - present), sorted(present - expected)
    if not missing and not unexpected:
        return
    guesses = [g for g in archs_lib.guess_arch(keys) if g != arch.name]
    if guesses:
        raise CheckpointError(
            f"the checkpoint is not a {arch.name}: its keys are those of {' or '.join(guesses)} "
            f"(pass --arch={guesses[0]})."
        )
    if archs_lib.guess_arch(keys) == [arch.name]:  # right architecture, other width count
        bn = next(r.module for r in arch.layer_map() if r.kind == archs_lib.BN)
        count = archs_lib.bn_width_count(keys, bn)
        raise CheckpointError(
            f"the checkpoint's BNs hold {count} widths, the width list has {len(widths)} "
            f"({_describe(widths)}); pass its width_mult_list (--width_mult_list=...)."
        )
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    raise CheckpointError(
        f"the checkpoint does not match {arch.name}: {'; '.join(parts)}. "
        f"Allowed archs: {', '.join(sorted(archs_lib.ARCHS))}."
    )


def _describe(widths):
    if len(widths) > 6:
        return f"{widths[0]:g}, {widths[1]:g}, ..., {widths[-1]:g}"
    return ", ".join(f"{w:g}" for w in widths)


def _take(state, key, shape, layer):
    value = state[key]
    if tuple(value.shape) != tuple(shape):
        raise CheckpointError(
            f"{key!r} has shape {tuple(value.shape)}; layer '{layer}' needs {tuple(shape)} "
            "(another architecture or width list?)."
        )
    return value.astype(np.float32)


def _assign_conv(layer, state, row):
    weight = state[f"{row.module}.weight"]
    convert = depthwise_kernel if row.kind == archs_lib.DEPTHWISE else conv_kernel
    if weight.ndim != 4:
        raise CheckpointError(f"'{row.module}.weight' has shape {weight.shape}; a conv weight is 4-D.")
    kernel = convert(weight)
    if tuple(kernel.shape) != tuple(layer.kernel.shape):
        raise CheckpointError(
            f"'{row.module}.weight' has shape {tuple(weight.shape)}; layer '{layer.name}' needs a "
            f"kernel of {tuple(layer.kernel.shape)} (another architecture or width list?)."
        )
    layer.kernel.assign(kernel.astype(np.float32))


def _assign_dense(layer, state, row):
    weight = state[f"{row.module}.weight"]
    if weight.ndim != 2 or tuple(dense_kernel(weight).shape) != tuple(layer.kernel.shape):
        raise CheckpointError(
            f"'{row.module}.weight' has shape {tuple(weight.shape)}; layer '{layer.name}' needs "
            f"(out, in) = {tuple(layer.kernel.shape)[::-1]} (another architecture or width list?)."
        )
    layer.kernel.assign(dense_kernel(weight).astype(np.float32))
    layer.bias.assign(_take(state, f"{row.module}.bias", layer.bias.shape, layer.name))


def _assign_bn(layer, state, row, widths, model, universal, channels):
    """Per-width BN: switch/width i of the checkpoint -> its slot (`channels[i]`: {BN layer name:
    active channels} at width i)."""
    full = layer.max_channels
    gamma, beta = np.array(layer.gamma.numpy()), np.array(layer.beta.numpy())
    if universal:
        gamma = _take(state, f"{row.module}.weight", (full,), layer.name)
        beta = _take(state, f"{row.module}.bias", (full,), layer.name)
    for i, w in enumerate(widths):
        c = channels[i][layer.name]
        prefix = f"{row.module}.bn.{i}"
        slot = i if universal else model.width_spec.switch_index(w)
        try:
            if not universal:
                gamma[slot] = 1.0
                beta[slot] = 0.0
                gamma[slot, :c] = _take(state, f"{prefix}.weight", (c,), layer.name)
                beta[slot, :c] = _take(state, f"{prefix}.bias", (c,), layer.name)
            mean = _take(state, f"{prefix}.running_mean", (c,), layer.name)
            variance = _take(state, f"{prefix}.running_var", (c,), layer.name)
        except CheckpointError as e:
            raise CheckpointError(
                f"{e} At width {w:g} (entry {i} of the width list {_describe(widths)}) "
                f"'{layer.name}' has {c} channels: is the width list the checkpoint's?"
            ) from None
        layer.set_statistics(slot, mean, variance)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)


def _assign_plain_bn(layer, state, row, slots, universal):
    """A BN shared by every width -> the same parameters and statistics in every slot."""
    full = layer.max_channels
    gamma, beta, mean, variance = (
        _take(state, f"{row.module}.{p}", (full,), layer.name)
        for p in ("weight", "bias", "running_mean", "running_var")
    )
    if universal:
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    else:
        layer.gamma.assign(np.tile(gamma, (layer.num_slots, 1)))
        layer.beta.assign(np.tile(beta, (layer.num_slots, 1)))
    for slot in slots:
        layer.set_statistics(slot, mean, variance)


def register_calibrated_widths(model, widths):
    """Marks slots 0..len(widths)-1 of a universal-BN model as holding `widths`' statistics
    (what `slimkeras.calibrate_bn` records after writing them)."""
    model.bn_slots.record(range(len(widths)), [model.width_config(w) for w in widths])


def convert_state_dict(state, arch, width_mult_list=None, image_size=224):
    """A slimkeras model holding the official state dict `state` of architecture `arch`.

    Args:
        state: `{key: array}` (torch tensors or numpy; `module.` prefix optional).
        arch: an official architecture name (`slimkeras.official.ARCHS`) or
            an `OfficialArch`.
        width_mult_list: the checkpoint's `width_mult_list` (default: the
            published checkpoint's, see `OfficialArch.widths`).
        image_size: the input size (224 for the published models).

    Returns:
        A `slimkeras.SlimmableModel` with ImageNet `class_names` and the official eval
        `preprocessing` (for 1,000-class checkpoints).

    Raises:
        CheckpointError: another architecture or width list, missing or extra
            keys, wrong shapes.
    """
    arch = arch if isinstance(arch, archs_lib.OfficialArch) else archs_lib.get_arch(arch)
    widths = parse_widths(arch, width_mult_list)
    state = strip_module_prefix({k: np.asarray(v) for k, v in state.items()})
    check_keys(state, arch, widths)
    classifier = state["classifier.0.weight"]
    model = build_model(arch, widths, num_classes=int(classifier.shape[0]), image_size=image_size)
    slots = range(len(widths)) if arch.universal else range(model.num_bn_slots)
    channels = active_bn_channels(model, widths)
    for row in arch.layer_map():
        layer = model.get_layer(row.layer)
        if row.kind in (archs_lib.CONV, archs_lib.DEPTHWISE):
            _assign_conv(layer, state, row)
        elif row.kind == archs_lib.DENSE:
            _assign_dense(layer, state, row)
        elif row.kind == archs_lib.PLAIN_BN:
            _assign_plain_bn(layer, state, row, slots, arch.universal)
        else:
            _assign_bn(layer, state, row, widths, model, arch.universal, channels)
    if arch.universal:
        register_calibrated_widths(model, widths)
    model.preprocessing = imagenet.preprocessing(image_size)
    if model.outputs[0].shape[-1] == imagenet.NUM_CLASSES:
        model.class_names = imagenet.class_names()
    return model


def from_official_checkpoint(path, arch, width_mult_list=None, image_size=224):
    """Imports a published checkpoint of the official slimmable/US-Nets code.

    The model's logits equal the PyTorch model's at every width of the
    checkpoint's width list (S-Nets: the switches; US-Nets: the widths whose
    BN statistics the checkpoint holds, e.g. the 31 widths 0.25, 0.275, ...,
    1.0 of `us_mobilenet_v1_calibrated.pt`). Any other width of a US-Net
    needs `slimkeras.calibrate_bn(model, images, widths=[...])` first, on
    images preprocessed as `model.preprocessing` says.

    Args:
        path: the `.pt` file (`{'model': state_dict}` of a DataParallel
            model as the official train.py saves it, or a bare state dict).
        arch: the official model file's name: "s_mobilenet_v1",
            "s_mobilenet_v2", "s_shufflenet", "s_resnet50" (or "s_resnet"),
            "us_mobilenet_v1", "us_mobilenet_v2".
        width_mult_list: the checkpoint's width list, if not the published
            one (a list or a comma-separated string).
        image_size: input size (224).

    Returns:
        A `slimkeras.SlimmableModel` with `class_names` (ImageNet) and
        `preprocessing` (the official eval transform).

    Raises:
        TorchMissingError: torch is not installed (the message says how).
        CheckpointError: an unreadable file, another architecture or width
            list, missing keys or wrong shapes.

    Example:

    ```python
    model = slimkeras.from_official_checkpoint("us_mobilenet_v1_calibrated.pt",
                                               arch="us_mobilenet_v1")
    model.set_width(0.275)            # a calibrated width of the checkpoint
    logits = model.predict(images)    # images preprocessed per model.preprocessing
    ```
    """
    arch_spec = archs_lib.get_arch(arch) if not isinstance(arch, archs_lib.OfficialArch) else arch
    widths = parse_widths(arch_spec, width_mult_list)  # bad flags fail before torch loads
    state = load_state_dict(path)
    return convert_state_dict(state, arch_spec, widths, image_size=image_size)
