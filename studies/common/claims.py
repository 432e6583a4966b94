"""Checks of the papers' claims on accuracy curves (pure functions; accuracies in points)."""

import numpy as np

# Claim thresholds (accuracy points).
SNET_TOLERANCE = 0.5
USNET_TOLERANCE = 0.5
DIP_TOLERANCE = 1.0
COLLAPSE_GAP = 10.0
INT8_TOLERANCE = 1.0


def claim_snet_vs_individual(snet, individual, switches, tol=SNET_TOLERANCE):
    """S-Net >= individual - tol at each switch (means over seeds, points).

    Args:
        snet, individual: {width: accuracy points}.
        switches: the widths compared (where both have a value).
        tol: the allowed shortfall.

    Returns:
        (held, rows): held is False when no width could be compared.
    """
    rows, held = [], True
    for w in switches:
        s, i = snet.get(w), individual.get(w)
        if s is None or i is None:
            continue
        ok = s >= i - tol
        held &= ok
        rows.append({"width": w, "snet": s, "individual": i, "diff": s - i, "ok": ok})
    return held and bool(rows), rows


def claim_usnet_vs_snet(us, snet, switches, tol=USNET_TOLERANCE):
    """US-Net >= S-Net - tol at each switch (points)."""
    return claim_snet_vs_individual(us, snet, switches, tol)


def largest_dip(points):
    """Largest drop (points) of accuracy below the best accuracy of any narrower width.

    `points`: [(width, accuracy points)]; 0 if accuracy never falls as width grows.
    """
    best, dip = -np.inf, 0.0
    for _, a in sorted(points):
        if best > -np.inf:
            dip = max(dip, best - a)
        best = max(best, a)
    return float(dip)


def claim_smooth(points, tol=DIP_TOLERANCE):
    """(no dip larger than `tol`, the largest dip) of [(width, accuracy points)]."""
    dip = largest_dip(points)
    return dip <= tol, dip


def claim_collapse(method, reference, gap=COLLAPSE_GAP, exclude=()):
    """A method collapses when, at some width (not in `exclude`: its trained widths), its accuracy
    is more than `gap` points below the reference (the US-Net). Returns (collapsed, worst gap, width)."""
    worst, at = -np.inf, None
    for w, a in method.items():
        if any(abs(w - e) < 1e-6 for e in exclude) or w not in reference:
            continue
        g = reference[w] - a
        if g > worst:
            worst, at = g, w
    if at is None:
        return False, None, None
    return bool(worst > gap), float(worst), at


def mean_gain(better, base, widths):
    """Mean of better[w] - base[w] over `widths` present in both (points)."""
    d = [better[w] - base[w] for w in widths if w in better and w in base]
    return float(np.mean(d)) if d else None


def interpolate_at(points, macs):
    """Accuracy of a curve [(macs, acc)] at `macs` (linear in log MACs), None outside it."""
    pts = sorted(points)
    xs = np.log([p[0] for p in pts])
    if not pts or np.log(macs) < xs[0] - 1e-9 or np.log(macs) > xs[-1] + 1e-9:
        return None
    return float(np.interp(np.log(macs), xs, [p[1] for p in pts]))


def compare_at_equal_macs(curves, num=25):
    """Mean accuracy of each curve {name: [(macs, acc)]} over MACs values common to all curves."""
    lo = max(min(p[0] for p in c) for c in curves.values())
    hi = min(max(p[0] for p in c) for c in curves.values())
    if lo >= hi:
        return None
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), num))
    return {name: float(np.mean([interpolate_at(c, m) for m in grid])) for name, c in curves.items()}
