"""Least squares, train-by-train vs train-by-validation (paper Section 4): the spectral fast path
against the unrolled loop, SGD, the public API and its ValueErrors."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from l2lcore import lsq
from l2lcore.lsq import sgd as lsq_sgd
from l2lcore.lsq import gd as lsq_gd


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # The matrices are small: BLAS threads only add overhead on a shared 2-core machine.
    with threadpool_limits(1):
        yield


def _etas_with_truncation(spec, sigma, t, size=40):
    """A grid from tiny steps (1e-6, where 1 - q^t cancels) to steps past 2/lambda_max, where the
    rule must fire."""
    return np.geomspace(1e-6, 3.0 / spec.lam.max(), size)


# ------------------------------------------------------------------------- sampler, seeds


def test_task_distribution():
    """w* on the unit sphere, x ~ N(0, I_d), and y - <w*, x> ~ N(0, sigma^2)."""
    task = lsq.sample_task(20, 20000, 3.0, np.random.default_rng(0))
    assert np.linalg.norm(task.w_star) == pytest.approx(1.0)
    assert task.X.shape == (20000, 20) and task.y.shape == (20000,)
    assert np.cov(task.X.T) == pytest.approx(np.eye(20), abs=0.05)
    assert np.std(task.y - task.X @ task.w_star) == pytest.approx(3.0, rel=0.02)


def test_seeds_are_per_task_and_reproducible():
    """Task k depends on (seed, k) only: adding tasks does not change the first ones."""
    few = [lsq.sample_task(5, 4, 1.0, np.random.default_rng(lsq.task_streams(s)[0]))
           for s in lsq.task_seeds(7, 3, 0)]
    many = [lsq.sample_task(5, 4, 1.0, np.random.default_rng(lsq.task_streams(s)[0]))
            for s in lsq.task_seeds(7, 10, 0)]
    for a, b in zip(few, many):
        assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(many[0].X, many[1].X)


# --------------------------------------------------------------------- spectral vs unrolled


@pytest.mark.parametrize("d, n, sigma, t", [(30, 12, 1.0, 25), (12, 40, 0.5, 25), (20, 20, 2.0, 25),
                                           (200, 200, 8.0, 40)])
def test_spectral_path_equals_unrolled_gd(d, n, sigma, t):
    """w_t, every ||w_k||, the truncation decision and both meta-losses agree to 1e-10, for
    eta from 1e-6 up; n = d makes lambda_min tiny, where 1 - q^t cancels worst."""
    task = lsq.sample_task(d, n, sigma, np.random.default_rng(d * n))
    spec = lsq.gd_spectrum(task.X, task.y)
    etas = _etas_with_truncation(spec, sigma, t)
    W = lsq.gd_weights(spec, etas, t, sigma)
    norms = lsq.gd_step_norms(spec, etas, t)
    truncated = lsq.gd_truncated(spec, etas, t, sigma)
    tbt = lsq.spectral_meta_loss(lsq.prepare_tbt(task), etas, t)
    n1 = n // 2
    tbv = lsq.spectral_meta_loss(lsq.prepare_tbv(task, n1), etas, t)
    assert 0 < truncated.sum() < etas.size
    assert etas[0] <= 1e-6
    for i, eta in enumerate(etas):
        run = lsq.gd_unrolled(task.X, task.y, eta, t, sigma)
        assert (run.truncated_at is not None) == truncated[i]
        np.testing.assert_allclose(W[i], run.w, rtol=1e-10, atol=1e-10 * np.linalg.norm(run.w))
        k = run.norms.size
        np.testing.assert_allclose(norms[i, :k], run.norms, rtol=1e-10, atol=1e-12)
        train_loss = np.sum((task.y - task.X @ run.w) ** 2) / (2 * n)
        assert tbt[i] == pytest.approx(train_loss, rel=1e-10)
        half = lsq.gd_unrolled(task.X[:n1], task.y[:n1], eta, t, sigma)
        valid_loss = np.sum((task.y[n1:] - task.X[n1:] @ half.w) ** 2) / (2 * (n - n1))
        assert tbv[i] == pytest.approx(valid_loss, rel=1e-10)


def test_one_minus_q_to_the_k_keeps_full_relative_accuracy():
    """1 - (1 - x)^k against exact rational arithmetic, from x = 1e-12 (where the subtraction
    1 - q^k would lose 12 digits) past x = 2 (q < -1, a diverging step)."""
    from fractions import Fraction

    x = np.array([1e-12, 1e-9, 1e-6, 1e-3, 0.1, 0.5, 0.9, 1.0, 1.3, 1.9, 1.99, 2.0, 2.1, 3.0])
    for k in (1, 2, 7, 39, 40, 160):
        q, gap = lsq_gd._power_and_gap(1.0 - x, x, k)
        # q = 1 - x is rounded; the exact reference uses the same rounded q and the exact x.
        exact_q = [float(Fraction(v) ** k) for v in 1.0 - x]
        exact_gap = np.array([float(1 - (1 - Fraction(v)) ** k) for v in x])
        np.testing.assert_allclose(q, exact_q, rtol=1e-13)
        # Relative to 1 - q^k itself; where q^k is near 1 in size (x near 2) relative to q^k,
        # the conditioning of 1 - q^k in q (q = 1 - x carries a rounding of 1 ulp).
        scale = np.maximum(np.abs(exact_gap), k * np.abs(exact_q) * (x > 1))
        assert np.all(np.abs(gap - exact_gap) <= 1e-13 * scale), (k, gap, exact_gap)


def test_truncation_fires_mid_run_even_if_w_t_is_small():
    """With q = 1 - eta lambda = -0.9 the norm overshoots at k = 1 and settles below 40 sigma;
    the rule looks at every step, so the run is frozen at 40 sigma e_1."""
    sigma, n = 1.0, 2
    X = np.sqrt(n) * np.eye(2)  # lambda = 1 in both directions
    y = np.sqrt(n) * np.array([30.0, 0.0])  # the minimizer has norm 30 sigma
    run = lsq.gd_unrolled(X, y, 1.9, 40, sigma)
    assert run.truncated_at == 1
    spec = lsq.gd_spectrum(X, y)
    norms = lsq.gd_step_norms(spec, [1.9], 40)[0]
    assert norms[1] >= 40 * sigma > norms[-1]
    assert lsq.gd_truncated(spec, [1.9], 40, sigma)[0]
    np.testing.assert_array_equal(lsq.gd_weights(spec, [1.9], 40, sigma)[0], [40.0, 0.0])


def test_truncation_while_every_q_is_positive():
    """||X^+ y|| = 50 sigma > 40 sigma: a slow run toward it crosses 40 sigma with every
    q_j = 1 - eta lambda_j in (0, 1), so the rule must fire although no step overshoots."""
    sigma, n, t = 1.0, 2, 200
    X = np.sqrt(n) * np.diag([1.0, 0.1])  # lambda = 1 and 0.01
    y = np.sqrt(n) * np.array([0.0, 5.0])  # w along the small direction, ||X^+ y|| = 50
    etas = np.array([1e-6, 0.3, 0.6, 0.9, 0.99, 1.5, 2.5])
    spec = lsq.gd_spectrum(X, y)
    truncated = lsq.gd_truncated(spec, etas, t, sigma)
    expected = [lsq.gd_unrolled(X, y, eta, t, sigma).truncated_at is not None for eta in etas]
    np.testing.assert_array_equal(truncated, expected)
    assert truncated[etas == 0.99] and not truncated[etas == 0.3]


def test_meta_gradient_matches_finite_differences():
    task = lsq.sample_task(30, 15, 2.0, np.random.default_rng(3))
    etas = np.array([1e-3, 1e-2, 0.05, 0.2])
    h = 1e-6 * etas
    for st in (lsq.prepare_tbt(task), lsq.prepare_tbv(task, 8)):
        _, g = lsq.spectral_meta_loss(st, etas, 20, grad=True)
        fd = (lsq.spectral_meta_loss(st, etas + h, 20) - lsq.spectral_meta_loss(st, etas - h, 20)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_log_step_descent_finds_the_grid_minimizer():
    """Sign meta-gradient descent on log eta lands within 10% of the dense-grid minimizer."""
    etas = np.logspace(-5, 0, 201)
    for which in lsq.META_LOSSES:
        tasks = lsq.prepared_tasks(60, 30, 4.0, 10, 0, which)
        F, _ = lsq.meta_objective_and_gradient(tasks, etas, 20)
        path = lsq.log_step_descent(tasks, 20, eta0=1e-3, steps=150)
        assert path[-1] == pytest.approx(etas[np.argmin(F)], rel=0.1)


# ---------------------------------------------------------------------------------- SGD


def test_vectorised_sgd_equals_the_plain_loop():
    """Every task of a batch and every eta of the grid, including runs the rule freezes."""
    sigma, t = 1.0, 60
    rng = np.random.default_rng(5)
    tasks = [lsq.sample_task(10, 8, sigma, rng) for _ in range(3)]
    X, y = np.stack([s.X for s in tasks]), np.stack([s.y for s in tasks])
    order = np.stack([lsq_sgd.sample_order(8, t, rng) for _ in tasks])
    etas = np.geomspace(1e-3, 1.0, 12)
    W = lsq_sgd.sgd_weights(X, y, order, etas, sigma)
    frozen = 0
    for b in range(3):
        for g, eta in enumerate(etas):
            w = lsq_sgd.sgd_unrolled(X[b], y[b], order[b], eta, sigma)
            np.testing.assert_allclose(W[b, g], w, rtol=1e-12, atol=1e-12)
            frozen += np.array_equal(w, [40.0] + [0.0] * 9)
    assert 0 < frozen < W.shape[0] * W.shape[1]


def test_sgd_comparison_is_deterministic():
    a = lsq_sgd.compare_tbt_tbv_sgd(20, 10, 2.0, 50, 4, np.logspace(-4, 0, 9), 1, n_test=3)
    b = lsq_sgd.compare_tbt_tbv_sgd(20, 10, 2.0, 50, 4, np.logspace(-4, 0, 9), 1, n_test=3)
    np.testing.assert_array_equal(a["meta_tbt"], b["meta_tbt"])
    np.testing.assert_array_equal(a["test_rmses_tbv"], b["test_rmses_tbv"])


# ---------------------------------------------------------------------------- public API


def test_compare_tbt_tbv_returns_the_documented_keys():
    etas = np.logspace(-6, 0, 25)
    out = lsq.compare_tbt_tbv(40, 20, 2.0, 10, 5, etas, 0, n_test=4, split=0.5)
    assert out["eta_tbt"] in etas and out["eta_tbv"] in etas
    assert out["eta_tbt"] == etas[np.argmin(out["meta_tbt"])]
    assert (out["n1"], out["n2"]) == (10, 10)
    for name in ("tbt", "tbv"):
        for key in ("test_errs", "train_rmses", "test_rmses"):
            assert out[f"{key}_{name}"].shape == (4,)
        assert out[f"test_err_{name}"] == pytest.approx(out[f"test_errs_{name}"].mean())
        assert out[f"test_rmse_{name}"] == pytest.approx(out[f"test_rmses_{name}"].mean())
        assert out[f"train_rmse_{name}"] == pytest.approx(out[f"train_rmses_{name}"].mean())
    again = lsq.compare_tbt_tbv(40, 20, 2.0, 10, 5, etas, 0, n_test=4, split=0.5)
    np.testing.assert_array_equal(out["meta_tbv"], again["meta_tbv"])
    assert out["test_err_tbv"] == again["test_err_tbv"]


GOOD = dict(d=10, n=6, sigma=1.0, t=5, m=2, etas=[0.01, 0.1], seed=0, n_test=2, split=0.5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"d": 0}, "d must be a positive integer"),
        ({"d": 2.5}, "d must be a positive integer"),
        ({"n": 0}, "n must be a positive integer"),
        ({"t": 0}, "t must be a positive integer"),
        ({"m": 0}, "m must be a positive integer"),
        ({"n_test": 0}, "n_test must be a positive integer"),
        ({"sigma": -1.0}, "sigma must be > 0"),
        ({"sigma": 0.0}, "sigma must be > 0"),
        ({"sigma": float("nan")}, "sigma must be finite"),
        ({"sigma": "1"}, "sigma must be a real number"),
        ({"etas": []}, "etas is empty"),
        ({"etas": [0.1, 0.0]}, "etas must be > 0"),
        ({"etas": [0.1, -1.0]}, "etas must be > 0; the smallest is -1.0"),
        ({"etas": [0.1, float("inf")]}, "non-finite"),
        ({"etas": [[0.1]]}, "1-d grid"),
        ({"etas": ["a"]}, "etas must be real numbers"),
        ({"split": 0.0}, "split must lie strictly between 0 and 1"),
        ({"split": 1.0}, "split must lie strictly between 0 and 1"),
        ({"split": float("nan")}, "split must lie strictly between 0 and 1"),
        ({"split": None}, "split must be a real number"),
        ({"split": 0.05}, "n1=0 training"),
        ({"split": 0.95}, "0 validation"),
        ({"n": 1}, "TbV needs at least one of each"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"seed": None}, "seed must be a non-negative integer"),
        ({"seed": True}, "seed must be a non-negative integer"),
        ({"etas": None}, "etas must be a grid of step sizes.*got None"),
    ],
)
@pytest.mark.parametrize("compare", [lsq.compare_tbt_tbv, lsq_sgd.compare_tbt_tbv_sgd])
def test_bad_arguments_raise_value_errors(compare, change, message):
    with pytest.raises(ValueError, match=message):
        compare(**{**GOOD, **change})


def test_integral_floats_are_accepted_alike_for_sizes_and_seed():
    """n = 6.0, m = 2.0 and seed = 0.0 mean 6, 2 and 0, consistently."""
    a = lsq.compare_tbt_tbv(**GOOD)
    b = lsq.compare_tbt_tbv(**{**GOOD, "n": 6.0, "m": 2.0, "seed": 0.0})
    np.testing.assert_array_equal(a["meta_tbv"], b["meta_tbv"])
    assert a["test_err_tbt"] == b["test_err_tbt"]


@pytest.mark.parametrize("n, split, n1", [(5, 0.5, 3), (25, 0.5, 13), (100, 0.5, 50), (7, 0.3, 2),
                                          (10, 0.25, 3), (3, 0.5, 2)])
def test_split_rounds_halves_up(n, split, n1):
    """n1 = floor(split n + 1/2), not Python's round-half-to-even (which gives 2 for n = 5)."""
    assert lsq.check_split(split, n) == (n1, n - n1)


