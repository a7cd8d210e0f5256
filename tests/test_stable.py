"""The stable float64 method: never overflows, relative error <= 1e-9 against exact up to t = 1e6."""
import mpmath
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import l2lcore
from l2lcore import stable


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    d=st.integers(2, 8),
    ensemble=st.sampled_from(["paper", "code"]),
    eta_over_L=st.floats(0.0, 3.0),
    t=st.sampled_from([1, 2, 7, 80, 1000, 12345, 10**5, 999_999, 10**6]),
)
def test_stable_matches_exact_for_any_horizon(seed, d, ensemble, eta_over_L, t):
    task = l2lcore.QuadraticTask.random(d, seed, ensemble)
    eta = eta_over_L / task.L
    want = l2lcore.meta_gradient(task, eta, t, "log")
    got = l2lcore.meta_gradient(task, eta, t, "log", "stable")
    assert isinstance(got, np.float64)
    assert abs(got - float(want)) <= 1e-9 * abs(float(want))
    with mpmath.workdps(30):
        naive = l2lcore.meta_gradient(task, eta, t, "naive")
        assert abs(stable.naive_gradient(task, eta, t) - naive) <= mpmath.mpf("1e-9") * abs(naive)


def test_stable_at_the_crossing_of_the_two_extreme_terms():
    """eta = 2/(L + alpha): |1 - eta L| = |1 - eta alpha|, the hardest case for rounding."""
    for seed in range(5):
        task = l2lcore.QuadraticTask.random(8, seed)
        eta = 2 / (task.L + task.alpha)
        for t in (10**4, 10**6):
            want = float(l2lcore.meta_gradient(task, eta, t, "log"))
            assert abs(stable.log_gradient(task, eta, t) - want) <= 1e-9 * abs(want)
            assert abs(stable.log_objective(task, eta, t) - float(l2lcore.meta_objective(task, eta, t, "log"))) <= 1e-12


def test_rescaled_forward_mode_needs_no_eigendecomposition_and_agrees():
    task = l2lcore.QuadraticTask.random(6, 3)
    etas = np.array([0.1, 1.0, 2 / (1 + task.alpha / task.L), 2.5]) / task.L
    for t in (10, 3000):
        got = stable.forward_log_gradient(task, etas, t)
        want = np.array([float(l2lcore.meta_gradient(task, e, t, "log")) for e in etas])
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_vectorised_over_eta_and_finite_everywhere():
    task = l2lcore.QuadraticTask.random(40, 0)
    etas = np.linspace(0, 3 / task.L, 2001)
    g = stable.log_gradient(task, etas, 10**6)
    assert g.shape == etas.shape and np.all(np.isfinite(g))
    assert np.max(np.abs(g)) < 10 * task.theorem4_scale()
