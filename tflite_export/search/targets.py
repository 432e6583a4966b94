"""The target of a search (`--target_ms` or `--target_macs`) and when it is met (pure)."""

import math

from tflite_export.errors import SearchError


def parse_target(text, flag):
    """`(value, relative)` from "0.025", "50e6" or "65%" (relative: a fraction of full width).

    Args:
        text: the flag's value.
        flag: "target_ms" or "target_macs" (named in the error message).

    Raises:
        SearchError: for anything that is not a positive finite number.
    """
    unit = "milliseconds" if flag == "target_ms" else "MACs"
    hint = (f"give a positive number of {unit} (e.g. --{flag}={'0.025' if flag == 'target_ms' else '2e6'}) "
            f"or a percentage of the full-width value (e.g. --{flag}=65%)")
    raw = str(text).strip()
    relative = raw.endswith("%")
    number = raw[:-1].strip() if relative else raw
    try:
        value = float(number)
    except ValueError:
        raise SearchError(f"--{flag}={text}: not a number; {hint}.") from None
    if not math.isfinite(value) or value <= 0:
        raise SearchError(f"--{flag}={text}: the target must be positive and finite; {hint}.")
    return (value / 100.0, True) if relative else (value, False)


def check_targets(target_ms, target_macs):
    """`(kind, value, relative)` with kind "latency" or "macs"; exactly one target must be given.

    Args:
        target_ms, target_macs: the flags' texts, None where not given.
    """
    given = [(k, t) for k, t in (("target_ms", target_ms), ("target_macs", target_macs)) if t is not None]
    if len(given) != 1:
        what = "both" if given else "neither"
        raise SearchError(f"give exactly one of --target_ms (LiteRT latency) or --target_macs; got {what}.")
    flag, text = given[0]
    value, relative = parse_target(text, flag)
    return ("latency" if flag == "target_ms" else "macs"), value, relative


def target_met(value, target):
    """A configuration meets the target when its measured value is at most the target."""
    return value is not None and value <= target + 1e-12


def check_reachable(kind, target, narrowest_value, describe_narrowest, detail="", hint=""):
    """Raises SearchError when even the narrowest allowed configuration misses the target.

    Args:
        kind: "latency" (values in ms) or "macs".
        target: the absolute target.
        narrowest_value: the narrowest allowed configuration's measured value.
        describe_narrowest: that configuration in words.
        detail: appended to the measured value (e.g. how latency was measured).
        hint: appended to "Raise the target" (e.g. how else to reach it).
    """
    if target_met(narrowest_value, target):
        return
    if kind == "latency":
        got = f"takes {narrowest_value:.4g} ms{detail}"
        flag = f"--target_ms={target:.4g}"
    else:
        got = f"has {narrowest_value:,} MACs"
        flag = f"--target_macs={target:.6g}"
    raise SearchError(f"{flag} is unreachable: the narrowest allowed configuration ({describe_narrowest}) {got}. "
                      f"Raise the target{hint}.")
