"""The two meta-objectives of one quadratic task, as Theorems 3 and 4 describe them.

Notation (paper Section 3): r_i = 1 - eta lambda_i, S(eta) = max_i |r_i|,

    F'(eta) = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1)                         (naive objective)
    G'(eta) = -2 sum_i c_i^2 lambda_i^2 r_i^(2t-1) / sum_i c_i^2 lambda_i r_i^(2t)   (log objective)

Theorem 3 bounds |F'| above by t sum_i c_i^2 lambda_i^2 |r_i|^(2t-1) for eta < 2/L and below by
c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t for eta > 2/L (with ||w_0|| = 1). Theorem 4 bounds
|G'| by a multiple of L^3 / (c_min^2 alpha (L - alpha)) for every t and says meta-gradient
descent on G finds its unique minimizer eta*(t). This module holds the computations the
chapters on the two theorems need beyond the core API, and the claims they check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
from tqdm import tqdm

from . import _checks, exact, numerics, stable
from .backprop import backprop
from .claims import Claim
from .meta import DEFAULT_MU_SCALE, meta_descent
from .quadratic import QuadraticTask

BOUND_DPS = 60
#: mu_k = AUTHORS_MU_SCALE / sqrt(k): the meta-step of the authors' Figure-1 script, which is
#: :func:`l2lcore.meta.meta_descent`'s default (Theorem 4 itself takes mu_k = 1/sqrt(k)).
AUTHORS_MU_SCALE = DEFAULT_MU_SCALE
# The exact meta-gradients are certified to 30 digits; bounds that hold with equality
# (every r_i >= 0) may then appear violated by one unit in the 30th digit.
BOUND_RTOL = mpmath.mpf("1e-28")


# ----------------------------------------------------------------------------- Theorem 3


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


# ----------------------------------------------------------------------------- Theorem 4


@dataclass(frozen=True)
class GradientSup:
    """sup over eta >= 0 of |G'(eta)| at horizon t (stable float64), attained at ``eta``."""

    t: int
    eta: float
    value: float


def log_gradient_sup(task: QuadraticTask, t: int, n_grid: int = 4001, refinements: int = 3) -> GradientSup:
    """max |G'| over eta in [0, 2/alpha] on a geometric grid, refined around the largest value.

    The interval suffices: G' is a weighted mean of -2 lambda_i / r_i with weights
    c_i^2 lambda_i r_i^(2t) >= 0, and for eta >= 2/alpha every -2 lambda_i / r_i lies in
    (0, 2 alpha], while |G'(0)| = 2 sum c_i^2 lambda_i^2 / sum c_i^2 lambda_i >= 2 alpha.
    """
    t = _checks.positive_int(t, "t")
    n_grid = _checks.positive_int(n_grid, "n_grid")
    if n_grid < 3:
        raise ValueError(f"n_grid must be at least 3, got {n_grid}")
    etas = np.concatenate(([0.0], np.geomspace(1e-3 / task.L, 2 / task.alpha, n_grid - 1)))
    g = np.abs(stable.log_gradient(task, etas, t))
    for _ in range(refinements):
        j = int(np.argmax(g))
        etas = np.linspace(etas[max(j - 1, 0)], etas[min(j + 1, etas.size - 1)], 201)
        g = np.abs(stable.log_gradient(task, etas, t))
    j = int(np.argmax(g))
    return GradientSup(t, float(etas[j]), float(g[j]))


@dataclass(frozen=True)
class SurveyRow:
    """One random task of the survey: its sup over eta and horizons of |G'|, and Theorem 4's scale."""

    d: int
    seed: int
    sup: float
    scale: float

    @property
    def ratio(self) -> float:
        return self.sup / self.scale


def theorem4_survey(dims, n_tasks: int, seed: int, horizons, ensemble: str = "paper",
                    n_grid: int = 2001, progress: bool = False) -> list[SurveyRow]:
    """sup_{eta, t} |G'| / (L^3 / (c_min^2 alpha (L - alpha))) for n_tasks random tasks per dimension.

    Task seeds are drawn from numpy.random.SeedSequence(seed), one child per task.
    """
    n_tasks = _checks.positive_int(n_tasks, "n_tasks")
    dims = [_checks.positive_int(d, "d") for d in dims]
    if not dims:
        raise ValueError("dims is empty")
    children = np.random.SeedSequence(seed).spawn(len(dims) * n_tasks)
    rows = []
    jobs = [(d, int(children[i * n_tasks + j].generate_state(1)[0])) for i, d in enumerate(dims) for j in range(n_tasks)]
    for d, s in tqdm(jobs, desc="random tasks", disable=not progress):
        task = QuadraticTask.random(d, s, ensemble)
        sup = max(log_gradient_sup(task, t, n_grid).value for t in horizons)
        rows.append(SurveyRow(d, s, sup, task.theorem4_scale()))
    return rows


