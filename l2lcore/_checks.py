"""Argument checks shared by the public functions: bad input is a ValueError naming it."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np

OBJECTIVES = ("naive", "log")


def positive_int(x, name: str) -> int:
    """x as an int >= 1; integral floats such as 1e6 are accepted, 2.5 or True are not."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral, numbers.Real)):
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    if not isinstance(x, numbers.Integral):
        if not (math.isfinite(x) and float(x).is_integer()):
            raise ValueError(f"{name} must be a positive integer, got {x!r}")
    if x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def seed_int(seed) -> int:
    """A seed for numpy's generators: an integer >= 0. As for sizes (``positive_int``), an
    integral float such as 1.0 is accepted; 1.5, True and None (which would draw from the OS)
    are not."""
    integral = isinstance(seed, numbers.Integral) or (
        isinstance(seed, numbers.Real) and math.isfinite(seed) and float(seed).is_integer())
    if isinstance(seed, (bool, np.bool_)) or not integral or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def objective(name) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {OBJECTIVES}")
    return name


def eta(x):
    """A step size: finite and >= 0. Returned unchanged (exact types stay exact)."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"eta must be a real number, got {x!r}")
    if isinstance(x, str):
        try:
            value = mpmath.mpf(x)
        except (TypeError, ValueError):
            raise ValueError(f"eta must be a real number, got the string {x!r}") from None
    elif isinstance(x, (numbers.Real, mpmath.mpf)):
        value = x
    else:
        raise ValueError(f"eta must be a real number, got {type(x).__name__}")
    if isinstance(value, mpmath.mpf):
        finite = mpmath.isfinite(value)
    elif isinstance(value, Fraction):
        finite = True
    else:
        finite = math.isfinite(value)
    if not finite:
        raise ValueError(f"eta must be finite, got {x!r}")
    if value < 0:
        raise ValueError(f"eta must be >= 0, got {x!r}")
    return x


def etas(x, dtype=np.float64) -> np.ndarray:
    """An array of step sizes (float64, or ``dtype``), each finite and >= 0."""
    if x is None:
        raise ValueError("etas must be real numbers, got None")
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"etas must be real numbers, got {x!r}") from None
    if a.size == 0:
        raise ValueError("etas is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError("etas has non-finite values (nan or inf)")
    if np.any(a < 0):
        raise ValueError(f"etas must be >= 0; the smallest is {a.min()!r}")
    return a


def to_mpf(x):
    """x as an mpf at the working precision; floats and ints convert exactly."""
    if isinstance(x, Fraction):
        return mpmath.mpf(x.numerator) / x.denominator
    if isinstance(x, np.floating):
        # exact for every width, longdouble included (whose .item() is not a Python float)
        num, den = x.as_integer_ratio()
        return mpmath.mpf(num) / den
    if isinstance(x, np.integer):
        x = int(x)
    return mpmath.mpf(x)
