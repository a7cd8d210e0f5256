"""Meta-gradients in floating point, computed the way an autodiff tool computes them.

These functions exist to show floating point failing (the paper's Corollary 1), so they
return whatever the arithmetic gives, nan, inf and 0 included, and say so explicitly:
:func:`backprop_trace` reports the log10 magnitude of every intermediate and the first one
that left the dtype's range.

Reverse mode (``backprop``): the forward pass stores w_0 ... w_t with
w_{k+1} = w_k - eta H w_k; the loss F = 1/2 w_t^T H w_t; for the log objective
G = log(F) / t. The backward pass seeds wbar_t = s H w_t with s = dG/dF = 1/(t F) (or 1),
then for k = t-1 ... 0 accumulates the meta-gradient g += -wbar_{k+1}^T H w_k and
propagates wbar_k = wbar_{k+1} - eta H wbar_{k+1}.

Forward mode (``forward``): w and its tangent v = dw/deta, v_{k+1} = v_k - eta H v_k - H w_k,
then F' = w_t^T H v_t and G' = F' / (t F).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks

DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "longdouble": np.longdouble,
}


def as_dtype(dtype) -> type:
    """numpy float type from a type or name; float16, float32, float64 and longdouble only."""
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise ValueError("dtype must be given, e.g. numpy.float64; got None")
    try:
        dt = np.dtype(dtype).type
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r}") from None
    if dt not in DTYPES.values():
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {np.dtype(dtype).name}")
    return dt


@dataclass(frozen=True)
class OutOfRange:
    """The first intermediate (in evaluation order) that left the dtype's range."""

    quantity: str  # "state", "loss", "inv_loss", "adjoint", "running_gradient"
    step: int | None  # index k for per-step quantities
    kind: str  # "overflow" (inf or nan) or "underflow" (flushed to 0 or subnormal)


@dataclass(frozen=True)
class BackpropTrace:
    """A float backprop run: its result, and log10 magnitudes (2-norms) of every intermediate.

    ``state[k]`` = log10 ||w_k|| (k = 0..t), ``adjoint[k]`` = log10 ||wbar_k|| (k = 0..t),
    ``running_gradient[k]`` = log10 |g| after the backward step at k (k = 0..t-1), ``loss`` and
    ``inv_loss`` = log10 F and log10 |dG/dF|. -inf marks an exact zero, inf an inf or nan.
    """

    value: np.floating
    dtype: str
    objective: str
    state: np.ndarray
    adjoint: np.ndarray
    running_gradient: np.ndarray
    loss: float
    inv_loss: float
    first_out_of_range: OutOfRange | None

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.value))


def _log10_norm(x) -> float:
    """log10 of the 2-norm of the stored values (no new overflow), in float64 or, for
    long double values, in long double (their range is wider than float64's)."""
    x = np.asarray(x)
    x = x.astype(np.longdouble if x.dtype == np.longdouble else np.float64)
    if not np.all(np.isfinite(x)):
        return np.inf
    m = np.max(np.abs(x))
    if m == 0:
        return -np.inf
    return float(np.log10(m) + 0.5 * np.log10(np.sum((x / m) ** 2)))


def _out_of_range(x, dt) -> str | None:
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        return "overflow"
    if np.max(np.abs(x)) < np.finfo(dt).tiny:
        return "underflow"
    return None


def gd_step(w, H, eta):
    """One inner step w - eta H w, written w - eta (w @ H) (H is symmetric) so that a batch of
    states (rows) and a single state round alike."""
    return w - eta * (w @ H)


def _forward_pass(H, w0, eta, t, dt):
    """States w_0 ... w_t stacked along axis 0 (trailing axes: batch of etas, then d)."""
    W = np.empty((t + 1,) + w0.shape, dtype=dt)
    W[0] = w0
    for k in range(t):
        W[k + 1] = gd_step(W[k], H, eta)
    return W


def step_sizes(etas, dt) -> np.ndarray:
    """The step sizes validated (finite, >= 0) and rounded once to ``dt``; long double input
    keeps its extra digits when ``dt`` is long double."""
    return _checks.etas(etas, np.longdouble if dt == np.longdouble else np.float64).astype(dt)


def _inputs(task, etas, t, objective, dtype, stored: bool, max_flops=None):
    """(dtype, etas in it, t, H and w_0 in it), all validated, and the work estimated: 4 t d^2
    operations per eta, and (reverse mode, ``stored``) a (t + 1) x d trajectory per eta."""
    _checks.task(task)
    dt = as_dtype(dtype)
    t = _checks.positive_int(t, "t")
    _checks.objective(objective)
    e = step_sizes(etas, dt)
    d = task.d
    _checks.budget("t", t, flops=t * (4.0 * d * d * e.size + _checks.STEP_FLOPS), max_flops=max_flops,
                   nbytes=(t + 1.0) * d * np.dtype(dt).itemsize if stored else 0.0)
    return dt, e, t, task.H.astype(dt), task.w0.astype(dt)


