"""Argument checks shared by the public functions: bad input is a ValueError naming it.

The rules, decided once for the whole package:

* integers (sizes, horizons, seeds): Python and numpy integers, and integral floats such as
  1e6 or 4.0; not bools, not 2.5, not strings;
* real numbers (step sizes, noise levels): Python, numpy (0-d arrays included) and mpmath
  reals and Fractions; not bools, not strings (except where a function says so);
* arrays of reals: anything numpy converts to a real float array, with no bools in it, every
  entry finite (:func:`reals`); a scalar where a sequence is required (``ts=5``) is rejected;
* index arrays (:func:`indices`): integers (integral floats too), each in 0 .. n-1: a negative
  index is an error, not numpy's wrap-around;
* ranges: a rule "> 0" says "> 0" in its message, and bounds beyond which float64 arithmetic on
  the argument would overflow (``sigma = 1e200``) are part of the rule, checked up front;
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
#: What one step of a Python-level loop costs, counted as floating-point operations (a few
#: microseconds of interpreter and numpy call overhead), so that t = 10**9 tiny steps count too.
STEP_FLOPS = 1e4
#: Horizons the float64 closed forms accept: t and 2t - 1 stay exact as float64 numbers.
MAX_FLOAT_T = 2**52


def budget(name: str, value, flops: float = 0.0, nbytes: float = 0.0, max_flops=None) -> None:
    """Refuse, before any work, a call estimated to need more than MAX_BYTES of memory or more
    than ``max_flops`` (default MAX_FLOPS; ``math.inf`` for no limit) operations; ``name`` and
    ``value`` name the argument that drives the cost."""
    if nbytes > MAX_BYTES:
        raise ValueError(f"{name} = {value!r} would need about {nbytes / 2**30:.3g} GiB of memory "
                         f"(limit {MAX_BYTES / 2**30:.0f} GiB)")
    if max_flops is None:
        limit = MAX_FLOPS
    elif isinstance(max_flops, float) and max_flops == math.inf:  # no limit: the caller decided
        limit = math.inf
    else:
        limit = real(max_flops, "max_flops", positive=True)
    if flops > limit:
        raise ValueError(f"{name} = {value!r} would take about {flops:.2g} floating-point operations "
                         f"(limit {limit:.2g}; pass max_flops to allow more)")


def real(x, name: str, positive: bool = False, nonnegative: bool = False, at_least=None,
         at_most=None, below=None) -> float:
    """x as a finite float; booleans, strings and non-numbers are rejected by name. Optional rules:
    ``positive`` (> 0), ``nonnegative`` (>= 0), ``at_least`` / ``at_most`` (inclusive bounds) and
    ``below`` (a strict upper bound)."""
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
    if at_least is not None and not value >= at_least:
        raise ValueError(f"{name} must be >= {at_least:g}, got {x!r}")
    if at_most is not None and not value <= at_most:
        raise ValueError(f"{name} must be <= {at_most:g}, got {x!r}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below:g}, got {x!r}")
    return value


def reals(x, name: str, dtype=np.float64, ndim=None, nonnegative: bool = False,
          positive: bool = False) -> np.ndarray:
    """x as a non-empty array of finite reals (``dtype``, float64 by default); None, strings,
    booleans (alone or inside the array) and ragged input are rejected by name; ``ndim`` fixes
    the number of axes, ``nonnegative`` / ``positive`` the sign of every entry."""
    if x is None:
        raise ValueError(f"{name} must be real numbers, got None")
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{name} must be real numbers, got the string {x!r}")
    try:
        raw = np.asarray(x) if not isinstance(x, (list, tuple)) else np.asarray(x, dtype=object)
    except ValueError:
        raise ValueError(f"{name} must be a regular array of real numbers (not ragged)") from None
    if raw.dtype == np.bool_ or (raw.dtype == object and any(
            isinstance(v, (bool, np.bool_, str, bytes)) for v in raw.ravel())):
        raise ValueError(f"{name} must be real numbers, not booleans or strings")
    if raw.dtype.kind in "USc":
        raise ValueError(f"{name} must be real numbers, got {x!r}")
    try:
        with np.errstate(over="ignore"):
            a = np.asarray(x, dtype=dtype)
    except OverflowError:
        raise ValueError(f"{name} has values beyond float64's range") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers, got {x!r}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite values (nan or inf)")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0; the smallest is {a.min().item()!r}")
    if nonnegative and np.any(a < 0):
        raise ValueError(f"{name} must be >= 0; the smallest is {a.min().item()!r}")
    return a


def positive_ints(x, name: str, item: str) -> list[int]:
    """A non-empty sequence (list, tuple, 1-d array, range) of positive integers, each checked as
    ``item`` by :func:`positive_int`; a scalar or a string is rejected by ``name``."""
    try:
        axes = np.ndim(x)
    except ValueError:  # ragged
        axes = None
    if isinstance(x, (str, bytes, set, dict)) or axes != 1:
        raise ValueError(f"{name} must be a 1-d sequence of positive integers, got {x!r}")
    if isinstance(x, np.ndarray) and x.dtype == np.bool_:
        raise ValueError(f"{name} must be positive integers, not booleans")
    try:
        values = [positive_int(v, item) for v in x]
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if not values:
        raise ValueError(f"{name} is empty")
    return values


def indices(x, name: str, n: int, ndim=None) -> np.ndarray:
    """x as an int64 array of indices into a length-n axis: integers (integral floats too), each
    in 0 .. n-1; a negative index is an error here, not numpy's wrap-around."""
    if x is None or isinstance(x, (str, bytes)):
        raise ValueError(f"{name} must be an array of integer indices, got {x!r}")
    raw = np.asarray(x)
    if raw.dtype == np.bool_ or raw.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be an array of integer indices, got dtype {raw.dtype}")
    if ndim is not None and raw.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {raw.shape}")
    if raw.dtype.kind == "f" and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
        raise ValueError(f"{name} must hold integers, got non-integral values")
    if raw.size and (raw.min() < 0 or raw.max() >= n):
        raise ValueError(f"{name} must hold indices in 0 .. {n - 1}; got values from "
                         f"{raw.min().item()!r} to {raw.max().item()!r}")
    return raw.astype(np.int64)


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


