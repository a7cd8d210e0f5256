"""The Corollary 1 chapter: where backpropagation through the unrolled loop breaks, and why.

Backpropagating G(eta) = (1/t) log F(eta), F = f(w_t) = 1/2 w_t^T H w_t, through t steps of
gradient descent stores or forms, with r_i = 1 - eta lambda_i and S(eta) = max_i |r_i|
(over the i with c_i != 0; the same S as in the Theorem 3 chapter):

    states        ||w_k||^2       = sum_i c_i^2 r_i^(2k)                    ~ S^(2k)
    loss          F               = 1/2 sum_i c_i^2 lambda_i r_i^(2t)       ~ S^(2t)
    seed          s = 1/(t F)                                               ~ S^(-2t) / t
    adjoints      ||wbar_k||^2    = s^2 sum_i c_i^2 lambda_i^2 r_i^(2(2t-k)) ~ S^(-2k) / t^2

while G' itself is a ratio of two such sums and stays moderate (Theorem 4). In particular the
last state ||w_t||^2, the loss, the seed and the first adjoint ||wbar_t||^2 all change by a
factor S^(+-2) per inner step of the horizon t (up to polynomial factors in t):
:func:`intermediate_rates` measures that rate on the exact values. The loss and the seed are
the extreme intermediates (the square and the inverse square of the trajectory's scale), so
for a float type with largest value M, smallest normal N and smallest subnormal D the *range
prediction* (:func:`predict`) is, with l = log10 F and tau = log10 t:

    nonfinite (nan or inf)  if  l + tau < -log10 M   (t F below 1/M: the seed overflows)
                            or  l < log10 D           (F flushed to 0: the seed is inf)
                            or  log10 ||H w_t|| > log10 M  (the forward pass overflows;
                                 0 * inf = nan when the zero seed meets it)
    zero                    if  l + tau > log10 M    (t F overflows: the seed, and with it
                                 every adjoint and the whole meta-gradient, is exactly 0)
    subnormal (inaccurate)  if  l < log10 N or l + tau > -log10 N  (F or the seed has lost
                                 significant bits)
    in range                otherwise.

Everything here takes the step sizes as an array and returns arrays; the JAX witness imports
jax only when called, so ``import l2lcore`` does not need it. (This module was
``l2lcore.numerics``; the Theorem 4 chapter uses its :func:`predict_at` and :data:`ZERO`.)
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from tqdm import tqdm

from .. import _checks
from ..book import proof_claim
from ..book.claims import CONSISTENCY, NOT_TESTED, Claim, Statement
from ..quadratic import backprop as bp, exact, stable

#: Observed classes of a float meta-gradient (and, for a prediction, the class it implies).
CLASSES = ("accurate", "inaccurate", "zero", "nonfinite")
ACCURATE, INACCURATE, ZERO, NONFINITE = range(4)
#: The relative error below which a float meta-gradient counts as accurate.
RTOL = 1e-6
FLOAT_DTYPES = ("float32", "float64")


def _float_dtype(dtype) -> type:
    dt = bp.as_dtype(dtype)
    if np.dtype(dt).name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64 here, got {np.dtype(dt).name}")
    return dt


def _horizons(horizons) -> np.ndarray:
    h = np.atleast_1d(np.asarray(horizons))
    if h.ndim != 1 or h.size == 0:
        raise ValueError("horizons must be a non-empty 1-d sequence of positive integers")
    return np.array([_checks.positive_int(x, "each horizon t") for x in h.tolist()], dtype=np.int64)


def log_grid(lo: float, hi: float, n: int) -> np.ndarray:
    """n log-spaced integer horizons from lo to hi (duplicates after rounding removed)."""
    n = _checks.positive_int(n, "n")
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= lo <= hi, got lo={lo!r}, hi={hi!r}")
    return np.unique(np.round(np.geomspace(lo, hi, n)).astype(np.int64))


def log10_magnitudes(task, etas, t) -> tuple[np.ndarray, np.ndarray]:
    """log10 F and log10 ||H w_t|| for an array of step sizes, in float64 log-space arithmetic.

    log10 F = log10(1/2 sum_i c_i^2 lambda_i r_i^(2t)) and
    log10 ||H w_t|| = 1/2 log10(sum_i c_i^2 lambda_i^2 r_i^(2t)), each as a log-sum-exp of
    2t log10|r_i| + log10(c_i^2 lambda_i^k), so nothing overflows; good to ~1e-9 in log10,
    which is all a range prediction needs. Shapes follow ``etas``.
    """
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    lam, csq = task.eigenvalues, task.c**2
    keep = csq > 0
    lam, csq = lam[keep], csq[keep]
    with np.errstate(divide="ignore"):
        logr = 2 * t * np.log10(np.abs(1.0 - etas.ravel()[:, None] * lam))

    def lse(logw):
        x = logr + logw
        m = np.max(x, axis=1, keepdims=True)
        finite = np.isfinite(m)
        m = np.where(finite, m, 0.0)
        return np.where(finite[:, 0], m[:, 0] + np.log10(np.sum(10.0 ** (x - m), axis=1)), -np.inf)

    log_loss = lse(np.log10(csq * lam)) - np.log10(2.0)
    log_hw = 0.5 * lse(np.log10(csq * lam**2))
    return log_loss.reshape(etas.shape), log_hw.reshape(etas.shape)


def predict(log10_loss, log10_hw, t, dtype, flush_subnormals: bool = False) -> np.ndarray:
    """Class that the range analysis predicts for float backprop (see the module docstring).

    Returns codes: ACCURATE (every intermediate in the normal range), INACCURATE (the loss
    or the seed 1/(tF) subnormal), ZERO (t F overflows, so the seed is 0) or NONFINITE.
    ``flush_subnormals=True`` models arithmetic that flushes subnormal results to zero (XLA
    on CPU does): a subnormal loss becomes 0, so the seed is inf (NONFINITE), and a subnormal
    seed becomes 0 (ZERO); nothing is left to be merely inaccurate.
    """
    fi = np.finfo(_float_dtype(dtype))
    t = _checks.positive_int(t, "t")
    ell = np.asarray(log10_loss, dtype=np.float64)
    hw = np.asarray(log10_hw, dtype=np.float64)
    if ell.shape != hw.shape:
        raise ValueError(f"log10_loss has shape {ell.shape} but log10_hw has shape {hw.shape}")
    if np.any(np.isnan(ell)) or np.any(np.isnan(hw)):
        raise ValueError("log10 magnitudes must not be nan")
    top, normal, sub = np.log10(fi.max), np.log10(fi.smallest_normal), np.log10(fi.smallest_subnormal)
    tau = np.log10(t)
    out = np.full(ell.shape, ACCURATE, dtype=np.int8)
    if flush_subnormals:
        out[ell + tau > -normal] = ZERO
        out[(ell + tau < -top) | (ell < normal) | (hw > top)] = NONFINITE
        return out
    out[(ell < normal) | (ell + tau > -normal)] = INACCURATE
    out[ell + tau > top] = ZERO
    out[(ell + tau < -top) | (ell < sub) | (hw > top)] = NONFINITE
    return out


def classify(values, reference, rtol: float = RTOL) -> np.ndarray:
    """Observed class of float meta-gradients against a reference of the same shape.

    nan or inf -> NONFINITE; exactly 0 (reference nonzero) -> ZERO; relative error
    |value - reference| / |reference| <= rtol -> ACCURATE; otherwise INACCURATE.
    """
    v = np.asarray(values).astype(np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if v.shape != ref.shape:
        raise ValueError(f"values have shape {v.shape} but reference has shape {ref.shape}")
    if not np.all(np.isfinite(ref)) or np.any(ref == 0):
        raise ValueError("the reference must be finite and nonzero everywhere")
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol!r}")
    with np.errstate(invalid="ignore"):
        rel = np.abs(v - ref) / np.abs(ref)
    out = np.where(rel <= rtol, ACCURATE, INACCURATE).astype(np.int8)
    out[v == 0] = ZERO
    out[~np.isfinite(v)] = NONFINITE
    return out


def exact_log_gradients(task, etas, horizons, digits: int = 12, progress: bool = True) -> np.ndarray:
    """G'(eta) on the grid horizons x etas from the certified mpmath closed form, as float64.

    The closed form costs O(d) per cell whatever t is; the certified digits (default 12) are
    rounded to float64, far finer than the 1e-6 and 1e-9 tolerances they are compared with.
    """
    etas = _checks.etas(etas)
    if etas.ndim != 1:
        raise ValueError("etas must be a 1-d array")
    horizons = _horizons(horizons)
    out = np.empty((horizons.size, etas.size))
    for a, t in enumerate(tqdm(horizons, desc="exact G'", leave=False, disable=not progress)):
        for b, eta in enumerate(etas):
            out[a, b] = float(exact.meta_gradient(task, float(eta), int(t), "log", digits))
    return out


@dataclass(frozen=True)
class PhaseDiagram:
    """Float backprop of G' on the grid ``horizons`` (rows) x ``etas`` (columns), classified.

    ``values``: what backprop returned (as float64); ``exact``: the certified G';
    ``log10_loss``, ``log10_hw``: exact magnitudes of F and ||H w_t||; ``observed`` and
    ``predicted``: class codes (see :data:`CLASSES`).
    """

    dtype: str
    etas: np.ndarray
    horizons: np.ndarray
    values: np.ndarray
    exact: np.ndarray
    log10_loss: np.ndarray
    log10_hw: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray

    @property
    def broken(self) -> np.ndarray:
        """Cells where backprop returned nan, inf or 0."""
        return self.observed >= ZERO

    def agreement(self) -> float:
        """Fraction of cells where prediction and observation agree on {finite, zero, nonfinite}."""
        return float(np.mean(failure_class(self.observed) == failure_class(self.predicted)))


def failure_class(codes):
    """Codes with ACCURATE merged into INACCURATE: a range analysis predicts failures, not rounding."""
    return np.maximum(codes, INACCURATE)


def phase_diagram(task, etas, horizons, dtype, exact_values=None, rtol: float = RTOL,
                  progress: bool = True) -> PhaseDiagram:
    """Run reverse-mode backprop (:func:`l2lcore.quadratic.backprop.backprop`) on every cell and classify it.

    ``exact_values`` (shape horizons x etas) may be passed to share one exact reference
    between several dtypes; otherwise it is computed by :func:`exact_log_gradients`.
    ``progress`` shows a tqdm bar over the horizons (the chapter turns it off).
    """
    dt = _float_dtype(dtype)
    etas = _checks.etas(etas)
    if etas.ndim != 1:
        raise ValueError("etas must be a 1-d array")
    horizons = _horizons(horizons)
    if exact_values is None:
        exact_values = exact_log_gradients(task, etas, horizons, progress=progress)
    exact_values = np.asarray(exact_values, dtype=np.float64)
    if exact_values.shape != (horizons.size, etas.size):
        raise ValueError(f"exact_values must have shape {(horizons.size, etas.size)}, got {exact_values.shape}")
    values = np.empty(exact_values.shape)
    loss = np.empty(exact_values.shape)
    hw = np.empty(exact_values.shape)
    predicted = np.empty(exact_values.shape, dtype=np.int8)
    for a, t in enumerate(tqdm(horizons, desc=f"backprop {np.dtype(dt).name}", leave=False, disable=not progress)):
        values[a] = bp.backprop(task, etas, int(t), "log", dt).astype(np.float64)
        loss[a], hw[a] = log10_magnitudes(task, etas, int(t))
        predicted[a] = predict(loss[a], hw[a], int(t), dt)
    return PhaseDiagram(np.dtype(dt).name, etas, horizons, values, exact_values, loss, hw,
                        classify(values, exact_values, rtol), predicted)


def predict_at(task, etas, t: int, dtype) -> np.ndarray:
    """Predicted class codes of float backprop of G' at one horizon, for every eta."""
    return predict(*log10_magnitudes(task, etas, t), t, dtype)


