"""float64 meta-gradients that never overflow or underflow, for any horizon t.

Rescaled closed form (``log_gradient``, ``naive_gradient``, ``log_objective``): with
r_i = 1 - eta lambda_i, S = max_i |r_i| over the i with c_i != 0 and q_i = r_i / S in [-1, 1],

    G'(eta) = -(2/S) sum_i c_i^2 lambda_i^2 q_i^(2t-1) / sum_i c_i^2 lambda_i q_i^(2t),

and the largest |q_i| is exactly 1, so the denominator never underflows. The powers are
formed as sign * exp((2t-1) log1p(u_i)) with u_i = (|r_i| - S)/S. When lambda_i is known
beyond float64 (the mpmath spectrum), r_i comes from an error-free product (Dekker's
two-product), so that the t-fold amplification of rounding errors in the base is avoided and
the relative error stays near machine precision for t up to 1e6 and beyond. With float64
eigenvalues (errors ~ eps L) r_i is formed plainly: see :func:`spectral_data` for the error.

Rescaled forward mode (``forward_log_gradient``): w and its tangent v = dw/deta are
propagated together and divided by the same factor max_i |w_i| after every step; G' = 2 w^T H v /
(t w^T H w) is unchanged by the common factor, so no eigendecomposition is needed.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from .. import _checks

MPMATH_MAX_D = 32
_CHUNK_ELEMENTS = 1 << 18  # etas x d entries per block: keeps the temporaries in cache
_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitting constant for float64


def _split(a):
    """a = hi + lo with hi holding the top 26 bits (Dekker), elementwise in float64.

    Entries above 2^995 are split after an exact scaling by 2^-28, since _SPLIT * a would overflow.
    """
    big = np.abs(a) > 2.0**995
    if np.any(big):
        scale = np.where(big, 2.0**-28, 1.0)
        hi, lo = _split(a * scale)
        return hi / scale, lo / scale
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_product(a, b):
    """a * b = p + e exactly (Dekker), with a (n, 1) and b (d,) split before broadcasting."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _one_minus(p, pe):
    """1 - (p + pe) as a double-double (hi, lo) (Knuth's two-sum for 1 - p)."""
    s = 1.0 - p
    bb = s - 1.0
    err = (1.0 - (s - bb)) + (-p - bb)
    return s, err - pe


@dataclass(frozen=True)
class SpectralData:
    """lambda_i = 2^e (lam_hi + lam_lo)_i and c_i^2 = 2^m csq_i, float64 arrays.

    The powers of two are chosen so that max lambda and max c^2 lie in [1/2, 1): the sums below
    then neither overflow nor underflow whatever the scale of H and w_0, and scaling by powers of
    two is exact. Components with c_i^2 below about 1e-308 max c^2 count as c_i = 0.
    """

    lam_hi: np.ndarray
    lam_lo: np.ndarray
    csq: np.ndarray
    e: int
    m: int
    accurate: bool  # lambda known beyond float64 (mpmath): 1 - eta lambda is then formed exactly


# lambda_d / L below 2^-480 would make c^2 lambda^2 underflow in the sums.
MAX_LOG2_CONDITION = 480


