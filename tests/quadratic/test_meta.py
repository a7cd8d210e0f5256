"""The public API: construction, random ensembles, and every ValueError path."""
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore import QuadraticTask, meta_descent, meta_gradient, meta_objective


def test_task_exposes_its_spectrum():
    task = QuadraticTask(np.diag([3.0, 2.0, 1.0]), np.array([0.6, 0.0, 0.8]))
    assert task.L == 3.0 and task.alpha == 1.0 and task.d == 3
    np.testing.assert_allclose(task.eigenvalues, [3, 2, 1])
    np.testing.assert_allclose(task.c**2, [0.36, 0, 0.64])
    assert task.c_min == pytest.approx(0.6)
    spec = task.spectrum(40)
    assert [float(x) for x in spec.lam] == [3.0, 2.0, 1.0]


def test_random_ensembles():
    paper = QuadraticTask.random(10, 0, "paper")
    assert np.linalg.norm(paper.w0) == pytest.approx(1.0)
    code = QuadraticTask.random(10, 0, "code")
    assert np.array_equal(code.H, code.H.T)
    again = QuadraticTask.random(10, 0, "code")
    assert np.array_equal(code.H, again.H) and np.array_equal(code.w0, again.w0)


@pytest.mark.parametrize(
    "H, w0, message",
    [
        (np.ones((2, 3)), np.ones(2), "square"),
        (np.eye(2), np.ones(3), "length"),
        (np.eye(2), np.ones((2, 1)), "vector"),
        (np.array([[2.0, 1.0], [0.0, 2.0]]), np.ones(2), "symmetric"),
        (np.diag([1.0, -1.0]), np.ones(2), "positive definite"),
        (np.diag([1.0, 0.0]), np.ones(2), "positive definite"),
        (np.diag([1.0, np.nan]), np.ones(2), "non-finite"),
        (np.eye(2), np.array([1.0, np.inf]), "non-finite"),
        (np.eye(2), np.zeros(2), "nonzero"),
        ("abc", np.ones(2), "real numbers"),
        (np.eye(2) * (1 + 1j), np.ones(2), "real"),
        # X X^T with X 4 x 3 of integers: singular exactly, though eigh gives a tiny positive eigenvalue
        (np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1.0]]) @ np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1.0]]).T,
         np.ones(4), "positive definite"),
    ],
)
def test_invalid_tasks_are_rejected(H, w0, message):
    with pytest.raises(ValueError, match=message):
        QuadraticTask(H, w0)


@pytest.mark.parametrize("d, ensemble, message", [(0, "paper", "d must"), (2.5, "paper", "d must"), (3, "gauss", "ensemble")])
def test_invalid_random_arguments(d, ensemble, message):
    with pytest.raises(ValueError, match=message):
        QuadraticTask.random(d, 0, ensemble)


@pytest.mark.parametrize("seed", [None, 1.5, "a", -1, True])
def test_random_tasks_need_an_explicit_integer_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        QuadraticTask.random(3, seed)


def test_theorem4_scale_needs_two_distinct_eigenvalues():
    with pytest.raises(ValueError, match="L == alpha"):
        QuadraticTask(np.eye(2), np.ones(2)).theorem4_scale()


def test_theorem4_scale_is_that_of_the_unit_start():
    """G' does not depend on ||w_0||, and neither does the bound."""
    task = QuadraticTask(np.diag([3.0, 2.0, 1.0]), np.array([0.6, 0.0, 0.8]))
    longer = QuadraticTask(task.H, 5 * task.w0)
    assert longer.theorem4_scale() == pytest.approx(task.theorem4_scale()) == pytest.approx(27 / (0.36 * 2))


@pytest.fixture(scope="module")
def task():
    return QuadraticTask.random(3, 0)


@pytest.mark.parametrize("eta", [-0.1, float("nan"), float("inf"), "x", None, True, mpmath.mpf("-1")])
def test_invalid_eta(task, eta):
    for method in ("exact", "stable", "backprop"):
        with pytest.raises(ValueError, match="eta"):
            meta_gradient(task, eta, 5, "log", method)
    with pytest.raises(ValueError, match="eta"):
        meta_objective(task, eta, 5)


@pytest.mark.parametrize("t", [0, -3, 2.5, float("nan"), "10", True])
def test_invalid_t(task, t):
    with pytest.raises(ValueError, match="t must"):
        meta_gradient(task, 0.1, t)
    with pytest.raises(ValueError, match="t must"):
        meta_objective(task, 0.1, t)


def test_integral_float_horizon_is_accepted(task):
    assert meta_gradient(task, 0.1, 1e3, "log") == meta_gradient(task, 0.1, 1000, "log")