def predicted_map(task, etas, horizons, dtype) -> np.ndarray:
    """Predicted class codes on a (fine) grid horizons x etas: for drawing the boundary."""
    horizons = _horizons(horizons)
    out = np.empty((horizons.size, np.size(etas)), dtype=np.int8)
    for a, t in enumerate(horizons):
        out[a] = predict_at(task, etas, int(t), dtype)
    return out


def leading_order_horizon(task, etas, dtype) -> np.ndarray:
    """The horizon at which S(eta)^(2t) alone reaches the dtype's largest value (or 1/it).

    t = log10 M / (2 |log10 S|), S = max_i |1 - eta lambda_i|; inf where S = 1.
    """
    fi = np.finfo(_float_dtype(dtype))
    etas = _checks.etas(etas)
    S = np.max(np.abs(1.0 - etas[..., None] * task.eigenvalues), axis=-1)
    with np.errstate(divide="ignore"):
        return np.log10(fi.max) / (2 * np.abs(np.log10(S)))


def jax_log_gradient(task, etas, t, dtype) -> np.ndarray:
    """G'(eta) by jax.grad of (1/t) log f(w_t), the t steps unrolled with jax.lax.fori_loop.

    An independent reverse-mode implementation: JAX's own differentiation rules for the loop,
    the quadratic and the logarithm, vmapped over ``etas``. float64 runs inside
    ``jax.experimental.enable_x64()``, so JAX's global setting is left alone.
    """
    import jax
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    dt = _float_dtype(dtype)
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    with enable_x64(dt is np.float64):
        H = jnp.asarray(task.H, dtype=dt)
        w0 = jnp.asarray(task.w0, dtype=dt)

        def log_objective(eta):
            wt = jax.lax.fori_loop(0, t, lambda _, w: w - eta * (H @ w), w0)
            return jnp.log(0.5 * (wt @ (H @ wt))) / t

        grad = jax.jit(jax.vmap(jax.grad(log_objective)))
        out = np.asarray(grad(jnp.asarray(etas.ravel(), dtype=dt)))
    return out.astype(np.float64).reshape(etas.shape)


@dataclass(frozen=True)
class Witness:
    """JAX's meta-gradients on a sub-grid of a :class:`PhaseDiagram`, classified the same way.

    ``observed``: classes of JAX's values; ``numpy_observed``: classes of l2lcore's backprop
    on the same cells; ``predicted``: the range prediction with subnormals flushed to zero.
    """

    dtype: str
    etas: np.ndarray
    horizons: np.ndarray
    values: np.ndarray
    observed: np.ndarray
    numpy_observed: np.ndarray
    predicted: np.ndarray

    def agreement(self) -> float:
        """Fraction of cells where JAX and l2lcore's backprop agree on {finite, zero, nonfinite}."""
        return float(np.mean(failure_class(self.observed) == failure_class(self.numpy_observed)))

    def prediction_agreement(self) -> float:
        """Fraction of cells where JAX's failure class is the flush-to-zero range prediction."""
        return float(np.mean(failure_class(self.observed) == failure_class(self.predicted)))


def jax_witness(task, diagram: PhaseDiagram, every: int = 2, rtol: float = RTOL,
                progress: bool = True) -> Witness:
    """Recompute every ``every``-th row and column of ``diagram`` with :func:`jax_log_gradient`."""
    every = _checks.positive_int(every, "every")
    etas, horizons = diagram.etas[::every], diagram.horizons[::every]
    values = np.array([jax_log_gradient(task, etas, int(t), diagram.dtype)
                       for t in tqdm(horizons, desc=f"jax {diagram.dtype}", leave=False, disable=not progress)])
    loss, hw = diagram.log10_loss[::every, ::every], diagram.log10_hw[::every, ::every]
    predicted = np.array([predict(loss[a], hw[a], int(t), diagram.dtype, flush_subnormals=True)
                          for a, t in enumerate(horizons)])
    return Witness(diagram.dtype, etas, horizons, values,
                   classify(values, diagram.exact[::every, ::every], rtol),
                   diagram.observed[::every, ::every], predicted)


def first_broken_horizon(diagram: PhaseDiagram) -> np.ndarray:
    """For each eta, the smallest horizon of the grid where backprop broke (0 if it never did)."""
    broken = diagram.broken
    first = np.argmax(broken, axis=0)
    return np.where(broken.any(axis=0), diagram.horizons[first], 0)