def sup_spot_errors(task: QuadraticTask, sups: list[GradientSup]) -> list[float]:
    """Relative differences between each stable sup value and the exact |G'| at the same eta."""
    errors = []
    for s in sups:
        g = exact.meta_gradient(task, s.eta, s.t, "log")
        with mpmath.workdps(40):
            errors.append(float(abs(mpmath.mpf(s.value) - abs(g)) / abs(g)))
    return errors


def sign_changes(task: QuadraticTask, etas, t: int) -> int:
    """Number of sign changes of G' (stable float64) along a sorted eta grid (zeros skipped)."""
    g = np.sign(stable.log_gradient(task, etas, t))
    g = g[g != 0]
    return int(np.sum(g[1:] != g[:-1]))


def log_minimizer(task: QuadraticTask, t: int, digits: int = 15, rel: float = 1e-8):
    """eta*(t) = argmin G, certified to ``digits`` digits, and whether G'(eta*(1 -+ rel)) is < 0 and > 0."""
    star = exact.minimizer(task, t, "log", digits)
    with mpmath.workdps(40):
        left, right = star * (1 - mpmath.mpf(rel)), star * (1 + mpmath.mpf(rel))
    ok = exact.meta_gradient(task, left, t, "log", 10) < 0 < exact.meta_gradient(task, right, t, "log", 10)
    return star, bool(ok)


@dataclass(frozen=True)
class TrainingRun:
    """One meta-training run: method, horizon, start, and how it ended after ``steps`` steps."""

    method: str
    t: int
    eta0: float
    steps: int
    final: float
    eta_star: float
    first_nan: int | None  # the first step whose eta is nan (the meta-gradient was nan or inf)
    zero_gradients: int  # steps whose meta-gradient was exactly 0 (eta did not move)
    last_gradient: float
    path: np.ndarray = field(repr=False, compare=False)  # eta_0 ... eta_steps (nan once broken)

    @property
    def peak(self) -> float:
        """The largest step size the run visited (nan steps ignored)."""
        return float(np.nanmax(self.path))

    @property
    def failed(self) -> bool:
        """The meta-gradient broke: eta became nan, or a meta-gradient came back as an exact 0
        (G' vanishes only at eta*, and a zero meta-gradient stops eta there for good)."""
        return self.first_nan is not None or self.zero_gradients > 0

    def status(self, rtol: float) -> str:
        """"nan" (broke), "converged" (|eta - eta*| <= rtol eta*), "stalled" (meta-gradient exactly 0
        at the end, so eta no longer moves) or "not yet"."""
        if self.first_nan is not None:
            return "nan"
        if abs(self.final - self.eta_star) <= rtol * self.eta_star:
            return "converged"
        return "stalled" if self.last_gradient == 0 else "not yet"


#: The meta-gradients compared in the meta-training grid: label -> (meta_descent method, dtype).
TRAINING_METHODS = {
    "stable float64": ("stable", np.float64),
    "backprop float64": ("backprop", np.float64),
    "backprop float32": ("backprop", np.float32),
}


def meta_training_grid(task: QuadraticTask, horizons, eta0s, steps: int, methods=tuple(TRAINING_METHODS),
                       progress: bool = False) -> list[TrainingRun]:
    """Meta-gradient descent (mu_k = 1/(100 sqrt k)) for every (method, t, eta_0), vectorised over eta_0."""
    eta0s = _checks.etas(eta0s).ravel()
    for m in methods:
        if m not in TRAINING_METHODS:
            raise ValueError(f"unknown training method {m!r}; choose from {tuple(TRAINING_METHODS)}")
    runs = []
    jobs = [(m, _checks.positive_int(t, "t")) for t in horizons for m in methods]
    stars = {t: float(exact.minimizer(task, t, "log", 15)) for t in {t for _, t in jobs}}
    for label, t in tqdm(jobs, desc="meta-training", disable=not progress):
        method, dtype = TRAINING_METHODS[label]
        etas, grads = meta_descent(task, t, eta0s, steps, method=method, dtype=dtype, return_gradients=True)
        for j, e0 in enumerate(eta0s):
            bad = np.nonzero(np.isnan(etas[:, j]))[0]
            runs.append(TrainingRun(label, t, float(e0), steps, float(etas[-1, j]), stars[t],
                                    int(bad[0]) if bad.size else None, int(np.sum(grads[:, j] == 0)),
                                    float(grads[-1, j]), etas[:, j].copy()))
    return runs


