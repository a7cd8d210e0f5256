"""Least squares tasks: train-by-train (TbT) against train-by-validation (TbV), paper Section 4.

A task draws w* uniform on the unit sphere of R^d, rows x_i ~ N(0, I_d) and
y_i = <w*, x_i> + xi_i with xi_i ~ N(0, sigma^2). The inner optimizer is GD from w_0 = 0 on
f_hat(w) = (1/(2n)) sum_i (y_i - <w, x_i>)^2 for t steps, with the truncation rule: if some
||w_k|| >= 40 sigma the run stops and w stays at 40 sigma * u.

Spectral fast path. Write the training matrix as X = sum_j s_j u_j v_j^T (thin SVD),
lambda_j = s_j^2 / n, c_j = <u_j, y> and q_j = 1 - eta lambda_j. GD from 0 never leaves the row
space of X, and in the basis v_j it decouples into

    w_k = sum_j (1 - q_j^k) (c_j / s_j) v_j,          ||w_k||^2 = sum_j (1 - q_j^k)^2 c_j^2 / s_j^2,
    y - X w_k = sum_j c_j q_j^k u_j + (y - U U^T y),   so f_hat(w_t) = (sum_j c_j^2 q_j^(2t) + perp) / (2n)

with perp = ||y - U U^T y||^2. One decomposition per task thus gives the meta-losses of every eta
of a grid, truncation included, in O(r) (TbT) or O(n2 r) (TbV) per eta. The factors 1 - q_j^k
are computed without the subtraction, which would cancel for small eta lambda_j (see
:func:`_power_and_gap`), so the path agrees with the unrolled loop to 1e-10 down to eta = 1e-6.

The fixed unit vector u of the truncation rule is e_1, the first coordinate vector. The task
distribution is rotation invariant, so every fixed u gives the same distribution of meta-losses;
a fixed u keeps the meta-objective a deterministic function of eta, where the authors' random u
added noise to the truncated values only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .._checks import positive_int

#: The truncation radius is TRUNCATION * sigma.
TRUNCATION = 40.0

META_LOSSES = ("tbt", "tbv")
#: sigma must lie in this range: losses of order n (40 sigma)^2 then stay far inside float64.
SIGMA_RANGE = (1e-100, 1e100)


# ----------------------------------------------------------------------------------- checks


def check_sigma(sigma, zero: bool = False) -> float:
    """sigma as a float > 0 (the truncation radius 40 sigma must be positive; ``zero`` allows 0
    where no truncation is involved) and within :data:`SIGMA_RANGE`."""
    sigma = _checks.real(sigma, "sigma", nonnegative=zero, positive=not zero, at_most=SIGMA_RANGE[1])
    if sigma != 0 and sigma < SIGMA_RANGE[0]:
        raise ValueError(f"sigma must be >= {SIGMA_RANGE[0]:g}, got {sigma!r}")
    return sigma


def check_grid(etas, name: str = "etas") -> np.ndarray:
    """A non-empty 1-d float64 grid of finite step sizes, each > 0 (``name`` names it in messages:
    "eta" where a function takes one step size)."""
    if etas is None:
        raise ValueError(f"{name} must be a grid of step sizes (a 1-d sequence of numbers > 0), "
                         "got None")
    a = _checks.reals(etas, name, positive=True)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-d grid, got shape {a.shape}")
    return a


def check_eta(eta) -> float:
    """One step size: a finite real number > 0."""
    return _checks.real(eta, "eta", positive=True)


def check_t(t, name: str = "t") -> int:
    """A horizon for the closed forms: an integer from 1 to 2**52 (float64 counts it exactly)."""
    t = positive_int(t, name)
    if t > _checks.MAX_FLOAT_T:
        raise ValueError(f"{name} must be at most 2**52 (float64 counts it exactly), got {t!r}")
    return t


def check_task(task) -> "LsqTask":
    if not isinstance(task, LsqTask):
        raise ValueError(f"task must be an LsqTask, got {type(task).__name__}")
    return task


def check_data(X, y, ndim: int = 2, name: str = "X"):
    """X (..., n, d) and y (..., n) as finite float64 arrays whose shapes agree."""
    X = _checks.reals(X, name, ndim=ndim)
    y = _checks.reals(y, "y", ndim=ndim - 1)
    if y.shape != X.shape[:-1]:
        raise ValueError(f"shapes disagree: X {X.shape}, y {y.shape}")
    if 0 in X.shape:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}")
    return X, y


def check_split(split, n: int) -> tuple[int, int]:
    """(n1, n2): n1 = floor(split * n + 1/2) training and n2 = n - n1 validation samples.

    Halves round up (n = 5, split = 0.5 gives n1 = 3, n2 = 2), unlike Python's round(), which
    rounds halves to even. Both must be at least 1.
    """
    n = positive_int(n, "n")
    if isinstance(split, np.ndarray) and split.ndim == 0:
        split = split[()]
    if isinstance(split, (bool, np.bool_)) or not isinstance(split, numbers.Real):
        raise ValueError(f"split must be a real number in (0, 1), got {split!r}")
    if not (0 < split < 1 and math.isfinite(split)):
        raise ValueError(f"split must lie strictly between 0 and 1, got {split!r}")
    n1 = math.floor(split * n + 0.5)
    if n1 == 0 or n1 == n:
        raise ValueError(
            f"split={split} of n={n} samples leaves n1={n1} training and {n - n1} validation "
            "samples; TbV needs at least one of each"
        )
    return n1, n - n1


# ------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True, eq=False)
class LsqTask:
    """One least squares task: w* (d,), samples X (n, d) and y = X w* + noise (n,), and sigma."""

    w_star: np.ndarray
    X: np.ndarray
    y: np.ndarray
    sigma: float

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def rows(self, start: int, stop: int) -> "LsqTask":
        """The same task restricted to samples start .. stop-1 (for train/validation splits)."""
        return LsqTask(self.w_star, self.X[start:stop], self.y[start:stop], self.sigma)


def sample_task(d: int, n: int, sigma: float, rng: np.random.Generator) -> LsqTask:
    """w* uniform on the unit sphere, x_i ~ N(0, I_d), y_i = <w*, x_i> + N(0, sigma^2)."""
    d, n = positive_int(d, "d"), positive_int(n, "n")
    sigma = check_sigma(sigma)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
    _checks.budget("n", n, nbytes=8.0 * n * (d + 2))
    g = rng.standard_normal(d)
    w_star = g / np.linalg.norm(g)
    X = rng.standard_normal((n, d))
    y = X @ w_star + sigma * rng.standard_normal(n)
    return LsqTask(w_star, X, y, sigma)


def task_seeds(seed: int, count: int, stream: int) -> list[np.random.SeedSequence]:
    """Per-task seeds: child ``stream`` of SeedSequence(seed), spawned into ``count`` children.

    Stream 0 holds the training tasks, stream 1 the test tasks. Each task's SeedSequence is
    spawned again by its user into (data, inner randomness), so GD and SGD see the same data.
    """
    root = np.random.SeedSequence(_checks.seed_int(seed))
    if stream not in (0, 1) or isinstance(stream, bool):
        raise ValueError(f"stream must be 0 (training tasks) or 1 (test tasks), got {stream!r}")
    return root.spawn(2)[stream].spawn(positive_int(count, "count"))


def task_streams(ss: np.random.SeedSequence) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(data seed, inner-optimizer seed) of one task. ``default_rng(inner)`` gives the same SGD
    sample order every time it is called, so every eta of a grid sees the same order."""
    data, inner = ss.spawn(2)
    return data, inner