def test_invalid_objective_method_dtype(task):
    with pytest.raises(ValueError, match="objective"):
        meta_gradient(task, 0.1, 5, "square")
    with pytest.raises(ValueError, match="method"):
        meta_gradient(task, 0.1, 5, "log", "symbolic")
    with pytest.raises(ValueError, match="method"):
        meta_objective(task, 0.1, 5, "log", "backprop")
    with pytest.raises(ValueError, match="dtype"):
        meta_gradient(task, 0.1, 5, "log", "backprop", dtype=np.int32)
    with pytest.raises(ValueError, match="dtype"):
        meta_gradient(task, 0.1, 5, "log", "backprop", dtype="float8")
    with pytest.raises(ValueError, match="trace"):
        meta_gradient(task, 0.1, 5, "log", "exact", trace=True)
    with pytest.raises(ValueError, match="log objective"):
        meta_gradient(task, 0.1, 5, "naive", "stable-forward")
    with pytest.raises(ValueError, match="dps"):
        meta_gradient(task, 0.1, 5, "log", dps=0)
    with pytest.raises(ValueError, match="certified digits"):
        meta_gradient(task, 0.1, 5, "log", dps=5000)
    with pytest.raises(ValueError, match="dtype"):
        meta_gradient(task, 0.1, 5, "log", "backprop", dtype=None)
    with pytest.raises(ValueError, match="method"):
        meta_objective(task, 0.1, 5, "naive", "stable")
    with pytest.raises(ValueError, match="eta \\* L overflows"):
        meta_gradient(task, 1.7e308, 5, "log", "stable")
    with pytest.raises(ValueError, match="eta \\* L overflows"):
        meta_gradient(task, 1.7e308, 5, "log", "stable-forward")
    with pytest.raises(ValueError, match="spectrum"):
        l2lcore.quadratic.stable.log_gradient(task, 0.1, 5, spectrum="lapack")


def test_zero_loss_is_reported_not_nan():
    task = QuadraticTask(np.diag([2.0, 1.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="f\\(w_t\\) = 0"):
        meta_gradient(task, 0.5, 3, "log")
    with pytest.raises(ValueError, match="f\\(w_t\\) = 0"):
        meta_gradient(task, 0.5, 3, "log", "stable")
    with pytest.raises(ValueError, match="f\\(w_t\\) = 0 exactly at eta = 0.5"):
        meta_gradient(task, 0.5, 3, "log", "stable-forward")


def test_condition_numbers_beyond_the_stable_range_are_refused():
    task = QuadraticTask(np.diag([1e200, 1.0]), np.ones(2))
    with pytest.raises(ValueError, match="condition number"):
        meta_gradient(task, 1e-201, 5, "log", "stable")


def test_long_double_step_sizes_convert_exactly():
    task = QuadraticTask(np.diag([3.0, 1.0]), np.array([0.6, 0.8]))
    eta = np.longdouble(1) / 10
    want = meta_gradient(task, Fraction(*eta.as_integer_ratio()), 5, "log")
    assert meta_gradient(task, eta, 5, "log") == want != meta_gradient(task, 0.1, 5, "log")
    assert meta_gradient(task, eta, 5, "log", "backprop", dtype=np.longdouble) == pytest.approx(float(want), rel=1e-17)


def test_invalid_meta_descent_arguments(task):
    with pytest.raises(ValueError, match="steps"):
        meta_descent(task, 10, 0.1, 0)
    with pytest.raises(ValueError, match="lr"):
        meta_descent(task, 10, 0.1, 5, lr=-1.0)
    with pytest.raises(ValueError, match="lr"):
        meta_descent(task, 10, 0.1, 5, lr=True)
    with pytest.raises(ValueError, match="mu_3"):
        meta_descent(task, 10, 0.1, 5, lr=lambda k: 0.01 if k < 3 else float("nan"))
    with pytest.raises(ValueError, match="dtype"):
        meta_descent(task, 10, 0.1, 5, dtype=np.int32)
    with pytest.raises(ValueError, match="eta0"):
        meta_descent(task, 10, [], 5)
    with pytest.raises(ValueError, match="method"):
        meta_descent(task, 10, 0.1, 5, method="adam")


def test_meta_descent_converges_to_the_optimal_step():
    """Theorem 4 in the authors' Figure-1 setting: eta_k -> eta* with mu_k = 1/(100 sqrt k)."""
    task = QuadraticTask.random(20, 0, "code")
    star = float(l2lcore.quadratic.exact.minimizer(task, 80))
    etas, grads = meta_descent(task, 80, 0.1, 1000, return_gradients=True)
    assert etas.shape == (1001,) and grads.shape == (1000,)
    assert abs(etas[-1] - star) < 5e-3 * star < abs(etas[0] - star)
    exact_run = meta_descent(task, 80, 0.1, 50, method="exact")
    np.testing.assert_allclose(exact_run, etas[:51], rtol=1e-12)


def test_meta_descent_shows_backprop_breaking():
    task = QuadraticTask.random(20, 0, "code")
    etas = meta_descent(task, 2000, [0.01, 1.0], 20, method="backprop", dtype=np.float32)
    assert np.isfinite(etas[:, 0]).all()
    assert np.isnan(etas[-1, 1])
