"""Exported per-width TFLite models vs keras.applications, latency against MACs, file sizes.

Ours: `slimkeras.materialize(S-MobileNet, w)`; theirs: `keras.applications.
MobileNet(alpha=w)` / `MobileNetV2(alpha=w)` (weights=None, 224x224x3, with
their top). Both go through `tflite_export.convert.convert` (fp32, and int8 with
the same random representative images), and run in LiteRT's interpreter at batch
1 with 1 and 2 threads, three interpreters of each file: every round invokes each
interpreter once (interleaved), and the round's ratio is our summed time over
theirs; ratio = median over rounds (301 rounds with 1 thread, 1001 with 2). The
ratio of 10th-percentile invoke times is shown beside it as a second estimator. Pooling instances matters: two interpreters
of the same file differ by up to a few percent, consistently, by where their
buffers landed; the A/A ratio (our second interpreter / our first) shows it. Random weights: latency does not
depend on them (int8 ranges come from the same representative images).
"""

import numpy as np

from benchmarks.common import Section, interleaved

TARGET = 1.02
SIZE = 224
ARCHS = {
    # arch: (keras.applications builder name, widths where the kernel shapes agree)
    "mobilenet_v1": ("MobileNet", [0.25, 0.5, 0.75, 1.0]),
    "mobilenet_v2": ("MobileNetV2", [0.35, 0.5, 0.75, 1.0]),
}


def config(quick):
    if quick:
        return dict(archs={"mobilenet_v1": [0.25, 1.0]}, precisions=["fp32", "int8"], threads=[1],
                    repeats={1: 30}, instances=3, representative=4, scaling_repeats=30)
    # Two interpreter threads on a shared 2-core machine wait for a core whenever another job
    # runs: their per-round ratios spread ~10x wider than with one thread, hence more rounds
    # (an invoke takes 0.2-5 ms, so 1001 rounds cost seconds).
    return dict(archs={a: w for a, (_, w) in ARCHS.items()}, precisions=["fp32", "int8"], threads=[1, 2],
                repeats={1: 301, 2: 1001}, instances=3, representative=8, scaling_repeats=101)


def kernel_shapes(model):
    import keras

    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return {l.name: tuple(l.kernel.shape) for l in model.layers if isinstance(l, kinds)}


def shape_differences(ours, theirs):
    """A sentence comparing the kernel shapes of same-named layers of `ours` and `theirs`."""
    a, b = kernel_shapes(ours), kernel_shapes(theirs)
    differ = [name for name in a if name in b and a[name] != b[name]]
    only_ours = [name for name in a if name not in b]
    only_theirs = [name for name in b if name not in a]
    text = (f"kernel shapes equal in all {len(a) - len(only_ours)} shared layers" if not differ else
            f"kernel shapes differ in {len(differ)} of {len(a) - len(only_ours)} shared layers "
            f"({', '.join(differ[:4])}{', ...' if len(differ) > 4 else ''})")
    if only_ours or only_theirs:
        text += (f"; only ours: {', '.join(f'{n} {a[n]}' for n in only_ours) or '-'}; only keras: "
                 f"{', '.join(f'{n} {b[n]}' for n in only_theirs) or '-'}")
    return text


class Loaded:
    """A .tflite model in LiteRT with a fixed random input: `invoke()` runs batch 1."""

    def __init__(self, content, threads, seed=0):
        from tflite_export.runtime import TFLiteModel, quantize

        self.model = TFLiteModel(content, threads)
        details = self.model.input_details
        sample = np.random.default_rng(seed).standard_normal(
            [1] + [int(d) for d in details["shape"][1:]]).astype(np.float32)
        self.model.interpreter.set_tensor(details["index"], quantize(sample, details))
        self.model.interpreter.invoke()

    def invoke(self):
        self.model.interpreter.invoke()


def export_pair(arch, width, precisions, representative, net):
    """{precision: (our bytes, their bytes)} and the layers whose kernel shapes differ."""
    import keras

    import slimkeras
    from tflite_export.convert import convert

    ours = slimkeras.materialize(net, width)
    theirs = getattr(keras.applications, ARCHS[arch][0])(alpha=width, weights=None, input_shape=(SIZE, SIZE, 3))
    differ = shape_differences(ours, theirs)
    files = {p: (convert(ours, p, representative), convert(theirs, p, representative)) for p in precisions}
    return files, differ + "; " + op_differences(*files[precisions[0]])


def op_differences(ours, theirs):
    """A sentence naming the TFLite ops one file has and the other lacks."""
    import collections

    from tflite_export.convert import op_names

    a, b = collections.Counter(op_names(ours)), collections.Counter(op_names(theirs))
    if a == b:
        return f"the same {sum(a.values())} TFLite ops"
    def text(counts):
        return ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "-"

    return f"TFLite ops only in ours: {text(a - b)}; only in keras': {text(b - a)}"


def compare_files(ours, theirs, threads, instances, repeats):
    """Interleaved invokes of `instances` interpreters of each file (one invoke each per round).

    Two interpreters of the same file can differ by a few percent for good (where their
    buffers landed in memory), so the ratio pools the instances: per round, the summed
    time of our instances over the summed time of theirs; median over rounds. Returns
    `(Timings, ratio, IQR, CPU-time ratio, A/A ratio)`, the A/A ratio being our second
    instance over our first: what one pair of interpreters alone could be off by.
    """
    fns = {}
    for i in range(instances):
        fns[f"ours {i}"] = Loaded(ours, threads).invoke
        fns[f"keras {i}"] = Loaded(theirs, threads).invoke
    t = interleaved(fns, repeats=repeats, warmup=5)
    a = [f"ours {i}" for i in range(instances)]
    b = [f"keras {i}" for i in range(instances)]
    aa = t.ratio("ours 1", "ours 0") if instances > 1 else float("nan")
    return t, t.pooled_ratio(a, b), t.pooled_spread(a, b), t.cpu.pooled_ratio(a, b), aa, low_quantile_ratio(t, a, b)