def monotone_violations(diagram: PhaseDiagram) -> int:
    """Number of step sizes for which a broken horizon is followed by a working longer one."""
    broken = diagram.broken
    return int(np.sum(np.any(broken[:-1] & ~broken[1:], axis=0)))


def stable_max_relative_error(task, diagram: PhaseDiagram) -> float:
    """max over the diagram of |G'_stable - G'_exact| / |G'_exact| (l2lcore.quadratic.stable.log_gradient)."""
    worst = 0.0
    for a, t in enumerate(diagram.horizons):
        s = stable.log_gradient(task, diagram.etas, int(t))
        worst = max(worst, float(np.max(np.abs(s - diagram.exact[a]) / np.abs(diagram.exact[a]))))
    return worst


def trace_versus_exact(task, eta, t, dtype=np.float64, points: int = 400, dps: int = 40,
                       exact_from: dict | None = None) -> dict:
    """A backprop trace in ``dtype`` and the exact log10 magnitudes of the same intermediates.

    Returns ``trace`` (:class:`~l2lcore.quadratic.backprop.BackpropTrace`, every step), ``steps``
    (about ``points`` step indices from 0 to t) and ``exact``: the magnitudes of
    :func:`l2lcore.quadratic.exact.log10_intermediates` at those steps as float64 arrays (``state``,
    ``adjoint``, ``running_gradient``; the last is nan at k = t, where no step has run), plus
    ``loss`` = log10 F and ``seed`` = log10 (1/(t F)).

    The exact part does not depend on ``dtype``: pass the result of an earlier call for the same
    task and (eta, t, points, dps) as ``exact_from`` to reuse its ``steps`` and ``exact`` instead of
    recomputing them.
    """
    t = _checks.positive_int(t, "t")
    points = _checks.positive_int(points, "points")
    trace = bp.backprop_trace(task, eta, t, "log", _float_dtype(dtype))
    steps = np.unique(np.round(np.linspace(0, t, points)).astype(np.int64))
    if exact_from is not None:
        if (exact_from.get("task") is not task or not np.array_equal(exact_from["steps"], steps)
                or exact_from.get("key") != (float(eta), t, dps)):
            raise ValueError("exact_from was computed for another (task, eta, t, points, dps)")
        return {**exact_from, "trace": trace}
    ex = exact.log10_intermediates(task, eta, t, steps.tolist(), "log", dps)
    with mpmath.workdps(dps):
        exact_arrays = {
            "state": np.array([float(x) for x in ex["state"]]),
            "adjoint": np.array([float(x) for x in ex["adjoint"]]),
            "running_gradient": np.array([float(x) if k < t else np.nan
                                          for k, x in zip(steps, ex["running_gradient"])]),
            "loss": float(ex["loss"]),
            "seed": float(ex["inv_loss"]),
        }
    return {"trace": trace, "steps": steps, "exact": exact_arrays, "key": (float(eta), t, dps), "task": task}



# --------------------------------------------------------------------------- the chapter's configuration


@dataclass(frozen=True)
class Config:
    """The chapter's parameters after the ``scale`` overrides (see :func:`config`)."""

    d: int
    seed: int
    ensemble: str
    eta_L: tuple[float, float]
    n_eta: int
    t_range: tuple[int, int]
    n_horizons: int
    jax_every: int
    traces: tuple[tuple[float, int], ...]
    rate_eta_L: tuple[float, ...]
    rate_t: tuple[int, int]
    n_rate: int
    rate_tol: float

    @property
    def etas_L(self) -> np.ndarray:
        """The diagram's step sizes in units of 1/L."""
        return np.linspace(self.eta_L[0], self.eta_L[1], self.n_eta)

    @property
    def horizons(self) -> np.ndarray:
        return log_grid(self.t_range[0], self.t_range[1], self.n_horizons)

    @property
    def rate_horizons(self) -> np.ndarray:
        return log_grid(self.rate_t[0], self.rate_t[1], self.n_rate)


#: What ``scale="paper"`` changes: a grid twice as fine (the paper draws no such diagram).
PAPER_SCALE = {"n_eta": 72, "n_horizons": 25, "jax_every": 3}


def _pair(x, name, kind):
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {x!r}")
    lo, hi = (kind(v, name) for v in x)
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi, got {x!r}")
    return lo, hi


def _positive(x, name) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)) or not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def config(scale: str, *, d, seed, ensemble, eta_L, n_eta, t_range, n_horizons, jax_every, traces,
           rate_eta_L, rate_t, n_rate, rate_tol) -> Config:
    """The chapter's parameters, validated, with ``scale="paper"``'s overrides (:data:`PAPER_SCALE`)."""
    if scale not in ("book", "paper"):
        raise ValueError(f"scale must be 'book' or 'paper', got {scale!r}")
    n_eta, n_horizons, jax_every = (PAPER_SCALE[k] if scale == "paper" else v
                                    for k, v in (("n_eta", n_eta), ("n_horizons", n_horizons),
                                                 ("jax_every", jax_every)))
    if not isinstance(traces, (list, tuple)) or not traces:
        raise ValueError(f"traces must be a non-empty list of (eta L, t) pairs, got {traces!r}")
    pairs = []
    for p in traces:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"each of traces must be a pair (eta L, t), got {p!r}")
        pairs.append((_positive(p[0], "the eta L of a trace"), _checks.positive_int(p[1], "the t of a trace")))
    if not isinstance(rate_eta_L, (list, tuple)) or not rate_eta_L:
        raise ValueError(f"rate_eta_L must be a non-empty list of step sizes in units of 1/L, got {rate_eta_L!r}")
    rates = tuple(_positive(x, "each rate_eta_L") for x in rate_eta_L)
    if 2.0 in rates:
        raise ValueError("rate_eta_L must avoid eta L = 2, where S(eta) = 1 and there is no rate to measure")
    tol = _positive(rate_tol, "rate_tol")
    return Config(_checks.positive_int(d, "d"), _checks.seed_int(seed), str(ensemble),
                  _pair(eta_L, "eta_L", _positive), _checks.positive_int(n_eta, "n_eta"),
                  _pair(t_range, "t_range", _checks.positive_int), _checks.positive_int(n_horizons, "n_horizons"),
                  _checks.positive_int(jax_every, "jax_every"), tuple(pairs), rates,
                  _pair(rate_t, "rate_t", _checks.positive_int), max(2, _checks.positive_int(n_rate, "n_rate")), tol)


def make_task(cfg: Config):
    """The chapter's quadratic task."""
    from ..quadratic.task import QuadraticTask

    return QuadraticTask.random(cfg.d, cfg.seed, cfg.ensemble)


def contraction(task, etas) -> np.ndarray:
    """S(eta) = max_i |1 - eta lambda_i| over the i with c_i != 0 (float64)."""
    lam = task.eigenvalues[task.c != 0]
    etas = _checks.etas(etas)
    return np.max(np.abs(1.0 - etas[..., None] * lam), axis=-1)


def _glue(name, value):
    from myst_nb import glue

    glue(name, value, display=False)


#: The task's constants the chapter shows: glue name -> (constant of
#: :data:`l2lcore.quadratic.proof.CONSTANTS`, the format book/corollary1.md shows it with).
SHOWN_CONSTANTS = {"L": ("L", ".2f"), "alpha": ("alpha", ".3f"), "kappa": ("L/alpha", ".1f"),
                   "S_star": ("(L-alpha)/(L+alpha)", ".3f")}


def task_constants(task) -> dict:
    """The values of :data:`SHOWN_CONSTANTS` from the float64 eigendecomposition (what is glued)."""
    return {"L": task.L, "alpha": task.alpha, "kappa": task.L / task.alpha,
            "S_star": (task.L - task.alpha) / (task.L + task.alpha)}


def glue_setting(task, cfg: Config) -> None:
    """Glue the task's numbers and the float types' limits (log10 M, N, D)."""
    _glue("d", cfg.d)
    _glue("seed", cfg.seed)
    for name, value in task_constants(task).items():
        _glue(name, value)
    for dt in FLOAT_DTYPES:
        fi = np.finfo(dt)
        _glue(f"{dt}_max", float(np.log10(fi.max)))
        _glue(f"{dt}_normal", float(np.log10(fi.smallest_normal)))
        _glue(f"{dt}_sub", float(np.log10(fi.smallest_subnormal)))


