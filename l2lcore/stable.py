"""float64 meta-gradients that never overflow or underflow, for any horizon t.

Rescaled closed form (``log_gradient``, ``naive_gradient``, ``log_objective``): with
r_i = 1 - eta lambda_i, S = max_i |r_i| over the i with c_i != 0 and q_i = r_i / S in [-1, 1],

    G'(eta) = -(2/S) sum_i c_i^2 lambda_i^2 q_i^(2t-1) / sum_i c_i^2 lambda_i q_i^(2t),

and the largest |q_i| is exactly 1, so the denominator never underflows. The powers are
formed as sign * exp((2t-1) log1p(u_i)) with u_i = (|r_i| - S)/S, where r_i comes from an
error-free product (Dekker's two-product) so that the t-fold amplification of rounding errors
in the base is avoided: the relative error stays near machine precision for t up to 1e6
and beyond (given accurate lambda_i: see :func:`spectral_data`).

Rescaled forward mode (``forward_log_gradient``): w and its tangent v = dw/deta are
propagated together and divided by the same factor ||w|| after every step; G' = 2 w^T H v /
(t w^T H w) is unchanged by the common factor, so no eigendecomposition is needed.
"""
from __future__ import annotations

import mpmath
import numpy as np

from . import _checks

MPMATH_MAX_D = 32
_CHUNK_ELEMENTS = 1 << 18  # etas x d entries per block: keeps the temporaries in cache
_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitting constant for float64


def _split(a):
    """a = hi + lo with hi holding the top 26 bits (Dekker), elementwise in float64."""
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


def spectral_data(task, spectrum: str = "auto"):
    """lambda_i as a double-double (hi, lo) and c_i^2, all float64 arrays.

    ``"mpmath"``: from the high-precision eigendecomposition of the exact entries of H, so
    1 - eta lambda_i is known to ~1e-32 and t-fold amplification leaves ~1e-15 relative
    error. ``"float64"``: numpy's eigh (lo = 0); eigenvalue errors of order eps * L then grow
    to about 2 t eps L / |1 - eta lambda| in G' where two terms compete (near eta = 2/(L +
    alpha)). ``"auto"``: mpmath for d <= 32, where that eigendecomposition takes a second.
    """
    if spectrum == "auto":
        spectrum = "mpmath" if task.d <= MPMATH_MAX_D else "float64"
    if spectrum == "float64":
        return task.eigenvalues, np.zeros(task.d), task.c**2
    if spectrum != "mpmath":
        raise ValueError(f"spectrum must be 'auto', 'mpmath' or 'float64', got {spectrum!r}")
    spec = task.spectrum(40)
    with mpmath.workdps(40):
        hi = np.array([float(x) for x in spec.lam])
        lo = np.array([float(x - mpmath.mpf(h)) for x, h in zip(spec.lam, hi)])
        csq = np.array([float(x) for x in spec.csq])
    return hi, lo, csq


def _scaled_powers(data, etas):
    """For a block of etas: S = max_i |r_i| (as hi + lo), sign(r_i), log|q_i| = log1p(u_i), u_i.

    u_i = (|r_i| - S)/S, so |q_i| = 1 + u_i. Shapes: etas (n,) -> S_hi, S_lo (n, 1); the rest (n, d).
    """
    lam_hi, lam_lo, csq = data
    e = etas[:, None]
    p, pe = _two_product(e, lam_hi)
    if np.any(lam_lo):
        pe += e * lam_lo
    hi, lo = _one_minus(p, pe)
    sign = np.where(hi + lo < 0, -1.0, 1.0)
    ahi, alo = np.abs(hi), sign * lo
    mag = ahi + alo if np.all(csq > 0) else np.where(csq > 0, ahi + alo, -np.inf)
    j = np.argmax(mag, axis=1)
    rows = np.arange(len(etas))
    S_hi, S_lo = ahi[rows, j][:, None], alo[rows, j][:, None]
    S = S_hi + S_lo
    if np.any(S == 0):
        bad = etas[(S == 0)[:, 0]][0]
        raise ValueError(f"f(w_t) = 0 exactly at eta = {bad!r} (every 1 - eta lambda_i with c_i != 0 vanishes)")
    u = ((ahi - S_hi) + (alo - S_lo)) / S
    with np.errstate(divide="ignore"):  # log1p(-1) = -inf is the exact limit of r_i = 0
        logq = np.log1p(np.maximum(u, -1.0))
    return S_hi, S_lo, sign, logq, u


