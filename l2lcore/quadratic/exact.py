"""Exact meta-objectives and meta-gradients of the quadratic task, in mpmath.

With r_i = 1 - eta lambda_i and the spectrum of the exact float64 entries of H (see
:meth:`QuadraticTask.spectrum`):

    F(eta)   = f(w_{t,eta})          = 1/2 sum_i c_i^2 lambda_i r_i^(2t)
    F'(eta)                          = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1)
    F''(eta)                         = t (2t-1) sum_i c_i^2 lambda_i^3 r_i^(2t-2)
    G(eta)   = (1/t) log F(eta)
    G'(eta)  = F'/(t F)              = -2 sum_i c_i^2 lambda_i^2 r_i^(2t-1) / sum_i c_i^2 lambda_i r_i^(2t)
    G''(eta) = (F''/F - (F'/F)^2)/t  = 2(2t-1) P_2/P_0 - 4t (P_1/P_0)^2,  P_k = sum_i c_i^2 lambda_i^(k+1) r_i^(2t-k)

Each value is *certified*: computed twice, at ``dps`` and at a higher precision (with the
eigendecomposition redone at that precision), and returned only when the two agree to the
requested number of significant digits; the precision is raised until they do, and
:class:`CertificationError` is raised if they never do. Work happens inside
``mpmath.workdps`` so the caller's global ``mp.dps`` is never touched. The closed forms cost
O(d log t) per (eta, t) after the eigendecomposition; :func:`unrolled_meta_gradient` runs the
t steps of forward-mode differentiation instead and needs no eigendecomposition.
"""
from __future__ import annotations

import math
from typing import Callable

import mpmath

from .. import _checks
from .task import QuadraticTask, Spectrum

DEFAULT_DIGITS = 30
MAX_DPS = 4000
MAX_DIGITS = 1000  # leaves room for the guard digits and two doublings below MAX_DPS


class CertificationError(ArithmeticError):
    """Two evaluations at different precisions did not agree to the requested digits."""


def agree(a, b, digits: int) -> bool:
    """|a - b| <= 10^-digits |b| (both zero counts as agreement)."""
    if b == 0:
        return a == 0
    return abs(a - b) <= mpmath.mpf(10) ** (-digits) * abs(b)