def break_threshold(task: QuadraticTask, t: int, dtype, eta_max: float, n: int = 4001) -> float:
    """The smallest eta in [2/L, eta_max] (geometric grid of ``n`` points) at which Corollary 1's
    range analysis (:func:`l2lcore.numerics.predict`) says float backprop of G' returns 0, nan or
    inf at horizon t; inf if it does not break anywhere on the grid.

    Above 2/L the loss grows with eta, so this is where meta-training with float backprop breaks
    as soon as an iterate goes beyond it.
    """
    t = _checks.positive_int(t, "t")
    if not eta_max > 2 / task.L:
        raise ValueError(f"eta_max must exceed 2/L = {2 / task.L:.6g}, got {eta_max!r}")
    etas = np.geomspace(2 / task.L, eta_max, _checks.positive_int(n, "n"))
    broken = numerics.predict_at(task, etas, t, dtype) >= numerics.ZERO
    return float(etas[np.argmax(broken)]) if broken.any() else float("inf")


def predicted_failure(task: QuadraticTask, run: TrainingRun) -> bool:
    """Whether Corollary 1's range analysis predicts 0, nan or inf from float backprop at some
    step size this run visited (its finite iterates): then the run must break there."""
    method, dtype = TRAINING_METHODS[run.method]
    if method != "backprop":
        raise ValueError(f"only backprop runs are predicted, got {run.method!r}")
    etas = run.path[np.isfinite(run.path)]
    codes = numerics.predict_at(task, etas, run.t, dtype)
    return bool(np.any(codes >= numerics.ZERO))


def steps_to_tolerance(etas: np.ndarray, eta_star: float, eps) -> np.ndarray:
    """k'(eps) = the first step from which |eta_k - eta*| <= eps holds to the end of the run.

    ``etas`` has shape (steps + 1, runs) (meta_descent's output); the result has shape
    (len(eps), runs), with -1 where the last iterate is still further than eps (censored).
    """
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 2:
        raise ValueError(f"etas must have shape (steps + 1, runs), got {etas.shape}")
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~(eps > 0)):
        raise ValueError("every eps must be > 0")
    err = np.abs(etas - eta_star)
    err[np.isnan(err)] = np.inf
    out = np.empty((eps.size, etas.shape[1]), dtype=int)
    for i, e in enumerate(eps):
        bad = err > e
        last_bad = np.where(bad.any(axis=0), etas.shape[0] - 1 - np.argmax(bad[::-1], axis=0), -1)
        out[i] = np.where(bad[-1], -1, last_bad + 1)
    return out


def log_second_derivative(task: QuadraticTask, eta, t: int, digits: int = 15) -> float:
    """G''(eta) (:func:`l2lcore.exact.log_second_derivative`), as a float (a curvature used in
    float formulas below), certified to ``digits`` digits before the rounding."""
    return float(exact.log_second_derivative(task, eta, t, digits))


def geometric_onset(curvature: float, mu_scale: float) -> float:
    """(mu_scale G''(eta*) / 2)^2: from this meta-step on, mu_k = mu_scale / sqrt(k) satisfies
    mu_k G''(eta*) < 2, so the linearised iteration e_{k+1} = (1 - mu_k G'') e_k contracts."""
    if not (curvature > 0 and mu_scale > 0):
        raise ValueError(f"need G'' > 0 and mu_scale > 0, got {curvature!r} and {mu_scale!r}")
    return (mu_scale * curvature / 2) ** 2


def arrival_estimate(M, mu_scale: float) -> np.ndarray:
    """(M^2 / (8 mu_scale))^2 meta-steps to come down from eta_0 = M >> eta*.

    Far above eta* the top eigenvalue dominates and G'(eta) ~ 2/eta, so eta^2 drops by about
    4 mu_k per step; with mu_k = mu_scale/sqrt(k), the sum of 4 mu_j up to k is about
    8 mu_scale sqrt(k), which reaches M^2 at this k.
    """
    M = np.asarray(M, dtype=np.float64)
    return (M**2 / (8 * mu_scale)) ** 2


