"""SGD as the inner optimizer on the least squares tasks of :mod:`l2lcore.lsq`.

The paper states its SGD results in an appendix that these notes only summarise, so the choices
are ours: each of the t steps uses one training sample i_k drawn uniformly with replacement,

    w_{k+1} = w_k - eta (<w_k, x_{i_k}> - y_{i_k}) x_{i_k},    w_0 = 0,

with the same truncation rule as GD (stop and freeze at 40 sigma e_1 once ||w_k|| >= 40 sigma).
The sample order i_1 .. i_t is drawn once per task from that task's own seed and shared by every
eta of a grid (common random numbers), so the meta-objective is a deterministic, smooth-looking
function of eta rather than a fresh draw of SGD noise per grid point.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import _checks
from .._checks import positive_int
from .gd import (LsqTask, TRUNCATION, check_data, check_eta, check_grid, check_sigma, check_split,
                 check_task, compare_with, sample_task, task_seeds, task_streams)

#: Tasks run side by side in one batch; bounds memory at (batch, len(etas), d) floats.
BATCH = 16


def sample_order(n: int, t: int, rng: np.random.Generator) -> np.ndarray:
    """i_1 .. i_t, uniform on {0 .. n-1} with replacement."""
    n, t = positive_int(n, "n"), positive_int(t, "t")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
    _checks.budget("t", t, nbytes=8.0 * t)
    return rng.integers(0, n, size=t)


def _step_flops(b: int, g: int, d: int) -> float:
    """One SGD step of :func:`sgd_weights` on b tasks and g step sizes in dimension d."""
    return 8.0 * b * g * d + _checks.STEP_FLOPS


def sgd_cost(d: int, n: int, t: int, m: int, grid: int, horizons: int = 1) -> tuple[float, float]:
    """(operations, bytes) of :func:`sgd_meta_objectives` for ``horizons`` horizons of length at
    most t: two SGD runs (TbT, TbV) per batch of tasks, and the batch's sample orders."""
    b = min(m, BATCH)
    batches = math.ceil(m / BATCH)
    flops = horizons * 2.0 * batches * t * _step_flops(b, grid, d)
    nbytes = 8.0 * b * (2 * n * d + 4 * t + 2 * grid * d)
    return flops, nbytes


def sgd_weights(X, y, order, etas, sigma: float, max_flops=None) -> np.ndarray:
    """w_t of SGD with truncation for a batch of tasks and a grid of etas.

    X: (b, n, d), y: (b, n), order: (b, t) sample indices in 0 .. n-1; returns W of shape
    (b, len(etas), d). A frozen run keeps 40 sigma e_1 for the remaining steps.
    """
    X, y = check_data(X, y, ndim=3)
    b, n, d = X.shape
    raw = np.asarray(order) if order is not None else None
    if raw is None or raw.ndim != 2 or raw.shape[0] != b:
        raise ValueError(f"shapes disagree: X {X.shape}, y {y.shape}, order "
                         f"{None if raw is None else raw.shape}")
    order = _checks.indices(order, "order", n, ndim=2)
    etas = check_grid(etas)
    radius2 = (TRUNCATION * check_sigma(sigma)) ** 2
    _checks.budget("order", f"{order.shape[1]} steps", flops=order.shape[1] * _step_flops(b, etas.size, d),
                   nbytes=8.0 * 3 * b * etas.size * d, max_flops=max_flops)
    W = np.zeros((b, etas.size, d))
    alive = np.ones((b, etas.size), dtype=bool)
    rows = np.arange(b)
    for k in range(order.shape[1]):
        x = X[rows, order[:, k]]
        resid = np.einsum("bgd,bd->bg", W, x) - y[rows, order[:, k]][:, None]
        W -= (alive * etas * resid)[:, :, None] * x[:, None, :]
        # A run that diverges overshoots 40 sigma by a bounded factor per step, never to inf.
        hit = alive & (np.einsum("bgd,bgd->bg", W, W) >= radius2)
        if np.any(hit):
            W[hit] = 0.0
            W[hit, 0] = TRUNCATION * sigma
            alive &= ~hit
    return W


def sgd_unrolled(X, y, order, eta: float, sigma: float) -> np.ndarray:
    """The same SGD run for one task and one eta, step by step (the reference for tests)."""
    X, y = check_data(X, y)
    order = _checks.indices(order, "order", X.shape[0], ndim=1)
    eta = check_eta(eta)
    radius = TRUNCATION * check_sigma(sigma)
    _checks.budget("order", f"{order.size} steps", flops=order.size * (6.0 * X.shape[1] + _checks.STEP_FLOPS))
    w = np.zeros(X.shape[1])
    for i in order:
        w = w - eta * (w @ X[i] - y[i]) * X[i]
        if np.linalg.norm(w) >= radius:
            w = np.zeros_like(w)
            w[0] = radius
            break
    return w


def _losses(X, y, W) -> np.ndarray:
    """(1/(2n)) ||y - X w||^2 for each task of the batch and each row of W: shape (b, G)."""
    resid = y[:, :, None] - np.einsum("bnd,bgd->bng", X, W)
    return np.sum(resid**2, axis=1) / (2 * X.shape[1])