def certified(fn: Callable[[int], "mpmath.mpf"], digits: int, t: int = 1):
    """Evaluate ``fn(dps)`` at two precisions until they agree to ``digits`` significant digits.

    Raising (2t)-th powers multiplies relative errors by 2t, so the first precision is
    digits + log10(2t) + a guard; it doubles on disagreement (cancellation near a root).
    Returns the higher-precision value.
    """
    digits = _checks.positive_int(digits, "digits")
    if digits > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} certified digits are supported, asked for {digits}")
    dps = digits + 10 + int(math.log10(2 * t + 1))
    while dps <= MAX_DPS:
        lo = fn(dps)
        hi_dps = dps + max(20, dps // 2)
        hi = fn(hi_dps)
        with mpmath.workdps(hi_dps):
            if agree(lo, hi, digits):
                return hi
        dps *= 2
    raise CertificationError(
        f"could not certify {digits} digits with up to {MAX_DPS} decimal digits of working precision"
    )


def _powers_sum(spec: Spectrum, eta, exponent: int, lam_power: int):
    """sum_i c_i^2 lambda_i^lam_power (1 - eta lambda_i)^exponent at the spectrum's precision."""
    e = _checks.to_mpf(eta)
    return mpmath.fsum(c * lam**lam_power * (1 - e * lam) ** exponent for lam, c in zip(spec.lam, spec.csq))


def _loss(spec, eta, t):
    return _powers_sum(spec, eta, 2 * t, 1) / 2


def closed_form(spec: Spectrum, eta, t: int, quantity: str):
    """One closed-form quantity at the spectrum's own precision (no certification).

    quantity: "F", "F'", "F''", "G", "G'" or "G''" (see the module docstring).
    """
    with mpmath.workdps(spec.dps):
        if quantity == "F":
            return _loss(spec, eta, t)
        if quantity == "F'":
            return -t * _powers_sum(spec, eta, 2 * t - 1, 2)
        if quantity == "F''":
            return t * (2 * t - 1) * _powers_sum(spec, eta, 2 * t - 2, 3)
        loss = _loss(spec, eta, t)
        if loss == 0:
            raise ValueError(
                f"f(w_t) = 0 exactly at eta = {eta}: the log meta-objective is -infinity there"
            )
        if quantity == "G":
            return mpmath.log(loss) / t
        if quantity == "G'":
            return -2 * _powers_sum(spec, eta, 2 * t - 1, 2) / _powers_sum(spec, eta, 2 * t, 1)
        if quantity == "G''":
            P0, P1, P2 = (_powers_sum(spec, eta, 2 * t - k, k + 1) for k in range(3))
            return 2 * (2 * t - 1) * P2 / P0 - 4 * t * (P1 / P0) ** 2
    raise ValueError(f"unknown quantity {quantity!r}")


def _certified_closed_form(task: QuadraticTask, eta, t, quantity, digits):
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    return certified(lambda dps: closed_form(task.spectrum(dps), eta, t, quantity), digits, t)


def meta_objective(task: QuadraticTask, eta, t, objective: str = "naive", digits: int = DEFAULT_DIGITS):
    """F(eta) (naive) or G(eta) = (1/t) log F(eta) (log), certified to ``digits`` digits."""
    quantity = {"naive": "F", "log": "G"}[_checks.objective(objective)]
    return _certified_closed_form(task, eta, t, quantity, digits)


def meta_gradient(task: QuadraticTask, eta, t, objective: str = "naive", digits: int = DEFAULT_DIGITS):
    """F'(eta) (naive) or G'(eta) (log), certified to ``digits`` digits; cost independent of t."""
    quantity = {"naive": "F'", "log": "G'"}[_checks.objective(objective)]
    return _certified_closed_form(task, eta, t, quantity, digits)


def naive_second_derivative(task: QuadraticTask, eta, t, digits: int = DEFAULT_DIGITS):
    """F''(eta) = t (2t-1) sum_i c_i^2 lambda_i^3 (1 - eta lambda_i)^(2t-2) (> 0: strict convexity)."""
    return _certified_closed_form(task, eta, t, "F''", digits)


def log_second_derivative(task: QuadraticTask, eta, t, digits: int = DEFAULT_DIGITS):
    """G''(eta) = (1/t) (F''/F - (F'/F)^2), certified to ``digits`` digits."""
    return _certified_closed_form(task, eta, t, "G''", digits)


def unrolled(task: QuadraticTask, eta, t, objective: str, dps: int):
    """Forward-mode differentiation through the t GD steps, in mpmath at ``dps`` digits.

    w_{k+1} = w_k - eta H w_k and its tangent v_{k+1} = v_k - eta H v_k - H w_k (v = dw/deta,
    v_0 = 0); then F = 1/2 w_t^T H w_t, F' = w_t^T H v_t and G' = F'/(t F).
    Returns (objective value, meta-gradient). O(t d^2) operations, no eigendecomposition.
    """
    d = task.d
    with mpmath.workdps(dps):
        e = _checks.to_mpf(eta)
        H = [[mpmath.mpf(x) for x in row] for row in task.H.tolist()]
        w = [mpmath.mpf(x) for x in task.w0.tolist()]
        v = [mpmath.mpf(0)] * d
        for _ in range(t):
            Hw = [mpmath.fdot(row, w) for row in H]
            Hv = [mpmath.fdot(row, v) for row in H]
            v = [vi - e * hvi - hwi for vi, hvi, hwi in zip(v, Hv, Hw)]
            w = [wi - e * hwi for wi, hwi in zip(w, Hw)]
        Hw = [mpmath.fdot(row, w) for row in H]
        loss = mpmath.fdot(w, Hw) / 2
        dloss = mpmath.fdot(v, Hw)
        if objective == "naive":
            return loss, dloss
        if loss == 0:
            raise ValueError(f"f(w_t) = 0 exactly at eta = {eta}: the log meta-objective is -infinity there")
        return mpmath.log(loss) / t, dloss / (t * loss)


def unrolled_meta_gradient(task: QuadraticTask, eta, t, objective: str = "naive",
                           digits: int = DEFAULT_DIGITS):
    """The meta-gradient by exact forward mode through the unrolled loop, certified."""
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    _checks.objective(objective)
    return certified(lambda dps: unrolled(task, eta, t, objective, dps)[1], digits, t)


def minimizer(task: QuadraticTask, t, objective: str = "log", digits: int = DEFAULT_DIGITS):
    """The unique minimizer eta*(t) of F (naive) or G (log), certified to ``digits`` digits.

    Both meta-gradients are negative at eta = 0 (every r_i = 1) and positive at eta = 2/alpha
    (every r_i < -1), and change sign once in between (Theorems 3 and 4), so bisection on
    the sign of the meta-gradient at the working precision finds the root.
    """
    t = _checks.positive_int(t, "t")
    quantity = {"naive": "F'", "log": "G'"}[_checks.objective(objective)]

    def root(dps):
        spec = task.spectrum(dps)
        with mpmath.workdps(dps):
            lo, hi = mpmath.mpf(0), 2 / spec.lam[-1]
            tol = mpmath.mpf(10) ** (-dps + 5) * hi
            while hi - lo > tol:
                mid = (lo + hi) / 2
                if closed_form(spec, mid, t, quantity) < 0:
                    lo = mid
                else:
                    hi = mid
            return (lo + hi) / 2

    return certified(root, digits, t)


def log10_intermediates(task: QuadraticTask, eta, t, ks, objective: str = "log", dps: int = 40):
    """Exact log10 magnitudes of what backpropagation through the unrolled loop computes.

    In the eigenbasis, with s = dloss/dF (1 for naive, 1/(t F) for log):
      ||w_k||^2         = sum_i c_i^2 r_i^(2k)                    (forward states)
      ||wbar_k||^2      = s^2 sum_i c_i^2 lambda_i^2 r_i^(2(2t-k)) (adjoint of w_k)
      running gradient after the backward step at k = (t - k)/t * meta-gradient,
    since every backward step contributes -wbar_{k+1}^T H w_k = -s sum_i c_i^2 lambda_i^2 r_i^(2t-1).
    Returns a dict of lists over ``ks`` (``state``, ``adjoint``, ``running_gradient``) and
    scalars ``loss`` (log10 F) and ``inv_loss`` (log10 s, the seed of the backward pass: log10
    of 1/(t F) for the log objective), at ``dps`` digits; the same quantities as in
    :class:`~l2lcore.quadratic.backprop.BackpropTrace`.
    """
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    _checks.objective(objective)
    spec = task.spectrum(dps)
    with mpmath.workdps(dps):
        e = _checks.to_mpf(eta)
        r = [1 - e * lam for lam in spec.lam]
        loss = _loss(spec, eta, t)
        s = 1 / (t * loss) if objective == "log" else mpmath.mpf(1)
        grad = -t * s * _powers_sum(spec, eta, 2 * t - 1, 2)

        def log10_norm(weights, exponent):
            sq = mpmath.fsum(wt * ri ** (2 * exponent) for wt, ri in zip(weights, r))
            return mpmath.log10(sq) / 2 if sq > 0 else -mpmath.inf

        lam2c = [c * lam**2 for lam, c in zip(spec.lam, spec.csq)]
        out = {
            "state": [log10_norm(spec.csq, k) for k in ks],
            "adjoint": [log10_norm(lam2c, 2 * t - k) + mpmath.log10(abs(s)) for k in ks],
            "running_gradient": [
                mpmath.log10(abs(grad) * (t - k) / t) if k < t and grad != 0 else -mpmath.inf for k in ks
            ],
            "loss": mpmath.log10(loss) if loss > 0 else -mpmath.inf,
            "inv_loss": mpmath.log10(s) if loss > 0 else mpmath.inf,
        }
    return out
