"""PyTorch reference models of the official slimmable / US-Nets architectures (our own code).

Written for the import tests from the structure of the official models
(JiahuiYu/slimmable_networks `models/*.py`): the same module names, so their state dicts have
the official keys, and the same maths (symmetric padding, ReLU6 in MobileNets, switchable BN
per switch, universal BN with shared affine and per-width statistics, ShuffleNet's count-pad
average pool, ResNet-50 v1.5). A module-level context holds the width, as the official
`width_mult` attribute does. Helpers give them random weights, BN statistics fitted per width
(plus noise, so every width's activations stay in range), save them in the official
checkpoint format and compute reference logits, also at widths off the list after
re-estimating BN statistics on given images (biased variance over one batch, as
`slimkeras.calibrate_bn` stores).

The tests using these models live in test_official_import.py (fast) and
test_official_import_slow.py.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
# One thread: the test machines' few cores are shared (two threads ran 20x slower there).
torch.set_num_threads(1)


class _Context:
    """The width the reference models run at (the official code sets `width_mult` on every
    module instead)."""

    def __init__(self):
        self.reset(1.0, 0)

    def reset(self, width, index, calibrating=False):
        self.width = width          # current width multiplier
        self.index = index          # entry of the width list (BN statistics), None off the list
        self.calibrating = calibrating
        self.stats = {}             # module -> (mean, var): recorded batch statistics


CTX = _Context()


class Meter:
    """A pickled training object like the official ScalarMeter; counts its restorations."""

    restored = 0

    def __init__(self):
        self.values = [0.5, 0.25]

    def __setstate__(self, state):
        Meter.restored += 1
        self.__dict__.update(state)


def make_divisible(v, divisor=8, min_value=1):
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class Conv(nn.Conv2d):
    """Full-size weight sliced to the input's channels and `cout(width)` outputs."""

    def __init__(self, cout, cin_max, cout_max, k, stride=1, padding=0, depthwise=False):
        super().__init__(cin_max, cout_max, k, stride, padding,
                         groups=cin_max if depthwise else 1, bias=False)
        self.cout, self.depthwise = cout, depthwise

    def forward(self, x):
        cin = x.shape[1]
        if self.depthwise:
            return F.conv2d(x, self.weight[:cin], None, self.stride, self.padding, 1, cin)
        weight = self.weight[:self.cout(CTX.width), :cin].contiguous()
        return F.conv2d(x, weight, None, self.stride, self.padding)


class Linear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight[:, :x.shape[1]], self.bias)


def _batch_stat_norm(module, x, weight, bias, eps=1e-5):
    if CTX.calibrating:
        CTX.stats[module] = (x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False))
    mean, var = CTX.stats[module]
    return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)


class SwitchBN(nn.Module):
    """S-Nets: a private BatchNorm2d per switch (`bn.{i}`)."""

    def __init__(self, channels):
        super().__init__()
        self.bn = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)

    def forward(self, x):
        bn = self.bn[CTX.index]
        if CTX.calibrating:
            return _batch_stat_norm(self, x, bn.weight, bn.bias)
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class UniversalBN(nn.BatchNorm2d):
    """US-Nets: shared weight/bias, statistics per listed width (`bn.{i}`, no affine)."""

    def __init__(self, c_max, channels):
        super().__init__(c_max, affine=True, track_running_stats=False)
        self.bn = nn.ModuleList(nn.BatchNorm2d(c, affine=False) for c in channels)

    def forward(self, x):
        c = x.shape[1]
        if CTX.index is not None and not CTX.calibrating:
            bn = self.bn[CTX.index]
            return F.batch_norm(x, bn.running_mean, bn.running_var, self.weight[:c], self.bias[:c],
                                False, 0.0, self.eps)
        return _batch_stat_norm(self, x, self.weight[:c], self.bias[:c])


class PlainBN(nn.BatchNorm2d):
    """One BN for every width (MobileNet v2's last conv); re-estimated off the list."""

    def forward(self, x):
        if CTX.calibrating or self in CTX.stats:
            return _batch_stat_norm(self, x, self.weight, self.bias)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0.0, self.eps)


class Unit(nn.Module):
    """A block with a `body` (and a residual add where in == out at stride 1)."""

    def __init__(self, body, residual=False):
        super().__init__()
        self.body, self.residual = body, residual

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


class Net(nn.Module):
    def __init__(self, features, classifier, heads=()):
        super().__init__()
        self.num_heads = len(heads)
        for i, head in enumerate(heads):
            setattr(self, f"head_{i}", head)
        self.features, self.classifier = features, classifier

    def forward(self, x):
        if self.num_heads:
            x = torch.cat([getattr(self, f"head_{i}")(x) for i in range(self.num_heads)], 1)
        return self.classifier(self.features(x).flatten(1))


def _norm(universal, widths, cfn, c_max):
    channels = [cfn(w) for w in widths]
    return UniversalBN(c_max, channels) if universal else SwitchBN(channels)