def truncation_point(d: int, sigma: float) -> np.ndarray:
    """The frozen weights 40 sigma * e_1."""
    u = np.zeros(d)
    u[0] = TRUNCATION * sigma
    return u


# ------------------------------------------------------------------------- reference loop


@dataclass(frozen=True)
class GDRun:
    """An unrolled GD run: final weights, ||w_k|| for k = 0 .. stop, and the step it stopped at
    (``truncated_at`` is None when the rule never fired)."""

    w: np.ndarray
    norms: np.ndarray
    truncated_at: int | None


def gd_unrolled(X, y, eta: float, t: int, sigma: float, dtype=np.float64) -> GDRun:
    """t steps of w_{k+1} = w_k - (eta/n) X^T (X w_k - y) from w_0 = 0, with truncation.

    The arithmetic is done in ``dtype``: float64 is the reference for the spectral path,
    float32 reproduces the authors' TensorFlow implementation.
    """
    t = positive_int(t, "t")
    sigma = check_sigma(sigma)
    eta = check_eta(eta)
    X, y = check_data(X, y)
    n, d = X.shape
    _checks.budget("t", t, flops=t * (4.0 * n * d + _checks.STEP_FLOPS))
    dt = np.dtype(dtype).type
    Xd, yd = X.astype(dt), y.astype(dt)
    radius = dt(TRUNCATION * sigma)
    step = dt(eta / n)
    w = np.zeros(d, dtype=dt)
    norms = [0.0]
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, t + 1):
            w = w - step * (Xd.T @ (Xd @ w - yd))
            norm = np.linalg.norm(w)
            norms.append(float(norm))
            if not norm < radius:  # also catches an overflow to inf or nan
                return GDRun(truncation_point(d, sigma).astype(dt), np.array(norms), k)
    return GDRun(w, np.array(norms), None)