# --------------------------------------------------------------------------- the exponential rate

#: The four extreme intermediates of one backward pass, as squared magnitudes, and the sign of
#: their predicted rate: each changes by a factor S^(2 sign) per inner step of the horizon t.
RATE_QUANTITIES = {"state": 1, "loss": 1, "seed": -1, "adjoint": -1}
RATE_LABELS = {"state": r"last state $\|w_t\|^2$", "loss": r"loss $F = f(w_t)$",
               "seed": r"seed $1/(tF)$", "adjoint": r"first adjoint $\|\bar w_t\|^2$"}


@dataclass(frozen=True)
class IntermediateRates:
    """Exact log10 of the extreme intermediates of backprop of G, against the horizon.

    ``log10[q]`` has shape (step sizes, horizons): log10 ||w_t||^2, log10 F, log10 (1/(tF)) and
    log10 ||wbar_t||^2 from :func:`l2lcore.quadratic.exact.log10_intermediates` (40 digits).
    The measured rate of q between two horizons is the slope of log10 q per inner step; the
    predicted one is sign(q) * 2 log10 S(eta).
    """

    eta_L: np.ndarray
    S: np.ndarray
    horizons: np.ndarray
    log10: dict
    tol: float

    @property
    def predicted(self) -> np.ndarray:
        """2 log10 S(eta) per inner step, one per step size."""
        return 2 * np.log10(self.S)

    def slopes(self, q: str) -> np.ndarray:
        """Measured slope of log10 q per inner step between consecutive horizons."""
        return np.diff(self.log10[q], axis=1) / np.diff(self.horizons)

    def ratio(self, q: str) -> np.ndarray:
        """Measured slope over predicted slope (sign included): 1 when the rate is S^(+-2)."""
        return self.slopes(q) / (RATE_QUANTITIES[q] * self.predicted[:, None])

    def last_deviation(self) -> dict:
        """|ratio - 1| on the last interval (the two longest horizons), per quantity and step size."""
        return {q: np.abs(self.ratio(q)[:, -1] - 1) for q in RATE_QUANTITIES}

    @property
    def worst(self) -> float:
        return float(max(np.max(v) for v in self.last_deviation().values()))

    @property
    def cases(self) -> int:
        return len(RATE_QUANTITIES) * self.eta_L.size


def intermediate_rates(task, eta_L, horizons, tol: float = 0.05, dps: int = 40) -> IntermediateRates:
    """Exact magnitudes of the last state, the loss, the seed and the first adjoint for each
    step size ``eta_L`` (in units of 1/L) at each horizon (at least two), with ``tol`` the
    tolerance on |measured rate / predicted rate - 1|."""
    eta_L = _checks.etas(eta_L)
    if eta_L.ndim != 1:
        raise ValueError("eta_L must be a 1-d sequence of step sizes")
    horizons = _horizons(horizons)
    if horizons.size < 2:
        raise ValueError("horizons must hold at least two distinct horizons to measure a rate")
    S = contraction(task, eta_L / task.L)
    if np.any(S == 1):
        raise ValueError("eta_L must avoid step sizes with S(eta) = 1 (eta = 0 or eta = 2/L): no rate there")
    out = {q: np.empty((eta_L.size, horizons.size)) for q in RATE_QUANTITIES}
    for a, e in enumerate(eta_L):
        for b, t in enumerate(horizons):
            ex = exact.log10_intermediates(task, float(e) / task.L, int(t), [int(t)], "log", dps)
            out["state"][a, b] = 2 * float(ex["state"][0])
            out["loss"][a, b] = float(ex["loss"])
            out["seed"][a, b] = float(ex["inv_loss"])
            out["adjoint"][a, b] = 2 * float(ex["adjoint"][0])
    return IntermediateRates(eta_L, S, horizons, out, _positive(tol, "tol"))


def plot_rates(rates: IntermediateRates):
    """One panel per intermediate: measured rate / predicted rate against the horizon (log t)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), sharey=True)
    t_mid = np.sqrt(rates.horizons[1:] * rates.horizons[:-1])
    data = {"quantity": [], "eta_L": [], "S": [], "t_from": [], "t_to": [], "measured_slope": [],
            "predicted_slope": [], "ratio": []}
    colors = plt.cm.viridis(np.linspace(0, 0.9, rates.eta_L.size))
    for ax, q in zip(axes, RATE_QUANTITIES):
        ratio, slopes = rates.ratio(q), rates.slopes(q)
        for a, e in enumerate(rates.eta_L):
            ax.plot(t_mid, ratio[a], "o-", ms=3, color=colors[a], label=rf"$\eta L$ = {e:g} ($S$ = {rates.S[a]:.3f})")
            for b in range(t_mid.size):
                data["quantity"].append(q)
                data["eta_L"].append(float(e))
                data["S"].append(float(rates.S[a]))
                data["t_from"].append(int(rates.horizons[b]))
                data["t_to"].append(int(rates.horizons[b + 1]))
                data["measured_slope"].append(float(slopes[a, b]))
                data["predicted_slope"].append(float(RATE_QUANTITIES[q] * rates.predicted[a]))
                data["ratio"].append(float(ratio[a, b]))
        ax.axhspan(1 - rates.tol, 1 + rates.tol, color="0.85", zorder=0)
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(RATE_LABELS[q], fontsize=10)
        ax.set_xlabel("horizon $t$ (steps, log scale)")
    axes[0].set_ylabel("measured / predicted rate")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig, data


def glue_rates(rates: IntermediateRates) -> None:
    _glue("rate_tol", rates.tol)
    _glue("rate_worst", rates.worst)
    _glue("rate_t1", int(rates.horizons[-2]))
    _glue("rate_t2", int(rates.horizons[-1]))
    _glue("rate_cases", rates.cases)


# --------------------------------------------------------------------------- step-by-step traces


@dataclass(frozen=True)
class TraceRun:
    """One backprop run in one float type with its trace, and the exact sizes and G'."""

    eta_L: float
    t: int
    dtype: str
    S: float
    trace: bp.BackpropTrace
    steps: np.ndarray
    exact: dict
    exact_gradient: float

    @property
    def broken(self) -> bool:
        """Backprop returned 0, nan or inf."""
        v = float(self.trace.value)
        return not np.isfinite(v) or v == 0

    @property
    def relative_error(self) -> float:
        return abs(float(self.trace.value) - self.exact_gradient) / abs(self.exact_gradient)

    def in_range_deviation(self) -> np.ndarray:
        """|float - exact| of log10 magnitudes (decades) wherever the float value is a normal number."""
        fi = np.finfo(self.dtype)
        lo, hi = np.log10(fi.smallest_normal), np.log10(fi.max)
        devs = []
        for name in ("state", "adjoint", "running_gradient"):
            got, ref = getattr(self.trace, name)[self.steps[:-1]], self.exact[name][:-1]
            normal = np.isfinite(got) & (got >= lo) & (got <= hi)
            devs.append(np.abs(got[normal] - ref[normal]))
        return np.concatenate(devs)


#: A run with no intermediate out of range must return G' to this relative accuracy.
TRACE_RTOL = {"float32": 1e-3, "float64": 1e-6}


def trace_runs(task, pairs) -> tuple[TraceRun, ...]:
    """float32 and float64 backprop traces for each (eta L, t) in ``pairs``, with exact sizes."""
    runs = []
    for eta_l, t in pairs:
        eta = float(eta_l) / task.L
        g = float(exact.meta_gradient(task, eta, int(t), "log", 12))
        S = float(contraction(task, np.array([eta]))[0])
        first = None
        for dt in FLOAT_DTYPES:
            first = trace_versus_exact(task, eta, int(t), dt, exact_from=first)
            runs.append(TraceRun(float(eta_l), int(t), dt, S, first["trace"], first["steps"], first["exact"], g))
    return tuple(runs)


_COLORS = {"float32": "tab:orange", "float64": "tab:blue"}
_STYLES = {"state": "-", "adjoint": "--", "running_gradient": "-."}


