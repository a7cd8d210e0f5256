"""The public entry points: meta-objective, meta-gradient and meta-gradient descent.

One function per question, one ``method`` argument per way of answering it:

========================  =======================================================  ===============
method                    what it computes                                         returns
========================  =======================================================  ===============
``"exact"``               mpmath closed form, certified digits (:mod:`.exact`)     ``mpmath.mpf``
``"proof"``               Arb ball arithmetic, proven digits (:mod:`.proof`)       ``Enclosure``
``"exact-unrolled"``      mpmath forward mode through the t steps (cross-check)    ``mpmath.mpf``
``"backprop"``            reverse mode as an autodiff tool does it, in ``dtype``   ``dtype`` scalar
``"forward"``             forward-mode tangents in ``dtype``                       ``dtype`` scalar
``"stable"``              rescaled float64 closed form (:mod:`.stable`)            ``float64``
``"stable-forward"``      rescaled float64 forward mode, log objective only        ``float64``
========================  =======================================================  ===============

``"backprop"`` and ``"forward"`` return nan, inf or 0 when the arithmetic does: that is
their purpose. For the naive objective ``"stable"`` returns an ``mpmath.mpf`` holding a
float64-accurate value, since F'(eta) itself is often far outside float64's range.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _checks
from . import backprop as bp, exact, proof, stable

#: mu_k = DEFAULT_MU_SCALE / sqrt(k), the meta step size of the authors' Figure-1 script.
DEFAULT_MU_SCALE = 0.01
METHODS = ("exact", "proof", "exact-unrolled", "backprop", "forward", "stable", "stable-forward")


def _method(name):
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {METHODS}")
    return name


def _digits(dps):
    return exact.DEFAULT_DIGITS if dps is None else _checks.positive_int(dps, "dps")


def _float_horizon(t):
    if t > _checks.MAX_FLOAT_T:
        raise ValueError(f"t = {t} exceeds 2^52: the float64 closed form needs t exactly representable")
    return t


def meta_objective(task, eta, t, objective: str = "naive", method: str = "exact",
                   dtype=np.float64, dps=None):
    """F(eta) = f(w_{t,eta}) (naive) or G(eta) = (1/t) log F(eta) (log).

    method: ``"exact"`` (certified mpmath, ``dps`` significant digits, default 30),
    ``"proof"`` (a proven :class:`~l2lcore.quadratic.proof.Enclosure` guaranteeing ``dps``
    significant digits),
    ``"float"`` (run the t steps in ``dtype`` and evaluate; returns what the arithmetic gives,
    0, inf, -inf or nan included: this method exists to show floats failing), or
    ``"stable"`` (log objective only, float64, never overflows).
    """
    _checks.task(task)
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    _checks.objective(objective)
    if method == "exact":
        return exact.meta_objective(task, eta, t, objective, _digits(dps))
    if method == "proof":
        return proof.meta_objective(task, eta, t, objective, _digits(dps))
    if method == "float":
        dt = bp.as_dtype(dtype)
        _checks.budget("t", t, flops=t * (2.0 * task.d**2 + _checks.STEP_FLOPS))
        H, w = task.H.astype(dt), task.w0.astype(dt)
        e = bp.step_sizes(eta, dt)[()]
        with np.errstate(all="ignore"):
            for _ in range(t):  # no stored trajectory: memory O(d) for any t
                w = bp.gd_step(w, H, e)
            loss = dt(0.5) * (w @ (H @ w))
            return loss if objective == "naive" else np.log(loss) / dt(t)
    if method == "stable":
        if objective != "log":
            raise ValueError("method='stable' meta_objective is for the log objective; use 'exact' for the naive one")
        _float_horizon(t)
        return np.float64(stable.log_objective(task, _checks.float_eta(eta), t))
    raise ValueError(f"unknown method {method!r} for meta_objective; choose 'exact', 'proof', 'float' or 'stable'")


def meta_gradient(task, eta, t, objective: str = "naive", method: str = "exact",
                  dtype=np.float64, dps=None, trace: bool = False):
    """dF/deta (naive) or dG/deta (log) at one step size, by the chosen method (table above).

    ``dps``: significant digits certified by the exact methods, proven by ``"proof"`` (default 30).
    ``trace=True`` (backprop only): return a :class:`~l2lcore.quadratic.backprop.BackpropTrace` with
    the log10 magnitude of every intermediate and the first that left the dtype's range.
    """
    _checks.task(task)
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    _checks.objective(objective)
    _method(method)
    _checks.flag(trace, "trace")
    if trace and method != "backprop":
        raise ValueError("trace=True is only available with method='backprop'")
    if method == "exact":
        return exact.meta_gradient(task, eta, t, objective, _digits(dps))
    if method == "proof":
        return proof.meta_gradient(task, eta, t, objective, _digits(dps))
    if method == "exact-unrolled":
        # mpmath arithmetic costs about a thousand float operations a step
        _checks.budget("t", t, flops=t * (2e3 * task.d**2 + _checks.STEP_FLOPS))
        return exact.unrolled_meta_gradient(task, eta, t, objective, _digits(dps))
    if method == "backprop":
        if trace:
            return bp.backprop_trace(task, eta, t, objective, dtype)
        return bp.backprop(task, eta, t, objective, dtype)[()]
    if method == "forward":
        return bp.forward(task, eta, t, objective, dtype)[()]
    if method == "stable":
        _float_horizon(t)
        if objective == "naive":
            return stable.naive_gradient(task, eta, t)
        return stable.log_gradient(task, _checks.float_eta(eta), t)[()]
    if objective != "log":
        raise ValueError("method='stable-forward' computes the log objective's meta-gradient only")
    _checks.budget("t", t, flops=t * (4.0 * task.d**2 + _checks.STEP_FLOPS))
    return stable.forward_log_gradient(task, _checks.float_eta(eta), t)[()]


def _vector_gradient(task, etas, t, method, dtype):
    """G'(eta) for an array of etas (log objective), vectorised where the method allows."""
    if method == "stable":
        return stable.log_gradient(task, etas, t)
    if method == "stable-forward":
        return stable.forward_log_gradient(task, etas, t)
    if method == "backprop":
        return bp.backprop(task, etas, t, "log", dtype).astype(np.float64)
    if method == "forward":
        return bp.forward(task, etas, t, "log", dtype).astype(np.float64)
    # The exact meta-gradient is rounded (correctly) to float64 because eta is a float64
    # parameter being trained; the rounding is deliberate.
    return np.array([float(meta_gradient(task, e, t, "log", method)) for e in etas])


