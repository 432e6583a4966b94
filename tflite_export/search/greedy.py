"""The greedy search: from full width, shrink the stage whose shrink loses least validation
top-1, until the target is met. The decisions are pure functions; `greedy_path` runs them."""

from tflite_export.search.configs import EPS, describe, round_ratio
from tflite_export.errors import SearchError
from tflite_export.search.targets import target_met


def shrink_ratio(ratio, step, min_ratio):
    """The ratio one step narrower (clamped to `min_ratio`), or None if it is already at the minimum."""
    if ratio <= min_ratio + EPS:
        return None
    return round_ratio(max(min_ratio, ratio - step))


def candidate_moves(ratios, step, min_ratio):
    """[(stage (1-based), new ratios tuple)]: each stage shrunk by one step; stages at the minimum skipped."""
    moves = []
    for i, r in enumerate(ratios):
        new = shrink_ratio(r, step, min_ratio)
        if new is not None:
            moves.append((i + 1, tuple(round_ratio(x) for x in ratios[:i]) + (new,)
                          + tuple(round_ratio(x) for x in ratios[i + 1:])))
    return moves


def distinct_moves(ratios, step, min_ratio, signature):
    """Like `candidate_moves`, but each stage is shrunk step by step until `signature(ratios)`
    (the channel counts) changes; a stage that cannot change any more before `min_ratio` is dropped.
    A shrink that leaves every channel count equal is the same network: never a real move."""
    current = signature(tuple(ratios))
    moves = []
    for stage in range(1, len(ratios) + 1):
        trial = tuple(ratios)
        while True:
            new = shrink_ratio(trial[stage - 1], step, min_ratio)
            if new is None or new >= trial[stage - 1]:
                break
            trial = trial[:stage - 1] + (new,) + trial[stage:]
            if signature(trial) != current:
                moves.append((stage, trial))
                break
    return moves


def choose_move(evaluated):
    """The candidate to keep: highest `val_top1`; ties: fewer `macs`, then the lower `stage`.

    Args:
        evaluated: non-empty list of dicts with keys stage, val_top1, macs.
    """
    if not evaluated:
        raise SearchError("no candidate move left to evaluate.")
    return min(evaluated, key=lambda c: (-round(c["val_top1"], 9), c["macs"], c["stage"]))


def greedy_path(ev, width, num_stages, min_ratio, step, target, metric, progress):
    """The search's path from full width to the first configuration that meets `target`.

    Args:
        ev: `Evaluator`.
        width: the global width (kept through the search).
        num_stages: the model's stages.
        min_ratio: the smallest stage ratio.
        step: ratio step of a move.
        target: the absolute target of `metric`.
        metric: `ratios -> measured value` (latency in ms or MACs at `width`).
        progress: `SearchProgress`.

    Returns:
        A list of steps (dicts: step, move, ratios, macs, latency_ms, val_top1, and from step 1 on
        the evaluated candidates); the last one meets the target.
    """
    current = (1.0,) * num_stages
    path = [{"step": 0, "move": None, "ratios": list(current), "macs": ev.macs(width, current),
             "latency_ms": ev.latency(width, current), "val_top1": ev.val_top1([(width, current)])[0]}]
    progress.start(describe(width, current), metric(current), path[0]["val_top1"])
    while not target_met(metric(current), target):
        moves = distinct_moves(current, step, min_ratio, lambda r: ev.signature(width, r))
        if not moves:  # cannot happen after check_reachable, unless latencies were re-measured
            raise SearchError(f"no stage can be shrunk further at {describe(width, current)}, and the target "
                              "is not met.")
        progress.step(len(path), describe(width, current), metric(current), len(moves))
        accs = ev.val_top1([(width, r) for _, r in moves], on_evaluated=progress.evaluated)
        evaluated = [{"stage": s, "ratios": list(r), "macs": ev.macs(width, r), "val_top1": a}
                     for (s, r), a in zip(moves, accs)]
        best = choose_move(evaluated)
        previous, current = current, tuple(best["ratios"])
        s = best["stage"]
        path.append({"step": len(path), "move": f"stage {s}: {previous[s - 1]:g} -> {current[s - 1]:g}",
                     "ratios": list(current), "macs": best["macs"], "latency_ms": ev.latency(width, current),
                     "val_top1": best["val_top1"], "candidates": evaluated})
        progress.kept(metric(current), best["val_top1"])
    return path