def plot_traces(runs, title: str = ""):
    """One panel per (eta, t): log10 magnitudes of states, adjoints and the running gradient
    against the step index, exact (thick grey) and in each float type."""
    import matplotlib.pyplot as plt

    pairs = list(dict.fromkeys((r.eta_L, r.t) for r in runs))
    ncols = 2
    nrows = -(-len(pairs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 4 * nrows), squeeze=False)
    data = {"eta_L": [], "t": [], "source": [], "quantity": [], "k": [], "log10_magnitude": []}

    def record(r, source, name, k, y):
        for kk, yy in zip(k, y):
            data["eta_L"].append(r.eta_L)
            data["t"].append(r.t)
            data["source"].append(source)
            data["quantity"].append(name)
            data["k"].append(int(kk))
            data["log10_magnitude"].append(float(yy))

    for ax, pair in zip(axes.ravel(), pairs):
        here = [r for r in runs if (r.eta_L, r.t) == pair]
        ex, k = here[0].exact, here[0].steps
        for name, ls in _STYLES.items():
            ax.plot(k, ex[name], color="k", lw=2.5, alpha=0.3, ls=ls)
            record(here[0], "exact", name, k, ex[name])
        ax.plot([pair[1], pair[1]], [ex["loss"], ex["seed"]], "kx", ms=9)
        record(here[0], "exact", "loss", [pair[1]], [ex["loss"]])
        record(here[0], "exact", "seed", [pair[1]], [ex["seed"]])
        for r in here:
            lw = 2.0 if r.dtype == "float32" else 1.0  # float64 is drawn on top of float32
            for name, ls in _STYLES.items():
                y = getattr(r.trace, name)[k[k < len(getattr(r.trace, name))]]
                kk = k[: y.size]
                y = np.where(np.isfinite(y), y, np.nan)
                ax.plot(kk, y, color=_COLORS[r.dtype], lw=lw, ls=ls)
                record(r, r.dtype, name, kk, y)
            fi = np.finfo(r.dtype)
            for bound in (np.log10(fi.max), np.log10(fi.smallest_normal)):
                ax.axhline(bound, color=_COLORS[r.dtype], ls=":", lw=1)
        ax.set_title(rf"$\eta = {pair[0]:g}/L$ ($S$ = {here[0].S:.3f}), $t$ = {pair[1]}", fontsize=10)
        ax.set_xlabel("step index $k$")
        ax.set_ylabel(r"$\log_{10}$ of magnitude (2-norm)")
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    proxies = [plt.Line2D([], [], color="k", lw=2.5, alpha=0.3, label="exact"),
               plt.Line2D([], [], color=_COLORS["float32"], lw=2, label="float32"),
               plt.Line2D([], [], color=_COLORS["float64"], lw=1, label="float64"),
               plt.Line2D([], [], color="0.3", ls="-", label=r"$\|w_k\|$"),
               plt.Line2D([], [], color="0.3", ls="--", label=r"$\|\bar w_k\|$"),
               plt.Line2D([], [], color="0.3", ls="-.", label=r"$|g_k|$ (running gradient)"),
               plt.Line2D([], [], color="k", marker="x", ls="", ms=8, label=r"exact $F$, $1/(tF)$ at $k=t$"),
               plt.Line2D([], [], color="0.3", ls=":", label="largest / smallest normal number")]
    axes[0, 0].legend(handles=proxies, fontsize=7, loc="best", ncol=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, data


_NAMES = {"inv_loss": "seed 1/(tF)", "running_gradient": "running gradient", "state": "state w_k",
          "adjoint": "adjoint", "loss": "loss F"}


class TraceTable:
    """The traced runs as a table: the first intermediate out of range, and G' returned."""

    def __init__(self, runs):
        self.runs = tuple(runs)

    def rows(self) -> list[tuple]:
        out = []
        for r in self.runs:
            f = r.trace.first_out_of_range
            first = "none" if f is None else (
                _NAMES.get(f.quantity, f.quantity) + (f" at k = {f.step}" if f.step is not None else "") + f" ({f.kind})")
            out.append((f"{r.eta_L:g}", str(r.t), f"{r.S:.4f}", f"{r.exact['loss']:.0f}", f"{r.exact_gradient:.6g}",
                        r.dtype, first, repr(float(r.trace.value))))
        return out

    HEAD = ("eta L", "t", "S(eta)", "exact log10 F", "exact G'", "type", "first intermediate out of range",
            "G' returned")

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows())
        return f'<table class="corollary1-traces"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(" | ".join(row) for row in [self.HEAD] + self.rows())


def trace_deviation(runs) -> float:
    """Largest |float - exact| (decades) of a normal float intermediate over all traced runs."""
    return float(max(np.max(r.in_range_deviation(), initial=0.0) for r in runs))


def glue_traces(runs) -> None:
    _glue("n_traces", len(dict.fromkeys((r.eta_L, r.t) for r in runs)))
    _glue("trace_dev", trace_deviation(runs))
    for dt, tol in TRACE_RTOL.items():
        _glue(f"trace_rtol_{dt}", tol)


# --------------------------------------------------------------------------- phase diagram and witness


def phase_diagrams(task, cfg: Config, progress: bool = False) -> dict:
    """float32 and float64 phase diagrams on the grid of ``cfg``, sharing one exact reference."""
    etas = cfg.etas_L / task.L
    reference = exact_log_gradients(task, etas, cfg.horizons, progress=progress)
    return {dt: phase_diagram(task, etas, cfg.horizons, dt, reference, progress=progress) for dt in FLOAT_DTYPES}


def jax_witnesses(task, diagrams: dict, every: int, progress: bool = False) -> dict:
    """JAX's meta-gradients on every ``every``-th row and column of each diagram."""
    return {dt: jax_witness(task, diagrams[dt], every=every, progress=progress) for dt in FLOAT_DTYPES}


_CLASS_COLORS = ["#4daf4a", "#ffd92f", "#377eb8", "#e41a1c"]
_CLASS_LABELS = [f"accurate (rel. err. <= {RTOL:g})", "inaccurate", "returned 0", "returned nan/inf"]


def _edges(x, log=False):
    x = np.log10(x) if log else np.asarray(x, dtype=float)
    mid = (x[1:] + x[:-1]) / 2
    e = np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])
    return 10**e if log else e


def _class_map():
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cmap = ListedColormap(_CLASS_COLORS)
    return cmap, BoundaryNorm(np.arange(-0.5, 4), cmap.N)


def _grid_data(panels) -> dict:
    """Long-format data of class maps: (dtype, eta L, t, observed, predicted) per cell."""
    data = {"panel": [], "eta_L": [], "t": [], "observed": [], "predicted": []}
    for name, etas_L, horizons, observed, predicted in panels:
        for a, t in enumerate(horizons):
            for b, e in enumerate(etas_L):
                data["panel"].append(name)
                data["eta_L"].append(float(e))
                data["t"].append(int(t))
                data["observed"].append(CLASSES[observed[a, b]])
                data["predicted"].append(CLASSES[predicted[a, b]])
    return data