@dataclass(frozen=True)
class ConvergenceFit:
    """Log-log slopes of k'(eps, M) (:func:`steps_to_tolerance`), each over the range where the
    corresponding regime holds (:func:`convergence_fits` says how the ranges are chosen)."""

    M: np.ndarray
    eps: np.ndarray
    k: np.ndarray  # (len(eps), len(M)); -1 where censored
    onset: float  # geometric_onset: k' levels off beyond it
    flat: np.ndarray  # bool over M: starts whose k' does not depend on M
    k_flat: np.ndarray  # mean k'(eps) over the flat starts
    eps_fit: np.ndarray  # bool over eps: the tolerances used for the eps slope
    m_index: int  # the tolerance eps[m_index] used for the M slope
    m_fit: np.ndarray  # bool over M: the starts used for the M slope
    eps_slope: float
    m_slope: float

    @property
    def censored(self) -> int:
        return int(np.sum(self.k < 0))


def convergence_fits(M, eps, k, onset: float, m_eps: float, factor: float = 2.0) -> ConvergenceFit:
    """Where to fit k' against 1/eps and against M, chosen from the data by two rules.

    * flat starts: k'(eps, M) <= factor * k'(eps, M_min) at every eps (and never censored): their
      descent from M is over before the final approach to eta* begins, so k' does not depend on M.
      The eps slope is fitted to the mean k' over them, at the tolerances whose mean k' is at most
      ``onset`` (:func:`geometric_onset`); beyond it convergence is geometric and k' levels off.
    * at the tolerance nearest ``m_eps``, the M slope is fitted over the starts with
      k' >= factor * k'(M_min): there the descent from M dominates.

    A slope is nan when its range has fewer than two points. ``M`` must be increasing.
    """
    M, eps = np.asarray(M, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    k = np.asarray(k)
    if k.shape != (eps.size, M.size):
        raise ValueError(f"k must have shape (len(eps), len(M)) = {(eps.size, M.size)}, got {k.shape}")
    if M.size < 2 or np.any(np.diff(M) <= 0):
        raise ValueError("M must be increasing, with at least two starts")
    if not factor > 1:
        raise ValueError(f"factor must be > 1, got {factor!r}")
    done = k > 0
    flat = np.all(done, axis=0) & np.all(k <= factor * k[:, :1], axis=0) & done[:, 0].all()
    k_flat = k[:, flat].mean(axis=1) if flat.any() else np.full(eps.size, np.nan)
    eps_fit = np.isfinite(k_flat) & (k_flat <= onset)
    i = int(np.argmin(np.abs(np.log(eps / m_eps))))
    m_fit = done[i] & (k[i] >= factor * k[i, 0]) if done[i, 0] else np.zeros(M.size, bool)

    def slope(x, y):
        return loglog_slope(x, y) if x.size >= 2 else float("nan")

    return ConvergenceFit(M, eps, k, float(onset), flat, k_flat, eps_fit, i, m_fit,
                          slope(1 / eps[eps_fit], k_flat[eps_fit]), slope(M[m_fit], k[i, m_fit].astype(float)))


def loglog_slope(x, y) -> float:
    """Least-squares slope of log10 y against log10 x (all values must be > 0)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("need two arrays of the same shape with at least two points")
    if np.any(~(x > 0)) or np.any(~(y > 0)):
        raise ValueError("log-log slope needs positive values")
    return float(np.polyfit(np.log10(x), np.log10(y), 1)[0])


def theorem4_claims(task: QuadraticTask, sups: list[GradientSup], spot_errors: list[float],
                    survey: list[SurveyRow], changes: dict, stars: dict, figure1: np.ndarray,
                    figure1_star: float, runs: list[TrainingRun], rtol: float,
                    fit: ConvergenceFit) -> list[Claim]:
    """What the Theorem 4 chapter checks.

    ``changes``: t -> number of sign changes of G' on the dense grid; ``stars``: t -> (eta*(t),
    brackets) from :func:`log_minimizer`; ``figure1``: the exact meta-descent trajectory and
    ``figure1_star`` its target; ``runs``: :func:`meta_training_grid`;
    ``fit``: :func:`convergence_fits` of the meta-descent speed study.
    """
    sups = sorted(sups, key=lambda s: s.t)
    plateau = abs(sups[-1].value - sups[-2].value) / sups[-1].value
    ratios = np.array([r.ratio for r in survey])
    ts = sorted(stars)
    gap = [abs(float(stars[t][0]) - 2 / (task.L + task.alpha)) for t in ts]
    fig1_err = abs(float(figure1[-1]) - figure1_star) / figure1_star
    by = {}
    for r in runs:
        by.setdefault(r.method, []).append(r.status(rtol))
    stable_ok = by.get("stable float64", [])
    bp32_nan = sum(s == "nan" for s in by.get("backprop float32", []))
    bp64_nan = sum(s == "nan" for s in by.get("backprop float64", []))
    bp_runs = [r for r in runs if TRAINING_METHODS[r.method][0] == "backprop"]
    matched = sum(r.failed == predicted_failure(task, r) for r in bp_runs)
    failed = sum(r.failed for r in bp_runs)
    e_used, m_used = fit.eps[fit.eps_fit], fit.M[fit.m_fit]
    level = float(fit.k_flat[-1] / fit.onset)
    return [
        Claim("sup_eta |G'| does not grow with t (plateau)",
              f"sup at t = {sups[-2].t}: {sups[-2].value:.6g}, at t = {sups[-1].t}: {sups[-1].value:.6g} "
              f"(relative change {plateau:.1e})", plateau < 1e-3),
        Claim("stable float64 G' agrees with the exact value at the maximising eta",
              f"{len(spot_errors)} spot checks; max relative error {max(spot_errors):.1e}", max(spot_errors) < 1e-9),
        Claim("sup |G'| <= L^3 / (c_min^2 alpha (L - alpha)) on random tasks (constant 1)",
              f"{len(survey)} tasks, d in {sorted({r.d for r in survey})}; ratio between {ratios.min():.1e} "
              f"and {ratios.max():.1e}", bool(np.all(ratios <= 1))),
        Claim("G' changes sign exactly once, at the exact eta*(t)",
              f"{len(changes)} horizons; sign changes on the grid: {sorted(set(changes.values()))}; "
              f"exact bracket holds at {sum(b for _, b in stars.values())} of {len(stars)}",
              all(v == 1 for v in changes.values()) and all(b for _, b in stars.values())),
        Claim("Figure 1: meta-descent with the exact meta-gradient converges to eta*",
              f"|eta_{len(figure1) - 1} - eta*| / eta* = {fig1_err:.1e}", fig1_err <= rtol),
        Claim("the stable method converges or keeps going: it never produces nan",
              f"{stable_ok.count('converged')} converged, {stable_ok.count('not yet')} not yet, "
              f"{stable_ok.count('nan')} nan of {len(stable_ok)}", "nan" not in stable_ok),
        Claim("float backprop breaks (nan) in some settings where the exact meta-gradient is bounded",
              f"float64: {bp64_nan}, float32: {bp32_nan} of {len(stable_ok)} settings end in nan",
              bp32_nan > 0 and bp64_nan > 0),
        Claim("eta*(t) -> 2/(L + alpha) (Figure 2)",
              f"|eta* - 2/(L+alpha)| / (2/(L+alpha)) = {gap[-1] * (task.L + task.alpha) / 2:.1e} at t = {ts[-1]}; "
              f"log-log slope of the gap in t: {loglog_slope(ts[len(ts) // 2:], gap[len(gap) // 2:]):.3f}",
              gap[-1] < gap[0] and gap[-1] * (task.L + task.alpha) / 2 < 1e-3),
        Claim("float backprop fails (nan or an exact 0) exactly in the runs that visit a step size where "
              "Corollary 1's range analysis predicts 0, nan or inf",
              f"prediction right in {matched} of {len(bp_runs)} backprop runs ({failed} failed)",
              bool(bp_runs) and matched == len(bp_runs)),
        Claim("before convergence turns geometric, k'(eps) grows no faster than Theorem 4's 1/eps^2 (slope <= 2)",
              f"fitted slope of k' against 1/eps: {fit.eps_slope:.2f}, over eps from {e_used.max():.1e} to "
              f"{e_used.min():.1e} ({e_used.size} tolerances with k' <= {fit.onset:.0f})" if e_used.size else
              "no tolerance reached before the onset", fit.eps_slope <= 2),
        Claim("k'(eps) levels off near the onset of geometric convergence (mu G''(eta*)/2)^2",
              f"k' at eps = {fit.eps[-1]:.0e} is {level:.2f} x the onset {fit.onset:.0f}", 0.5 <= level <= 2),
        Claim("where k' depends on the start M, it grows no faster than Theorem 4's M^6 (slope <= 6)",
              f"fitted slope of k' against M: {fit.m_slope:.2f}, over M from {m_used.min()} to {m_used.max()} "
              f"at eps = {fit.eps[fit.m_index]:.0e}" if m_used.size else "no start whose k' depends on M",
              fit.m_slope <= 6),
    ]
