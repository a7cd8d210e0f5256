"""The exact meta-gradient against exact rational arithmetic, and its own consistency."""
import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore.quadratic import exact
from oracle import rational_meta, regimes


def rel(a, b):
    with mpmath.workdps(80):
        b = mpmath.mpf(b.numerator) / b.denominator if hasattr(b, "numerator") else mpmath.mpf(b)
        return abs(mpmath.mpf(a) - b) / abs(b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("t", [1, 3, 11])
def test_exact_closed_form_equals_rational_arithmetic_in_all_regimes(seed, t):
    task = l2lcore.QuadraticTask.random(3, seed)
    for name, eta in regimes(task).items():
        F, dF, dG = rational_meta(task.H, task.w0, eta, t)
        assert rel(l2lcore.meta_objective(task, eta, t, "naive"), F) < 1e-25, name
        assert rel(l2lcore.meta_gradient(task, eta, t, "naive"), dF) < 1e-25, name
        assert rel(l2lcore.meta_gradient(task, eta, t, "log"), dG) < 1e-25, name
        assert rel(l2lcore.meta_gradient(task, eta, t, "log", "exact-unrolled"), dG) < 1e-25, name


def test_exact_accepts_exact_step_sizes():
    from fractions import Fraction

    task = l2lcore.QuadraticTask.random(2, 5)
    eta = Fraction(1, 3) / task.L  # not a float: converted exactly at each precision
    _, dF, _ = rational_meta(task.H, task.w0, eta, 4)
    assert rel(l2lcore.meta_gradient(task, eta, 4, "naive"), dF) < 1e-25


def test_requested_digits_are_certified():
    task = l2lcore.QuadraticTask.random(4, 2, "code")
    g30 = l2lcore.meta_gradient(task, 0.05, 1000, "log")
    g60 = l2lcore.meta_gradient(task, 0.05, 1000, "log", dps=60)
    assert rel(g30, g60) < 1e-30


def test_closed_form_and_unrolled_forward_mode_agree():
    task = l2lcore.QuadraticTask.random(5, 3, "code")
    for eta in [0.2 / task.L, 1.5 / task.L, 2.2 / task.L]:
        for objective in ("naive", "log"):
            a = l2lcore.meta_gradient(task, eta, 60, objective, "exact")
            b = l2lcore.meta_gradient(task, eta, 60, objective, "exact-unrolled")
            assert rel(a, b) < 1e-28


def test_exact_values_far_outside_float_range():
    task = l2lcore.QuadraticTask.random(4, 0)
    tiny = l2lcore.meta_gradient(task, 0.5 / task.L, 10_000, "naive")
    huge = l2lcore.meta_gradient(task, 2.5 / task.L, 10_000, "naive")
    assert 0 < abs(tiny) < mpmath.mpf("1e-400")
    assert abs(huge) > mpmath.mpf("1e400")


def test_global_precision_is_left_alone():
    before = mpmath.mp.dps
    task = l2lcore.QuadraticTask.random(3, 0)
    l2lcore.meta_gradient(task, 0.1, 100, "log", dps=50)
    assert mpmath.mp.dps == before


def test_uncertifiable_value_raises():
    with pytest.raises(l2lcore.CertificationError):
        exact.certified(lambda dps: mpmath.mpf(dps), 30)  # a value that moves with precision


def test_minimizer_is_the_sign_change_of_the_meta_gradient():
    task = l2lcore.QuadraticTask.random(6, 4)
    for objective in ("naive", "log"):
        star = exact.minimizer(task, 40, objective)
        with mpmath.workdps(60):
            step = star * mpmath.mpf("1e-20")
            below = l2lcore.meta_gradient(task, star - step, 40, objective)
            above = l2lcore.meta_gradient(task, star + step, 40, objective)
        assert below < 0 < above


def test_optimal_step_approaches_the_classical_step_for_long_horizons():
    task = l2lcore.QuadraticTask.random(5, 1)
    classical = 2 / (task.L + task.alpha)
    gaps = [abs(exact.minimizer(task, t) - classical) for t in (10, 100, 1000, 10000)]
    assert all(b < a for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] / classical < 1e-3


def test_log10_intermediates_match_direct_computation():
    task = l2lcore.QuadraticTask.random(3, 0)
    eta, t = 0.5 / task.L, 30
    out = exact.log10_intermediates(task, eta, t, [0, 10, 30])
    w = np.linalg.matrix_power(np.eye(3) - eta * task.H, 10) @ task.w0
    assert abs(float(out["state"][1]) - np.log10(np.linalg.norm(w))) < 1e-12
    assert abs(float(out["state"][0]) - np.log10(np.linalg.norm(task.w0))) < 1e-12
