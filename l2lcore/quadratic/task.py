"""The quadratic task of the paper's Section 3.

Inner loss f(w) = 1/2 w^T H w with H symmetric positive definite, H = sum_i lambda_i u_i u_i^T,
lambda_1 >= ... >= lambda_d, L = lambda_1, alpha = lambda_d. Gradient descent with step eta from
w_0 gives w_{t,eta} = (I - eta H)^t w_0. With c_i = <w_0, u_i> every meta-quantity is a sum over
the spectrum, e.g. f(w_{t,eta}) = 1/2 sum_i c_i^2 lambda_i (1 - eta lambda_i)^(2t).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np

from .._checks import budget, positive_int, seed_int

ENSEMBLES = ("paper", "code")


@dataclass(frozen=True, eq=False)
class Spectrum:
    """lambda_i (descending) and c_i^2 = <w_0, u_i>^2 as mpmath numbers at ``dps`` digits."""

    lam: tuple
    csq: tuple
    dps: int


@dataclass(frozen=True, eq=False)
class QuadraticTask:
    """One quadratic task: H (d x d, symmetric positive definite) and a nonzero start w_0.

    The float64 entries of ``H`` and ``w0`` are taken as exact numbers: the exact methods
    work with them at any precision, the float methods round them to their dtype.
    """

    H: np.ndarray
    w0: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        H = _as_float64_array(self.H, "H")
        w0 = _as_float64_array(self.w0, "w0")
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
            raise ValueError(f"H must be a non-empty square matrix, got shape {H.shape}")
        if w0.ndim != 1:
            raise ValueError(f"w0 must be a vector, got shape {w0.shape}")
        if w0.shape[0] != H.shape[0]:
            raise ValueError(f"w0 has length {w0.shape[0]} but H is {H.shape[0]} x {H.shape[0]}")
        if not np.array_equal(H, H.T):
            raise ValueError(
                "H must be exactly symmetric (its float64 entries are used as exact numbers); "
                "symmetrise it first, e.g. (H + H.T) / 2"
            )
        if not np.any(w0):
            raise ValueError("w0 must be nonzero")
        lam, U = np.linalg.eigh(H)
        # eigh's eigenvalues are exact for a matrix within about d eps ||H|| of H: outside that
        # margin the sign of the smallest one is settled; inside it, exact arithmetic decides.
        margin = 4 * H.shape[0] * np.finfo(np.float64).eps * max(abs(lam[0]), abs(lam[-1]))
        if not (lam[0] > margin or (lam[0] > -margin and _exactly_positive_definite(H))):
            raise ValueError(f"H must be positive definite; its smallest eigenvalue is {lam[0]:.3e}"
                             f" (float64 rounding margin {margin:.1e})")
        H.setflags(write=False)
        w0.setflags(write=False)
        object.__setattr__(self, "H", H)
        object.__setattr__(self, "w0", w0)
        order = np.argsort(lam)[::-1]
        object.__setattr__(self, "_eig64", (lam[order], U[:, order]))

    @classmethod
    def random(cls, d: int, seed: int, ensemble: str = "paper") -> "QuadraticTask":
        """A random task.

        ``ensemble="paper"``: H = X X^T with X a d x 2d standard Gaussian matrix and w_0 uniform
        on the unit sphere (the instances analysed in Section 3).
        ``ensemble="code"``: the authors' Figure-1 script, H = X^T X with X d x d standard
        Gaussian and w_0 standard Gaussian (not normalised).
        """
        d = positive_int(d, "d")
        seed = seed_int(seed)
        if ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {ensemble!r}; choose one of {ENSEMBLES}")
        # X (d x 2d), H and its eigendecomposition: about 6 d^2 float64s and 10 d^3 operations
        budget("d", d, flops=10.0 * d**3, nbytes=48.0 * d * d)
        rng = np.random.default_rng(seed)
        if ensemble == "paper":
            X = rng.standard_normal((d, 2 * d))
            H = X @ X.T
            w0 = rng.standard_normal(d)
            w0 = w0 / np.linalg.norm(w0)
        else:
            X = rng.standard_normal((d, d))
            H = X.T @ X
            w0 = rng.standard_normal(d)
        # BLAS may round the two triangles differently; the exact methods need exact symmetry.
        return cls((H + H.T) / 2, w0)

    @property
    def d(self) -> int:
        return self.H.shape[0]

    @property
    def eigenvalues(self) -> np.ndarray:
        """lambda_1 >= ... >= lambda_d (float64, from numpy.linalg.eigh)."""
        return self._eig64[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        """Columns u_1 ... u_d matching :attr:`eigenvalues` (float64)."""
        return self._eig64[1]

    @property
    def L(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def alpha(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def c(self) -> np.ndarray:
        """c_i = <w_0, u_i> (float64; the sign of each u_i is arbitrary)."""
        return self.eigenvectors.T @ self.w0

    @property
    def c_min(self) -> float:
        """c_min = min(|c_1|, |c_d|)."""
        c = self.c
        return float(min(abs(c[0]), abs(c[-1])))

    def theorem4_scale(self) -> float:
        """L^3 / (c_min^2 alpha (L - alpha)) with c_min taken for the unit start w_0 / ||w_0||.

        Theorem 4's bound on |G'| up to a constant. The theorem assumes ||w_0|| = 1; G' does not
        depend on ||w_0|| (it only shifts log F), so the bound is stated for the normalised start.
        """
        if self.L == self.alpha:
            raise ValueError("L == alpha: Theorem 4's scale L^3/(c_min^2 alpha (L - alpha)) is infinite")
        if self.c_min == 0:
            raise ValueError("c_min = 0 (w_0 has no component on u_1 or u_d): Theorem 4 assumes c_min > 0, "
                             "and its scale L^3/(c_min^2 alpha (L - alpha)) is infinite")
        c_min_unit = self.c_min / float(np.linalg.norm(self.w0))
        return self.L**3 / (c_min_unit**2 * self.alpha * (self.L - self.alpha))

    def spectrum(self, dps: int) -> Spectrum:
        """lambda_i and c_i^2 of the exact entries of H, w_0, computed by mpmath at ``dps`` digits.

        Cached per precision: the eigendecomposition is the one cost of the exact closed form
        that grows with d; everything after it is O(d) per (eta, t).
        """
        dps = positive_int(dps, "dps")
        if dps not in self._cache:
            with mpmath.workdps(dps):
                E, Q = mpmath.eigsy(mpmath.matrix(self.H.tolist()))
                w0 = mpmath.matrix(self.w0.tolist())
                c = Q.T * w0
                order = range(self.d - 1, -1, -1)  # eigsy is ascending; the paper's order is descending
                lam = tuple(E[i] for i in order)
                csq = tuple(c[i] ** 2 for i in order)
            self._cache[dps] = Spectrum(lam, csq, dps)
        return self._cache[dps]


EXACT_PD_MAX_D = 64


def _exactly_positive_definite(H: np.ndarray) -> bool:
    """Whether the exact entries of H form a positive definite matrix: every pivot of the
    symmetric elimination H = L D L^T is positive, in rational arithmetic.

    Only asked when float64 cannot decide; above EXACT_PD_MAX_D the cost is refused instead.
    """
    d = H.shape[0]
    if d > EXACT_PD_MAX_D:
        raise ValueError(f"H is too close to singular for float64 to decide positive definiteness, "
                         f"and d = {d} > {EXACT_PD_MAX_D} is too large for the exact check")
    A = [[Fraction(x) for x in row] for row in H.tolist()]
    for k in range(d):
        if A[k][k] <= 0:
            return False
        for i in range(k + 1, d):
            f = A[i][k] / A[k][k]
            if f:
                for j in range(k + 1, i + 1):
                    A[i][j] -= f * A[k][j]
                    A[j][i] = A[i][j]
    return True


def _as_float64_array(x, name: str) -> np.ndarray:
    if x is None:
        raise ValueError(f"{name} must be an array of real numbers, got None")
    if isinstance(x, str):
        raise ValueError(f"{name} must be an array of real numbers, got the string {x!r}")
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real; it has complex entries")
    if np.asarray(x).dtype == np.bool_:
        raise ValueError(f"{name} must be an array of real numbers, not booleans")
    try:
        a = np.array(x, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"{name} has entries beyond float64's range") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    return a

