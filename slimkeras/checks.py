"""Argument checks every part of the library shares; each names the argument and what it allows."""


def check_int(value, name, minimum=1):
    """`value` if it is an int (not a bool) >= `minimum`, else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return value