def plot_phase(task, diagrams: dict, title: str = ""):
    """Observed class of float backprop's G' per cell, with the predicted failure boundary
    (black), its leading order (white dashed) and eta = 2/L (dotted)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    cmap, norm = _class_map()
    d64 = diagrams["float64"]
    etas, horizons = d64.etas, d64.horizons
    fine_etas = np.linspace(etas[0], etas[-1], 400)
    fine_t = log_grid(max(1, horizons[0] // 2), horizons[-1] * 2, 160)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, (dt, dia) in zip(axes, diagrams.items()):
        ax.pcolormesh(_edges(etas * task.L), _edges(horizons, log=True), dia.observed, cmap=cmap, norm=norm)
        broken = (predicted_map(task, fine_etas, fine_t, dt) >= ZERO).astype(float)
        ax.contour(fine_etas * task.L, fine_t, broken, levels=[0.5], colors="k", linewidths=1.5)
        ax.plot(fine_etas * task.L, leading_order_horizon(task, fine_etas, dt), "w--", lw=1.2)
        ax.axvline(2.0, color="0.3", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_ylim(horizons[0] / 1.5, horizons[-1] * 1.5)
        ax.set_xlabel(r"step size $\eta L$ (dimensionless)")
        ax.set_title(f"backprop in {dt}", fontsize=10)
    axes[0].set_ylabel("horizon $t$ (steps, log scale)")
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(_CLASS_LABELS)]
    handles += [plt.Line2D([], [], color="k", label="predicted failure boundary"),
                plt.Line2D([], [], color="w", ls="--", label=r"leading order $S^{2t} = M$")]
    axes[1].legend(handles=handles, fontsize=8, loc="lower left", facecolor="0.85")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    data = _grid_data([(dt, dia.etas * task.L, dia.horizons, dia.observed, dia.predicted)
                       for dt, dia in diagrams.items()])
    return fig, data


def glue_phase(task, diagrams: dict) -> None:
    for dt, dia in diagrams.items():
        _glue(f"{dt}_broken", 100 * float(np.mean(dia.broken)))
        _glue(f"{dt}_agree", 100 * dia.agreement())
        _glue(f"{dt}_accurate", 100 * float(np.mean(dia.observed == ACCURATE)))
        _glue(f"{dt}_inaccurate", int(np.sum(dia.observed == INACCURATE)))
    d64 = diagrams["float64"]
    _glue("n_cells", d64.observed.size)
    _glue("n_eta", d64.etas.size)
    _glue("n_t", d64.horizons.size)
    _glue("eta_lo", float(d64.etas[0] * task.L))
    _glue("eta_hi", float(d64.etas[-1] * task.L))
    _glue("t_lo", int(d64.horizons[0]))
    _glue("t_hi", int(d64.horizons[-1]))
    _glue("rtol", RTOL)
    above, below = _first_broken_sides(task, d64)
    _glue("first64_above", int(above.min()) if above.size else 0)
    _glue("first64_below", int(below.min()) if below.size else 0)


def _first_broken_sides(task, diagram: PhaseDiagram):
    """The first broken horizons of the step sizes above and below 2/L that break at all."""
    first = first_broken_horizon(diagram)
    above = diagram.etas > 2 / task.L
    return first[above & (first > 0)], first[~above & (first > 0)]


def plot_jax(task, witnesses: dict, title: str = ""):
    """Observed class of jax.grad's G' per cell; circles where its failure class differs from
    l2lcore's backprop."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    cmap, norm = _class_map()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (dt, w) in zip(axes, witnesses.items()):
        ax.pcolormesh(_edges(w.etas * task.L), _edges(w.horizons, log=True), w.observed, cmap=cmap, norm=norm)
        differ = np.argwhere(failure_class(w.observed) != failure_class(w.numpy_observed))
        ax.plot(w.etas[differ[:, 1]] * task.L, w.horizons[differ[:, 0]], "ko", mfc="none", ms=10)
        ax.set_yscale("log")
        ax.set_xlabel(r"step size $\eta L$ (dimensionless)")
        ax.set_title(f"jax.grad in {dt}", fontsize=10)
    axes[0].set_ylabel("horizon $t$ (steps, log scale)")
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(_CLASS_LABELS)]
    handles.append(plt.Line2D([], [], color="k", marker="o", mfc="none", ls="",
                              label="failure class differs from l2lcore"))
    axes[1].legend(handles=handles, fontsize=8, loc="lower left", facecolor="0.85")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    data = _grid_data([(f"jax {dt}", w.etas * task.L, w.horizons, w.observed, w.predicted)
                       for dt, w in witnesses.items()])
    data["l2lcore_observed"] = [CLASSES[c] for w in witnesses.values() for c in w.numpy_observed.ravel()]
    return fig, data


def glue_jax(witnesses: dict, every: int) -> None:
    _glue("jax_every", every)
    for dt, w in witnesses.items():
        _glue(f"{dt}_jax_agree", 100 * w.agreement())
        _glue(f"{dt}_jax_pred", 100 * w.prediction_agreement())
        _glue(f"{dt}_jax_cells", w.observed.size)
        _glue(f"{dt}_jax_diff", int(np.sum(failure_class(w.observed) != failure_class(w.numpy_observed))))
        _glue(f"{dt}_jax_broken", 100 * float(np.mean(w.observed >= ZERO)))


# --------------------------------------------------------------------------- the stable method

#: The stable float64 meta-gradient must be within this relative error of the exact one.
STABLE_RTOL = 1e-9


def stable_errors(task, diagram: PhaseDiagram) -> np.ndarray:
    """|G'_stable - G'_exact| / |G'_exact| on every cell of the diagram (stable float64)."""
    out = np.empty(diagram.exact.shape)
    for a, t in enumerate(diagram.horizons):
        s = stable.log_gradient(task, diagram.etas, int(t))
        out[a] = np.abs(s - diagram.exact[a]) / np.abs(diagram.exact[a])
    return out


def plot_stable(diagram: PhaseDiagram, errors: np.ndarray):
    """Per horizon, the largest relative error over the step sizes of the stable float64
    method, and of float64 backprop over the cells where it returned a finite nonzero value."""
    import matplotlib.pyplot as plt

    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(diagram.values - diagram.exact) / np.abs(diagram.exact)
    usable = np.isfinite(diagram.values) & (diagram.values != 0)
    bp_max = np.array([np.max(rel[a][usable[a]]) if usable[a].any() else np.nan for a in range(rel.shape[0])])
    bp_n = usable.sum(axis=1)
    st_max = errors.max(axis=1)
    floor = np.finfo(np.float64).eps / 2
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(diagram.horizons, np.maximum(st_max, floor), "o-", color="tab:green", label="stable method, all cells")
    ax.plot(diagram.horizons, np.maximum(bp_max, floor), "s--", color="tab:blue",
            label="float64 backprop, cells with a finite nonzero result")
    ax.axhline(STABLE_RTOL, color="k", ls=":", lw=1, label=f"tolerance {STABLE_RTOL:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon $t$ (steps, log scale)")
    ax.set_ylabel(r"largest relative error of $G'$ over $\eta$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    data = {"t": [int(t) for t in diagram.horizons] * 2,
            "method": ["stable float64"] * diagram.horizons.size + ["backprop float64"] * diagram.horizons.size,
            "max_relative_error": list(st_max) + list(bp_max),
            "cells_used": [diagram.etas.size] * diagram.horizons.size + [int(n) for n in bp_n]}
    return fig, data


def glue_stable(errors: np.ndarray) -> None:
    _glue("stable_error", float(np.max(errors)))
    _glue("stable_rtol", STABLE_RTOL)


# --------------------------------------------------------------------------- every exact value shown, proven


def log_digits(x: float, cap: int = 12) -> int:
    """Significant digits of 10**x that a float64 x carries: its rounding error, |x| 2^-53,
    becomes a relative error of ln(10) |x| 2^-53 in 10**x (kept within a factor 4, at most ``cap``)."""
    return max(1, min(cap, int(-np.log10(4 * np.log(10) * max(1.0, abs(x)) * 2.0**-53))))


def _from_log10(x: float, scale=1):
    with mpmath.workdps(40):
        return mpmath.mpf(10) ** mpmath.mpf(x) * scale


