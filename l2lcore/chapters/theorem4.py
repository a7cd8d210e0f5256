"""The Theorem 4 chapter: the log meta-objective G(eta) = (1/t) log f(w_{t,eta}).

Notation (paper Section 3): r_i = 1 - eta lambda_i, S(eta) = max_i |r_i|,

    G'(eta) = -2 sum_i c_i^2 lambda_i^2 r_i^(2t-1) / sum_i c_i^2 lambda_i r_i^(2t)

Theorem 4 bounds |G'| by a multiple of L^3 / (c_min^2 alpha (L - alpha)) for every t and says
meta-gradient descent on G finds its unique minimizer eta*(t). This module holds the chapter's
computations beyond the core API, and the claims it checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
from tqdm import tqdm

from ..book.claims import Claim
from .. import _checks
from ..quadratic import exact, stable
from ..quadratic.meta import DEFAULT_MU_SCALE, meta_descent
from ..quadratic.task import QuadraticTask
from . import corollary1 as numerics
from .theorem3 import log10_abs

#: mu_k = AUTHORS_MU_SCALE / sqrt(k): the meta-step of the authors' Figure-1 script, which is
#: :func:`l2lcore.quadratic.meta.meta_descent`'s default (Theorem 4 itself takes mu_k = 1/sqrt(k)).
AUTHORS_MU_SCALE = DEFAULT_MU_SCALE

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
    range analysis (:func:`l2lcore.chapters.corollary1.predict`) says float backprop of G' returns 0, nan or
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
    """G''(eta) (:func:`l2lcore.quadratic.exact.log_second_derivative`), as a float (a curvature used in
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