def meta_descent(task, t, eta0, steps, method: str = "stable", lr=None, dtype=np.float64,
                 return_gradients: bool = False):
    """Meta-gradient descent on the log meta-objective G (Theorem 4).

    eta_{k+1} = max(0, eta_k - mu_k G'(eta_k)), k = 1 ... steps, with mu_k = 1/(100 sqrt(k))
    by default (the authors' Figure-1 script); ``lr`` may be a constant or a function of k.
    ``eta0`` may be a scalar or an array (independent runs, vectorised where the method is).

    Returns the ``steps + 1`` values of eta (shape (steps + 1,) + shape(eta0)), and with
    ``return_gradients=True`` also the ``steps`` meta-gradients used. With ``"backprop"`` or
    ``"forward"`` a run whose meta-gradient is nan or inf continues with eta = nan from
    then on: that is how such training breaks, and the caller sees it in the output.
    """
    _checks.task(task)
    t = _checks.positive_int(t, "t")
    steps = _checks.positive_int(steps, "steps")
    _method(method)
    if method == "proof":
        raise ValueError("method='proof' returns enclosures, not steps to take; meta_descent takes 'exact' "
                         "or a float method")
    bp.as_dtype(dtype)
    _checks.flag(return_gradients, "return_gradients")
    eta = _checks.etas(eta0, name="eta0").astype(np.float64)
    _checks.budget("steps", steps, nbytes=16.0 * (steps + 1) * eta.size)
    if method in ("backprop", "forward", "stable-forward"):
        _checks.budget("steps", steps, flops=steps * t * (4.0 * task.d**2 * eta.size + _checks.STEP_FLOPS))
    elif method == "stable":
        _float_horizon(t)
    if lr is None:
        def schedule(k):
            return DEFAULT_MU_SCALE / math.sqrt(k)
    elif callable(lr):
        schedule = lr
    elif isinstance(lr, (bool, np.bool_)) or not isinstance(lr, numbers.Real):
        raise ValueError(f"lr must be a positive finite number or a function of k, got {lr!r}")
    else:
        def schedule(k):
            return lr

    def mu(k):
        rate = schedule(k)
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real) or not (
                math.isfinite(rate) and rate > 0):
            raise ValueError(f"lr: the meta step size mu_{k} must be a positive finite number, got {rate!r}")
        return float(rate)

    mu(1)  # a bad constant fails before any work
    etas = np.empty((steps + 1,) + eta.shape)
    grads = np.empty((steps,) + eta.shape)
    etas[0] = eta
    flat = eta.ravel().copy()
    for k in range(1, steps + 1):
        g = np.full(flat.shape, np.nan)
        alive = np.isfinite(flat)
        if alive.any():
            g[alive] = _vector_gradient(task, flat[alive], t, method, dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            flat = np.where(np.isfinite(g), np.maximum(flat - mu(k) * g, 0.0), np.nan)
        if method not in ("backprop", "forward") and not np.all(np.isfinite(flat)):
            raise ValueError(f"lr: the meta step mu_{k} = {mu(k)!r} times G' sent eta beyond float64's range "
                             f"at meta-step {k}; take a smaller lr")
        grads[k - 1] = g.reshape(eta.shape)
        etas[k] = flat.reshape(eta.shape)
    if return_gradients:
        return etas, grads
    return etas