# ------------------------------------------------------------------------- spectral path


@dataclass(frozen=True, eq=False)
class GDSpectrum:
    """Thin SVD of a training set, X = sum_j s_j u_j v_j^T, and the data in that basis.

    ``lam`` = s_j^2 / n, ``c`` = <u_j, y>, ``V`` has the v_j as columns (None when not asked
    for: TbT's training loss does not need it), ``perp`` = ||y - U U^T y||^2.
    Modes with s_j^2 <= max(n, d) * eps * s_1^2 are dropped, as a pseudo-inverse would: GD moves
    along them by at most eta t s_j |c_j| / n, below rounding.
    """

    s: np.ndarray
    lam: np.ndarray
    c: np.ndarray
    V: np.ndarray | None
    perp: float
    n: int

    @property
    def a(self) -> np.ndarray:
        """c_j^2 / s_j^2: ||w_k||^2 = sum_j a_j (1 - q_j^k)^2."""
        return (self.c / self.s) ** 2


def gd_spectrum(X, y, basis: bool = True) -> GDSpectrum:
    """The SVD of X from the eigendecomposition of the smaller Gram matrix (X X^T or X^T X).

    The Gram matrix costs a fifth of a full SVD at the paper's 500 x 1000 and loses accuracy only
    in modes with tiny s_j, which GD barely moves in t steps.
    """
    X, y = check_data(X, y)
    basis = _checks.flag(basis, "basis")
    n, d = X.shape
    _checks.budget("X", f"shape {X.shape}", nbytes=8.0 * (2 * n * d + 2 * min(n, d) ** 2))
    if not np.any(X):  # rank 0: GD never moves
        return GDSpectrum(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((d, 0)) if basis else None,
                          float(y @ y), n)
    if n <= d:
        ev, U = np.linalg.eigh(X @ X.T)
    else:
        ev, V = np.linalg.eigh(X.T @ X)
    keep = ev > max(n, d) * np.finfo(np.float64).eps * ev.max()
    ev = ev[keep][::-1]
    s = np.sqrt(ev)
    # Reversed column views have negative strides, which numpy's matmul cannot hand to BLAS.
    if n <= d:
        U = np.ascontiguousarray(U[:, keep][:, ::-1])
        V = (X.T @ U) / s if basis else None
    else:
        V = np.ascontiguousarray(V[:, keep][:, ::-1])
        U = (X @ V) / s
    c = U.T @ y
    perp = float(np.sum((y - U @ c) ** 2))
    return GDSpectrum(s, ev / n, c, V, perp, n)


def _x(spec: GDSpectrum, etas: np.ndarray) -> np.ndarray:
    """x_j = eta lambda_j for every eta of the grid, shape (len(etas), r); q_j = 1 - x_j."""
    return etas[:, None] * spec.lam[None, :]


def _power_and_gap(q: np.ndarray, x: np.ndarray | None, k: int):
    """(q**k, 1 - q**k) elementwise for q = 1 - x, by binary powering (log2(k) steps).

    1 - q**k is not formed by subtraction: for small x = eta lambda, q**k is within k x of 1 and
    1 - q**k would lose log10(1/x) digits (2e-9 relative error in w_t at eta = 1e-6 and n = d).
    Instead D_k = 1 - q**k follows the exact recursions D_{2k} = D_k (1 + q**k) and
    D_{k+1} = x + q D_k, which for 0 < q < 1 add and multiply positive numbers only, so D_k keeps
    full relative accuracy (a few ulps) for every x > 0, and for q <= 0 they are no worse than the
    subtraction. The cost is that of the repeated squaring itself, cheaper than
    -expm1(k log1p(-x)). Values that overflow come out as +-inf, never nan.
    With ``x`` None only q**k is computed and the second entry is None.
    """
    if k == 0:
        return np.ones_like(q), (None if x is None else np.zeros_like(q))
    # k = 1 is the leading bit; the arrays are updated in place from here on: at the paper's
    # sizes they are (grid, r) = (1025, 500), and fresh allocations of that size (page faults)
    # cost more than the arithmetic on them.
    P = q.copy()
    D = None if x is None else x.copy()
    tmp = None if x is None else np.empty_like(q)
    with np.errstate(over="ignore", invalid="ignore"):
        for bit in bin(k)[3:]:
            if D is not None:  # k -> 2k
                np.add(P, 1.0, out=tmp)
                D *= tmp
            P *= P
            if bit == "1":  # k -> k + 1
                if D is not None:
                    np.multiply(q, D, out=tmp)
                    np.add(x, tmp, out=D)
                P *= q
    return P, D


