"""The Theorem 3 chapter: the naive meta-objective F(eta) = f(w_{t,eta}) explodes or vanishes.

Notation (paper Section 3): r_i = 1 - eta lambda_i, S(eta) = max_i |r_i|,

    F'(eta) = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1)

Theorem 3 bounds |F'| above by t sum_i c_i^2 lambda_i^2 |r_i|^(2t-1) for eta < 2/L and below by
c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t for eta > 2/L (with ||w_0|| = 1). This module holds the
chapter's computations beyond the core API, and the claims it checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from tqdm import tqdm

from ..book.claims import Claim
from .. import _checks
from ..quadratic import exact
from ..quadratic.backprop import backprop
from ..quadratic.task import QuadraticTask

BOUND_DPS = 60
# The exact meta-gradients are certified to 30 digits; bounds that hold with equality
# (every r_i >= 0) may then appear violated by one unit in the 30th digit.
BOUND_RTOL = mpmath.mpf("1e-28")

def _unit_start(task: QuadraticTask):
    if abs(float(np.linalg.norm(task.w0)) - 1.0) > 1e-9:
        raise ValueError(
            f"Theorem 3's bounds assume ||w_0|| = 1, got ||w_0|| = {np.linalg.norm(task.w0):.6g}; "
            "use the 'paper' ensemble or normalise w_0"
        )


def theorem3_upper_bound(task: QuadraticTask, eta, t: int, dps: int = BOUND_DPS):
    """t sum_i c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1): Theorem 3's bound on |F'| for eta < 2/L."""
    _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    spec = task.spectrum(dps)
    with mpmath.workdps(dps):
        e = _checks.to_mpf(eta)
        return t * mpmath.fsum(c * lam**2 * abs(1 - e * lam) ** (2 * t - 1) for lam, c in zip(spec.lam, spec.csq))


def theorem3_lower_bound(task: QuadraticTask, eta, t: int, dps: int = BOUND_DPS):
    """c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t: Theorem 3's bound below |F'| for eta > 2/L (||w_0|| = 1)."""
    _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    _unit_start(task)
    spec = task.spectrum(dps)
    with mpmath.workdps(dps):
        e = _checks.to_mpf(eta)
        L, c1sq = spec.lam[0], spec.csq[0]
        return c1sq * L**2 * t * (e * L - 1) ** (2 * t - 1) - L**2 * t


@dataclass(frozen=True)
class NaiveGradientCell:
    """F'(eta) at one (eta, t): exact (certified mpf), the applicable Theorem-3 bound, float64 backprop.

    ``upper`` is True when eta < 2/L and ``bound`` is the upper bound; otherwise ``bound``
    is the lower bound.
    """

    eta: float
    t: int
    exact: "mpmath.mpf"
    bound: "mpmath.mpf"
    upper: bool
    backprop64: np.float64

    @property
    def ratio(self) -> float:
        """|F'| / bound as a float: <= 1 for the upper bound, >= 1 for the lower one; nan where
        the bound is <= 0 (the lower bound is vacuous for small t)."""
        if self.bound <= 0:
            return float("nan")
        with mpmath.workdps(BOUND_DPS):
            return float(abs(self.exact) / self.bound)


def naive_gradient_cells(task: QuadraticTask, etas, horizons, progress: bool = False) -> list[NaiveGradientCell]:
    """One :class:`NaiveGradientCell` per (eta, t); eta = 2/L exactly is rejected (no bound applies)."""
    etas = _checks.etas(etas).ravel()
    if np.any(etas * task.L == 2.0):
        raise ValueError("eta = 2/L is the boundary between Theorem 3's two cases; move it off 2/L")
    _unit_start(task)
    cells = []
    for t in tqdm(horizons, desc="F' by horizon", disable=not progress):
        t = _checks.positive_int(t, "t")
        floats = backprop(task, etas, t, "naive", np.float64)
        for eta, f64 in zip(etas, floats):
            below = bool(eta * task.L < 2.0)
            bound = theorem3_upper_bound(task, eta, t) if below else theorem3_lower_bound(task, eta, t)
            cells.append(NaiveGradientCell(float(eta), t, exact.meta_gradient(task, eta, t, "naive"),
                                           bound, below, f64))
    return cells


def float_agrees(value, reference, rtol: float) -> bool:
    """|value - reference| <= rtol |reference| for a float value and an mpf reference (False for nan, inf)."""
    if not np.isfinite(value):
        return False
    with mpmath.workdps(40):
        return bool(abs(mpmath.mpf(float(value)) - reference) <= rtol * abs(reference))


def log10_abs(x) -> float:
    """log10|x| of an mpf as a float (-inf for 0): how to plot values such as 1e-3000."""
    if x == 0:
        return -np.inf
    with mpmath.workdps(30):
        return float(mpmath.log10(abs(x)))


@dataclass(frozen=True)
class BoundTightness:
    """|F'| / bound against the horizon for one step size (see :attr:`NaiveGradientCell.ratio`)."""

    eta: float
    upper: bool
    horizons: np.ndarray
    ratio: np.ndarray

    def worst(self) -> tuple[float, int]:
        """The ratio farthest from one (smallest for the upper bound, largest for the lower one,
        among horizons where the bound is positive) and its horizon; (nan, 0) if there is none."""
        ok = np.isfinite(self.ratio)
        if not ok.any():
            return float("nan"), 0
        r, h = self.ratio[ok], self.horizons[ok]
        j = int(np.argmin(r) if self.upper else np.argmax(r))
        return float(r[j]), int(h[j])

    def settled(self, tol: float) -> int | None:
        """The first horizon from which |ratio - 1| <= tol at every longer horizon of the grid
        (None if not even at the last one)."""
        close = np.isfinite(self.ratio) & (np.abs(self.ratio - 1) <= tol)
        if not close[-1]:
            return None
        j = close.size - int(np.argmin(close[::-1])) if not close.all() else 0
        return int(self.horizons[j])


