"""The stable float64 method: never overflows, relative error <= 1e-9 against exact up to t = 1e6.

Near the root eta* of G' no float method has a small relative error (the exact value passes
through 0), so there the error is measured against the sum of the absolute values of the terms
of G', which is what float64 rounding is proportional to.
"""
import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import l2lcore
from l2lcore import QuadraticTask
from l2lcore.quadratic import stable


def absolute_terms_scale(task, eta, t):
    """2 sum_i c_i^2 lambda_i^2 |r_i|^(2t-1) / sum_i c_i^2 lambda_i r_i^(2t), in mpmath: |G'| when
    no terms cancel, and the magnitude that float rounding errors in G' are relative to."""
    spec = task.spectrum(40)
    with mpmath.workdps(40):
        r = [1 - mpmath.mpf(eta) * lam for lam in spec.lam]
        num = mpmath.fsum(c * lam**2 * abs(x) ** (2 * t - 1) for c, lam, x in zip(spec.csq, spec.lam, r))
        den = mpmath.fsum(c * lam * x ** (2 * t) for c, lam, x in zip(spec.csq, spec.lam, r))
        return float(2 * num / den)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
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
    assert abs(got - float(want)) <= 1e-9 * max(abs(float(want)), 1e-6 * absolute_terms_scale(task, eta, t))
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


def test_relative_error_away_from_the_root_and_scaled_error_at_it():
    task = QuadraticTask.random(8, 1)
    star = float(l2lcore.quadratic.exact.minimizer(task, 10**4))
    for eta in (0.5 * star, 0.999 * star, star, 1.001 * star, 2.0 * star):
        want = float(l2lcore.meta_gradient(task, eta, 10**4, "log"))
        got = stable.log_gradient(task, eta, 10**4)
        scale = absolute_terms_scale(task, eta, 10**4)
        assert abs(got - want) <= 1e-14 * scale
        if abs(want) > 1e-3 * scale:
            assert abs(got - want) <= 1e-9 * abs(want)


@pytest.mark.parametrize("H, w0, eta", [
    (np.diag([2e-170, 1e-170]), [1.0, 1.0], 0.1),
    (np.diag([2e-170, 1e-170]), [1.0, 1.0], 3e169),
    (np.diag([3e150, 1e150]), [1.0, 2.0], 3e-151),
    (np.diag([2.0, 1.0]), [1e200, 1e200], 0.1),
    (np.diag([2.0, 1.0]), [1e-300, 2e-300], 0.7),
    (np.diag([2.0, 1.0]), [0.6, 0.8], 1e300),
])
def test_any_scale_of_H_w0_and_eta(H, w0, eta):
    """The scale of H, w_0 and eta is removed exactly (powers of two) before anything is summed."""
    task = QuadraticTask(H, np.array(w0))
    for t in (5, 10**4):
        want = l2lcore.meta_gradient(task, eta, t, "log")
        for method in ("stable", "stable-forward"):
            got = l2lcore.meta_gradient(task, eta, t, "log", method)
            assert abs(got - float(want)) <= 1e-12 * abs(float(want)), method
        with mpmath.workdps(30):
            naive = l2lcore.meta_gradient(task, eta, t, "naive")
            assert abs(stable.naive_gradient(task, eta, t) - naive) <= mpmath.mpf("1e-12") * abs(naive)
        assert abs(stable.log_objective(task, eta, t) - float(l2lcore.meta_objective(task, eta, t, "log"))) <= 1e-12 * max(
            1.0, abs(float(l2lcore.meta_objective(task, eta, t, "log"))))


def test_naive_gradient_far_above_2_over_L_at_a_million_steps():
    """log|F'| is formed in mpmath: (2t - 1) log S ~ 1e7 would lose 9 digits in float64."""
    task = QuadraticTask.random(8, 0, "code")
    for eta in (50 / task.L, 20 / task.alpha, 1e3 / task.alpha):
        with mpmath.workdps(30):
            want = l2lcore.meta_gradient(task, eta, 10**6, "naive")
            assert abs(stable.naive_gradient(task, eta, 10**6) - want) <= mpmath.mpf("1e-12") * abs(want)


# ------------------------------------------------------------------ degenerate tasks (issue 14)

from l2lcore.quadratic import proof  # noqa: E402


def test_a_start_with_no_component_on_the_top_eigenvector():
    """c_1 = 0: the top eigenvalue must not enter the rescaling nor the sums (it gave nan)."""
    task = QuadraticTask(np.diag([2.0, 1.0]), [0.0, 1.0])
    want = proof.enclose(task, 0.9, 200, "G'")
    for method in ("stable", "stable-forward"):
        assert want.contains(l2lcore.meta_gradient(task, 0.9, 200, "log", method)) or \
            abs(l2lcore.meta_gradient(task, 0.9, 200, "log", method) - float(want.mid)) <= 1e-14 * 20, method
    path = l2lcore.meta_descent(task, 200, 0.9, 2)
    assert np.all(np.isfinite(path))


def test_zero_loss_is_the_same_clear_error_as_the_exact_path_with_the_callers_eta():
    task = QuadraticTask(np.array([[2.0, 1.0], [1.0, 2.0]]), [1.0, -1.0])  # w_0 = eta H w_0 at eta = 1
    for method in ("exact", "stable", "stable-forward"):
        with pytest.raises(ValueError, match=r"f\(w_t\) = 0 exactly at eta = 1\.0:"):
            l2lcore.meta_gradient(task, 1.0, 1, "log", method)
    with pytest.raises(ValueError, match=r"f\(w_t\) = 0 exactly at eta = 1\.0:"):
        stable.log_objective(task, 1.0, 3)
    assert stable.naive_gradient(task, 1.0, 1) == 0 == l2lcore.meta_gradient(task, 1.0, 1, "naive")
    assert list(stable.zero_loss(task, [0.5, 1.0, np.nextafter(1.0, 2.0)])) == [False, True, False]


