"""Argument checks shared by the public functions: bad input is a ValueError naming it.

The rules, decided once for the whole package:

* integers (sizes, horizons, seeds): Python and numpy integers, and integral floats such as
  1e6 or 4.0; not bools, not 2.5, not strings;
* real numbers (step sizes, noise levels): Python, numpy (0-d arrays included) and mpmath
  reals and Fractions; not bools, not strings (except where a function says so);
* arrays of reals: anything numpy converts to a real float array, with no bools in it;
* work and memory: a call whose arithmetic or memory grows with its arguments estimates both
  before it starts (:func:`budget`) and refuses more than :data:`MAX_BYTES` of memory or
  :data:`MAX_FLOPS` operations, unless the caller opts in with ``max_flops``.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np

OBJECTIVES = ("naive", "log")
#: The most memory one call may allocate for an array (a quarter of this 24 GiB machine).
MAX_BYTES = 6 * 2**30
#: The most arithmetic one call does unless the caller passes ``max_flops`` (about a minute).
MAX_FLOPS = 1e11
#: Horizons the float64 closed forms accept: t and 2t - 1 stay exact as float64 numbers.
MAX_FLOAT_T = 2**52


def budget(name: str, value, flops: float = 0.0, nbytes: float = 0.0, max_flops=None) -> None:
    """Refuse, before any work, a call estimated to need more than MAX_BYTES of memory or more
    than ``max_flops`` (default MAX_FLOPS) operations; ``name`` and ``value`` name the argument
    that drives the cost."""
    if nbytes > MAX_BYTES:
        raise ValueError(f"{name} = {value!r} would need about {nbytes / 2**30:.3g} GiB of memory "
                         f"(limit {MAX_BYTES / 2**30:.0f} GiB)")
    limit = MAX_FLOPS if max_flops is None else real(max_flops, "max_flops", positive=True)
    if flops > limit:
        raise ValueError(f"{name} = {value!r} would take about {flops:.2g} floating-point operations "
                         f"(limit {limit:.2g}; pass max_flops to allow more)")


def real(x, name: str, positive: bool = False, nonnegative: bool = False) -> float:
    """x as a finite float; booleans, strings and non-numbers are rejected by name."""
    if isinstance(x, (bool, np.bool_)) or isinstance(x, str):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if not isinstance(x, (numbers.Real, mpmath.mpf)):
        raise ValueError(f"{name} must be a real number, got {type(x).__name__}")
    try:
        value = float(x)
    except OverflowError:
        raise ValueError(f"{name} must be a finite real number, got {x!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    if nonnegative and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return value


def flag(x, name: str) -> bool:
    """A True/False switch: bools only (so "yes" or 1 are not silently true)."""
    if not isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def task(x):
    """A QuadraticTask (imported lazily: the task module imports this one)."""
    from .quadratic.task import QuadraticTask

    if not isinstance(x, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(x).__name__}")
    return x


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


def etas(x, dtype=np.float64, name: str = "etas") -> np.ndarray:
    """An array of step sizes (float64, or ``dtype``), each finite and >= 0; a scalar is a 0-d
    array, and messages then say "eta"."""
    if np.ndim(x) == 0 and name == "etas":
        name = "eta"
    if x is None:
        raise ValueError(f"{name} must be real numbers, got None")
    raw = np.asarray(x) if not isinstance(x, (list, tuple)) else np.asarray(x, dtype=object)
    if raw.dtype == np.bool_ or (raw.dtype == object and any(isinstance(v, (bool, np.bool_)) for v in raw.ravel())):
        raise ValueError(f"{name} must be real numbers, not booleans")
    try:
        with np.errstate(over="ignore"):
            a = np.asarray(x, dtype=dtype)
    except OverflowError:
        raise ValueError(f"{name} has values beyond float64's range") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers, got {x!r}") from None
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite values (nan or inf)")
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0; the smallest is {a.min()!r}")
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
