"""Where backpropagation through the unrolled loop breaks, and why (the paper's Corollary 1).

Backpropagating G(eta) = (1/t) log F(eta), F = f(w_t) = 1/2 w_t^T H w_t, through t steps of
gradient descent stores or forms, with r_i = 1 - eta lambda_i and rho = max_i |r_i|
(over the i with c_i != 0):

    states        ||w_k||^2       = sum_i c_i^2 r_i^(2k)                    ~ rho^(2k)
    loss          F               = 1/2 sum_i c_i^2 lambda_i r_i^(2t)       ~ rho^(2t)
    seed          s = 1/(t F)                                               ~ rho^(-2t) / t
    adjoints      ||wbar_k||^2    = s^2 sum_i c_i^2 lambda_i^2 r_i^(2(2t-k)) ~ rho^(-2k) / t^2

while G' itself is a ratio of two such sums and stays moderate (Theorem 4). The loss and the
seed are the extreme intermediates (the square and the inverse square of the trajectory's
scale), so for a float type with largest value M, smallest normal N and smallest subnormal D
the *range prediction* (:func:`predict`) is, with l = log10 F and tau = log10 t:

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
jax only when called, so ``import l2lcore`` does not need it.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from tqdm import tqdm

from .. import _checks
from ..book.claims import Claim
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
    """The horizon at which rho(eta)^(2t) alone reaches the dtype's largest value (or 1/it).

    t = log10 M / (2 |log10 rho|), rho = max_i |1 - eta lambda_i|; inf where rho = 1.
    """
    fi = np.finfo(_float_dtype(dtype))
    etas = _checks.etas(etas)
    rho = np.max(np.abs(1.0 - etas[..., None] * task.eigenvalues), axis=-1)
    with np.errstate(divide="ignore"):
        return np.log10(fi.max) / (2 * np.abs(np.log10(rho)))


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


def corollary1_claims(task, diagrams: dict, witnesses: dict, min_agreement: float = 0.95) -> list[Claim]:
    """What the Corollary 1 chapter checks, from its phase diagrams and JAX witnesses.

    ``diagrams`` and ``witnesses`` map "float32" and "float64" to a :class:`PhaseDiagram`
    and a :class:`Witness` (on the same task).
    """
    if set(diagrams) != set(FLOAT_DTYPES) or set(witnesses) != set(FLOAT_DTYPES):
        raise ValueError(f"diagrams and witnesses must each have the keys {FLOAT_DTYPES}")
    d32, d64 = diagrams["float32"], diagrams["float64"]
    if not (np.array_equal(d32.etas, d64.etas) and np.array_equal(d32.horizons, d64.horizons)):
        raise ValueError("the float32 and float64 diagrams must share one grid")
    g_max = float(np.max(np.abs(d64.exact)))
    lo, hi = float(np.min(d64.log10_loss)), float(np.max(d64.log10_loss))
    span64 = 2 * np.log10(np.finfo(np.float64).max)
    frac = {k: float(np.mean(v.broken)) for k, v in diagrams.items()}
    agree = {k: v.agreement() for k, v in diagrams.items()}
    jax_agree = {k: w.agreement() for k, w in witnesses.items()}
    jax_pred = {k: w.prediction_agreement() for k, w in witnesses.items()}
    violations = {k: monotone_violations(v) for k, v in diagrams.items()}
    above = d64.etas > 2 / task.L
    firsts = {k: first_broken_horizon(v)[above] for k, v in diagrams.items()}
    firsts = {k: f[f > 0] for k, f in firsts.items()}
    stable_err = stable_max_relative_error(task, d64)
    cells = d64.observed.size

    def pair(x, fmt):
        return f"float32 {format(x['float32'], fmt)}, float64 {format(x['float64'], fmt)}"

    return [
        Claim("G' stays moderate on the whole diagram while the loss F spans more decades than float64 holds",
              f"max |G'| = {g_max:.3g} <= L^3/(c_min^2 alpha (L-alpha)) = {task.theorem4_scale():.3g}; "
              f"log10 F from {lo:.0f} to {hi:.0f}",
              g_max <= task.theorem4_scale() and hi - lo > span64),
        Claim("backprop returns nan, inf or 0 on part of the diagram, on more cells in float32 than in float64",
              f"fraction of {cells} cells broken: " + pair(frac, ".2f"),
              0 < frac["float64"] < frac["float32"]),
        Claim(f"the range prediction matches the observed class (finite / 0 / nan-inf) on >= {min_agreement:.0%} of cells",
              "agreement " + pair(agree, ".3f"),
              min(agree.values()) >= min_agreement),
        Claim("for every eta, once backprop breaks it stays broken at every longer horizon",
              "step sizes violating this: " + pair(violations, "d"),
              max(violations.values()) == 0),
        Claim("above 2/L, a larger eta breaks at a shorter (or equal) horizon",
              "first broken horizons, float32: " + ", ".join(map(str, firsts["float32"]))
              + "; float64: " + ", ".join(map(str, firsts["float64"])),
              all(f.size > 0 and np.all(np.diff(f) <= 0) for f in firsts.values())),
        Claim(f"jax.grad through lax.fori_loop fails like l2lcore's backprop on >= {min_agreement:.0%} of cells",
              "agreement " + pair(jax_agree, ".3f") + "; with the flush-to-zero prediction " + pair(jax_pred, ".3f"),
              min(jax_agree.values()) >= min_agreement),
        Claim("the stable float64 method is within 1e-9 relative of exact G' on every cell",
              f"max relative error {stable_err:.1e} over {cells} cells", stable_err <= 1e-9),
    ]