def exact_values(task, rates: IntermediateRates, traces, diagram: PhaseDiagram) -> list:
    """Every exact value the chapter shows that is a meta-objective or a meta-gradient: G' on every
    cell of the phase diagram (certified to 12 digits; the float32 and float64 panels share it),
    the loss F behind the measured rates of the loss and of the seed 1/(tF) (float64 logs of
    40-digit values, so about 12 digits, see :func:`log_digits`), and for each traced run its exact
    G' (12 digits), its loss and seed, and its running gradient, which after the backward step at
    k is (t - k)/t G'. The norms of the states and adjoints are not meta-objectives and have no
    proven counterpart here."""
    from ..quadratic.proof import ExactValue

    values = [ExactValue(task, int(t), "G'", float(diagram.exact[a, b]), float(eta), digits=12)
              for a, t in enumerate(diagram.horizons) for b, eta in enumerate(diagram.etas)]
    for a, e in enumerate(rates.eta_L):
        eta = float(e) / task.L
        for b, t in enumerate(rates.horizons):
            loss, seed = float(rates.log10["loss"][a, b]), float(rates.log10["seed"][a, b])
            values += [ExactValue(task, int(t), "F", _from_log10(loss), eta, "naive", log_digits(loss)),
                       ExactValue(task, int(t), "F", _from_log10(-seed, mpmath.mpf(1) / int(t)), eta, "naive",
                                  log_digits(seed))]
    for r in {(r.eta_L, r.t): r for r in traces}.values():  # the exact part is shared by both float types
        eta, t, ex = r.eta_L / task.L, r.t, r.exact
        sign = 1 if r.exact_gradient > 0 else -1
        values += [ExactValue(task, t, "G'", r.exact_gradient, eta, digits=12),
                   ExactValue(task, t, "F", _from_log10(ex["loss"]), eta, "naive", log_digits(ex["loss"])),
                   ExactValue(task, t, "F", _from_log10(-ex["seed"], mpmath.mpf(1) / t), eta, "naive",
                              log_digits(ex["seed"]))]
        values += [ExactValue(task, t, "G'", _from_log10(float(g), mpmath.mpf(sign * t) / (t - int(k))), eta,
                              digits=log_digits(float(g)))
                   for k, g in zip(r.steps, ex["running_gradient"]) if k < t]
    return values


def check_values(values):
    """:func:`l2lcore.quadratic.proof.check` for values that are not minimizers, enclosing each
    distinct (quantity, eta, t, digits) once: a traced run shows G' at every step (scaled), all
    checked against one enclosure."""
    from ..quadratic import proof

    balls, outside = {}, []
    for v in values:
        if not isinstance(v, proof.ExactValue) or v.quantity == "eta*":
            raise ValueError(f"values must be ExactValue objects of a meta-objective or gradient, got {v!r}")
        key = (id(v.task), v.quantity, mpmath.mpf(v.eta), v.t, v.digits)
        if key not in balls:
            balls[key] = proof.enclose(v.task, v.eta, v.t, v.quantity, v.digits, absolute=True)
        if not proof.agrees(balls[key], v.value, v.digits):
            outside.append((v.quantity, v.eta, v.t))
    return proof.ProofCheck(len(values), len(values) - len(outside), tuple(outside))


#: Digits to which the norms of the iterates and adjoints are enclosed (a float64 log10 of a
#: 40-digit value carries at most 12, see :func:`log_digits`).
NORM_DIGITS = 12


def norm_checks(task, rates: IntermediateRates, traces) -> list:
    """(label, proven) for every exact norm of an iterate or an adjoint the chapter shows: the
    squared norms ||w_t||^2 and ||wbar_t||^2 behind the measured rates, and ||w_k||, ||wbar_k|| at
    every plotted step of each traced run (float64 logs of 40-digit values, so checked to
    :func:`log_digits` digits), against :func:`l2lcore.quadratic.proof.intermediate_norms`:
    w_k = A^k w_0 and wbar_k = H A^(2t-k) w_0 / (t F) with A = I - eta H, by matrix powers in
    ball arithmetic (no eigendecomposition)."""
    from ..quadratic import proof

    out = []

    def check(ball, log10_sq, name, k, eta, t):
        ok = proof.agrees(ball, _from_log10(log10_sq), log_digits(log10_sq))
        out.append(((f"{name}_{k}", eta, t), ok))

    for r in {(r.eta_L, r.t): r for r in traces}.values():
        eta = r.eta_L / task.L
        norms = proof.intermediate_norms(task, eta, r.t, r.steps, "log", NORM_DIGITS)
        for name, balls in (("state", norms.state), ("adjoint", norms.adjoint)):
            for k, x, ball in zip(r.steps, r.exact[name], balls):
                check(ball, 2 * float(x), f"||{name}||^2", int(k), eta, r.t)
    for a, e in enumerate(rates.eta_L):
        eta = float(e) / task.L
        for b, t in enumerate(rates.horizons):
            norms = proof.intermediate_norms(task, eta, int(t), [int(t)], "log", NORM_DIGITS)
            check(norms.state[0], float(rates.log10["state"][a, b]), "||state||^2", int(t), eta, int(t))
            check(norms.adjoint[0], float(rates.log10["adjoint"][a, b]), "||adjoint||^2", int(t), eta, int(t))
    return out


#: Digits to which a float64 constant computed from numpy's eigendecomposition is checked where
#: the chapter shows it at full precision (figure data).
CONSTANT_DIGITS = 10


def constant_checks(task, rates: IntermediateRates, traces, diagram: PhaseDiagram) -> list:
    """(label, proven) for every constant of the task the chapter shows: L, alpha, L/alpha and
    (L - alpha)/(L + alpha) digit for digit as shown (:data:`SHOWN_CONSTANTS`), Theorem 4's scale
    and the range of log10 F over the diagram as claim 2 and 3 show them, and S(eta) of every
    rate and trace step size (figure data, :data:`CONSTANT_DIGITS` digits), against proven
    eigenvalue enclosures (:func:`l2lcore.quadratic.proof.constant`,
    :func:`~l2lcore.quadratic.proof.contraction`) and proven F."""
    from ..quadratic import proof

    values = task_constants(task)
    out = [((name, None, 0), proof.shown_correctly(proof.constant(task, const), values[name], fmt))
           for name, (const, fmt) in SHOWN_CONSTANTS.items()]
    out.append((("theorem4 scale", None, 0), proof.shown_correctly(
        proof.constant(task, "L^3/(c_min^2 alpha (L-alpha))"), task.theorem4_scale(), ".3g")))
    for j in (int(np.argmin(diagram.log10_loss)), int(np.argmax(diagram.log10_loss))):
        a, b = np.unravel_index(j, diagram.log10_loss.shape)
        eta, t = float(diagram.etas[b]), int(diagram.horizons[a])
        F = proof.log10(proof.enclose(task, eta, t, "F", 5))
        out.append((("log10 F", eta, t), proof.shown_correctly(F, float(diagram.log10_loss[a, b]), ".0f")))
    pairs = [(float(e), float(S)) for e, S in zip(rates.eta_L, rates.S)]
    pairs += [(r.eta_L, r.S) for r in {(r.eta_L, r.t): r for r in traces}.values()]
    for e, S in dict(pairs).items():
        ball = proof.contraction(task, e / task.L, CONSTANT_DIGITS + 2)
        out.append((("S(eta)", e / task.L, 0), proof.agrees(ball, S, CONSTANT_DIGITS)))
    return out


def prove(task, rates: IntermediateRates, traces, diagram: PhaseDiagram):
    """Check every exact value the chapter shows against proven enclosures: the meta-objectives
    and meta-gradients (:func:`exact_values`), the norms of the iterates and adjoints
    (:func:`norm_checks`) and the task's constants (:func:`constant_checks`)."""
    from ..quadratic import proof

    return proof.combine(check_values(exact_values(task, rates, traces, diagram)),
                         proof.tally(norm_checks(task, rates, traces)),
                         proof.tally(constant_checks(task, rates, traces, diagram)))


def glue_proven(check) -> None:
    _glue("proof_count", check.count)
    _glue("proof_proven", check.proven)


# --------------------------------------------------------------------------- claims

STATEMENTS = (
    Statement("intermediates", "Corollary 1",
              "Back-propagating the log meta-objective through the t unrolled steps forms intermediate values "
              "(the iterates, the loss, its reciprocal, the adjoints) that are exponentially large or small in t."),
    Statement("overflow", "Corollary 1",
              "In finite precision these intermediates overflow or underflow, so backpropagation loses the "
              "meta-gradient, although the meta-gradient itself stays bounded."),
    Statement("autodiff", "Section 5 (text on Figure 1), as Corollary 1 explains it",
              "TensorFlow's meta-gradient (automatic differentiation through the unrolled steps) breaks in "
              "this way, which is why the paper's TensorFlow meta-training failed in many settings (whether "
              "meta-training runs fail is the Theorem 4 chapter's statement)."),
    Statement("autodiff-where", "Corollary 1, with Section 5 (text on Figure 1)",
              "Backpropagation's meta-gradient breaks (0, nan or inf) first at long horizons t and large step "
              "sizes eta, the settings where the paper saw its meta-training fail."),
)