def mobilenet_v1(widths, universal, num_classes=1000):
    """Official (U)S-MobileNet v1: features.0 stem, features.1-13 `.body`, classifier.0."""
    md = make_divisible

    def out(c):
        return lambda w: md(c * w)

    feats = [nn.Sequential(Conv(out(32), 3, 32, 3, 2, 1), _norm(universal, widths, out(32), 32), nn.ReLU6())]
    cin = 32
    for c, n, s in [(64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2)]:
        for i in range(n):
            feats.append(Unit(nn.Sequential(
                Conv(None, cin, cin, 3, s if i == 0 else 1, 1, depthwise=True),
                _norm(universal, widths, out(cin), cin), nn.ReLU6(),
                Conv(out(c), cin, c, 1), _norm(universal, widths, out(c), c), nn.ReLU6(),
            )))
            cin = c
    feats.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*feats), nn.Sequential(Linear(1024, num_classes)))


def mobilenet_v2(widths, universal, num_classes=1000):
    """Official (U)S-MobileNet v2: features.0 stem, features.1-17 blocks, features.18 the
    1280-channel conv with one plain BN, classifier.0."""
    md = make_divisible
    feats = [nn.Sequential(Conv(lambda w: md(32 * w), 3, 32, 3, 2, 1),
                           _norm(universal, widths, lambda w: md(32 * w), 32), nn.ReLU6())]
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = (lambda w, cin=cin, t=t: md(cin * w) * t)
            layers = []
            if t != 1:
                layers += [Conv(hidden, cin, cin * t, 1), _norm(universal, widths, hidden, cin * t), nn.ReLU6()]
            layers += [Conv(None, cin * t, cin * t, 3, stride, 1, depthwise=True),
                       _norm(universal, widths, hidden, cin * t), nn.ReLU6(),
                       Conv(lambda w, c=c: md(c * w), cin * t, c, 1),
                       _norm(universal, widths, lambda w, c=c: md(c * w), c)]
            feats.append(Unit(nn.Sequential(*layers), residual=stride == 1 and cin == c))
            cin = c
    feats.append(nn.Sequential(Conv(lambda w: 1280, cin, 1280, 1), PlainBN(1280), nn.ReLU6()))
    feats.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*feats), nn.Sequential(nn.Linear(1280, num_classes)))