def low_quantile_ratio(timings, a_names, b_names, q=10):
    """Sum over instances of their 10th-percentile invoke time, ours over theirs: a second
    estimator beside the median of per-round ratios. Other jobs only ever add time, so
    the fast end of each distribution is the least disturbed (Chen & Revels, "Robust
    benchmarking in noisy environments", 2016)."""
    def low(names):
        return sum(np.percentile(timings.column(n), q) for n in names)

    return float(low(a_names) / low(b_names))


def run(quick=False):
    import slimkeras

    cfg = config(quick)
    section = Section("tflite", "TFLite: exported per-width models vs keras.applications; latency vs MACs; sizes")
    section.note("224x224x3, batch 1, LiteRT interpreter (ai-edge-litert), XNNPACK default delegate; ours = "
                 "materialize(S-MobileNet, w), theirs = keras.applications MobileNet / MobileNetV2 (alpha=w, "
                 "include_top=True: a 1x1-conv classifier + softmax for v1, Dense + softmax for v2), both "
                 "converted with tflite_export.convert.convert; int8 = full-integer PTQ, same "
                 f"{cfg['representative']} random representative images.")
    rep = np.random.default_rng(1).standard_normal((cfg["representative"], SIZE, SIZE, 3)).astype("float32")
    latency = section.table("latency (ms, median of interleaved rounds)",
                            ["model", "width", "precision", "threads", "rounds", "ours ms", "keras ms", "ratio",
                             "p10 ratio", "CPU ratio", "A/A (ours/ours)"])
    sizes = section.table("exported file size vs parameters",
                          ["model", "width", "params", "MACs", "fp32 bytes", "fp32 bytes/param", "int8 bytes",
                           "int8 bytes/param", "keras fp32 bytes", "keras int8 bytes"])
    ours_files = {}
    for arch, widths in cfg["archs"].items():
        net = slimkeras.models.build(arch, width_mult_list=sorted(set(widths) | {1.0}), input_shape=(SIZE, SIZE, 3),
                                     num_classes=1000)
        for width in widths:
            files, differ = export_pair(arch, width, cfg["precisions"], rep, net)
            stats = slimkeras.profile(net, width)
            fp32 = len(files["fp32"][0]) if "fp32" in files else None
            int8 = len(files["int8"][0]) if "int8" in files else None
            sizes.add(arch, width, int(stats["params"]), int(stats["macs"]), fp32,
                      fp32 / stats["params"] if fp32 else None, int8, int8 / stats["params"] if int8 else None,
                      len(files["fp32"][1]) if "fp32" in files else None,
                      len(files["int8"][1]) if "int8" in files else None)
            shape_note = differ
            for precision, (ours, theirs) in files.items():
                ours_files[(arch, width, precision)] = ours
                for threads in cfg["threads"]:
                    t, ratio, spread, cpu, aa, low = compare_files(ours, theirs, threads, cfg["instances"],
                                                                   cfg["repeats"][threads])
                    section.figure("TFLite latency ours/keras.applications",
                                   f"{arch} w={width:g} {precision} {threads} thread(s)", ratio, TARGET, spread, cpu,
                                   ours_ms=round(t["ours 0"] * 1e3, 3), keras_ms=round(t["keras 0"] * 1e3, 3),
                                   a_a_ratio=round(aa, 4), p10_ratio=round(low, 4),
                                   rounds=cfg["repeats"][threads])
                    latency.add(arch, width, precision, threads, cfg["repeats"][threads], t["ours 0"] * 1e3,
                                t["keras 0"] * 1e3, ratio, low, cpu, aa)
            section.note(f"{arch} w={width:g} (ours vs keras.applications): {shape_note}.")

    # Latency(w)/latency(1.0) against MACs(w)/MACs(1.0), our files, 1 thread, all widths interleaved.
    scaling = section.table("latency(w)/latency(1.0) vs MACs(w)/MACs(1.0), ours, 1 thread",
                            ["model", "precision", "width", "MACs ratio", "latency ratio", "latency/MACs ratio"])
    for arch, widths in cfg["archs"].items():
        net = slimkeras.models.build(arch, width_mult_list=sorted(set(widths) | {1.0}), input_shape=(SIZE, SIZE, 3),
                                     num_classes=1000)
        macs = {w: slimkeras.profile(net, w)["macs"] for w in widths}
        for precision in cfg["precisions"]:
            loaded = {w: Loaded(ours_files[(arch, w, precision)], 1) for w in widths}
            t = interleaved({f"{w:g}": m.invoke for w, m in loaded.items()}, repeats=cfg["scaling_repeats"],
                            warmup=5)
            for w in widths:
                lat = t.ratio(f"{w:g}", "1")
                mac = macs[w] / macs[1.0]
                section.figure("latency(w)/latency(1.0) vs MACs(w)/MACs(1.0)", f"{arch} {precision} w={w:g}",
                               lat, None, t.spread(f"{w:g}", "1"), macs_ratio=round(mac, 4),
                               latency_over_macs=round(lat / mac, 3))
                scaling.add(arch, precision, w, mac, lat, lat / mac)
    return section


if __name__ == "__main__":
    run(quick=True)
