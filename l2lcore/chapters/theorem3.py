"""The Theorem 3 chapter: the naive meta-objective F(eta) = f(w_{t,eta}) explodes or vanishes.

Notation (paper Section 3): r_i = 1 - eta lambda_i, S(eta) = max_i |r_i|,

    F'(eta) = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1)

Theorem 3 bounds |F'| above by t sum_i c_i^2 lambda_i^2 |r_i|^(2t-1) for eta < 2/L and below by
c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t for eta > 2/L (with ||w_0|| = 1). This module holds the
chapter's configuration (:func:`config`), its computations (exact F' against the bounds and
float64 backprop, independent checks of the closed form, growth rates, convexity), its figures,
the numbers its prose glues, and its claims (:data:`STATEMENTS`, :func:`claims`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import mpmath
import numpy as np
from tqdm import tqdm

from ..book import proof_claim
from ..book.claims import CONSISTENCY, EVIDENCE, NOT_TESTED, REPRODUCED, Claim, Statement
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
    #: The exact F'(eta) at t1 and t2 (certified mpf) the slope is measured from.
    gradients: tuple = ()

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
        return GrowthRate(float(eta), t1, t2, float(measured), float(2 * mpmath.log10(S)), (lo, hi))


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




# --------------------------------------------------------------------------- configuration

#: The task's constants the chapter shows: glue name (after "theorem3-") -> (constant of
#: :data:`l2lcore.quadratic.proof.CONSTANTS`, the format book/theorem3.md shows it with).
SHOWN_CONSTANTS = {"L": ("L", ".2f"), "alpha": ("alpha", ".3f"), "c1sq": ("c_1^2", ".3g")}


def task_constants(task: QuadraticTask) -> dict:
    """The values of :data:`SHOWN_CONSTANTS` from the float64 eigendecomposition (what is glued)."""
    return {"L": task.L, "alpha": task.alpha, "c1sq": float(task.c[0] ** 2)}


@dataclass(frozen=True)
class Config:
    """The chapter's parameters after the scale's overrides (see :func:`config`)."""

    scale: str
    d: int
    seed: int
    ensemble: str
    eta_L: tuple
    t_max: int
    n_horizons: int
    n_grid: int
    close_tol: float
    t_unrolled: int

    def task(self) -> QuadraticTask:
        return QuadraticTask.random(self.d, self.seed, self.ensemble)

    def etas(self, task: QuadraticTask) -> np.ndarray:
        return np.array(self.eta_L) / task.L

    @property
    def horizons(self) -> np.ndarray:
        """``n_horizons`` log-spaced horizons from 1 to ``t_max`` (duplicates removed)."""
        return np.unique(np.round(np.logspace(0, np.log10(self.t_max), self.n_horizons)).astype(int))

    @property
    def convex_horizons(self) -> list[int]:
        """Five log-spaced horizons from 1 to ``t_max`` for the convexity checks."""
        return [int(t) for t in np.unique(np.round(np.logspace(0, np.log10(self.t_max), 5)).astype(int))]


#: What ``scale="paper"`` changes (the paper runs no experiment for Theorem 3: longer horizons
#: and a denser grid).
PAPER_OVERRIDES = {"t_max": 100_000, "n_grid": 1201}


def config(scale: str, *, d: int, seed: int, ensemble: str, eta_L, t_max: int, n_horizons: int,
           n_grid: int, close_tol: float, t_unrolled: int) -> Config:
    """The chapter's configuration at ``scale`` ("book" or "paper"), checked."""
    if scale not in ("book", "paper"):
        raise ValueError(f"scale must be 'book' or 'paper', got {scale!r}")
    if scale == "paper":
        t_max, n_grid = PAPER_OVERRIDES["t_max"], PAPER_OVERRIDES["n_grid"]
    eta_L = tuple(float(e) for e in eta_L)
    if not eta_L or any(not np.isfinite(e) or e <= 0 for e in eta_L):
        raise ValueError(f"eta_L must be a non-empty list of positive step sizes (units of 1/L), got {eta_L!r}")
    if any(e == 2.0 for e in eta_L):
        raise ValueError("eta_L must not contain 2: eta = 2/L is the boundary between Theorem 3's two cases")
    t_max = _checks.positive_int(t_max, "t_max")
    if t_max < 2:
        raise ValueError(f"t_max must be at least 2 (the growth rate is measured between t_max/2 and t_max), got {t_max}")
    n_horizons = _checks.positive_int(n_horizons, "n_horizons")
    n_grid = _checks.positive_int(n_grid, "n_grid")
    if n_grid < 3:
        raise ValueError(f"n_grid must be at least 3 (second differences), got {n_grid}")
    if not 0 < close_tol < 1:
        raise ValueError(f"close_tol must lie in (0, 1), got {close_tol!r}")
    if isinstance(t_unrolled, bool) or not isinstance(t_unrolled, (int, np.integer)) or t_unrolled < 0:
        raise ValueError(f"t_unrolled must be an integer >= 0 (0 skips the unrolled check), got {t_unrolled!r}")
    return Config(scale, _checks.positive_int(d, "d"), _checks.seed_int(seed), ensemble, eta_L, t_max,
                  n_horizons, n_grid, float(close_tol), int(t_unrolled))


def _glue(name: str, value) -> None:
    from myst_nb import glue

    glue(name, value, display=False)