def nonnegative_int(x, name: str) -> int:
    """x as an int >= 0, by the rules of :func:`positive_int` (integral floats such as 1.0 are
    accepted; 1.5, True and None are not)."""
    integral = isinstance(x, numbers.Integral) or (
        isinstance(x, numbers.Real) and math.isfinite(x) and float(x).is_integer())
    if isinstance(x, (bool, np.bool_)) or not integral or x < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {x!r}")
    return int(x)


def seed_int(seed) -> int:
    """A seed for numpy's generators: an integer >= 0. As for sizes (``positive_int``), an
    integral float such as 1.0 is accepted; 1.5, True and None (which would draw from the OS)
    are not."""
    return nonnegative_int(seed, "seed")


def objective(name) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {OBJECTIVES}")
    return name


def eta(x):
    """A step size: finite and >= 0. Returned unchanged (exact types stay exact), except that a
    0-d array becomes its scalar; integers and Fractions of any size are finite."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
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
    elif isinstance(value, (Fraction, numbers.Integral)):
        finite = True
    else:
        finite = math.isfinite(value)
    if not finite:
        raise ValueError(f"eta must be finite, got {x!r}")
    if value < 0:
        raise ValueError(f"eta must be >= 0, got {x!r}")
    return x


def float_eta(x) -> float:
    """A checked step size as a float64, for the float methods; beyond float64's range is a
    ValueError (the exact methods take any size)."""
    x = eta(x)
    try:
        value = float(mpmath.mpf(x) if isinstance(x, str) else x)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
        raise ValueError(f"eta = {shown} is beyond float64's range; the float methods cannot take it "
                         "(the exact and proof methods can)")
    return value


def etas(x, dtype=np.float64, name: str = "etas") -> np.ndarray:
    """An array of step sizes (float64, or ``dtype``), each finite and >= 0 (:func:`reals`); a
    scalar is a 0-d array, and messages then say "eta"."""
    if np.ndim(x) == 0 and name == "etas":
        name = "eta"
    return reals(x, name, dtype=dtype, nonnegative=True)


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