def _blocks(task, etas, t, spectrum):
    """Validated inputs, then (slice, scaled powers) for each block of etas."""
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    data = spectral_data(task, spectrum)
    flat = etas.ravel()
    size = max(1, _CHUNK_ELEMENTS // task.d)
    blocks = ((slice(i, i + size), _scaled_powers(data, flat[i:i + size])) for i in range(0, flat.size, size))
    return etas, t, data, blocks


def _log_S(S_hi, S_lo):
    return np.log(S_hi) + np.log1p(S_lo / S_hi)


def log_gradient(task, etas, t, spectrum: str = "auto") -> np.ndarray:
    """G'(eta) for an array of step sizes (float64, vectorised; see the module docstring)."""
    etas, t, (lam, _, csq), blocks = _blocks(task, etas, t, spectrum)
    out = np.empty(etas.size)
    a, b = csq * lam**2, csq * lam
    for sl, (S_hi, S_lo, sign, logq, u) in blocks:
        odd = np.exp((2 * t - 1) * logq)
        num = (sign * odd) @ a
        den = (odd * (1.0 + u)) @ b
        out[sl] = -2.0 / (S_hi[:, 0] + S_lo[:, 0]) * num / den
    return out.reshape(etas.shape)


def log_objective(task, etas, t, spectrum: str = "auto") -> np.ndarray:
    """G(eta) = (1/t) log F = 2 log S + (1/t) log(1/2 sum_i c_i^2 lambda_i q_i^(2t)) (float64)."""
    etas, t, (lam, _, csq), blocks = _blocks(task, etas, t, spectrum)
    out = np.empty(etas.size)
    for sl, (S_hi, S_lo, _, logq, _) in blocks:
        den = np.exp(2 * t * logq) @ (csq * lam)
        out[sl] = 2 * _log_S(S_hi, S_lo)[:, 0] + np.log(den / 2) / t
    return out.reshape(etas.shape)


def naive_gradient(task, eta, t, spectrum: str = "auto"):
    """F'(eta) = -t S^(2t-1) sum_i c_i^2 lambda_i^2 q_i^(2t-1), from float64 log-space arithmetic.

    The value itself may be far outside float64's range (1e-3000), so it is returned as an
    mpmath number built exactly from the float64 results: sign * exp(log|F'|), where
    log|F'| = log t + (2t-1) log S + log|sum| is a float64 (about 10 correct digits at t = 1e6).
    """
    _checks.eta(eta)
    _, t, (lam, _, csq), blocks = _blocks(task, [float(eta)], t, spectrum)
    ((_, (S_hi, S_lo, sign, logq, _)),) = blocks
    total = float(((sign * np.exp((2 * t - 1) * logq)) @ (csq * lam**2))[0])
    if total == 0:
        return mpmath.mpf(0)
    log_abs = np.log(t) + (2 * t - 1) * float(_log_S(S_hi, S_lo)[0, 0]) + np.log(abs(total))
    with mpmath.workdps(30):
        return -mpmath.sign(total) * mpmath.exp(mpmath.mpf(float(log_abs)))


def forward_log_gradient(task, etas, t) -> np.ndarray:
    """G'(eta) by forward mode with a common renormalisation of w and v each step (float64)."""
    etas = _checks.etas(etas)
    t = _checks.positive_int(t, "t")
    H = task.H
    e = etas.ravel()[:, None]
    w = np.broadcast_to(task.w0, (e.shape[0], task.d)).copy()
    v = np.zeros_like(w)
    for _ in range(t):
        Hw = w @ H
        v = v - e * (v @ H) - Hw
        w = w - e * Hw
        norm = np.linalg.norm(w, axis=1, keepdims=True)
        if np.any(norm == 0):
            raise ValueError("w_k = 0 exactly: the log meta-objective is -infinity for some eta")
        w, v = w / norm, v / norm
    Hw = w @ H
    return (2.0 / t * np.sum(v * Hw, axis=1) / np.sum(w * Hw, axis=1)).reshape(etas.shape)