class Shuffle(nn.Module):
    def forward(self, x):
        b, n, h, w = x.shape
        return x.view(b, 3, n // 3, h, w).transpose(1, 2).reshape(b, n, h, w)


class ShuffleBlock(nn.Module):
    """Official S-ShuffleNet block (g=3): a_{i}, b (shuffle, depthwise, BN), c_{i}."""

    def __init__(self, inp, outp, stride, first, widths):
        super().__init__()
        wmax = max(widths)
        self.residual = stride == 1 and inp == outp
        if not self.residual:
            self.concat_branch = nn.AvgPool2d(3, 2, 1)  # count_include_pad=True

            def block_out(w):
                return int(outp * w) - int(inp * w)
        else:
            def block_out(w):
                return int(outp * w)
        self.first = first

        def midp(w):
            return int(outp * w) // 4

        def firstp(w):
            return midp(w) // 3

        def lastp(w):
            return block_out(w) // 3

        def sbn(cfn):
            return SwitchBN([cfn(w) for w in widths])

        in_split = int(inp * wmax) // (1 if first else 3)
        for i in range(3):
            setattr(self, f"a_{i}", nn.Sequential(Conv(firstp, in_split, firstp(wmax), 1), sbn(firstp), nn.ReLU()))
            setattr(self, f"c_{i}", nn.Sequential(Conv(lastp, midp(wmax) // 3, lastp(wmax), 1), sbn(lastp)))
        self.b = nn.Sequential(Shuffle(), Conv(None, midp(wmax), midp(wmax), 3, stride, 1, depthwise=True), sbn(midp))

    def forward(self, x):
        if self.first:
            parts = [x, x, x]
        else:
            parts = torch.split(x, x.shape[1] // 3, dim=1)
        y = self.b(torch.cat([getattr(self, f"a_{i}")(parts[i]) for i in range(3)], 1))
        parts = torch.split(y, y.shape[1] // 3, dim=1)
        y = torch.cat([getattr(self, f"c_{i}")(parts[i]) for i in range(3)], 1)
        if self.residual:
            return F.relu(y + x)
        return torch.cat([F.relu(y), self.concat_branch(x)], 1)


def shufflenet(widths, universal=False, num_classes=1000):
    """Official S-ShuffleNet (g=3): head_{0,1,2}, features.0-15, classifier.0."""
    assert not universal
    wmax = max(widths)

    def head_c(w):
        return int(24 * w) // 3

    heads = [nn.Sequential(Conv(head_c, 3, head_c(wmax), 3, 2, 1), SwitchBN([head_c(w) for w in widths]),
                           nn.ReLU(), nn.MaxPool2d(3, 2)) for _ in range(3)]
    feats, cin = [], 24
    for c, n in [(240, 4), (480, 8), (960, 4)]:
        for i in range(n):
            feats.append(ShuffleBlock(cin, c, 2 if i == 0 else 1, first=not feats, widths=widths))
            cin = c
    feats.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*feats), nn.Sequential(Linear(int(960 * wmax), num_classes)), heads=heads)


class ResBlock(nn.Module):
    def __init__(self, inp, outp, stride, widths):
        super().__init__()

        def sbn(cfn):
            return SwitchBN([cfn(w) for w in widths])

        def midp(w):
            return int(outp * w) // 4

        def outc(w):
            return int(outp * w)

        mid = outp // 4
        self.body = nn.Sequential(
            Conv(midp, inp, mid, 1), sbn(midp), nn.ReLU(),
            Conv(midp, mid, mid, 3, stride, 1), sbn(midp), nn.ReLU(),
            Conv(outc, mid, outp, 1), sbn(outc),
        )
        self.residual = stride == 1 and inp == outp
        if not self.residual:
            self.shortcut = nn.Sequential(Conv(outc, inp, outp, 1, stride), sbn(outc))

    def forward(self, x):
        return F.relu(self.body(x) + (x if self.residual else self.shortcut(x)))


def resnet50(widths, universal=False, num_classes=1000):
    """Official S-ResNet-50 (v1.5): features.0 stem, features.1-16 blocks, classifier.0."""
    assert not universal and max(widths) == 1.0

    def stem(w):
        return int(64 * w)

    feats = [nn.Sequential(Conv(stem, 3, 64, 7, 2, 3), SwitchBN([stem(w) for w in widths]), nn.ReLU(),
                           nn.MaxPool2d(3, 2, 1))]
    cin = 64
    for stage, (mid, n) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for i in range(n):
            feats.append(ResBlock(cin, mid * 4, 2 if i == 0 and stage else 1, widths))
            cin = mid * 4
    feats.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*feats), nn.Sequential(Linear(2048, num_classes)))


REFERENCES = {
    "s_mobilenet_v1": (mobilenet_v1, False), "us_mobilenet_v1": (mobilenet_v1, True),
    "s_mobilenet_v2": (mobilenet_v2, False), "us_mobilenet_v2": (mobilenet_v2, True),
    "s_shufflenet": (shufflenet, False), "s_resnet50": (resnet50, False),
}


# -- weights, statistics, checkpoints, logits ---------------------------------------------
def make_reference(arch, widths, images, seed=0, num_classes=1000):
    """A reference model of `arch` with random weights and per-width BN statistics fitted on
    `images` (NCHW) with noise (mean shifted by 0.1 std, variance scaled by 0.8-1.25), the
    classifier scaled so that the logits' standard deviation is at most ~1."""
    builder, universal = REFERENCES[arch]
    torch.manual_seed(seed)
    model = builder(list(widths), universal, num_classes).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            elif p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=generator) / p.shape[1] ** 0.5)
            elif name.endswith("weight"):  # BN gamma
                p.copy_(0.8 + 0.4 * torch.rand(p.shape, generator=generator))
            else:  # BN beta, classifier bias
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
        for index, width in sorted(enumerate(widths), key=lambda e: e[1]):  # widest last
            CTX.reset(width, index, calibrating=True)
            model(images)
            for module, (mean, var) in CTX.stats.items():
                target = module if isinstance(module, PlainBN) else module.bn[index]
                noise = torch.rand(var.shape, generator=generator)
                target.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(mean.shape, generator=generator))
                target.running_var.copy_(var * (0.8 + 0.45 * noise))
        # Logits of unit scale (deep random nets reach |logits| ~ 30, where float32 rounding
        # alone differs by ~1e-4 between two correct implementations).
        index = max(range(len(widths)), key=lambda i: widths[i])
        CTX.reset(widths[index], index)
        scale = max(1.0, float(model(images).std()))
        model.classifier[0].weight.div_(scale)
        model.classifier[0].bias.div_(scale)
    CTX.reset(1.0, 0)
    return model


def save_official(model, path, **extra):
    """Saves `model` as the official train.py does: {'model': DataParallel state dict, ...}."""
    state = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"model": state, "last_epoch": 1, **extra}, path)


def logits(model, images, width, index):
    """Reference logits at a listed width (`index` into the width list)."""
    CTX.reset(width, index)
    with torch.no_grad():
        return model(images).numpy()


def calibrated_logits(model, images, width, calibration_images):
    """Reference logits at any width, BN statistics re-estimated on `calibration_images`
    (one batch, biased variance)."""
    CTX.reset(width, None, calibrating=True)
    with torch.no_grad():
        model(calibration_images)
        CTX.calibrating = False
        out = model(images).numpy()
    CTX.reset(1.0, 0)
    return out


def random_images(n, size=224, seed=0):
    """(NCHW torch tensor, NHWC numpy array) of the same random normalized images."""
    rng = np.random.default_rng(seed)
    nhwc = rng.normal(0.0, 1.0, (n, size, size, 3)).astype(np.float32)
    return torch.from_numpy(nhwc.transpose(0, 3, 1, 2).copy()), nhwc