def _log_abs_terms_scale(task, eta, t):
    """log of 2 sum_i c_i^2 lambda_i^2 |r_i|^(2t-1) / sum_i c_i^2 lambda_i r_i^(2t) (float64 eigh,
    log space): the magnitude float rounding errors in G' are relative to."""
    lam, U = np.linalg.eigh(task.H)
    csq = (U.T @ task.w0) ** 2
    keep = csq > 0
    with mpmath.workdps(40):  # 1 - eta lambda exactly (two float64s), however close to 0
        logr = [mpmath.log(abs(1 - mpmath.mpf(eta) * mpmath.mpf(x))) for x in lam[keep]]
        a = [mpmath.log(c) + 2 * mpmath.log(x) + (2 * t - 1) * r for c, x, r in zip(csq[keep], lam[keep], logr)]
        b = [mpmath.log(c) + mpmath.log(x) + 2 * t * r for c, x, r in zip(csq[keep], lam[keep], logr)]
        return float(mpmath.log(2) + _logsumexp(a) - _logsumexp(b))


def _logsumexp(xs):
    m = max(xs)
    return m + mpmath.log(mpmath.fsum(mpmath.exp(x - m) for x in xs))


@st.composite
def degenerate_tasks(draw, max_d):
    """Tasks a reader can produce: repeated or clustered eigenvalues, starts with zero components,
    diagonal or rotated H, H and w_0 scaled anywhere from 1e-150 to 1e150."""
    d = draw(st.integers(1, max_d))
    base = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 1.0 + 2**-40, 7.5, 0.01]), min_size=d, max_size=d))
    if len(set(base)) == 1 and d > 1:
        base[0] = 2 * base[0] + 1  # keep L > alpha, as the paper does
    lam = np.array(base) * 10.0 ** draw(st.integers(-150, 150))
    w0 = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, -0.5, 3.0]), min_size=d, max_size=d)))
    if not np.any(w0):
        w0[draw(st.integers(0, d - 1))] = 1.0
    w0 = w0 * 10.0 ** draw(st.integers(-150, 150))
    if draw(st.booleans()) and d > 1:
        Q, _ = np.linalg.qr(np.random.default_rng(draw(st.integers(0, 100))).standard_normal((d, d)))
        H = (Q * lam) @ Q.T
        H = (H + H.T) / 2
        w0 = Q @ w0
    else:
        H = np.diag(lam)
    try:
        return QuadraticTask(H, w0)
    except ValueError:  # rotation rounding can leave a clustered spectrum not positive definite
        return QuadraticTask(np.diag(lam), w0 if H.shape == (d, d) and np.any(w0) else np.ones(d))


def assert_right_or_zero_loss(task, eta, t, method, floor):
    """The float-safe ``method`` agrees with the proven G' to 1e-9 relative (measured against
    max(|G'|, floor x the absolute-terms scale), since near a root no relative error can be
    small), or raises the documented error where f(w_t) = 0; never nan or inf."""
    if stable.zero_loss(task, [eta])[0]:
        with pytest.raises(ValueError, match="f\\(w_t\\) = 0 exactly"):
            l2lcore.meta_gradient(task, eta, t, "log", method)
        return
    want = proof.enclose(task, eta, t, "G'", 15, absolute=True)
    got = l2lcore.meta_gradient(task, eta, t, "log", method)
    assert np.isfinite(got)
    scale = np.exp(_log_abs_terms_scale(task, eta, t))
    assert abs(got - float(want.mid)) <= 1e-9 * max(abs(float(want.mid)), floor * scale) + float(want.rad)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(task=degenerate_tasks(12), eta_over_L=st.floats(0.0, 3.0), t=st.sampled_from([1, 2, 7, 80, 10**4, 10**6]))
def test_stable_on_degenerate_tasks_is_right_or_a_documented_error(task, eta_over_L, t):
    assert_right_or_zero_loss(task, eta_over_L / task.L, t, "stable", 1e-6)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(task=degenerate_tasks(40), eta_over_L=st.floats(0.0, 3.0), t=st.sampled_from([1, 3, 50, 2000]))
def test_rescaled_forward_mode_on_degenerate_tasks_up_to_d_40(task, eta_over_L, t):
    assert_right_or_zero_loss(task, eta_over_L / task.L, t, "stable-forward", 1e-4)


def test_every_factor_rounding_to_zero_is_not_a_nan():
    """eta = 1/3 on H = 3: 1 - eta lambda is 2^-54, not 0; log S was log(0) + log1p(inf) = nan."""
    task = QuadraticTask(np.array([[3.0]]), np.array([1.0]))
    got = l2lcore.meta_objective(task, 1 / 3, 4, "log", method="stable")
    assert abs(got - float(l2lcore.meta_objective(task, 1 / 3, 4, "log"))) <= 1e-12 * abs(got)


def test_step_sizes_of_any_size_or_as_0d_arrays():
    task = QuadraticTask(np.diag([1.0, 3.0]), [1.0, 1.0])
    assert l2lcore.meta_gradient(task, 10**400, 3, "log") != 0
    for method in ("stable", "backprop", "forward"):
        with pytest.raises(ValueError, match="beyond float64's range"):
            l2lcore.meta_gradient(task, 10**400, 3, "log", method)
    for method in ("exact", "stable", "backprop"):
        assert np.isclose(float(l2lcore.meta_gradient(task, np.array(0.1), 3, "log", method)),
                          float(l2lcore.meta_gradient(task, 0.1, 3, "log")))
