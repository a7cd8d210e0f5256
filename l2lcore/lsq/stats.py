"""Statistics of test errors over tasks: confidence intervals, and the scale of Theorem 5's
Omega(1) gain of TbV."""
from __future__ import annotations

import numpy as np

from .. import _checks


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of the Student-t confidence interval for the mean of ``values``."""
    v = _checks.reals(values, "values")
    level = _checks.real(level, "level", positive=True, below=1)
    if v.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 values, got {v.size}")
    from scipy import stats  # after the checks: the import takes a second or two
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(half)


def shrinkage_gain(d: int, n: int, sigma: float) -> float:
    """1 / (1 + (d/n)(1 + sigma^2)): how far below ||w*||^2 = 1 the best multiple a X^T y / n of
    the first gradient step brings E||w - w*||^2 (to leading order in 1/n).

    E<X^T y/n, w*> = 1 and E||X^T y/n||^2 = 1 + (d + 1)/n + sigma^2 d/n, so the best a is the
    inverse of the latter and E||a X^T y/n - w*||^2 = 1 - a. A small step of GD for t steps is such
    a multiple with a = eta t; this is the scale of the Omega(1) in Theorem 5's TbV bullet.
    """
    from .gd import check_sigma

    d, n = _checks.positive_int(d, "d"), _checks.positive_int(n, "n")
    sigma = check_sigma(sigma, zero=True)
    return 1.0 / (1.0 + (d / n) * (1.0 + sigma**2))