def spectral_data(task, spectrum: str = "auto") -> SpectralData:
    """The spectrum in the normalised form of :class:`SpectralData`.

    ``"mpmath"``: from the high-precision eigendecomposition of the exact entries of H, so
    1 - eta lambda_i is known to ~1e-32 and t-fold amplification leaves ~1e-15 relative
    error. ``"float64"``: numpy's eigh (lo = 0); eigenvalue errors of order eps * L (and the
    rounding of eta lambda_i, of the same order) then grow
    to about 2 t eps L / |1 - eta lambda| in G' where two terms compete (near eta = 2/(L +
    alpha)). ``"auto"``: mpmath for d <= 32, where that eigendecomposition takes a second.
    """
    if spectrum == "auto":
        spectrum = "mpmath" if task.d <= MPMATH_MAX_D else "float64"
    if spectrum == "float64":
        e = int(np.frexp(task.L)[1])
        c = task.c
        half_m = int(np.frexp(np.max(np.abs(c)))[1])
        data = SpectralData(np.ldexp(task.eigenvalues, -e), np.zeros(task.d), np.ldexp(c, -half_m) ** 2, e, 2 * half_m, False)
    elif spectrum == "mpmath":
        spec = task.spectrum(40)
        with mpmath.workdps(40):
            e = int(mpmath.frexp(spec.lam[0])[1])
            m = int(mpmath.frexp(max(spec.csq))[1])
            lam = [mpmath.ldexp(x, -e) for x in spec.lam]
            hi = np.array([float(x) for x in lam])
            lo = np.array([float(x - mpmath.mpf(h)) for x, h in zip(lam, hi)])
            csq = np.array([float(mpmath.ldexp(x, -m)) for x in spec.csq])
        data = SpectralData(hi, lo, csq, e, m, True)
    else:
        raise ValueError(f"spectrum must be 'auto', 'mpmath' or 'float64', got {spectrum!r}")
    if not data.lam_hi[-1] > 2.0 ** -MAX_LOG2_CONDITION:
        raise ValueError(
            f"the condition number L/alpha = {task.L / task.alpha:.3g} exceeds 2^{MAX_LOG2_CONDITION}: "
            "the stable method's float64 sums would underflow"
        )
    return data


def _scaled_powers(data, etas):
    """For a block of normalised etas (eta 2^e): S = max_i |r_i| (as hi + lo), sign(r_i),
    log|q_i| = log1p(u_i), u_i.

    u_i = (|r_i| - S)/S, so |q_i| = 1 + u_i. Shapes: etas (n,) -> S_hi, S_lo (n, 1); the rest (n, d).
    """
    e = etas[:, None]
    if data.accurate:
        p, pe = _two_product(e, data.lam_hi)
        pe += e * data.lam_lo
        hi, lo = _one_minus(p, pe)
        sign = np.where(hi + lo < 0, -1.0, 1.0)
        ahi, alo = np.abs(hi), sign * lo
        mag = ahi + alo
    else:
        # eigenvalues from float64 eigh carry errors of order eps L, as large as the rounding
        # of eta lambda_i: an error-free product would buy nothing, so r_i is formed plainly.
        hi = 1.0 - e * data.lam_hi
        sign = np.where(hi < 0, -1.0, 1.0)
        ahi = mag = np.abs(hi)
    if not np.all(data.csq > 0):
        mag = np.where(data.csq > 0, mag, -np.inf)
    j = np.argmax(mag, axis=1)
    rows = np.arange(len(etas))
    S_hi = ahi[rows, j][:, None]
    S_lo = alo[rows, j][:, None] if data.accurate else np.zeros_like(S_hi)
    S = S_hi + S_lo
    if np.any(S == 0):
        raise ZeroLoss((S == 0)[:, 0])
    u = ((ahi - S_hi) + (alo - S_lo)) / S if data.accurate else (ahi - S_hi) / S
    with np.errstate(divide="ignore"):  # log1p(-1) = -inf is the exact limit of r_i = 0
        logq = np.log1p(np.maximum(u, -1.0))
    if not np.all(data.csq > 0):
        # a component with c_i = 0 contributes nothing; its |q_i| may exceed 1, and its power
        # would overflow to inf and meet c_i^2 = 0 as nan
        logq = np.where(data.csq > 0, logq, -np.inf)
    return S_hi, S_lo, sign, logq, u


class ZeroLoss(ValueError):
    """Raised inside a block where S = 0; turned into the caller's message with its own eta."""


