"""The greedy search: from full width, shrink the stage whose shrink loses least validation
top-1, until the target is met. The decisions are pure functions; `greedy_path` runs them."""

from slimkeras.width import WidthConfig
from tflite_export.errors import SearchError
from tflite_export.search.configs import EPS, round_ratio, with_stage_ratio
from tflite_export.search.targets import target_met


def shrink_ratio(ratio, step, min_ratio):
    """The ratio one step narrower (clamped to `min_ratio`), or None if it is already at the minimum."""
    if ratio <= min_ratio + EPS:
        return None
    return round_ratio(max(min_ratio, ratio - step))


def candidate_moves(config, num_stages, step, min_ratio):
    """[(stage (1-based), WidthConfig)]: each stage of `config` shrunk by one step; stages at the
    minimum skipped."""
    moves = []
    for stage, ratio in enumerate(config.ratios(num_stages), 1):
        new = shrink_ratio(ratio, step, min_ratio)
        if new is not None:
            moves.append((stage, with_stage_ratio(config, stage, new)))
    return moves


def distinct_moves(config, num_stages, step, min_ratio, signature):
    """Like `candidate_moves`, but each stage is shrunk step by step until `signature(config)`
    (the channel counts) changes; a stage that cannot change any more before `min_ratio` is dropped.
    A shrink that leaves every channel count equal is the same network: never a real move."""
    current = signature(config)
    moves = []
    for stage in range(1, num_stages + 1):
        trial = config
        while True:
            ratio = trial.ratios(num_stages)[stage - 1]
            new = shrink_ratio(ratio, step, min_ratio)
            if new is None or new >= ratio:
                break
            trial = with_stage_ratio(trial, stage, new)
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
        metric: `WidthConfig -> measured value` (latency in ms or MACs).
        progress: `SearchProgress`.

    Returns:
        `(path, found)`: a list of steps (dicts: step, move, ratios, macs, latency_ms, val_top1, and
        from step 1 on the evaluated candidates), the last of which meets the target, and its
        `WidthConfig`.
    """
    current = WidthConfig(width)
    path = [{"step": 0, "move": None, "ratios": current.ratios(num_stages), "macs": ev.macs(current),
             "latency_ms": ev.latency(current), "val_top1": ev.val_top1([current])[0]}]
    progress.start(current.key, metric(current), path[0]["val_top1"])
    while not target_met(metric(current), target):
        moves = distinct_moves(current, num_stages, step, min_ratio, ev.signature)
        if not moves:  # cannot happen after check_reachable, unless latencies were re-measured
            raise SearchError(f"no stage can be shrunk further at {current.key}, and the target is not met.")
        progress.step(len(path), current.key, metric(current), len(moves))
        accs = ev.val_top1([c for _, c in moves], on_evaluated=progress.evaluated)
        evaluated = [{"stage": s, "ratios": c.ratios(num_stages), "macs": ev.macs(c), "val_top1": a, "config": c}
                     for (s, c), a in zip(moves, accs)]
        best = choose_move(evaluated)
        previous, current = current, best["config"]
        s = best["stage"]
        path.append({"step": len(path), "move": f"stage {s}: {previous.ratios(num_stages)[s - 1]:g} -> "
                                                f"{current.ratios(num_stages)[s - 1]:g}",
                     "ratios": current.ratios(num_stages), "macs": best["macs"], "latency_ms": ev.latency(current),
                     "val_top1": best["val_top1"], "candidates": [_jsonable(c) for c in evaluated]})
        progress.kept(metric(current), best["val_top1"])
    return path, current


def _jsonable(candidate):
    return {k: v for k, v in candidate.items() if k != "config"}