def sgd_meta_objectives(d: int, n: int, sigma: float, t: int, m: int, etas, seed: int,
                        split: float = 0.5, max_flops=None) -> tuple[np.ndarray, np.ndarray]:
    """(F_hat_TbT(eta), F_hat_TbV(eta)) with SGD inner runs, on the same m tasks as the GD version.

    TbT runs t SGD steps on all n samples and scores the training loss; TbV runs t steps on the
    first n1 = floor(split n + 1/2) samples (:func:`l2lcore.lsq.check_split`) and scores the loss
    on the other n - n1. The work, about :func:`sgd_cost`, is checked up front
    (:func:`l2lcore._checks.budget`; ``max_flops`` allows more).
    """
    d, n, t, m = (positive_int(v, k) for v, k in ((d, "d"), (n, "n"), (t, "t"), (m, "m")))
    sigma, etas = check_sigma(sigma), check_grid(etas)
    n1, _ = check_split(split, n)
    seed = _checks.seed_int(seed)
    flops, nbytes = sgd_cost(d, n, t, m, etas.size)
    _checks.budget("t", t, flops=flops, nbytes=nbytes, max_flops=max_flops)
    return _sgd_meta_objectives(d, n, sigma, t, m, etas, seed, n1)


def _sgd_meta_objectives(d, n, sigma, t, m, etas, seed, n1):
    seeds = task_seeds(seed, m, 0)
    tbt, tbv = np.zeros(etas.size), np.zeros(etas.size)
    for start in range(0, m, BATCH):
        tasks, orders_all, orders_n1 = [], [], []
        for ss in seeds[start:start + BATCH]:
            data, inner = task_streams(ss)
            tasks.append(sample_task(d, n, sigma, np.random.default_rng(data)))
            # One order per task for each meta-loss, both from the task's inner seed.
            rng = np.random.default_rng(inner)
            orders_all.append(sample_order(n, t, rng))
            orders_n1.append(sample_order(n1, t, rng))
        X = np.stack([task.X for task in tasks])
        y = np.stack([task.y for task in tasks])
        tbt += _losses(X, y, sgd_weights(X, y, np.stack(orders_all), etas, sigma, math.inf)).sum(axis=0)
        W = sgd_weights(X[:, :n1], y[:, :n1], np.stack(orders_n1), etas, sigma, math.inf)
        tbv += _losses(X[:, n1:], y[:, n1:], W).sum(axis=0)
    return tbt / m, tbv / m


def sgd_meta_objectives_over_t(d: int, n: int, sigma: float, ts, m: int, etas, seed: int,
                               split: float = 0.5, max_flops=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sgd_meta_objectives` for each horizon of ``ts`` (same tasks), stacked into arrays of
    shape (len(ts), len(etas)) as :func:`l2lcore.lsq.sweep_horizon` takes them. Every argument
    and the work of all horizons together are checked before the first run."""
    d, n, m = (positive_int(v, k) for v, k in ((d, "d"), (n, "n"), (m, "m")))
    ts = _checks.positive_ints(ts, "ts", "t")
    sigma, etas = check_sigma(sigma), check_grid(etas)
    n1, _ = check_split(split, n)
    seed = _checks.seed_int(seed)
    flops, nbytes = sgd_cost(d, n, max(ts), m, etas.size, len(ts))
    _checks.budget("ts", f"up to {max(ts)}", flops=flops, nbytes=nbytes, max_flops=max_flops)
    pairs = [_sgd_meta_objectives(d, n, sigma, t, m, etas, seed, n1) for t in ts]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def sgd_fit(task: LsqTask, eta: float, t: int, rng: np.random.Generator) -> np.ndarray:
    """w_t of t SGD steps on all of the task's samples, sample order drawn from ``rng``."""
    check_task(task)
    eta, t = check_eta(eta), positive_int(t, "t")
    _checks.budget("t", t, flops=t * _step_flops(1, 1, task.d))
    order = sample_order(task.n, t, rng)
    return sgd_weights(task.X[None], task.y[None], order[None], [eta], task.sigma, math.inf)[0, 0]


def compare_tbt_tbv_sgd(d, n, sigma, t, m, etas, seed, n_test=10, split=0.5, max_flops=None) -> dict:
    """:func:`l2lcore.lsq.compare_tbt_tbv` with SGD as the inner optimizer, same keys.

    Test tasks (the same ones as the GD version for the same seed) are trained by t SGD steps on
    their n samples; both learned etas see the same sample order. The work (meta-training and
    testing) is estimated up front and refused beyond :data:`l2lcore._checks.MAX_FLOPS`
    operations unless ``max_flops`` allows it, or beyond :data:`l2lcore._checks.MAX_BYTES`.
    """
    d, n, t, m = (positive_int(v, k) for v, k in ((d, "d"), (n, "n"), (t, "t"), (m, "m")))
    n_test = positive_int(n_test, "n_test")
    flops, nbytes = sgd_cost(d, n, t, m, check_grid(etas).size)
    _checks.budget("t", t, flops=flops + 2.0 * n_test * t * _step_flops(1, 1, d), nbytes=nbytes,
                   max_flops=max_flops)
    return compare_with(functools.partial(sgd_meta_objectives, max_flops=math.inf), sgd_fit,
                        d, n, sigma, t, m, etas, seed, n_test, split)