def zero_loss(task, etas) -> np.ndarray:
    """Which step sizes give f(w_t) = 0 exactly, for every t >= 1.

    w_t = (I - eta H)^t w_0 = 0 exactly when (I - eta H) w_0 = 0 (H is diagonalisable, so a
    nilpotent action on w_0 is zero after one step), i.e. when w_0 = eta H w_0 for the exact
    entries. A float64 test with a rounding bound settles almost every eta; the few it cannot
    settle are decided in exact rational arithmetic.
    """
    etas = np.asarray(etas, dtype=np.float64).ravel()
    H, w0 = task.H, task.w0
    d = task.d
    gamma = (d + 2) * np.finfo(np.float64).eps
    with np.errstate(over="ignore", invalid="ignore"):
        hw = H @ w0
        bound = gamma * (np.abs(H) @ np.abs(w0))
        e = etas[:, None]
        residual = np.abs(w0 - e * hw)
        slack = e * bound + gamma * (np.abs(w0) + e * np.abs(hw))
        undecided = np.all(~(residual > slack), axis=1)  # nan (overflow) counts as undecided
    out = np.zeros(etas.size, dtype=bool)
    if undecided.any():
        Hq = [[Fraction(x) for x in row] for row in H.tolist()]
        wq = [Fraction(x) for x in w0.tolist()]
        hq = [sum(h * w for h, w in zip(row, wq)) for row in Hq]
        for i in np.flatnonzero(undecided):
            eq = Fraction(float(etas[i]))
            out[i] = all(w == eq * h for w, h in zip(wq, hq))
    return out


