"""The one check of a number argument: its type and range, and an error naming both."""

import numbers


def checked_number(name, value, integer, in_range, expected, why=""):
    """`value` as an int (or float) if it is one (a bool is not) and `in_range` holds; else `ValueError`.

    The message is ``"{name} must be {expected}; received {name}={value!r}."``,
    with the type when the value is not a number, then `why`.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        received = f"{name}={value!r} of type {type(value).__name__}"
    elif not in_range(value):
        received = f"{name}={value!r}"
    else:
        return int(value) if integer else float(value)
    raise ValueError(
        f"{name} must be {expected}; received {received}." + (f" {why}" if why else "")
    )