def test_other_value_errors():
    task = lsq.sample_task(4, 4, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown meta_loss"):
        lsq.prepared_tasks(4, 4, 1.0, 2, 0, "tbx")
    with pytest.raises(ValueError, match="tasks is empty"):
        lsq.meta_objective_and_gradient([], [0.1], 3)
    with pytest.raises(ValueError, match="mu must be finite and > 0"):
        lsq.log_step_descent([lsq.prepare_tbt(task)], 3, mu=0.0)
    with pytest.raises(ValueError, match="ts is empty"):
        lsq.sweep_horizon(4, 4, 1.0, [], 2, [0.1], 0)
    with pytest.raises(ValueError, match="seeds is empty"):
        lsq.horizon_over_seeds(4, 4, 1.0, [2], 2, [0.1], [])
    with pytest.raises(ValueError, match="unknown meta_loss"):
        lsq.sweep_horizon(4, 4, 1.0, [2], 2, [0.1], 0).inside("tbx")
    with pytest.raises(ValueError, match="at least 2 values"):
        lsq.mean_ci([1.0])
    with pytest.raises(ValueError, match="needs the basis V"):
        lsq.gd_weights(lsq.gd_spectrum(task.X, task.y, basis=False), [0.1], 3, 1.0)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        lsq.sample_task(0, 4, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="eta must be > 0"):
        lsq.gd_unrolled(task.X, task.y, 0.0, 3, 1.0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        lsq.log_step_descent([lsq.prepare_tbt(task)], 3, steps=0)
    with pytest.raises(ValueError, match="shapes disagree"):
        lsq_sgd.sgd_weights(task.X[None], task.y[None], np.zeros((2, 3), int), [0.1], 1.0)


# ----------------------------------------------------------- the scale of TbV's gain


def test_shrinkage_gain_matches_the_best_multiple_of_the_gradient():
    """E||a X^T y/n - w*||^2 at the best a, by simulation, against 1 - shrinkage_gain."""
    d, n, sigma = 40, 20, 2.0
    rng = np.random.default_rng(0)
    g, w = [], []
    for _ in range(4000):
        task = lsq.sample_task(d, n, sigma, rng)
        g.append(task.X.T @ task.y / n)
        w.append(task.w_star)
    g, w = np.array(g), np.array(w)
    a = np.mean(np.sum(g * w, axis=1)) / np.mean(np.sum(g * g, axis=1))
    err = np.mean(np.sum((a * g - w) ** 2, axis=1))
    assert 1 - err == pytest.approx(lsq.shrinkage_gain(d, n, sigma), rel=0.05)