def backprop_trace(task, eta, t, objective: str = "log", dtype=np.float64, max_flops=None) -> BackpropTrace:
    """Reverse-mode meta-gradient through the t unrolled steps in ``dtype``, with its trace
    (which holds O(t) records: the trajectory is the point)."""
    eta = _checks.eta(eta)
    dt, e, t, H, w0 = _inputs(task, eta, t, objective, dtype, True, max_flops)
    # the trace keeps about 4 records of ~100 bytes per step besides the trajectory
    _checks.budget("t", t, nbytes=400.0 * (t + 1))
    e = e[()]
    with np.errstate(all="ignore"):
        W = _forward_pass(H, w0, e, t, dt)
        Hwt = H @ W[t]
        loss = dt(0.5) * (W[t] @ Hwt)
        seed = dt(1) / (dt(t) * loss) if objective == "log" else dt(1)
        wbar = seed * Hwt
        adjoint = np.empty(t + 1)
        running = np.empty(t)
        adjoint[t] = _log10_norm(wbar)
        events = [("state", k, W[k]) for k in range(t + 1)]
        events += [("loss", None, loss), ("inv_loss", None, seed), ("adjoint", t, wbar)]
        g = dt(0)
        for k in range(t - 1, -1, -1):
            Hwbar = H @ wbar
            g = g - wbar @ (H @ W[k])
            wbar = wbar - e * Hwbar
            adjoint[k] = _log10_norm(wbar)
            running[k] = _log10_norm(g)
            events += [("running_gradient", k, g), ("adjoint", k, wbar)]
    first = None
    for quantity, step, value in events:
        kind = _out_of_range(value, dt)
        if kind is not None:
            first = OutOfRange(quantity, step, kind)
            break
    return BackpropTrace(
        value=dt(g),
        dtype=np.dtype(dt).name,
        objective=objective,
        state=np.array([_log10_norm(w) for w in W]),
        adjoint=adjoint,
        running_gradient=running,
        loss=_log10_norm(loss),
        inv_loss=_log10_norm(seed),
        first_out_of_range=first,
    )


def backprop(task, etas, t, objective: str = "log", dtype=np.float64,
             max_elements: int = 20_000_000, max_flops=None) -> np.ndarray:
    """Reverse-mode meta-gradients for many step sizes at once (same arithmetic as the trace).

    The stored trajectory has t x len(etas) x d entries; the etas are processed in chunks of
    at most ``max_elements`` stored entries (at least one eta), which changes nothing in the
    result. Returns nan, inf or 0 where the arithmetic does: that is this function's purpose.
    """
    dt, etas, t, H, w0 = _inputs(task, etas, t, objective, dtype, True, max_flops)
    out = np.empty(etas.shape, dtype=dt)
    flat = etas.ravel()
    chunk = max(1, max_elements // ((t + 1) * task.d))
    with np.errstate(all="ignore"):
        for start in range(0, flat.size, chunk):
            e = flat[start:start + chunk, None]
            W = _forward_pass(H, np.broadcast_to(w0, (e.shape[0], task.d)), e, t, dt)
            HWt = W[t] @ H
            loss = dt(0.5) * np.sum(W[t] * HWt, axis=1, keepdims=True)
            seed = dt(1) / (dt(t) * loss) if objective == "log" else dt(1)
            wbar = seed * HWt
            g = np.zeros((e.shape[0], 1), dtype=dt)
            for k in range(t - 1, -1, -1):
                g = g - np.sum(wbar * (W[k] @ H), axis=1, keepdims=True)
                wbar = wbar - e * (wbar @ H)
            out.ravel()[start:start + chunk] = g[:, 0]
    return out


def forward(task, etas, t, objective: str = "log", dtype=np.float64, max_flops=None) -> np.ndarray:
    """Forward-mode (tangent) meta-gradients in ``dtype`` for many step sizes at once, in O(d)
    memory per eta. Returns nan, inf or 0 where the arithmetic does: that is its purpose."""
    dt, etas, t, H, w0 = _inputs(task, etas, t, objective, dtype, False, max_flops)
    e = etas.ravel()[:, None]
    with np.errstate(all="ignore"):
        w = np.broadcast_to(w0, (e.shape[0], task.d)).copy()
        v = np.zeros_like(w)
        for _ in range(t):
            Hw = w @ H
            v = v - e * (v @ H) - Hw
            w = w - e * Hw
        Hw = w @ H
        dloss = np.sum(v * Hw, axis=1)
        if objective == "log":
            loss = dt(0.5) * np.sum(w * Hw, axis=1)
            dloss = dloss / (dt(t) * loss)
    return dloss.reshape(etas.shape)