def gd_step_norms(spec: GDSpectrum, etas, t: int) -> np.ndarray:
    """||w_k|| of the untruncated GD run for every eta and k = 0 .. t, shape (len(etas), t + 1).

    ||w_k||^2 = sum_j a_j (1 - q_j^k)^2, with 1 - q_j^k built step by step as
    x_j + q_j (1 - q_j^(k-1)) (see :func:`_power_and_gap`); values that overflow are returned as inf.
    """
    spec, etas = _spectrum(spec), check_grid(etas)
    t = positive_int(t, "t")
    _checks.budget("t", t, flops=3.0 * t * etas.size * spec.s.size, nbytes=8.0 * etas.size * (t + 1))
    x = _x(spec, etas)
    q = 1.0 - x
    a = spec.a
    out = np.zeros((etas.size, t + 1))
    gap = np.zeros_like(q)  # 1 - q^k, by D_k = x + q D_{k-1} (no cancellation for small x)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, t + 1):
            gap = x + q * gap
            out[:, k] = (gap**2) @ a
    out[~np.isfinite(out)] = np.inf
    return np.sqrt(out)


def gd_truncated(spec: GDSpectrum, etas, t: int, sigma: float) -> np.ndarray:
    """For each eta: does some ||w_k||, 1 <= k <= t, reach 40 sigma? (bool array)

    Exact, and cheap where it can be. Where every q_j = 1 - eta lambda_j lies in [0, 1],
    0 <= 1 - q_j^k <= 1 grows with k, so ||w_k||^2 <= sum_j a_j and ||w_t|| decides; when
    sum_j a_j = ||X^+ y||^2 is below (40 sigma)^2 nothing needs computing for those etas at all.
    Where some q_j < 0: ||w_t|| >= 40 sigma decides "yes"; the bound
    ||w_k||^2 <= sum_j a_j (1 + max(1, |q_j|)^t)^2 < (40 sigma)^2 decides "no"; only the etas left
    undecided pay for the per-step norms.
    """
    spec, etas = _spectrum(spec), check_grid(etas)
    return _truncated(spec, etas, check_t(t), check_sigma(sigma))


def _spectrum(spec) -> GDSpectrum:
    if not isinstance(spec, GDSpectrum):
        raise ValueError(f"spec must be a GDSpectrum (from gd_spectrum), got {type(spec).__name__}")
    return spec


def _truncated(spec, etas, t, sigma):
    radius2 = (TRUNCATION * sigma) ** 2
    a = spec.a
    truncated = np.zeros(etas.size, dtype=bool)
    # Some q_j < 0 exactly where eta lambda_max > 1 (the same rounded products as in q).
    mixed = etas * spec.lam.max(initial=0.0) > 1.0
    rows = np.ones_like(mixed) if a.sum() >= radius2 else mixed
    if not np.any(rows):
        return truncated
    x = _x(spec, etas[rows])
    qt, gap = _power_and_gap(1.0 - x, x, t)
    with np.errstate(over="ignore", invalid="ignore"):
        last = (gap**2) @ a
    last = np.where(np.isfinite(last), last, np.inf)
    hit = last >= radius2
    undecided = ~hit & mixed[rows]
    if np.any(undecided):
        with np.errstate(over="ignore", invalid="ignore"):
            bound = ((1.0 + np.maximum(1.0, np.abs(qt[undecided]))) ** 2) @ a
        undecided[undecided] = bound >= radius2
    if np.any(undecided):
        hit[undecided] = _reaches(spec, etas[rows][undecided], t, radius2)
    truncated[rows] = hit
    return truncated


