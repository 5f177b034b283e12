"""Argument validation shared by the whole package.

Used by: greenaudio.vocoders, greenaudio.pareto, greenaudio.metrics, greenaudio.data, greenaudio.published,
greenaudio.errata (and meant for every other module that checks a user's argument).

Every function takes the parameter's *name* first and the *value* second, returns the value normalised to a plain
Python type (``int``, ``float``, ``str``, ``bool``), and raises :class:`ValueError` whose message names the parameter,
the valid range or choices, and the value it got. The rules are the same everywhere:

* numpy scalars are accepted (``np.int64(10)`` is an integer, ``np.float32(0.5)`` a number);
* booleans (``True``, ``np.bool_(True)``) are *not* numbers, and numbers are not booleans;
* strings are never numbers (``"80"`` is rejected, not parsed);
* integer checks reject floats, even integral ones (``10.0``), so a silently truncated value cannot slip through.

Example:
    >>> check_positive_int("steps", np.int64(6))
    6
    >>> check_finite_number("pue", 1.1, min_value=1.0)
    1.1
    >>> check_choice("grid", "FRANCE", ["france", "usa"])
    'france'
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "check_int",
    "check_positive_int",
    "check_non_negative_int",
    "check_finite_number",
    "check_positive_number",
    "check_non_negative_number",
    "check_choice",
    "check_bool",
    "is_bool",
]


def is_bool(value: Any) -> bool:
    """True for Python and numpy booleans (which ``numbers.Integral`` would otherwise accept as 0 or 1)."""
    return isinstance(value, (bool, np.bool_))


def _range_text(
    min_value: float | None, max_value: float | None, min_inclusive: bool, max_inclusive: bool
) -> str:
    parts = []
    if min_value is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {min_value:g}")
    if max_value is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {max_value:g}")
    return " and ".join(parts)


def check_int(
    name: str,
    value: Any,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int:
    """Validate an integer, optionally within ``[min_value, max_value]`` (both inclusive).

    Args:
        name: the parameter's name, used in the error message.
        value: a Python or numpy integer (not a bool, not a float, not a string).
        min_value: smallest valid value, ``None`` for no bound.
        max_value: largest valid value, ``None`` for no bound.

    Returns:
        ``value`` as a Python ``int``.

    Raises:
        ValueError: naming ``name``, the valid range and the bad value.
    """
    bounds = _range_text(min_value, max_value, True, True)
    what = f"an integer {bounds}".rstrip() if bounds else "an integer"
    if is_bool(value) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    result = int(value)
    if (min_value is not None and result < min_value) or (max_value is not None and result > max_value):
        raise ValueError(f"{name} must be {what}, got {result}")
    return result


def check_positive_int(name: str, value: Any) -> int:
    """Validate an integer >= 1 (a count of steps, repeats, GPUs, bands...); returns a Python ``int``.

    Raises:
        ValueError: naming ``name`` and the valid range (``>= 1``).
    """
    return check_int(name, value, min_value=1)


def check_non_negative_int(name: str, value: Any) -> int:
    """Validate an integer >= 0 (an index, a warm-up count...); returns a Python ``int``.

    Raises:
        ValueError: naming ``name`` and the valid range (``>= 0``).
    """
    return check_int(name, value, min_value=0)


def check_finite_number(
    name: str,
    value: Any,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Validate a finite real number, optionally bounded.

    Args:
        name: the parameter's name, used in the error message.
        value: a Python or numpy real number (int or float; not a bool, not a string, not NaN or inf).
        min_value: lower bound, ``None`` for none.
        max_value: upper bound, ``None`` for none.
        min_inclusive: whether ``min_value`` itself is valid (``>=``) or not (``>``).
        max_inclusive: whether ``max_value`` itself is valid (``<=``) or not (``<``).

    Returns:
        ``value`` as a Python ``float``.

    Raises:
        ValueError: naming ``name``, the valid range and the bad value.
    """
    bounds = _range_text(min_value, max_value, min_inclusive, max_inclusive)
    what = f"a finite number {bounds}".rstrip() if bounds else "a finite number"
    if is_bool(value) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be {what}, got {result!r}")
    if min_value is not None and (result < min_value or (not min_inclusive and result == min_value)):
        raise ValueError(f"{name} must be {what}, got {result!r}")
    if max_value is not None and (result > max_value or (not max_inclusive and result == max_value)):
        raise ValueError(f"{name} must be {what}, got {result!r}")
    return result


def check_positive_number(name: str, value: Any) -> float:
    """Validate a finite number > 0 (a duration, an energy, a power...); returns a Python ``float``."""
    return check_finite_number(name, value, min_value=0.0, min_inclusive=False)


def check_non_negative_number(name: str, value: Any) -> float:
    """Validate a finite number >= 0 (a noise scale, an idle power...); returns a Python ``float``."""
    return check_finite_number(name, value, min_value=0.0)


def check_choice(name: str, value: Any, choices: Iterable[Any], *, case_sensitive: bool = False) -> Any:
    """Validate that ``value`` is one of ``choices``.

    String choices compare case-insensitively by default (``"HiFiGAN"`` matches ``"hifigan"``), and surrounding
    white space is ignored; the *canonical* spelling from ``choices`` is returned. Non-string choices (numbers)
    compare by equality, bools never match numbers.

    Args:
        name: the parameter's name, used in the error message.
        value: the value to check.
        choices: the valid values.
        case_sensitive: compare strings exactly.

    Returns:
        the element of ``choices`` that matches ``value``.

    Raises:
        ValueError: naming ``name``, every valid choice and the bad value.
    """
    options: Sequence[Any] = list(choices)
    for option in options:
        if isinstance(option, str):
            if not isinstance(value, str):
                continue
            a, b = value.strip(), option
            if (a == b) if case_sensitive else (a.casefold() == b.casefold()):
                return option
        elif is_bool(option) != is_bool(value):
            continue
        elif isinstance(value, str):
            continue
        else:
            try:
                if value == option:
                    return option
            except Exception:  # noqa: BLE001 - an uncomparable value is simply not a match
                continue
    listed = ", ".join(repr(o) for o in options)
    note = "" if case_sensitive or not any(isinstance(o, str) for o in options) else " (case-insensitive)"
    raise ValueError(f"{name} must be one of {listed}{note}, got {value!r}")


def check_bool(name: str, value: Any) -> bool:
    """Validate a flag: ``True`` or ``False`` (Python or numpy), never ``0``/``1`` or a string.

    Raises:
        ValueError: naming ``name`` and the bad value.
    """
    if not is_bool(value):
        raise ValueError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    return bool(value)