def bound_tightness(cells: list[NaiveGradientCell]) -> list[BoundTightness]:
    """One :class:`BoundTightness` per step size of ``cells``, horizons in increasing order."""
    out = []
    for eta in sorted({c.eta for c in cells}):
        row = sorted((c for c in cells if c.eta == eta), key=lambda c: c.t)
        out.append(BoundTightness(eta, row[0].upper, np.array([c.t for c in row]),
                                  np.array([c.ratio for c in row])))
    return out


def float_range_exit(task: QuadraticTask, eta, dtype=np.float64, t_cap: int = 2**40) -> int | None:
    """The first horizon t from which the exact |F'(eta)| lies outside the dtype's normal range.

    Doubles t until |F'| is outside [smallest normal, largest finite], then bisects between the
    last doubling horizon inside and the first outside (|F'| ~ t S^(2t) is monotone in t there:
    one term of the sum dominates). None if |F'| is still inside at ``t_cap`` (eta = 2/L, say).
    """
    fi = np.finfo(dtype)
    lo_lim, hi_lim = np.log10(fi.smallest_normal), np.log10(fi.max)
    _checks.eta(eta)
    # Only the magnitude matters, to far less than a digit: one 40-digit evaluation per t (no
    # certification) is plenty, since at the crossing one term of the sum dominates.
    spec = task.spectrum(40)

    def outside(t):
        x = log10_abs(exact.closed_form(spec, eta, t, "F'"))
        return not lo_lim <= x <= hi_lim

    if outside(1):
        return 1
    lo, hi = 1, 2
    while not outside(hi):
        lo, hi = hi, 2 * hi
        if hi > t_cap:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if outside(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class GrowthRate:
    """Per-step growth of |F'| between t1 and t2, measured exactly and predicted.

    measured  = [log10(|F'(t2)|/t2) - log10(|F'(t1)|/t1)] / (t2 - t1)
    predicted = 2 log10 S(eta), S = max_i |1 - eta lambda_i| (the largest term dominates the sum).
    """

    eta: float
    t1: int
    t2: int
    measured: float
    predicted: float

    @property
    def relative_error(self) -> float:
        return abs(self.measured - self.predicted) / abs(self.predicted)


def naive_growth_rate(task: QuadraticTask, eta, t1: int, t2: int) -> GrowthRate:
    """The slope of log10(|F'(t)|/t) in t against 2 log10 max_i |1 - eta lambda_i|."""
    t1, t2 = _checks.positive_int(t1, "t1"), _checks.positive_int(t2, "t2")
    if t2 <= t1:
        raise ValueError(f"need t1 < t2, got t1 = {t1}, t2 = {t2}")
    lo, hi = (exact.meta_gradient(task, eta, t, "naive") for t in (t1, t2))
    if lo == 0 or hi == 0:
        raise ValueError(f"F'(eta) = 0 exactly at eta = {eta}: no growth rate")
    spec = task.spectrum(BOUND_DPS)
    with mpmath.workdps(BOUND_DPS):
        e = _checks.to_mpf(eta)
        S = max(abs(1 - e * lam) for lam, c in zip(spec.lam, spec.csq) if c != 0)
        measured = (mpmath.log10(abs(hi) / t2) - mpmath.log10(abs(lo) / t1)) / (t2 - t1)
        return GrowthRate(float(eta), t1, t2, float(measured), float(2 * mpmath.log10(S)))


@dataclass(frozen=True)
class NaiveMinimizer:
    """eta*(t) of F, certified, with F' evaluated exactly just left and right of it."""

    t: int
    eta_star: "mpmath.mpf"
    left: "mpmath.mpf"
    right: "mpmath.mpf"

    @property
    def brackets(self) -> bool:
        return self.left < 0 < self.right


def naive_minimizer(task: QuadraticTask, t: int, rel: float = 1e-8) -> NaiveMinimizer:
    """eta*(t) = argmin F (exact.minimizer) and F'(eta*(1 -+ rel)), which must be < 0 and > 0."""
    star = exact.minimizer(task, t, "naive")
    with mpmath.workdps(40):
        left, right = star * (1 - mpmath.mpf(rel)), star * (1 + mpmath.mpf(rel))
    return NaiveMinimizer(int(t), star, exact.meta_gradient(task, left, t, "naive"),
                          exact.meta_gradient(task, right, t, "naive"))


def min_second_derivative(task: QuadraticTask, etas, t: int):
    """min over the grid of F''(eta) = t (2t-1) sum_i c_i^2 lambda_i^3 (1 - eta lambda_i)^(2t-2), certified."""
    return min(exact.naive_second_derivative(task, float(e), t) for e in _checks.etas(etas).ravel())


def theorem3_claims(task: QuadraticTask, cells: list[NaiveGradientCell], rates: list[GrowthRate],
                    curvature: dict, minimizers: list[NaiveMinimizer]) -> list[Claim]:
    """What the Theorem 3 chapter checks.

    ``curvature`` maps t to the minimum of F'' over a dense eta grid (:func:`min_second_derivative`).
    """
    upper = [c for c in cells if c.upper]
    lower = [c for c in cells if not c.upper]
    # mpmath rounds arithmetic to the context precision: compare at the bounds' precision.
    with mpmath.workdps(BOUND_DPS):
        up_ok = all(abs(c.exact) <= c.bound * (1 + BOUND_RTOL) for c in upper)
        lo_ok = all(abs(c.exact) >= c.bound * (1 - BOUND_RTOL) for c in lower)
        up_tight = max(float(abs(c.exact) / c.bound) for c in upper) if upper else float("nan")
        lo_pos = [c for c in lower if c.bound > 0]
        lo_tight = min(float(abs(c.exact) / c.bound) for c in lo_pos) if lo_pos else float("nan")
    worst_rate = max(r.relative_error for r in rates)
    t_max = max(c.t for c in cells)
    last = [c for c in cells if c.t == t_max]
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    inside = [c for c in last if tiny <= abs(c.exact) <= huge]
    outside = [c for c in last if not tiny <= abs(c.exact) <= huge]
    wrong = [c for c in outside if float_agrees(c.backprop64, c.exact, 1e-2)]
    inexact = [c for c in inside if not float_agrees(c.backprop64, c.exact, 1e-6)]
    min_curv = min(curvature.values())
    # Every r_i >= 0 (eta L <= 1): no cancellation in the sum, the upper bound is an equality.
    same_sign = [c for c in upper if c.eta * task.L <= 1]
    eq_err = max(abs(c.ratio - 1) for c in same_sign) if same_sign else float("nan")
    return [
        Claim("upper bound |F'| <= t sum c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1) for every eta < 2/L tried",
              f"{len(upper)} (eta, t) cells; max |F'|/bound = {up_tight:.6f}", bool(upper) and up_ok),
        Claim("the upper bound is an equality where every 1 - eta lambda_i >= 0 (eta L <= 1)",
              f"{len(same_sign)} (eta, t) cells; max |ratio - 1| = {eq_err:.1e}",
              bool(same_sign) and eq_err < 1e-12),
        Claim("lower bound |F'| >= c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t for every eta > 2/L tried",
              f"{len(lower)} (eta, t) cells; min |F'|/bound where bound > 0: {lo_tight:.6f}",
              bool(lower) and lo_ok),
        Claim("log10(|F'(t)|/t) changes per step by 2 log10 max_i |1 - eta lambda_i| (exp. decay below 2/L, "
              "growth above)",
              f"{len(rates)} step sizes, slope between t = {rates[0].t1} and {rates[0].t2}; "
              f"max relative difference {worst_rate:.1e}", worst_rate < 1e-3),
        Claim(f"at t = {t_max}, float64 backprop is wrong (0, subnormal, inf or nan) wherever the exact "
              "F' leaves float64's normal range, and right (1e-6) inside it",
              f"{len(outside)} of {len(last)} step sizes outside the range, {len(outside) - len(wrong)} of them "
              f"wrong; {len(inside) - len(inexact)} of {len(inside)} inside it right",
              not wrong and not inexact),
        Claim("F'' > 0 (strict convexity) on the dense eta grid, every horizon",
              f"{len(curvature)} horizons; smallest F'' = {mpmath.nstr(min_curv, 3)}", min_curv > 0),
        Claim("F' changes sign at the exact minimizer eta*(t) (unique, by convexity)",
              ", ".join(f"eta*({m.t}) L = {mpmath.nstr(m.eta_star * task.L, 6)}" for m in minimizers),
              all(m.brackets for m in minimizers)),
    ]