def glue_setup(task: QuadraticTask, cfg: Config) -> None:
    """The task's numbers and the configuration, for the prose and captions."""
    for name, value in (*task_constants(task).items(),
                        ("d", cfg.d), ("seed", cfg.seed), ("ensemble", cfg.ensemble), ("t_max", cfg.t_max),
                        ("close_tol", cfg.close_tol), ("n_grid", cfg.n_grid), ("t_unrolled", cfg.t_unrolled),
                        ("tiny64", float(np.finfo(np.float64).tiny)),
                        ("log10_max", float(np.log10(np.finfo(np.float64).max))),
                        ("agree_digits", AGREE_DIGITS)):
        _glue(f"theorem3-{name}", value)


# --------------------------------------------------------------------------- F' against the horizon


def _float_log10(x) -> float:
    x = float(x)
    return float(np.log10(abs(x))) if np.isfinite(x) and x != 0 else float("nan")


def backprop_right(cell: NaiveGradientCell, rtol: float = 1e-6) -> bool:
    """Whether float64 backprop returned F' to relative accuracy ``rtol``."""
    return float_agrees(cell.backprop64, cell.exact, rtol)


def gradient_figure(task: QuadraticTask, cells: list[NaiveGradientCell], cfg: Config):
    """log10|F'| against t, exact, with its Theorem-3 bound and float64 backprop; (fig, data)."""
    import matplotlib.pyplot as plt

    data = {"eta_L": [], "t": [], "series": [], "log10_abs": [], "value": []}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for k, eta in enumerate(sorted({c.eta for c in cells})):
        row = sorted((c for c in cells if c.eta == eta), key=lambda c: c.t)
        eL = eta * task.L
        ax = axes[0] if row[0].upper else axes[1]
        ts = np.array([c.t for c in row])
        ex = np.array([log10_abs(c.exact) for c in row])
        bd = np.array([log10_abs(c.bound) if c.bound > 0 else np.nan for c in row])
        fl = np.array([_float_log10(c.backprop64) for c in row])
        bad = np.array([not backprop_right(c) for c in row])
        (line,) = ax.plot(ts, ex, "o-", ms=3, label=rf"$\eta L$ = {eL:.3g}")
        ax.plot(ts, bd, "--", color=line.get_color(), lw=1)
        ax.plot(ts, fl, "x", color=line.get_color(), ms=6)
        ax.plot(ts[bad], ex[bad], "o", mfc="none", mec="k", ms=10, mew=1.2,
                label="float64 backprop wrong" if k in (0, len(cfg.eta_L) - 1) and bad.any() else None)
        for c, e_, b_, f_ in zip(row, ex, bd, fl):
            for series, lv, value in (("exact F'", e_, c.exact), ("bound", b_, c.bound),
                                      ("float64 backprop", f_, float(c.backprop64))):
                data["eta_L"].append(eL), data["t"].append(c.t), data["series"].append(series)
                data["log10_abs"].append(lv), data["value"].append(value)
    for ax, title in zip(axes, [r"$\eta < 2/L$: upper bound dashed", r"$\eta > 2/L$: lower bound dashed (where positive)"]):
        for y in np.log10([np.finfo(np.float64).tiny, np.finfo(np.float64).max]):
            ax.axhline(y, color="0.4", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("horizon $t$ (inner steps)")
        ax.set_ylabel(r"$\log_{10} |F'(\eta)|$")
        ax.set_title(title, fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        seen = {}
        for h, lab in zip(handles, labels):
            seen.setdefault(lab, h)
        ax.legend(seen.values(), seen.keys(), fontsize=8)
    fig.suptitle(f"ensemble={cfg.ensemble}, d={cfg.d}, seed={cfg.seed}; dots: exact, x: float64 backprop; "
                 "dotted: float64's normal range", fontsize=10)
    fig.tight_layout()
    return fig, data


def tightness_figure(task: QuadraticTask, cells: list[NaiveGradientCell], cfg: Config):
    """|F'| / bound against t for each step size, log-log; (fig, data)."""
    import matplotlib.pyplot as plt

    data = {"eta_L": [], "t": [], "bound": [], "ratio": []}
    fig, ax = plt.subplots(figsize=(7, 4))
    for b in bound_tightness(cells):
        ax.plot(b.horizons, b.ratio, "o-" if b.upper else "s--", ms=4, label=rf"$\eta L$ = {b.eta * task.L:.3g}")
        for t, r in zip(b.horizons, b.ratio):
            data["eta_L"].append(b.eta * task.L), data["t"].append(int(t))
            data["bound"].append("upper" if b.upper else "lower"), data["ratio"].append(float(r))
    ax.axhline(1, color="0.4", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon $t$ (inner steps)")
    ax.set_ylabel(r"$|F'(\eta)|$ / bound")
    ax.set_title(f"ensemble={cfg.ensemble}, d={cfg.d}, seed={cfg.seed}; circles: upper bound, squares: lower bound",
                 fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig, data


def glue_tightness(task: QuadraticTask, cells: list[NaiveGradientCell], cfg: Config) -> None:
    """The numbers the tightness reading quotes (nan where a group of step sizes is absent)."""
    tight = bound_tightness(cells)
    same_sign = [b for b in tight if b.upper and b.eta * task.L <= 1]
    mixed = [b for b in tight if b.upper and b.eta * task.L > 1]
    lower = [b for b in tight if not b.upper]
    nan = float("nan")

    def settled(group):
        s = [b.settled(cfg.close_tol) for b in group]
        return float("inf") if any(x is None for x in s) else max(s)

    values = {"eq_err": max((float(np.nanmax(np.abs(b.ratio - 1))) for b in same_sign), default=nan)}
    if mixed:
        worst = min(mixed, key=lambda b: b.worst()[0])
        values.update(mixed_t1_min=min(float(b.ratio[0]) for b in mixed), mixed_worst=worst.worst()[0],
                      mixed_worst_eta=float(worst.eta * task.L), mixed_worst_t=worst.worst()[1],
                      mixed_settled=settled(mixed))
    else:
        values.update(mixed_t1_min=nan, mixed_worst=nan, mixed_worst_eta=nan, mixed_worst_t=nan, mixed_settled=nan)
    if lower:
        values.update(vacuous_max=max(int(b.horizons[~np.isfinite(b.ratio)].max(initial=0)) for b in lower),
                      vacuous_cells=sum(int((~np.isfinite(b.ratio)).sum()) for b in lower),
                      lower_worst=max(b.worst()[0] for b in lower), lower_settled=settled(lower))
    else:
        values.update(vacuous_max=nan, vacuous_cells=0, lower_worst=nan, lower_settled=nan)
    for name, value in values.items():
        _glue(f"theorem3-{name}", value)


# --------------------------------------------------------------------------- independent checks of F'

#: Digits to which an independent computation must reproduce the closed-form F'.
AGREE_DIGITS = 20
QUOTIENT_DPS = BOUND_DPS  # the spectrum the bounds already computed
QUOTIENT_REL_H = mpmath.mpf("1e-22")
UNROLLED_DPS = 45


def difference_quotient(task: QuadraticTask, eta, t: int, dps: int = QUOTIENT_DPS):
    """(F(eta + h) - F(eta - h)) / 2h with h = 1e-22 eta, from the exact loss F at ``dps`` digits.

    It uses F only, not the closed-form derivative: the truncation error is of relative order
    (h t L / |r|)^2 (below 1e-30 for t <= 1e5 and eta L <= 3) and the cancellation costs about
    log10(F / (h |F'|)) <= 22 digits, which leaves more than the digits compared here.
    """
    _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    spec = task.spectrum(dps)
    with mpmath.workdps(dps):
        e = _checks.to_mpf(eta)
        h = QUOTIENT_REL_H * (e if e > 0 else 1)
        return (exact.closed_form(spec, e + h, t, "F") - exact.closed_form(spec, e - h, t, "F")) / (2 * h)


@dataclass(frozen=True)
class IndependentCheck:
    """At one (eta, t) where float64 backprop fails: the closed-form F' against a difference
    quotient of the exact F and (where t <= t_unrolled) the exact forward loop through the t steps
    (mpmath, no eigendecomposition)."""

    eta: float
    t: int
    upper: bool
    closed: "mpmath.mpf"
    quotient: "mpmath.mpf"
    unrolled: "mpmath.mpf | None" = None

    @staticmethod
    def _rel(a, b) -> float:
        with mpmath.workdps(QUOTIENT_DPS):
            return float(abs(a - b) / abs(b)) if b != 0 else float(a != 0)

    @property
    def quotient_rel(self) -> float:
        return self._rel(self.quotient, self.closed)

    @property
    def unrolled_rel(self) -> float | None:
        return None if self.unrolled is None else self._rel(self.unrolled, self.closed)


def independent_checks(task: QuadraticTask, cells: list[NaiveGradientCell], t_unrolled: int) -> list[IndependentCheck]:
    """One :class:`IndependentCheck` per cell where float64 backprop is wrong (see :func:`backprop_right`)."""
    out = []
    for c in cells:
        if backprop_right(c):
            continue
        unrolled = exact.unrolled(task, c.eta, c.t, "naive", UNROLLED_DPS)[1] if c.t <= t_unrolled else None
        out.append(IndependentCheck(c.eta, c.t, c.upper, c.exact, difference_quotient(task, c.eta, c.t), unrolled))
    return out


def independent_figure(task: QuadraticTask, checks: list[IndependentCheck], cfg: Config):
    """log10 of the relative difference to the closed-form F' at the float-failing cells; (fig, data)."""
    import matplotlib.pyplot as plt

    floor = -float(QUOTIENT_DPS)
    data = {"eta_L": [], "t": [], "method": [], "rel_diff": []}
    fig, ax = plt.subplots(figsize=(7, 4))
    etas = sorted({c.eta for c in checks})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, eta in enumerate(etas):
        row = [c for c in checks if c.eta == eta]
        color = colors[k % len(colors)]
        for method, marker, get in (("difference quotient of F", "o", lambda c: c.quotient_rel),
                                    ("unrolled forward loop", "s", lambda c: c.unrolled_rel)):
            pts = [(c.t, get(c)) for c in row if get(c) is not None]
            for t, r in pts:
                data["eta_L"].append(eta * task.L), data["t"].append(t)
                data["method"].append(method), data["rel_diff"].append(r)
            if pts:
                ts, rs = zip(*pts)
                ax.plot(ts, [np.log10(r) if r > 0 else floor for r in rs], marker, color=color,
                        mfc="none" if marker == "s" else color, ms=9 if marker == "s" else 5,
                        label=rf"$\eta L$ = {eta * task.L:.3g}, {method}")
    ax.axhline(-AGREE_DIGITS, color="0.4", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("horizon $t$ (inner steps)")
    ax.set_ylabel("log10 relative difference to closed-form $F'$")
    ax.set_title(f"ensemble={cfg.ensemble}, d={cfg.d}, seed={cfg.seed}; cells where float64 backprop fails; "
                 f"dotted: {AGREE_DIGITS} digits", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig, data


def glue_independent(checks: list[IndependentCheck]) -> None:
    q = [c.quotient_rel for c in checks]
    u = [c.unrolled_rel for c in checks if c.unrolled is not None]
    _glue("theorem3-quotient_worst", max(q, default=float("nan")))
    _glue("theorem3-unrolled_worst", max(u, default=float("nan")))


# --------------------------------------------------------------------------- growth rate, float range


@dataclass(frozen=True)
class RateStudy:
    """The growth rate of |F'| and the first horizon outside float64's normal range, per step size."""

    eta_L: tuple
    rates: tuple
    exits: tuple


def rate_study(task: QuadraticTask, cfg: Config) -> RateStudy:
    etas = cfg.etas(task)
    return RateStudy(cfg.eta_L, tuple(naive_growth_rate(task, e, cfg.t_max // 2, cfg.t_max) for e in etas),
                     tuple(float_range_exit(task, e) for e in etas))


def rate_figure(task: QuadraticTask, study: RateStudy, cfg: Config):
    """Measured slope of log10(|F'|/t) against 2 log10 S(eta) (left) and the float64 exit horizon
    (right), against eta L; (fig, data)."""
    import matplotlib.pyplot as plt

    lam = task.eigenvalues
    fine = np.linspace(0, max(cfg.eta_L) * 1.05, 400)
    S = np.max(np.abs(1 - np.outer(fine / task.L, lam)), axis=1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(fine, 2 * np.log10(S), "-", color="0.5", label=r"$2\log_{10} S(\eta)$")
    axes[0].plot(study.eta_L, [r.measured for r in study.rates], "o", label="measured slope (exact $F'$)")
    axes[0].axhline(0, color="0.4", ls=":", lw=1)
    axes[0].set_ylabel(r"change of $\log_{10}(|F'|/t)$ per inner step")
    known = [(e, x) for e, x in zip(study.eta_L, study.exits) if x is not None]
    if known:
        axes[1].plot(*zip(*known), "o-")
    axes[1].set_yscale("log")
    axes[1].set_ylabel(r"first $t$ with $F'$ outside float64's normal range")
    for ax in axes:
        ax.axvline(2, color="0.5", ls=":", lw=1)
        ax.set_xlabel(r"step size $\eta L$ (dimensionless)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"ensemble={cfg.ensemble}, d={cfg.d}, seed={cfg.seed}; slope between t = {cfg.t_max // 2} "
                 f"and {cfg.t_max}; dotted: eta = 2/L", fontsize=10)
    fig.tight_layout()
    data = {"eta_L": list(study.eta_L), "measured_slope": [r.measured for r in study.rates],
            "predicted_slope": [r.predicted for r in study.rates],
            "float64_exit_t": [("none" if x is None else x) for x in study.exits]}
    return fig, data


def agreement_digits(relative_error: float) -> int:
    """Significant digits to which two float64 numbers agree, given their relative difference: at most
    float64's precision (15), which is also the answer when they are the same number."""
    cap = np.finfo(np.float64).precision
    return cap if relative_error == 0 else int(min(cap, max(0, np.floor(-np.log10(relative_error)))))


def glue_rates(study: RateStudy) -> None:
    _glue("theorem3-worst_rate", max(r.relative_error for r in study.rates))
    _glue("theorem3-rate_digits", agreement_digits(max(r.relative_error for r in study.rates)))
    _glue("theorem3-float64_digits", int(np.finfo(np.float64).precision))
    known = [(x, e) for x, e in zip(study.exits, study.eta_L) if x is not None]
    lo, hi = (min(known), max(known)) if known else ((float("nan"),) * 2, (float("nan"),) * 2)
    for name, value in (("exit_min", lo[0]), ("exit_min_eta", lo[1]), ("exit_max", hi[0]), ("exit_max_eta", hi[1])):
        _glue(f"theorem3-{name}", value)


# --------------------------------------------------------------------------- convexity


@dataclass(frozen=True)
class Convexity:
    """Strict convexity of F on the eta grid [0, 3/L], per horizon: the smallest F'' (and the
    grid step size where it occurs), the exact minimizer, and the sampled F (its second
    differences and its grid minimum); ``curve_grid``, ``curves`` and ``at_star`` hold what the
    figure plots: log10 F on a fine grid of [0, 2.4/L] and at eta*(t), for the first four horizons."""

    horizons: tuple
    grid: np.ndarray
    min_curvature: dict
    minimizers: tuple
    discrete_convex: dict
    argmin_next_to_star: dict
    min_curvature_at: dict | None = None
    curve_grid: np.ndarray | None = None
    curves: dict | None = None
    at_star: dict | None = None


def convexity(task: QuadraticTask, cfg: Config, dps: int = BOUND_DPS) -> Convexity:
    """F'' is a sum of non-negative terms, so its sign needs no certification: it is evaluated at
    ``dps`` digits (see :func:`min_second_derivative` for the certified value)."""
    grid = np.linspace(0, 3 / task.L, cfg.n_grid)
    horizons = tuple(cfg.convex_horizons)
    spec = task.spectrum(dps)
    curv, curv_at, minimizers, convex, near = {}, {}, [], {}, {}
    fine = np.linspace(0, 2.4 / task.L, 200)
    curves, at_star = {}, {}
    for t in horizons:
        m = naive_minimizer(task, t)
        minimizers.append(m)
        with mpmath.workdps(dps):
            second = [exact.closed_form(spec, e, t, "F''") for e in grid]
            F = [exact.closed_form(spec, e, t, "F") for e in grid]
            convex[t] = all(F[i - 1] - 2 * F[i] + F[i + 1] > 0 for i in range(1, len(F) - 1))
            if len(curves) < 4:
                curves[t] = [log10_abs(exact.closed_form(spec, e, t, "F")) for e in fine]
                at_star[t] = log10_abs(exact.closed_form(spec, m.eta_star, t, "F"))
        k = min(range(len(second)), key=lambda j: second[j])
        curv[t], curv_at[t] = second[k], float(grid[k])
        i = min(range(len(F)), key=lambda j: F[j])
        near[t] = bool(abs(grid[i] - float(m.eta_star)) <= grid[1] - grid[0])
    return Convexity(horizons, grid, curv, tuple(minimizers), convex, near, curv_at, fine, curves, at_star)


def convexity_figure(task: QuadraticTask, conv: Convexity, cfg: Config):
    """log10 F(eta) against eta L for the first four convexity horizons, minimizers marked; (fig, data)."""
    import matplotlib.pyplot as plt

    data = {"eta_L": [], "t": [], "series": [], "log10_F": []}
    fig, ax = plt.subplots(figsize=(7, 4))
    fine = conv.curve_grid
    for t, m in zip(conv.curves, conv.minimizers):
        logF, at_star = conv.curves[t], conv.at_star[t]
        (line,) = ax.plot(fine * task.L, logF, label=f"t = {t}")
        ax.plot(float(m.eta_star * task.L), at_star, "o", color=line.get_color())
        for e, v in zip(fine, logF):
            data["eta_L"].append(e * task.L), data["t"].append(t), data["series"].append("F"), data["log10_F"].append(v)
        data["eta_L"].append(float(m.eta_star * task.L)), data["t"].append(t)
        data["series"].append("minimizer"), data["log10_F"].append(at_star)
    ax.axvline(2, color="0.5", ls=":", lw=1)
    ax.set_ylim(-60, 60)
    ax.set_xlabel(r"step size $\eta L$ (dimensionless)")
    ax.set_ylabel(r"$\log_{10} F(\eta)$ (exact)")
    ax.set_title(f"ensemble={cfg.ensemble}, d={cfg.d}, seed={cfg.seed}; dots: exact minimizer; dotted: 2/L", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig, data


def glue_convexity(conv: Convexity) -> None:
    _glue("theorem3-min_curv", log10_abs(min(conv.min_curvature.values())))
    _glue("theorem3-t_star", conv.minimizers[-1].t)


# --------------------------------------------------------------------------- every exact value shown, proven

#: Digits to which eta*(t) is bracketed by proven signs of F' (as :func:`l2lcore.quadratic.proof.check`
#: does for minimizers certified to 30 digits).
STAR_DIGITS = 25


def log_digits(x: float, cap: int = 12) -> int:
    """Significant digits of 10**x that a float64 x carries: its rounding error, |x| 2^-53,
    becomes a relative error of ln(10) |x| 2^-53 in 10**x (kept within a factor 4, at most ``cap``)."""
    return max(1, min(cap, int(-np.log10(4 * np.log(10) * max(1.0, abs(x)) * 2.0**-53))))


def _from_log10(x: float):
    with mpmath.workdps(40):
        return mpmath.mpf(10) ** mpmath.mpf(x)


def exact_values(task: QuadraticTask, cells: list[NaiveGradientCell], study: RateStudy, conv: Convexity) -> list:
    """Every exact value the chapter shows except the minimizers (see :func:`prove`): F' at every
    cell of the gradient figure (30 certified digits) and at the two horizons of each measured slope,
    the smallest F'' on the grid at each convexity horizon (a 60-digit sum of non-negative terms,
    checked to 30 digits), and the exact F behind the convexity figure's log10 F (float64 logs,
    so about 12 digits, see :func:`log_digits`), at the fine grid and at eta*(t)."""
    from ..quadratic.proof import ExactValue

    values = [ExactValue(task, c.t, "F'", c.exact, c.eta, "naive") for c in cells]
    values += [ExactValue(task, t, "F'", g, r.eta, "naive") for r in study.rates for t, g in zip((r.t1, r.t2), r.gradients)]
    values += [ExactValue(task, t, "F''", conv.min_curvature[t], conv.min_curvature_at[t], "naive")
               for t in conv.horizons]
    for t, m in zip(conv.curves, conv.minimizers):
        values += [ExactValue(task, t, "F", _from_log10(v), float(e), "naive", log_digits(v))
                   for e, v in zip(conv.curve_grid, conv.curves[t])]
        values.append(ExactValue(task, t, "F", _from_log10(conv.at_star[t]), m.eta_star, "naive",
                                 log_digits(conv.at_star[t])))
    return values


def _minimizer_proven(task: QuadraticTask, m: NaiveMinimizer, digits: int = STAR_DIGITS) -> bool:
    """Whether proven enclosures of F' are negative at eta*(1 - 10^-digits) and positive at
    eta*(1 + 10^-digits): the root of F' (unique, Theorem 3) then lies within 10^-digits relative
    of the chapter's eta*. The bracket is built around the chapter's own value rather than a
    recomputed one (:func:`l2lcore.quadratic.proof.minimizer_bracket`), which saves a second
    certified bisection (about a second each)."""
    from ..quadratic import proof

    with mpmath.workdps(digits + 40):
        delta = mpmath.mpf(10) ** (-digits) * m.eta_star
        lo, hi = m.eta_star - delta, m.eta_star + delta
    g_lo = proof.enclose(task, lo, m.t, "F'", 1, absolute=True)
    g_hi = proof.enclose(task, hi, m.t, "F'", 1, absolute=True)
    return bool(g_lo.hi < 0 < g_hi.lo)


#: Digits to which each 60-digit bound is checked against its proof (those of the exact F' it
#: is compared with), and to which a float64 value the figures plot is checked.
BOUND_DIGITS = 30
FLOAT_CHECK_DIGITS = 12


def bound_enclosure(task: QuadraticTask, eta, t: int, upper: bool, digits: int = BOUND_DIGITS):
    """A proven enclosure of Theorem 3's bound at (eta, t): t sum_i c_i^2 lambda_i^2
    |1 - eta lambda_i|^(2t-1) (``upper``) or c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t, in Arb ball
    arithmetic on the rigorous eigenvalue and eigenvector enclosures of
    :func:`l2lcore.quadratic.proof.spectral`."""
    from ..quadratic import proof

    t = _checks.positive_int(t, "t")

    def formula(lam, csq):
        e = proof.ball(eta)
        if upper:
            terms = [c * l * l * proof.power(abs(1 - e * l), 2 * t - 1) for l, c in zip(lam, csq)]
            return t * sum(terms[1:], terms[0])
        L = lam[0]
        return csq[0] * L * L * t * proof.power(e * L - 1, 2 * t - 1) - L * L * t

    return proof.spectral(task, formula, "upper bound" if upper else "lower bound", digits, eta, t)


def _magnitude(ball):
    """(min |x|, max |x|) over a proven enclosure, as mpf."""
    lo, hi = ball.lo, ball.hi
    if lo > 0:
        return lo, hi
    if hi < 0:
        return -hi, -lo
    return mpmath.mpf(0), max(-lo, hi)


def range_checks(task: QuadraticTask, study: RateStudy, dtype=np.float64) -> list:
    """(label, proven) for each float64 exit horizon t of the rate figure: the proven |F'| lies
    outside the dtype's normal range at t and inside it at t - 1 (that t is where |F'| leaves the
    range; that it stays outside at every longer horizon rests on the monotone growth or decay of
    |F'|, which is not proven)."""
    from ..quadratic import proof

    fi = np.finfo(dtype)
    tiny, top = float(fi.smallest_normal), float(fi.max)
    out = []
    for eta_L, t in zip(study.eta_L, study.exits):
        if t is None:
            continue
        eta = float(eta_L) / task.L
        lo, hi = _magnitude(proof.enclose(task, eta, t, "F'", 3, absolute=True))
        ok = hi < tiny or lo > top
        if t > 1:
            lo, hi = _magnitude(proof.enclose(task, eta, t - 1, "F'", 3, absolute=True))
            ok = ok and tiny <= lo and hi <= top
        out.append((("float64 exit horizon", eta, t), bool(ok)))
    return out


def rate_checks(task: QuadraticTask, study: RateStudy) -> list:
    """(label, proven) for the two slopes the rate figure plots at each step size: the predicted
    2 log10 S(eta) (from the proven S(eta), :func:`l2lcore.quadratic.proof.contraction`) and the
    measured [log10(|F'(t2)|/t2) - log10(|F'(t1)|/t1)] / (t2 - t1) (from proven F'), each to
    :data:`FLOAT_CHECK_DIGITS` digits."""
    from ..quadratic import proof

    out = []
    for r in study.rates:
        log_S = proof.log10(proof.contraction(task, r.eta, FLOAT_CHECK_DIGITS + 4))
        out.append((("predicted slope", r.eta, 0), proof.agrees(log_S, r.predicted / 2, FLOAT_CHECK_DIGITS)))
        logs = []
        for t in (r.t1, r.t2):
            g = proof.enclose(task, r.eta, t, "F'", FLOAT_CHECK_DIGITS + 10)
            logs.append(proof.log10(replace(g, mid=abs(g.mid))))  # g does not contain 0: |g| is the ball of |F'|

        def slope():
            a, b = (proof.as_ball(x) for x in logs)
            ten = proof.ball(10).log()
            return (b - proof.ball(r.t2).log() / ten - a + proof.ball(r.t1).log() / ten) / (r.t2 - r.t1)

        measured = proof.arithmetic(slope, "measured slope", FLOAT_CHECK_DIGITS, eta=r.eta, t=r.t2)
        out.append((("measured slope", r.eta, r.t2), proof.agrees(measured, r.measured, FLOAT_CHECK_DIGITS)))
    return out


def constant_checks(task: QuadraticTask) -> list:
    """(label, proven) for L, alpha and c_1^2 as the chapter shows them (:data:`SHOWN_CONSTANTS`):
    each shown decimal is the proven value correctly rounded."""
    from ..quadratic import proof

    values = task_constants(task)
    return [((name, None, 0), proof.shown_correctly(proof.constant(task, const), values[name], fmt))
            for name, (const, fmt) in SHOWN_CONSTANTS.items()]


def bound_checks(task: QuadraticTask, cells: list[NaiveGradientCell]) -> list:
    """(label, proven) for Theorem 3's bound at every cell of the gradient figure (60-digit
    mpmath), against :func:`bound_enclosure` to :data:`BOUND_DIGITS` digits."""
    from ..quadratic import proof

    return [(("upper bound" if c.upper else "lower bound", c.eta, c.t),
             proof.agrees(bound_enclosure(task, c.eta, c.t, c.upper), c.bound, BOUND_DIGITS)) for c in cells]


def prove(task: QuadraticTask, cells: list[NaiveGradientCell], study: RateStudy, conv: Convexity):
    """Check every exact value the chapter shows against a proven Arb enclosure
    (:func:`l2lcore.quadratic.proof.check`), each minimizer eta*(t) against proven signs of F'
    around it, and the bounds, slopes, exit horizons and constants (:func:`bound_checks`,
    :func:`rate_checks`, :func:`range_checks`, :func:`constant_checks`); one
    :class:`~l2lcore.quadratic.proof.ProofCheck` for all of them."""
    from ..quadratic import proof

    checked = proof.check(exact_values(task, cells, study, conv))
    stars = [("eta*", m.eta_star, m.t) for m in conv.minimizers if not _minimizer_proven(task, m)]
    n = checked.count + len(conv.minimizers)
    values = proof.ProofCheck(n, n - len(checked.outside) - len(stars), checked.outside + tuple(stars))
    return proof.combine(values, proof.tally(bound_checks(task, cells) + rate_checks(task, study)
                                             + range_checks(task, study) + constant_checks(task)))


def glue_proven(check) -> None:
    _glue("theorem3-proof_count", check.count)
    _glue("theorem3-proof_proven", check.proven)


# --------------------------------------------------------------------------- claims

STATEMENTS: tuple[Statement, ...] = (
    Statement("convex", "Theorem 3",
              "The naive meta-objective F(eta) = f(w_{t,eta}) is strictly convex in eta and has a unique minimizer."),
    Statement("vanish", "Theorem 3",
              "For every eta < 2/L, |F'(eta)| <= t sum_i c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1): the "
              "meta-gradient is exponentially small in t."),
    Statement("explode", "Theorem 3",
              "For every eta > 2/L, |F'(eta)| >= c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t: the meta-gradient is "
              "exponentially large in t."),
    Statement("float", "Section 3 (text)",
              "Because the naive meta-gradient vanishes or explodes, it is of no use for meta-training at long "
              "horizons: computed in finite precision (automatic differentiation through the unrolled steps) it "
              "underflows or overflows. (Our reading of the consequence the paper draws before turning to the "
              "log meta-objective.)"),
)


def claims(task: QuadraticTask, cells: list[NaiveGradientCell], checks: list[IndependentCheck],
           study: RateStudy, conv: Convexity, proven=None) -> list[Claim]:
    """What the Theorem 3 chapter checks, each claim naming the statement of :data:`STATEMENTS` it
    tests; the last checks every exact value shown against proofs (``proven``: the result of
    :func:`prove`, computed when None)."""
    if proven is None:
        proven = prove(task, cells, study, conv)
    upper = [c for c in cells if c.upper]
    lower = [c for c in cells if not c.upper]
    # mpmath rounds arithmetic to the context precision: compare at the bounds' precision.
    with mpmath.workdps(BOUND_DPS):
        up_ok = all(abs(c.exact) <= c.bound * (1 + BOUND_RTOL) for c in upper)
        up_tight = max(float(abs(c.exact) / c.bound) for c in upper) if upper else float("nan")
        lo_pos = [c for c in lower if c.bound > 0]
        lo_ok = all(abs(c.exact) >= c.bound * (1 - BOUND_RTOL) for c in lo_pos)
        lo_tight = min(float(abs(c.exact) / c.bound) for c in lo_pos) if lo_pos else float("nan")
    # Every r_i >= 0 (eta L <= 1): no cancellation in the sum, the upper bound is an equality.
    same_sign = [c for c in upper if c.eta * task.L <= 1]
    eq_err = max((abs(c.ratio - 1) for c in same_sign), default=float("nan"))

    rates_below = [r for r in study.rates if r.eta * task.L < 2]
    rates_above = [r for r in study.rates if r.eta * task.L > 2]

    def worst_text(values, what):
        values = list(values)
        if not values:
            return f"no {what} to compare"
        worst = max(values)
        return ("relative difference 0 at every " + what + " (equal in every digit compared)" if worst == 0
                else f"max relative difference {worst:.1e}")

    def rate_claim(group, sign, statement):
        word = "decays" if sign < 0 else "grows"
        return Claim(f"{'below' if sign < 0 else 'above'} 2/L, |F'|/t {word} exponentially: log10(|F'|/t) changes "
                     "per step by 2 log10 max_i |1 - eta lambda_i| (to 1e-3 relative)",
                     f"{len(group)} step sizes, slope between t = {study.rates[0].t1} and {study.rates[0].t2}; "
                     + worst_text((r.relative_error for r in group), "step size"),
                     all(np.sign(r.measured) == sign and r.relative_error < 1e-3 for r in group),
                     statement, EVIDENCE, cases=len(group))

    def quotient_claim(group, side, statement):
        return Claim(f"{side} 2/L, where float64 backprop fails, the closed-form F' equals a difference quotient of "
                     f"the exact F to {AGREE_DIGITS} digits",
                     f"{len(group)} (eta, t) cells; " + worst_text((c.quotient_rel for c in group), "cell"),
                     all(c.quotient_rel <= 10.0 ** -AGREE_DIGITS for c in group), statement, EVIDENCE,
                     reason="float64 backprop fails at no cell of the grid on this side of 2/L",
                     cases=len(group))

    def unrolled_claim(group, side, statement, expected):
        return Claim(f"{side} 2/L, where float64 backprop fails, the closed-form F' equals the exact forward-mode "
                     f"derivative through the unrolled loop (mpmath, no eigendecomposition) to {AGREE_DIGITS} digits",
                     (f"{len(group)} (eta, t) cells with t <= t_unrolled; "
                      + worst_text((c.unrolled_rel for c in group), "cell")) if group
                     else "no (eta, t) cell with t <= t_unrolled",
                     all(c.unrolled_rel <= 10.0 ** -AGREE_DIGITS for c in group), statement, EVIDENCE,
                     expected=expected,
                     reason=("no float-failing cell on this side has t <= t_unrolled (the exact loop costs "
                             "O(t d^2) mpmath operations); the difference quotient covers them"),
                     cases=len(group))

    unrolled = [c for c in checks if c.unrolled is not None]
    t_max = max(c.t for c in cells)
    last = [c for c in cells if c.t == t_max]
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    inside = [c for c in last if tiny <= abs(c.exact) <= huge]
    outside = [c for c in last if not tiny <= abs(c.exact) <= huge]
    wrong = [c for c in outside if not float_agrees(c.backprop64, c.exact, 1e-2)]
    right = [c for c in inside if float_agrees(c.backprop64, c.exact, 1e-6)]
    min_curv = min(conv.min_curvature.values())
    return [
        Claim("upper bound |F'| <= t sum c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1) at every eta < 2/L tried "
              "(checked against the closed form it is derived from)",
              f"{len(upper)} (eta, t) cells; max |F'|/bound = {up_tight:.6f}", up_ok, "vanish", CONSISTENCY,
              cases=len(upper)),
        Claim("the upper bound is an equality where every 1 - eta lambda_i >= 0 (eta L <= 1): an algebraic identity",
              f"{len(same_sign)} (eta, t) cells; max |ratio - 1| = {eq_err:.1e}", bool(eq_err < 1e-12),
              "vanish", CONSISTENCY, cases=len(same_sign)),
        rate_claim(rates_below, -1, "vanish"),
        quotient_claim([c for c in checks if c.upper], "below", "vanish"),
        unrolled_claim([c for c in unrolled if c.upper], "below", "vanish", NOT_TESTED),
        Claim("lower bound |F'| >= c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t at every eta > 2/L tried, counted where "
              "the bound is positive (checked against the closed form it is derived from)",
              f"{len(lo_pos)} (eta, t) cells with a positive bound (vacuous at {len(lower) - len(lo_pos)}); "
              f"min |F'|/bound = {lo_tight:.6f}", lo_ok, "explode", CONSISTENCY, cases=len(lo_pos)),
        rate_claim(rates_above, +1, "explode"),
        quotient_claim([c for c in checks if not c.upper], "above", "explode"),
        unrolled_claim([c for c in unrolled if not c.upper], "above", "explode", REPRODUCED),
        Claim(f"at t = {t_max}, float64 backprop is wrong (0, subnormal, inf or nan; off by more than 1e-2) "
              "wherever the exact F' leaves float64's normal range",
              f"{len(wrong)} of {len(outside)} step sizes outside the range wrong", len(wrong) == len(outside),
              "float", EVIDENCE, cases=len(outside)),
        Claim(f"at t = {t_max}, float64 backprop is right (to 1e-6) wherever the exact F' stays inside float64's "
              "normal range",
              f"{len(right)} of {len(inside)} step sizes inside the range right", len(right) == len(inside),
              "float", EVIDENCE,
              reason="no step size keeps F' inside float64's normal range at this horizon",
              cases=len(inside)),
        Claim("F'' > 0 on the dense eta grid at every horizon (a sum of even powers)",
              f"{len(conv.min_curvature)} horizons; smallest F'' = {mpmath.nstr(min_curv, 3)}", bool(min_curv > 0),
              "convex", CONSISTENCY, cases=len(conv.min_curvature)),
        Claim("F' changes sign at the exact minimizer eta*(t) found by bisection on F'",
              ", ".join(f"eta*({m.t}) L = {mpmath.nstr(m.eta_star * task.L, 6)}" for m in conv.minimizers),
              all(m.brackets for m in conv.minimizers), "convex", CONSISTENCY, cases=len(conv.minimizers)),
        Claim("the exact F sampled on the eta grid has positive second differences (discrete convexity) and its "
              "smallest grid value lies within one grid step of eta*(t), at every horizon",
              f"{sum(conv.discrete_convex.values())} of {len(conv.horizons)} horizons convex, "
              f"{sum(conv.argmin_next_to_star.values())} with the grid minimum next to eta*",
              all(conv.discrete_convex.values()) and all(conv.argmin_next_to_star.values()),
              "convex", EVIDENCE, cases=len(conv.horizons)),
        proof_claim(proven),
    ]
