"""The Theorem 6 chapter (many samples: train-by-train is fine; Figure 4).

What the chapter computes: the Figure 4 protocol at growing n for fixed d and sigma
(:func:`figure4`), and the same TbT/TbV comparison over a grid of n/d and sigma (:func:`regime_map`);
its plots (:func:`plot_ratio`, :func:`plot_figure4`, :func:`plot_map`), which return the figure
and its plotted numbers; the size conditions of Theorem 6 with every constant set to 1
(:func:`conditions`); and its claims (:func:`claims`, built on :func:`theorem6_claims`).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._checks import positive_int, seed_int
from ..book.claims import NOT_TESTED, Claim, Statement
from ..lsq.gd import compare_tbt_tbv
from ..lsq.stats import mean_ci

#: The authors' grid of step sizes: 25 log-spaced values in [1e-6, 1].
GRID = np.logspace(-6, 0, 25)
#: The confidence level of the intervals the chapter shows and its claims use.
LEVEL = 0.95

STATEMENTS: tuple[Statement, ...] = (
    Statement("thm6", "Theorem 6",
              "With n >> d samples per task (and t, m large enough), every minimizer of the "
              "train-by-train meta-objective gives E||w_t - w*||^2 <= (1 + eps) d sigma^2 / n on a "
              "new task, the best possible error up to 1 + eps: without over-parameterization "
              "train-by-train is fine. Checked here only at sizes far below the theorem's "
              "conditions on t, m and d (claim 3), where it promises nothing: read its verdict "
              "with that qualifier."),
    Statement("fig4-few", "Figure 4 (text)",
              "At sigma = 1 with few samples, train-by-train overfits: a tiny training error, and a "
              "test error worse than train-by-validation's."),
    Statement("fig4-gap", "Figure 4 (text)",
              "The gap between train-by-train and train-by-validation shrinks as the number of "
              "samples grows."),
)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    """The chapter's configuration: Figure 4 (d, m, t, sigma, ratios = n/d, n_test test tasks),
    the claims' eps and gap tolerance, and the (n/d, sigma) map (map_d, map_m, map_n_test,
    map_ratios, map_sigmas)."""

    seed: int
    d: int
    m: int
    t: int
    sigma: float
    ratios: tuple[float, ...]
    n_test: int
    eps: float
    gap_tolerance: float
    map_d: int
    map_m: int
    map_n_test: int
    map_ratios: tuple[float, ...]
    map_sigmas: tuple[float, ...]

    @property
    def ns(self) -> list[int]:
        """Samples per task of the Figure 4 runs: n = max(2, round(r d))."""
        return [sample_size(r, self.d) for r in self.ratios]


def sample_size(ratio: float, d: int) -> int:
    """n = max(2, round(ratio * d)) (TbV needs a sample to train and one to validate)."""
    return max(2, round(ratio * d))


def _positive_real(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def _positive_list(xs, name: str) -> tuple[float, ...]:
    if isinstance(xs, (str, bytes)) or not hasattr(xs, "__len__") or len(xs) == 0:
        raise ValueError(f"{name} must be a non-empty list of numbers > 0, got {xs!r}")
    values = tuple(_positive_real(x, f"every entry of {name}") for x in xs)
    if list(values) != sorted(set(values)):
        raise ValueError(f"{name} must be strictly increasing, got {list(xs)!r}")
    return values


def config(scale: str, *, seed, d, m, t, sigma, ratios, n_test, eps, gap_tolerance, map_d, map_m,
           map_n_test, map_ratios, map_sigmas) -> Config:
    """The configuration at ``scale``: "book" keeps the parameters; "paper" takes Figure 4's d = 1000
    and m = 300 and stops n/d at 16 (n = 16000, where one task's X^T X already costs 3e10 flops)."""
    if scale not in ("book", "paper"):
        raise ValueError(f"scale must be 'book' or 'paper', got {scale!r}")
    if scale == "paper":
        d, m, ratios = 1000, 300, [0.25, 0.5, 1, 2, 4, 8, 16]
    eps = _positive_real(eps, "eps")
    if eps >= 1:
        raise ValueError(f"eps must lie in (0, 1) as in Theorem 6, got {eps!r}")
    n_test, map_n_test = positive_int(n_test, "n_test"), positive_int(map_n_test, "map_n_test")
    if n_test < 2:
        raise ValueError(f"n_test must be at least 2 (the claims use confidence intervals), got {n_test!r}")
    return Config(seed=seed_int(seed), d=positive_int(d, "d"), m=positive_int(m, "m"),
                  t=positive_int(t, "t"), sigma=_positive_real(sigma, "sigma"),
                  ratios=_positive_list(ratios, "ratios"), n_test=n_test, eps=eps,
                  gap_tolerance=_positive_real(gap_tolerance, "gap_tolerance"),
                  map_d=positive_int(map_d, "map_d"), map_m=positive_int(map_m, "map_m"),
                  map_n_test=map_n_test, map_ratios=_positive_list(map_ratios, "map_ratios"),
                  map_sigmas=_positive_list(map_sigmas, "map_sigmas"))


def _glue(**values) -> None:
    from myst_nb import glue

    for key, value in values.items():
        glue(key, value, display=False)


def _one_blas_thread():
    # The matrices are small: extra BLAS threads cost more than they save on two cores.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


# -------------------------------------------------------------------- Theorem 6's conditions


@dataclass(frozen=True)
class Conditions:
    """Theorem 6's size conditions at the largest n of Figure 4, with every constant set to 1:
    n/d >= (1/eps^2) log(n m / (eps d)), t >= log(n / (eps d)),
    m >= (n^2 / (eps^4 d^2)) log(t n m / (eps d))."""

    n: int
    d: int
    m: int
    t: int
    eps: float
    n_over_d_needed: float
    t_needed: float
    m_needed: float

    @property
    def met(self) -> dict[str, bool]:
        """Which conditions the configuration meets with every constant equal to 1."""
        return {"n": self.n / self.d >= self.n_over_d_needed, "t": self.t >= self.t_needed,
                "m": self.m >= self.m_needed}


def conditions(cfg: Config, glue: bool = False) -> Conditions:
    """Theorem 6's conditions with c = c2 = c3 = 1 at the largest n of Figure 4 (the constants
    are not known, so this says how far the configuration is from the theorem's sizes, not
    whether the theorem applies)."""
    n, d, m, t, eps = max(cfg.ns), cfg.d, cfg.m, cfg.t, cfg.eps
    c = Conditions(n, d, m, t, eps,
                   n_over_d_needed=math.log(n * m / (eps * d)) / eps**2,
                   t_needed=math.log(n / (eps * d)),
                   m_needed=(n / d) ** 2 / eps**4 * math.log(t * n * m / (eps * d)))
    if glue:
        _glue(cond_n=n, cond_nd=n / d, cond_m_needed=c.m_needed, cond_m_share=m / c.m_needed,
              cond_nd_needed=c.n_over_d_needed, cond_t_needed=c.t_needed)
    return c


# ------------------------------------------------------------------------------ Figure 4


@dataclass(frozen=True)
class Figure4:
    """The Figure 4 runs (:func:`~l2lcore.lsq.gd.compare_tbt_tbv` records) at growing n, by n."""

    cfg: Config
    runs: tuple[dict, ...]

    @property
    def n(self) -> np.ndarray:
        return np.array([r["n"] for r in self.runs])

    @property
    def n_over_d(self) -> np.ndarray:
        return self.n / self.cfg.d

    @property
    def optimal(self) -> np.ndarray:
        """The target d sigma^2 / n of Theorem 6."""
        return self.cfg.d * self.cfg.sigma**2 / self.n

    def ratio(self, name: str, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        """Mean and confidence half-width of ||w_t - w*||^2 / (d sigma^2 / n) over the test tasks."""
        cis = np.array([mean_ci(r[f"test_errs_{name}"] / opt, level)
                        for r, opt in zip(self.runs, self.optimal)])
        return cis[:, 0], cis[:, 1]

    @property
    def least_squares(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, n / (n - d - 1)) where n > d + 1: the exact least squares solution's expected error
        sigma^2 d / (n - d - 1) in units of d sigma^2 / n."""
        n = self.n[self.n > self.cfg.d + 1]
        return n, n / (n - self.cfg.d - 1)

    @property
    def rmse_gap(self) -> np.ndarray:
        """TbT's mean test RMSE over TbV's, per n."""
        return np.array([r["test_rmse_tbt"] / r["test_rmse_tbv"] for r in self.runs])


def figure4(cfg: Config, glue: bool = True) -> Figure4:
    """Figure 4's protocol at each n = ratio * d: grid search (:data:`GRID`) on TbT(n) and on
    TbV(n/2, n/2) over m tasks, then n_test fresh tasks trained with each learned step on all n
    samples. Glues the configuration, the conditions and the numbers the chapter's prose reads."""
    with _one_blas_thread():
        runs = tuple(compare_tbt_tbv(cfg.d, n, cfg.sigma, cfg.t, cfg.m, GRID, cfg.seed,
                                     n_test=cfg.n_test) for n in cfg.ns)
    f4 = Figure4(cfg, runs)
    if glue:
        ratio, _ = f4.ratio("tbt")
        nd, gap = f4.n_over_d, f4.rmse_gap
        few = nd < 1
        _glue(grid_size=GRID.size, ci_level=LEVEL, d=cfg.d, m=cfg.m, t=cfg.t, sigma=cfg.sigma, seed=cfg.seed, n_test=cfg.n_test,
              eps=cfg.eps, gap_tolerance=cfg.gap_tolerance, n_first=int(f4.n[0]),
              n_last=int(f4.n[-1]), nd_first=float(nd[0]), nd_last=float(nd[-1]),
              ratio_last=float(ratio[-1]), peak_ratio=float(ratio.max()),
              peak_nd=float(nd[np.argmax(ratio)]), gap_first=float(gap[0]),
              gap_max=float(gap.max()), gap_max_nd=float(nd[np.argmax(gap)]),
              gap_last=float(gap[-1]),
              erm_last=float(f4.least_squares[1][-1]) if f4.least_squares[0].size else float("nan"),
              few_train_max=float(max((r["train_rmse_tbt"] for r, f in zip(runs, few) if f),
                                      default=float("nan"))))
        conditions(cfg, glue=True)
    return f4


def plot_ratio(f4: Figure4):
    """TbT's and TbV's test error over d sigma^2 / n against n/d (log-log, LEVEL intervals), with
    the least squares solution's n / (n - d - 1). Returns (fig, data)."""
    import matplotlib.pyplot as plt

    d = f4.cfg.d
    fig, ax = plt.subplots(figsize=(6.4, 4))
    data = {"series": [], "n": [], "n_over_d": [], "error_over_optimal": [], "ci_half_width": []}
    for name, label, marker in (("tbt", "TbT", "o-"), ("tbv", "TbV", "s-")):
        mean, half = f4.ratio(name)
        ax.errorbar(f4.n_over_d, mean, yerr=half, fmt=marker, ms=4, capsize=2, label=label)
        for n, v, h in zip(f4.n, mean, half):
            data["series"].append(label)
            data["n"].append(int(n))
            data["n_over_d"].append(n / d)
            data["error_over_optimal"].append(v)
            data["ci_half_width"].append(h)
    n_ls, ls = f4.least_squares
    ax.plot(n_ls / d, ls, "k--", lw=1, label=r"least squares: $n/(n-d-1)$")
    for n, v in zip(n_ls, ls):
        data["series"].append("least squares")
        data["n"].append(int(n))
        data["n_over_d"].append(n / d)
        data["error_over_optimal"].append(v)
        data["ci_half_width"].append(float("nan"))
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import LogLocator, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter("")
    ax.set_xlabel("samples per dimension $n/d$")
    ax.set_ylabel(r"$\mathbb{E}\|w_t - w^*\|^2 \,/\, (d\sigma^2/n)$")
    ax.legend()
    fig.tight_layout()
    return fig, data


def plot_figure4(f4: Figure4):
    """Figure 4: training (dotted) and test (solid) RMSE of TbT's and TbV's learned steps against
    n, means and min-max ranges over the test tasks. Returns (fig, data)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    data = {"method": [], "rmse": [], "n": [], "mean": [], "min": [], "max": []}
    n = f4.n
    for name, color, label in (("tbt", "C0", "TbT"), ("tbv", "C1", "TbV")):
        for kind, ls in (("train", ":"), ("test", "-")):
            values = [r[f"{kind}_rmses_{name}"] for r in f4.runs]
            mean = np.array([v.mean() for v in values])
            lo, hi = np.array([v.min() for v in values]), np.array([v.max() for v in values])
            ax.plot(n, mean, ls, marker="o", color=color, label=f"{label} {kind}")
            ax.fill_between(n, lo, hi, color=color, alpha=0.2)
            for row in zip(n, mean, lo, hi):
                data["method"].append(label)
                data["rmse"].append(kind)
                for key, value in zip(("n", "mean", "min", "max"), row):
                    data[key].append(value)
    ax.set_xscale("log")
    ax.set_xlabel("samples per task $n$ (TbV: $n/2$ + $n/2$)")
    ax.set_ylabel("RMSE (units of $y$)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, data


# ---------------------------------------------------------------------- the (n/d, sigma) map


@dataclass(frozen=True)
class RegimeMap:
    """TbT's mean test error over TbV's, ``ratio[i, j]`` at sigma = sigmas[i], n/d = ratios[j]."""

    d: int
    sigmas: np.ndarray
    ratios: np.ndarray
    ratio: np.ndarray

    @property
    def many(self) -> np.ndarray:
        """Cells well inside Theorem 6's regime: n/d >= 2 and d sigma^2 / n <= 1/4."""
        return self.ratios[None, :] >= np.maximum(2, 4 * self.sigmas[:, None] ** 2)

    @property
    def few(self) -> np.ndarray:
        """Columns with n/d <= 3/4 (Theorem 5's sample sizes)."""
        return self.ratios <= 0.75


def regime_map(cfg: Config, glue: bool = True) -> RegimeMap:
    """The Figure 4 comparison (m = map_m tasks, map_n_test test tasks, d = map_d, t as in
    Figure 4) at every (n/d, sigma) of the map; glues the numbers the chapter's prose reads."""
    ratio = np.zeros((len(cfg.map_sigmas), len(cfg.map_ratios)))
    with _one_blas_thread():
        for i, s in enumerate(cfg.map_sigmas):
            for j, r in enumerate(cfg.map_ratios):
                run = compare_tbt_tbv(cfg.map_d, sample_size(r, cfg.map_d), s, cfg.t, cfg.map_m, GRID,
                                      cfg.seed, n_test=cfg.map_n_test)
                ratio[i, j] = run["test_err_tbt"] / run["test_err_tbv"]
    mp = RegimeMap(cfg.map_d, np.array(cfg.map_sigmas), np.array(cfg.map_ratios), ratio)
    if glue:
        nan = float("nan")
        few, many = ratio[:, mp.few], ratio[mp.many]
        best = np.unravel_index(ratio.argmax(), ratio.shape)
        _glue(map_d=cfg.map_d, map_m=cfg.map_m, map_n_test=cfg.map_n_test,
              map_few_min=float(few.min()) if few.size else nan,
              map_few_max=float(few.max()) if few.size else nan,
              map_many_lo=float(many.min()) if many.size else nan,
              map_many_hi=float(many.max()) if many.size else nan,
              map_many_cells=int(mp.many.sum()), map_best=float(ratio.max()),
              map_best_nd=float(mp.ratios[best[1]]), map_best_sigma=float(mp.sigmas[best[0]]))
    return mp


def plot_map(mp: RegimeMap):
    """The map: log2 of TbT's test error over TbV's per (n/d, sigma) cell (red: TbV better), the
    ratio written in each cell, and a black line where n/d = sigma^2. Returns (fig, data)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    score = np.log2(mp.ratio)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    limit = max(float(np.abs(score).max()), 1e-3)
    mesh = ax.pcolormesh(np.arange(mp.ratios.size + 1), np.arange(mp.sigmas.size + 1), score,
                         cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -limit, limit))
    for i in range(mp.sigmas.size):
        for j in range(mp.ratios.size):
            ax.text(j + 0.5, i + 0.5, f"{mp.ratio[i, j]:.2f}", ha="center", va="center", fontsize=7)
    # Where d sigma^2 / n = ||w*||^2 = 1: left of it, fitting the noise costs more than w* weighs.
    edge = [int(np.searchsorted(mp.ratios, s**2)) for s in mp.sigmas]
    ax.plot(np.repeat(edge, 2), np.ravel([[i, i + 1] for i in range(mp.sigmas.size)]), "k-", lw=2)
    ax.set_xticks(np.arange(mp.ratios.size) + 0.5, [f"{r:g}" for r in mp.ratios])
    ax.set_yticks(np.arange(mp.sigmas.size) + 0.5, [f"{s:g}" for s in mp.sigmas])
    ax.set_xlabel("samples per dimension $n/d$ (equal-width cells, not to scale)")
    ax.set_ylabel(r"noise level $\sigma$")
    fig.colorbar(mesh, ax=ax, label=r"$\log_2$ (TbT test error / TbV test error)")
    fig.tight_layout()
    sig, rat = np.meshgrid(mp.sigmas, mp.ratios, indexing="ij")
    data = {"sigma": sig.ravel(), "n_over_d": rat.ravel(),
            "n": [sample_size(r, mp.d) for r in rat.ravel()],
            "test_error_tbt_over_tbv": mp.ratio.ravel()}
    return fig, data


# ------------------------------------------------------------------------------------ claims


def theorem6_claims(by_n: list[dict], eps: float = 0.1, gap_tolerance: float = 0.02,
                    level: float = LEVEL) -> list[Claim]:
    """Theorem 6 (n >> d) and Figure 4, from :func:`compare_tbt_tbv` runs at growing n (fixed d).

    With r = ||w_t - w*||^2 / (d sigma^2 / n) per test task of TbT's step and [mean +- h] its
    ``level`` confidence interval at each n:

    * at the largest n/d the upper end mean + h is at most 1 + ``eps``;
    * over n/d >= 2 the mean falls toward 1: from the first to the last such n it falls by more
      than the combined half-widths sqrt(h_first^2 + h_last^2), and from one n/d to the next it
      never rises by more than sqrt(h_i^2 + h_{i+1}^2) (no rise that the test tasks resolve);
    * with n < d TbV tests better than TbT, and at the largest n/d their test RMSEs agree within
      ``gap_tolerance``.
    """
    by_n = sorted(by_n, key=lambda r: r["n"])
    cis = np.array([mean_ci(r["test_errs_tbt"] / (r["d"] * r["sigma"] ** 2 / r["n"]), level)
                    for r in by_n])
    ratio, half = cis[:, 0], cis[:, 1]
    n_over_d = np.array([r["n"] / r["d"] for r in by_n])
    big = n_over_d >= 2
    gap = np.array([r["test_rmse_tbt"] / r["test_rmse_tbv"] for r in by_n])
    small = n_over_d < 1
    rb, hb = ratio[big], half[big]
    allowed = np.hypot(hb[:-1], hb[1:])
    rises = np.diff(rb) - allowed
    worst = int(np.argmax(rises)) if rises.size else None
    falls = big.sum() >= 3 and rb[0] - rb[-1] > np.hypot(hb[0], hb[-1])
    return [
        Claim(f"TbT reaches (1 + eps) d sigma^2 / n for n >> d "
              f"(eps = {eps:g}, {level:.0%} upper end)",
              f"E||w_t - w*||^2 / (d sigma^2 / n) = {ratio[-1]:.3f} +- {half[-1]:.3f} "
              f"at n/d = {n_over_d[-1]:g}",
              ratio[-1] + half[-1] <= 1 + eps, statement="thm6"),
        Claim("the ratio to d sigma^2 / n falls toward 1 as n/d grows (n/d >= 2), "
              "no rise beyond the confidence intervals",
              ", ".join(f"{v:.3f} +- {h:.3f}" for v, h in zip(rb, hb))
              + (f"; steepest step {np.diff(rb)[worst]:+.3f}, allowed rise {allowed[worst]:.3f}"
                 if worst is not None else ""),
              bool(falls) and bool(np.all(rises <= 0)), statement="thm6",
              cases=int(big.sum())),
        Claim("with n < d, TbV tests better than TbT (Figure 4)",
              "test RMSE ratio TbT/TbV = " + (", ".join(f"{v:.2f}" for v in gap[small]) or "no n < d"),
              bool(np.all(gap[small] > 1)) and small.any(), statement="fig4-few",
              cases=int(small.sum())),
        Claim(f"the TbT/TbV gap closes as n grows (Figure 4; within {gap_tolerance:g})",
              f"test RMSE ratio TbT/TbV = {gap[-1]:.3f} at n/d = {n_over_d[-1]:g}",
              abs(gap[-1] - 1) <= gap_tolerance, statement="fig4-gap"),
    ]


def condition_claim(c: Conditions) -> Claim:
    """Theorem 6's sizes against the configuration's: not tested, since the constants are not
    known; the measured text says how far the configuration is with every constant set to 1."""
    return Claim(
        "Theorem 6's sizes hold at the largest n: m >= c3 n^2/(eps^4 d^2) log(tnm/(eps d)), "
        "n >= (c d/eps^2) log(nm/(eps d)), t >= c2 log(n/(eps d))",
        f"with c = c2 = c3 = 1 at n/d = {c.n / c.d:g}, eps = {c.eps:g}: m = {c.m} vs {c.m_needed:.3g}; "
        f"n/d = {c.n / c.d:g} vs {c.n_over_d_needed:.3g}; t = {c.t} vs {c.t_needed:.3g}",
        None, statement="thm6", expected=NOT_TESTED,
        reason=(f"the constants are unknown; even with c3 = 1 the book's m is "
                f"{c.m / c.m_needed:.1e} of the m the theorem asks for"
                if not c.met["m"] else "the constants are unknown"))


def overfit_claim(f4: Figure4) -> Claim:
    """With n < d, TbT's step fits the training data below the noise: its mean training RMSE is
    below sigma and below its own mean test RMSE."""
    few = [r for r in f4.runs if r["n"] < r["d"]]
    train = [r["train_rmse_tbt"] for r in few]
    test = [r["test_rmse_tbt"] for r in few]
    return Claim(
        "with n < d, TbT overfits: training RMSE below the noise level sigma and below its test RMSE",
        (", ".join(f"n = {r['n']}: train {a:.3f}, test {b:.3f}" for r, a, b in zip(few, train, test))
         + f" (sigma = {f4.cfg.sigma:g})") if few else "no n < d",
        all(a < f4.cfg.sigma and a < b for a, b in zip(train, test)), statement="fig4-few",
        cases=len(few))


def map_claims(mp: RegimeMap) -> list[Claim]:
    """On the map, over the rows with sigma >= 1 (the paper's setting): TbV tests better than TbT
    in every cell with n/d <= 3/4, and TbT's disadvantage at the largest n/d is smaller than its
    largest at n <= d (the gap shrinks as n grows)."""
    rows = mp.sigmas >= 1
    few = mp.ratio[np.ix_(rows, mp.few)]
    at_most_d = mp.ratios <= 1
    shrinks = [(s, mp.ratio[i, at_most_d].max(), mp.ratio[i, -1])
               for i, s in enumerate(mp.sigmas) if s >= 1 and at_most_d.any() and mp.ratios[-1] > 1]
    return [
        Claim("map, sigma >= 1 and n/d <= 3/4: TbV tests better than TbT in every cell",
              f"TbT/TbV test error {few.min():.2f} .. {few.max():.2f} over {few.size} cells"
              if few.size else "no such cell",
              bool(np.all(few > 1)), statement="fig4-few", cases=int(few.size)),
        Claim("map, every sigma >= 1: TbT's disadvantage at the largest n/d is smaller than "
              "its largest at n <= d",
              "; ".join(f"sigma = {s:g}: {a:.2f} -> {b:.2f}" for s, a, b in shrinks) or "no such row",
              all(b < a for _, a, b in shrinks), statement="fig4-gap", cases=len(shrinks)),
    ]


def claims(f4: Figure4, mp: RegimeMap, level: float = LEVEL) -> list[Claim]:
    """Every claim of the chapter: :func:`theorem6_claims` on the Figure 4 runs, the theorem's
    sizes (:func:`condition_claim`), TbT's overfitting with n < d (:func:`overfit_claim`) and the
    map's two (:func:`map_claims`)."""
    cfg = f4.cfg
    t6 = theorem6_claims(list(f4.runs), eps=cfg.eps, gap_tolerance=cfg.gap_tolerance, level=level)
    few_map, gap_map = map_claims(mp)
    return [t6[0], t6[1], condition_claim(conditions(cfg)),  # Theorem 6
            t6[2], overfit_claim(f4), few_map,                # few samples: TbT overfits
            t6[3], gap_map]                                   # the gap shrinks as n grows