def claims(task, diagrams: dict, witnesses: dict, rates: IntermediateRates, traces,
           stable_error: float | None = None, min_agreement: float = 0.95, proven=None) -> list[Claim]:
    """What the Corollary 1 chapter checks, from its exact rates, traces, phase diagrams and JAX
    witnesses. ``diagrams`` and ``witnesses`` map "float32" and "float64" to a
    :class:`PhaseDiagram` and a :class:`Witness` (on the same task); ``stable_error`` is the
    largest relative error of the stable method on the float64 diagram (computed if None); ``proven``
    is the result of :func:`prove` (computed if None), which the last claim reports."""
    if set(diagrams) != set(FLOAT_DTYPES) or set(witnesses) != set(FLOAT_DTYPES):
        raise ValueError(f"diagrams and witnesses must each have the keys {FLOAT_DTYPES}")
    d32, d64 = diagrams["float32"], diagrams["float64"]
    if not (np.array_equal(d32.etas, d64.etas) and np.array_equal(d32.horizons, d64.horizons)):
        raise ValueError("the float32 and float64 diagrams must share one grid")
    if not isinstance(rates, IntermediateRates):
        raise ValueError(f"rates must be an IntermediateRates, got {type(rates).__name__}")
    traces = tuple(traces)
    g_max = float(np.max(np.abs(d64.exact)))
    lo, hi = float(np.min(d64.log10_loss)), float(np.max(d64.log10_loss))
    span64 = 2 * np.log10(np.finfo(np.float64).max)
    frac = {k: float(np.mean(v.broken)) for k, v in diagrams.items()}
    agree = {k: v.agreement() for k, v in diagrams.items()}
    jax_agree = {k: w.agreement() for k, w in witnesses.items()}
    jax_pred = {k: w.prediction_agreement() for k, w in witnesses.items()}
    jax_first = {k: float(np.mean(w.observed[0] >= ZERO)) for k, w in witnesses.items()}
    jax_last = {k: float(np.mean(w.observed[-1] >= ZERO)) for k, w in witnesses.items()}
    violations = {k: monotone_violations(v) for k, v in diagrams.items()}
    firsts = {k: _first_broken_sides(task, v)[0] for k, v in diagrams.items()}
    above64, below64 = _first_broken_sides(task, d64)
    if stable_error is None:
        stable_error = float(np.max(stable_errors(task, d64)))
    if proven is None:
        proven = prove(task, rates, traces, d64)
    cells = d64.observed.size
    dev = rates.last_deviation()
    bad_traces = [r for r in traces if r.broken and r.trace.first_out_of_range is None]
    clean = [r for r in traces if r.trace.first_out_of_range is None]
    inaccurate_clean = [r for r in clean if not r.relative_error <= TRACE_RTOL[r.dtype]]
    trace_dev = trace_deviation(traces) if traces else float("nan")

    def pair(x, fmt):
        return f"float32 {format(x['float32'], fmt)}, float64 {format(x['float64'], fmt)}"

    return [
        Claim(f"the last state, the loss, the seed 1/(tF) and the first adjoint each change by S(eta)^(+-2) per inner "
              f"step: measured rate within {rates.tol:.0%} of +-2 log10 S over the two longest horizons",
              f"largest |measured/predicted - 1| = {rates.worst:.2%} over {rates.cases} (quantity, eta) pairs, "
              f"t = {rates.horizons[-2]} to {rates.horizons[-1]}; per quantity: "
              + ", ".join(f"{q} {np.max(v):.2%}" for q, v in dev.items()),
              rates.worst <= rates.tol, statement="intermediates", cases=rates.cases),
        Claim("the loss F spans more decades over the diagram than float64 holds",
              f"log10 F from {lo:.0f} to {hi:.0f} ({hi - lo:.0f} decades; float64 spans {span64:.0f})",
              hi - lo > span64, statement="intermediates"),
        Claim("G' stays moderate on the whole diagram (below Theorem 4's scale L^3/(c_min^2 alpha (L-alpha)))",
              f"max |G'| = {g_max:.3g} <= {task.theorem4_scale():.3g}", g_max <= task.theorem4_scale(),
              statement="overflow", cases=cells),
        Claim("backprop returns nan, inf or 0 on part of the diagram, on more cells in float32 than in float64",
              f"fraction of {cells} cells broken: " + pair(frac, ".2f"),
              0 < frac["float64"] < frac["float32"], statement="overflow", cases=cells),
        Claim(f"the range prediction matches the observed class (finite / 0 / nan-inf) on >= {min_agreement:.0%} of cells",
              "agreement " + pair(agree, ".3f"), min(agree.values()) >= min_agreement,
              statement="overflow", cases=cells),
        Claim("in the step-by-step traces, every run that returned 0, nan or inf had an intermediate leave the "
              "normal range first, and every run in which none left returned G' accurately "
              f"(relative error <= {TRACE_RTOL['float32']:g} in float32, {TRACE_RTOL['float64']:g} in float64)",
              f"{sum(r.broken for r in traces)} of {len(traces)} runs broken, {len(bad_traces)} of them with every "
              f"intermediate in range; {len(clean)} runs fully in range, {len(inaccurate_clean)} of them inaccurate",
              not bad_traces and not inaccurate_clean, statement="overflow", cases=len(traces)),
        Claim("for every eta, once backprop breaks it stays broken at every longer horizon",
              "step sizes violating this: " + pair(violations, "d"),
              max(violations.values()) == 0, statement="autodiff-where", cases=d64.etas.size),
        Claim("above 2/L, a larger eta breaks at a shorter (or equal) horizon",
              "first broken horizons, float32: " + ", ".join(map(str, firsts["float32"]))
              + "; float64: " + ", ".join(map(str, firsts["float64"])),
              all(f.size > 0 and np.all(np.diff(f) <= 0) for f in firsts.values()), statement="autodiff-where",
              cases=min(f.size for f in firsts.values())),
        Claim("in float64, backprop breaks sooner above 2/L than below it (shortest broken horizon)",
              f"above 2/L: {int(above64.min()) if above64.size else 'never'}; "
              f"below 2/L: {int(below64.min()) if below64.size else 'never'}",
              bool(above64.size) and (not below64.size or above64.min() < below64.min()),
              statement="autodiff-where", cases=int(above64.size)),
        Claim("an off-the-shelf reverse-mode autodiff (jax.grad through lax.fori_loop, standing in for TensorFlow) "
              "returns 0, nan or inf on more step sizes at the longest horizon than at the shortest",
              "fraction broken at the shortest / longest horizon: "
              + ", ".join(f"{k} {jax_first[k]:.2f} / {jax_last[k]:.2f}" for k in FLOAT_DTYPES),
              all(jax_last[k] > jax_first[k] for k in FLOAT_DTYPES), statement="autodiff-where",
              cases=sum(w.observed.size for w in witnesses.values())),
        Claim("TensorFlow's meta-gradient breaks as Corollary 1 predicts (not run in this chapter)",
              "not run in this chapter", None, statement="autodiff", expected=NOT_TESTED,
              reason="we run no TensorFlow; the Theorem 4 chapter tests the paper's claim that meta-training "
                     "fails to converge in many settings, with float backprop standing in for it"),
        Claim(f"jax.grad through lax.fori_loop fails like l2lcore's backprop on >= {min_agreement:.0%} of cells",
              "agreement " + pair(jax_agree, ".3f") + "; with the flush-to-zero prediction " + pair(jax_pred, ".3f"),
              min(jax_agree.values()) >= min_agreement, statement="overflow", kind=CONSISTENCY,
              cases=sum(w.observed.size for w in witnesses.values())),
        Claim("wherever a float intermediate of a trace is a normal number, its magnitude equals the exact one "
              "(within 1e-3 decades)",
              f"largest difference {trace_dev:.1e} decades over {len(traces)} runs",
              trace_dev <= 1e-3, statement="intermediates", kind=CONSISTENCY, cases=len(traces)),
        Claim(f"the stable float64 method is within {STABLE_RTOL:g} relative of exact G' on every cell",
              f"max relative error {stable_error:.1e} over {cells} cells", stable_error <= STABLE_RTOL,
              statement="overflow", kind=CONSISTENCY, cases=cells),
        proof_claim(proven),
    ]