def _reaches(spec, etas, t, radius2) -> np.ndarray:
    """Does some ||w_k||^2, 1 <= k <= t, reach radius2? Step by step in O(len(etas) r) memory
    (not the (len(etas), t + 1) norms), stopping once every eta is decided."""
    x = _x(spec, etas)
    q = 1.0 - x
    a = spec.a
    gap = np.zeros_like(q)
    hit = np.zeros(etas.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(t):
            gap = x + q * gap
            norm2 = (gap**2) @ a
            hit |= ~(norm2 < radius2)
            if hit.all():
                break
    return hit


def gd_coefficients(spec: GDSpectrum, etas, t: int) -> np.ndarray:
    """z_j = (1 - q_j^t) c_j / s_j, the untruncated w_t in the basis v_j; shape (len(etas), r)."""
    x = _x(_spectrum(spec), check_grid(etas))
    _, gap = _power_and_gap(1.0 - x, x, check_t(t))
    with np.errstate(over="ignore", invalid="ignore"):
        return gap * (spec.c / spec.s)


def gd_weights(spec: GDSpectrum, etas, t: int, sigma: float) -> np.ndarray:
    """w_{t,eta} with truncation for every eta of the grid, shape (len(etas), d)."""
    spec, etas = _spectrum(spec), check_grid(etas)
    if spec.V is None:
        raise ValueError("gd_weights needs the basis V: build the spectrum with basis=True")
    truncated = gd_truncated(spec, etas, t, sigma)
    z = gd_coefficients(spec, etas, t)
    z[truncated] = 0.0
    W = z @ spec.V.T
    W[truncated] = truncation_point(spec.V.shape[0], sigma)
    return W


@dataclass(frozen=True, eq=False)
class SpectralTask:
    """One task prepared to give its meta-loss at any eta in O(r) or O(n_eval r).

    TbT (``A`` is None): the training loss (sum_j c_j^2 q_j^(2t) + perp) / (2n).
    TbV: the validation loss ||y_eval - A z||^2 / (2 n_eval), A = X_eval V.
    ``truncated_loss`` is the meta-loss at the frozen weights 40 sigma e_1.
    """

    spec: GDSpectrum
    sigma: float
    truncated_loss: float
    A: np.ndarray | None = None
    y_eval: np.ndarray | None = None


def prepare_tbt(task: LsqTask) -> SpectralTask:
    """TbT(n): the meta-loss is the training loss on all n samples."""
    check_task(task)
    frozen = task.y - task.X @ truncation_point(task.d, task.sigma)
    spec = gd_spectrum(task.X, task.y, basis=False)
    return SpectralTask(spec, task.sigma, float(frozen @ frozen) / (2 * task.n))


def prepare_tbv(task: LsqTask, n1: int) -> SpectralTask:
    """TbV(n1, n - n1): train on the first n1 samples, the meta-loss is the loss on the rest."""
    check_task(task)
    n1 = positive_int(n1, "n1")
    if n1 >= task.n:
        raise ValueError(f"n1 must be below the task's n = {task.n} (TbV needs validation samples), "
                         f"got {n1}")
    train, valid = task.rows(0, n1), task.rows(n1, task.n)
    spec = gd_spectrum(train.X, train.y)
    frozen = valid.y - valid.X @ truncation_point(task.d, task.sigma)
    return SpectralTask(spec, task.sigma, float(frozen @ frozen) / (2 * valid.n),
                        valid.X @ spec.V, valid.y)


def spectral_meta_loss(st: SpectralTask, etas, t: int, grad: bool = False):
    """The meta-loss Delta(eta) for every eta of the grid (and dDelta/deta if ``grad``).

    dDelta/deta is 0 for truncated runs (the frozen value does not depend on eta); otherwise
    TbT: -(t/n) sum_j c_j^2 lambda_j q_j^(2t-1);  TbV: -(1/n_eval) <y_eval - A z, A dz/deta>
    with dz_j/deta = t lambda_j q_j^(t-1) c_j / s_j.
    """
    if not isinstance(st, SpectralTask):
        raise ValueError(f"st must be a SpectralTask (prepare_tbt, prepare_tbv), got {type(st).__name__}")
    etas = check_grid(etas)
    t = check_t(t)
    grad = _checks.flag(grad, "grad")
    spec = st.spec
    truncated = _truncated(spec, etas, t, st.sigma)
    x = _x(spec, etas)
    q = 1.0 - x
    tbv = st.A is not None
    # In place (see _power_and_gap); TbT's training loss needs no 1 - q^t.
    qt, gap = _power_and_gap(q, x if tbv else None, t - 1)
    qt1 = qt.copy() if grad else None
    with np.errstate(over="ignore", invalid="ignore"):
        qt *= q  # q^t
        if tbv:
            gap *= q
            gap += x  # 1 - q^t = x + q (1 - q^(t-1)), without cancellation
    del x, q
    # Truncated rows are replaced below; zeroing them keeps overflowed powers out of the sums.
    qt[truncated] = 0.0
    if tbv:
        gap[truncated] = 0.0
    if grad:
        qt1[truncated] = 0.0
    if st.A is None:
        if grad:
            g = -(t / spec.n) * ((qt1 * qt) @ (spec.c**2 * spec.lam))
        np.square(qt, out=qt)
        loss = (qt @ spec.c**2 + spec.perp) / (2 * spec.n)
    else:
        gap *= spec.c / spec.s  # z, the untruncated w_t in the basis v_j
        resid = st.A @ gap.T
        np.subtract(st.y_eval[:, None], resid, out=resid)
        loss = np.einsum("ij,ij->j", resid, resid) / (2 * st.y_eval.size)
        if grad:
            dz = t * qt1 * (spec.lam * spec.c / spec.s)
            g = -np.einsum("ij,ij->j", resid, st.A @ dz.T) / st.y_eval.size
    loss[truncated] = st.truncated_loss
    if not grad:
        return loss
    g[truncated] = 0.0
    return loss, g


# ------------------------------------------------------------------------ meta-objectives


def _progress(iterable, total, desc, progress):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc)


