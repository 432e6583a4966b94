"""Profiling helpers used when a figure misses its target: what the graph runs, where
Python time goes, whether a function retraced."""

import collections
import cProfile
import io
import pstats


def executed_graph_ops(fn, *args):
    """Op-type counts of the graph TF actually runs for `fn(*args)` after Grappler.

    `fn` is a fresh `tf.function` (the partition graphs are reported for the
    first run only). Returns `(total nodes, Counter(op type -> count))`.
    """
    from tensorflow.python.eager import context

    ctx = context.context()
    ctx.export_run_metadata()  # drops whatever an earlier collection left behind
    ctx.enable_run_metadata()
    try:
        out = fn(*args)
        _block(out)
        metadata = ctx.export_run_metadata()
    finally:
        ctx.disable_run_metadata()
    counts = collections.Counter()
    if metadata is None:
        return 0, counts
    for graph in metadata.partition_graphs:
        for node in graph.node:
            counts[node.op] += 1
        for function in graph.library.function:
            for node in function.node_def:
                counts[node.op] += 1
    return sum(counts.values()), counts


def _block(out):
    import tensorflow as tf

    for t in tf.nest.flatten(out):
        if hasattr(t, "numpy"):
            t.numpy()


def python_profile(fn, top=12):
    """Runs `fn()` under cProfile; returns the `top` functions by cumulative time as
    `[(seconds, calls, "file:line(function)")]`."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():
        short = "/".join(filename.split("/")[-2:])
        rows.append((round(cumulative, 4), calls, f"{short}:{line}({name})"))
    rows.sort(key=lambda r: -r[0])
    return rows[:top]


def tracing_count(fn):
    """How many times a tf.function traced (None if not a tf.function)."""
    getter = getattr(fn, "experimental_get_tracing_count", None)
    return getter() if getter else None