def _blocks(task, etas, t, spectrum):
    """Validated inputs, the normalised spectrum, then (slice, scaled powers) for each block of etas."""
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    data = spectral_data(task, spectrum)
    with np.errstate(over="ignore"):
        scaled = np.ldexp(etas.ravel(), data.e)  # eta lambda_i = (eta 2^e) lambda'_i, exactly
    if not np.all(np.isfinite(scaled)):
        raise ValueError(f"eta * L overflows float64 (largest eta {etas.max()!r}, L = {task.L!r})")
    size = max(1, _CHUNK_ELEMENTS // task.d)

    def powers(i):
        try:
            return _scaled_powers(data, scaled[i:i + size])
        except ZeroLoss as zero:
            bad = etas.ravel()[i:i + size][zero.args[0]][0]
            raise ValueError(f"f(w_t) = 0 exactly at eta = {float(bad)!r} (every 1 - eta lambda_i with c_i != 0 "
                             "vanishes): the log meta-objective is -infinity there") from None

    blocks = ((slice(i, i + size), powers(i)) for i in range(0, scaled.size, size))
    return etas, t, data, blocks


def _reject_zero_loss(task, etas):
    zero = zero_loss(task, etas)
    if zero.any():
        bad = np.asarray(etas, dtype=np.float64).ravel()[zero][0]
        raise ValueError(f"f(w_t) = 0 exactly at eta = {float(bad)!r}: the log meta-objective is -infinity there")


def _log_S(S_hi, S_lo):
    """log(S_hi + S_lo); S_hi = 0 (every 1 - eta lambda_i rounds to 0, none is 0) leaves S_lo."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(S_hi > 0, np.log(S_hi) + np.log1p(S_lo / S_hi), np.log(S_hi + S_lo))


def log_gradient(task, etas, t, spectrum: str = "auto") -> np.ndarray:
    """G'(eta) for an array of step sizes (float64, vectorised; see the module docstring).

    With lambda = 2^e lambda' the sums are formed for (eta 2^e, lambda'), and G'(eta) = 2^e times
    their G'. The relative error is near machine precision times the condition number of the
    sum, sum_i |c_i^2 lambda_i^2 q_i^(2t-1)| / |sum_i c_i^2 lambda_i^2 q_i^(2t-1)|: close to a
    root of G' (eta near eta*) the error is small in absolute, not relative, terms.
    """
    etas, t, data, blocks = _blocks(task, etas, t, spectrum)
    _reject_zero_loss(task, etas)
    out = np.empty(etas.size)
    lam = data.lam_hi
    a, b = data.csq * lam**2, data.csq * lam
    for sl, (S_hi, S_lo, sign, logq, u) in blocks:
        odd = np.exp((2 * t - 1) * logq)
        num = (sign * odd) @ a
        den = (odd * (1.0 + u)) @ b
        out[sl] = -2.0 / (S_hi[:, 0] + S_lo[:, 0]) * num / den
    return np.ldexp(out, data.e).reshape(etas.shape)


def log_objective(task, etas, t, spectrum: str = "auto") -> np.ndarray:
    """G(eta) = (1/t) log F = 2 log S + (1/t) (log(1/2 sum_i c'_i^2 lambda'_i q_i^(2t)) + (e + m) log 2)."""
    etas, t, data, blocks = _blocks(task, etas, t, spectrum)
    _reject_zero_loss(task, etas)
    out = np.empty(etas.size)
    shift = (data.e + data.m) * np.log(2.0)
    for sl, (S_hi, S_lo, _, logq, _) in blocks:
        den = np.exp(2 * t * logq) @ (data.csq * data.lam_hi)
        out[sl] = 2 * _log_S(S_hi, S_lo)[:, 0] + (np.log(den / 2) + shift) / t
    return out.reshape(etas.shape)


def naive_gradient(task, eta, t, spectrum: str = "auto"):
    """F'(eta) = -t 2^(2e+m) S^(2t-1) sum_i c'_i^2 lambda'_i^2 q_i^(2t-1), from log-space arithmetic.

    The value itself may be far outside float64's range (1e-3000), so it is returned as an
    mpmath number sign * exp(log|F'|), where log|F'| = log t + (2t-1) log S + (2e+m) log 2 +
    log|sum| is formed in mpmath from the float64 double-double S and the float64 sum (whose
    relative error, near machine precision, becomes the error of the result).
    """
    eta = _checks.float_eta(eta)
    if zero_loss(task, [eta])[0]:
        return mpmath.mpf(0)  # w_t = 0: F' = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1) has every term 0
    _, t, data, blocks = _blocks(task, [eta], t, spectrum)
    ((_, (S_hi, S_lo, sign, logq, _)),) = blocks
    total = float(((sign * np.exp((2 * t - 1) * logq)) @ (data.csq * data.lam_hi**2))[0])
    if total == 0:
        return mpmath.mpf(0)
    with mpmath.workdps(30):
        S = mpmath.mpf(float(S_hi[0, 0])) + mpmath.mpf(float(S_lo[0, 0]))
        log_abs = mpmath.log(t) + (2 * t - 1) * mpmath.log(S) + (2 * data.e + data.m) * mpmath.log(2) + mpmath.log(abs(total))
        return -mpmath.sign(total) * mpmath.exp(log_abs)


def forward_log_gradient(task, etas, t) -> np.ndarray:
    """G'(eta) by forward mode with a common renormalisation of w and v each step (float64).

    H is scaled by 2^-e so that its largest eigenvalue lies in [1/2, 1), and eta by 2^e (both
    exact); G'(eta) is 2^e times the G' of the scaled problem.
    """
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    _reject_zero_loss(task, etas)
    e_H = int(np.frexp(task.L)[1])
    H = np.ldexp(task.H, -e_H)
    with np.errstate(over="ignore"):
        e = np.ldexp(etas.ravel(), e_H)[:, None]
    if not np.all(np.isfinite(e)):
        raise ValueError(f"eta * L overflows float64 (largest eta {etas.max()!r}, L = {task.L!r})")
    w0 = task.w0 / np.max(np.abs(task.w0))
    w = np.broadcast_to(w0, (e.shape[0], task.d)).copy()
    v = np.zeros_like(w)
    # An overflow inside one step (eta L near float64's limit) cannot be undone by the
    # renormalisation; it is caught once, on the result.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(t):
            Hw = w @ H
            v = v - e * (v @ H) - Hw
            w = w - e * Hw
            norm = np.max(np.abs(w), axis=1, keepdims=True)  # any common factor will do; this one cannot overflow
            if np.any(norm == 0):
                raise ValueError("w_k = 0 exactly: the log meta-objective is -infinity for some eta")
            w, v = w / norm, v / norm
        Hw = w @ H
        g = 2.0 / t * np.sum(v * Hw, axis=1) / np.sum(w * Hw, axis=1)
    if not np.all(np.isfinite(g)):
        raise ValueError("the rescaled forward mode overflowed within one step (eta * L too large); "
                         "use the closed form (method='stable')")
    return np.ldexp(g, e_H).reshape(etas.shape)