def gd_meta_objectives(d: int, n: int, sigma: float, t: int, m: int, etas, seed: int,
                       split: float = 0.5, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(F_hat_TbT(eta), F_hat_TbV(eta)) on the grid: meta-losses averaged over m training tasks.

    Both use the same m tasks of n samples: TbT trains on all n, TbV on the first
    n1 = floor(split n + 1/2) (:func:`check_split`) and validates on the other n - n1. Tasks are
    drawn one at a time so memory stays O(n d).
    """
    tbt, tbv = gd_meta_objectives_over_t(d, n, sigma, [t], m, etas, seed, split, progress)
    return tbt[0], tbv[0]


def gd_meta_objectives_over_t(d: int, n: int, sigma: float, ts, m: int, etas, seed: int,
                              split: float = 0.5, progress: bool = False):
    """:func:`gd_meta_objectives` for several horizons t on the same m tasks, each task drawn and
    decomposed once: arrays of shape (len(ts), len(etas)) for TbT and TbV."""
    d, n, m = (positive_int(v, k) for v, k in ((d, "d"), (n, "n"), (m, "m")))
    ts = [check_t(t) for t in _checks.positive_ints(ts, "ts", "t")]
    sigma, etas = check_sigma(sigma), check_grid(etas)
    n1, _ = check_split(split, n)
    progress = _checks.flag(progress, "progress")
    # Memory stays O(n d + len(etas) n): tasks are drawn one at a time (sample_task checks n d).
    _checks.budget("etas", f"{etas.size} step sizes", nbytes=8.0 * 4 * etas.size * max(n, d))
    tbt = np.zeros((len(ts), etas.size))
    tbv = np.zeros((len(ts), etas.size))
    for ss in _progress(task_seeds(seed, m, 0), m, "GD meta-objectives", progress):
        task = sample_task(d, n, sigma, np.random.default_rng(task_streams(ss)[0]))
        prepared = prepare_tbt(task), prepare_tbv(task, n1)
        for i, t in enumerate(ts):
            tbt[i] += spectral_meta_loss(prepared[0], etas, t)
            tbv[i] += spectral_meta_loss(prepared[1], etas, t)
    return tbt / m, tbv / m


def prepared_tasks(d: int, n: int, sigma: float, m: int, seed: int, meta_loss: str,
                   split: float = 0.5) -> list[SpectralTask]:
    """The m training tasks of :func:`gd_meta_objectives`, prepared for ``meta_loss``."""
    if meta_loss not in META_LOSSES:
        raise ValueError(f"unknown meta_loss {meta_loss!r}; choose one of {META_LOSSES}")
    d, n, m = positive_int(d, "d"), positive_int(n, "n"), positive_int(m, "m")
    n1, _ = check_split(split, n)
    sigma, seed = check_sigma(sigma), _checks.seed_int(seed)
    tasks = (sample_task(d, n, sigma, np.random.default_rng(task_streams(ss)[0])) for ss in task_seeds(seed, m, 0))
    if meta_loss == "tbt":
        return [prepare_tbt(task) for task in tasks]
    return [prepare_tbv(task, n1) for task in tasks]


def meta_objective_and_gradient(tasks: list[SpectralTask], etas, t: int):
    """(F_hat(eta), F_hat'(eta)) averaged over prepared tasks, on a grid."""
    _check_tasks(tasks)
    etas, t = check_grid(etas), check_t(t)
    pairs = [spectral_meta_loss(st, etas, t, grad=True) for st in tasks]
    return (np.mean([p[0] for p in pairs], axis=0), np.mean([p[1] for p in pairs], axis=0))


def _check_tasks(tasks):
    if isinstance(tasks, SpectralTask) or not isinstance(tasks, (list, tuple)):
        raise ValueError(f"tasks must be a list of SpectralTask (prepared_tasks), got {type(tasks).__name__}")
    if not tasks:
        raise ValueError("tasks is empty")
    if not all(isinstance(st, SpectralTask) for st in tasks):
        raise ValueError("tasks must hold SpectralTask entries only (prepared_tasks)")


#: log of the smallest normal and the largest float64: the range log_step_descent's eta keeps.
_LOG_RANGE = (math.log(np.finfo(np.float64).tiny), math.log(np.finfo(np.float64).max))


def log_step_descent(tasks: list[SpectralTask], t: int, eta0: float = 1e-3, steps: int = 200,
                     mu: float = 1.0) -> np.ndarray:
    """Sign meta-gradient descent on theta = log eta: theta_k = theta_{k-1} - (mu/sqrt(k)) sign(F_hat').

    (Not :func:`l2lcore.quadratic.meta.meta_descent`, which steps on eta itself along the
    quadratic's meta-gradient.)

    Only the sign of the meta-gradient is used. Its size varies by orders of magnitude between
    TbT and TbV, with sigma, and between the steep and the flat parts of the same objective (at
    small eta, F_hat is nearly flat; at the empirical risk minimizer's plateau too), so no single
    step size suits a plain gradient step; steps mu/sqrt(k) in log eta reach any eta within
    exp(2 mu sqrt(steps)) of eta_0 and then shrink around a minimizer. Where every task is
    truncated F_hat' is 0 and eta stays put. Returns eta_0 .. eta_steps.
    """
    _check_tasks(tasks)
    t = check_t(t)
    eta = _checks.real(eta0, "eta0", positive=True)
    steps = positive_int(steps, "steps")
    try:
        mu = _checks.real(mu, "mu", positive=True)
    except ValueError:
        raise ValueError(f"mu must be finite and > 0, got {mu!r}") from None
    lo, hi = _LOG_RANGE
    if not (lo <= math.log(eta) - mu and math.log(eta) + mu <= hi):
        raise ValueError(f"mu = {mu!r} is too large: one step from eta0 = {eta!r} multiplies it by "
                         f"exp(+-{mu:g}), beyond float64's range")
    r = sum(st.spec.s.size for st in tasks)
    _checks.budget("steps", steps, flops=steps * (30.0 * r * (math.log2(t) + 2) + _checks.STEP_FLOPS),
                   nbytes=8.0 * (steps + 1))
    path = [eta]
    for k in range(1, steps + 1):
        _, dF = meta_objective_and_gradient(tasks, [eta], t)
        log_eta = math.log(eta) - mu / math.sqrt(k) * float(np.sign(dF[0]))
        if not lo <= log_eta <= hi:
            raise ValueError(f"mu = {mu!r} drove eta beyond float64's range at step {k}: "
                             f"log eta = {log_eta:.4g}")
        eta = math.exp(log_eta)
        path.append(eta)
    return np.array(path)


# ----------------------------------------------------------------------- test-time runs


def gd_fit(task: LsqTask, eta: float, t: int) -> np.ndarray:
    """w_{t,eta} of GD with truncation on all of the task's samples (spectral path)."""
    check_task(task)
    eta, t = check_eta(eta), check_t(t)
    return gd_weights(gd_spectrum(task.X, task.y), [eta], t, task.sigma)[0]


def _rmse(X, y, w) -> float:
    return float(np.sqrt(np.mean((y - X @ w) ** 2)))


def evaluate_learned(fit, d: int, n: int, sigma: float, t: int, etas: dict, seed: int,
              n_test: int) -> dict:
    """Train fresh tasks at each learned eta and measure them.

    ``fit(task, eta, t, rng)`` returns w_t. Each of the n_test test tasks has n training samples
    and n fresh test samples from the same w*. Returns, per name in ``etas``, arrays
    ``test_errs_<name>`` (||w_t - w*||^2), ``train_rmses_<name>`` and ``test_rmses_<name>`` and
    their means ``test_err_<name>``, ``train_rmse_<name>``, ``test_rmse_<name>``.
    """
    n_test = positive_int(n_test, "n_test")
    if not callable(fit):
        raise ValueError(f"fit must be callable, got {fit!r}")
    if not isinstance(etas, dict) or not etas:
        raise ValueError(f"etas must be a non-empty dict of name: eta, got {etas!r}")
    etas = {name: check_eta(eta) for name, eta in etas.items()}
    rows = {name: [] for name in etas}
    for ss in task_seeds(seed, n_test, 1):
        data, inner = task_streams(ss)
        both = sample_task(d, 2 * n, sigma, np.random.default_rng(data))
        train, test = both.rows(0, n), both.rows(n, 2 * n)
        for name, eta in etas.items():
            w = fit(train, eta, t, np.random.default_rng(inner))
            rows[name].append((float(np.sum((w - train.w_star) ** 2)),
                               _rmse(train.X, train.y, w), _rmse(test.X, test.y, w)))
    out = {}
    for name, values in rows.items():
        errs, train_rmse, test_rmse = (np.array(col) for col in zip(*values))
        out.update({f"test_errs_{name}": errs, f"train_rmses_{name}": train_rmse,
                    f"test_rmses_{name}": test_rmse, f"test_err_{name}": float(errs.mean()),
                    f"train_rmse_{name}": float(train_rmse.mean()),
                    f"test_rmse_{name}": float(test_rmse.mean())})
    return out


def compare_tbt_tbv(d, n, sigma, t, m, etas, seed, n_test=10, split=0.5) -> dict:
    """Learn eta by grid search on F_hat_TbT(n) and on F_hat_TbV(n1, n - n1), then test both.

    Meta-training: m tasks of n samples; TbV uses n1 = floor(split * n + 1/2) of them for training
    and the rest for validation (:func:`check_split`). Testing: n_test fresh tasks, each trained
    by GD for t steps on n samples at the learned eta and measured on n fresh samples.

    Returned keys: ``etas`` (the grid), ``meta_tbt``, ``meta_tbv`` (F_hat on the grid),
    ``eta_tbt``, ``eta_tbv`` (grid minimizers), ``n1``, ``n2``; for name in (tbt, tbv) the means
    ``test_err_<name>`` (of ||w_t - w*||^2), ``train_rmse_<name>``, ``test_rmse_<name>`` and the
    per-test-task arrays ``test_errs_<name>``, ``train_rmses_<name>``, ``test_rmses_<name>``.
    """
    return compare_with(gd_meta_objectives, lambda task, eta, t, rng: gd_fit(task, eta, t),
                        d, n, sigma, t, m, etas, seed, n_test, split)


def compare_with(meta_objectives, fit, d, n, sigma, t, m, etas, seed, n_test, split) -> dict:
    """The body of :func:`compare_tbt_tbv` for any inner optimizer.

    ``meta_objectives(d, n, sigma, t, m, etas, seed, split)`` returns (F_hat_TbT, F_hat_TbV) on
    the grid; ``fit(task, eta, t, rng)`` returns w_t for one test task.
    """
    d, n, m = (positive_int(v, k) for v, k in ((d, "d"), (n, "n"), (m, "m")))
    t = check_t(t)
    n_test = positive_int(n_test, "n_test")
    sigma, etas, seed = check_sigma(sigma), check_grid(etas), _checks.seed_int(seed)
    n1, n2 = check_split(split, n)
    meta_tbt, meta_tbv = meta_objectives(d, n, sigma, t, m, etas, seed, split)
    out = {"d": d, "n": n, "sigma": sigma, "t": t, "m": m, "n1": n1, "n2": n2, "etas": etas,
           "meta_tbt": meta_tbt, "meta_tbv": meta_tbv,
           "eta_tbt": float(etas[np.argmin(meta_tbt)]), "eta_tbv": float(etas[np.argmin(meta_tbv)])}
    out.update(evaluate_learned(fit, d, n, sigma, t, {"tbt": out["eta_tbt"], "tbv": out["eta_tbv"]},
                                seed, n_test))
    return out
