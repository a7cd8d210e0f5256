"""Theorem 3: the naive meta-objective F(eta) = f(w_{t,eta}), checked exactly in mpmath."""
import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore.quadratic import exact


@pytest.fixture(scope="module")
def task():
    return l2lcore.QuadraticTask.random(6, 7)  # ||w_0|| = 1, as the theorem assumes


@pytest.mark.parametrize("t", [1, 10, 100, 1000])
def test_upper_bound_below_two_over_L(task, t):
    """For eta < 2/L: |F'(eta)| <= t sum_i c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1)."""
    spec = task.spectrum(60)
    for eta in np.linspace(0.05, 1.99, 12) / task.L:
        with mpmath.workdps(60):
            bound = t * mpmath.fsum(c * lam**2 * abs(1 - mpmath.mpf(eta) * lam) ** (2 * t - 1)
                                    for lam, c in zip(spec.lam, spec.csq))
        # Equality holds when every 1 - eta lambda_i >= 0; allow for the 30 certified digits.
        with mpmath.workdps(60):  # abs() outside would round to the global 15 digits
            value = abs(l2lcore.meta_gradient(task, eta, t, "naive"))
            assert value <= bound * (1 + mpmath.mpf("1e-28"))


@pytest.mark.parametrize("t", [1, 10, 100, 1000])
def test_lower_bound_above_two_over_L(task, t):
    """For eta > 2/L: |F'(eta)| >= c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t."""
    spec = task.spectrum(60)
    L, c1sq = spec.lam[0], spec.csq[0]
    for eta in np.linspace(2.01, 4, 12) / task.L:
        with mpmath.workdps(60):
            bound = c1sq * L**2 * t * (mpmath.mpf(eta) * L - 1) ** (2 * t - 1) - L**2 * t
        # Nearly tight when the lambda_1 term dominates; allow for the 30 certified digits.
        with mpmath.workdps(60):  # abs() outside would round to the global 15 digits
            value = abs(l2lcore.meta_gradient(task, eta, t, "naive"))
            assert value >= bound * (1 - mpmath.mpf("1e-28"))


@pytest.mark.parametrize("t", [1, 5, 50])
def test_naive_objective_is_strictly_convex(task, t):
    for eta in np.linspace(0, 3 / task.L, 25):
        assert exact.naive_second_derivative(task, eta, t) > 0
