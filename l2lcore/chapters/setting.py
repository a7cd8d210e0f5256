"""Side-by-side meta-gradients of one task: exact, float64 and float32 backprop, stable."""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from ..book.claims import Claim
from ..quadratic import exact
from ..quadratic.meta import meta_gradient


@dataclass(frozen=True)
class Row:
    """G'(eta) at one (eta, t) by each method; ``exact`` is an mpf certified to 30 digits."""

    t: int
    label: str
    eta: float
    exact: "mpmath.mpf"
    backprop64: np.float64
    backprop32: np.float32
    stable: np.float64


def compare_methods(task, etas: dict, horizons) -> list[Row]:
    """One :class:`Row` per horizon t and labelled step size eta (log objective)."""
    rows = []
    for t in horizons:
        for label, eta in etas.items():
            rows.append(Row(
                t, label, float(eta),
                meta_gradient(task, eta, t, "log", "exact"),
                meta_gradient(task, eta, t, "log", "backprop", dtype=np.float64),
                meta_gradient(task, eta, t, "log", "backprop", dtype=np.float32),
                meta_gradient(task, eta, t, "log", "stable"),
            ))
    return rows


def relative_error(value, reference) -> float:
    """|value - reference| / |reference| in mpmath (inf for nan or inf values)."""
    if not np.isfinite(value):
        return float("inf")
    with mpmath.workdps(40):
        return float(abs(mpmath.mpf(float(value)) - reference) / abs(reference))


def setting_claims(task, rows: list[Row]) -> list[Claim]:
    """What the Setting chapter checks on its table of methods."""
    worst_stable = max(relative_error(r.stable, r.exact) for r in rows)
    horizons = sorted({r.t for r in rows})
    stars = [exact.minimizer(task, t) for t in horizons]
    with mpmath.workdps(30):
        classical = mpmath.mpf(2) / (mpmath.mpf(task.L) + mpmath.mpf(task.alpha))
        exact_ok = all(exact.agree(r.exact, meta_gradient(task, r.eta, r.t, "log", dps=45), 30) for r in rows[:3])
    return [
        Claim("exact G' agrees with a 45-digit recomputation to 30 digits", "first three table entries", exact_ok),
        Claim("stable float64 G' within 1e-9 relative of exact everywhere",
              f"max relative error {worst_stable:.1e}", worst_stable <= 1e-9),
        Claim("G' has one root eta*(t) in (0, 2/alpha); it increases with t and stays below 2/(L + alpha)",
              ", ".join(f"eta*({t}) = {mpmath.nstr(s, 8)}" for t, s in zip(horizons, stars))
              + f"; 2/(L + alpha) = {mpmath.nstr(classical, 8)}",
              all(0 < a < b for a, b in zip(stars, stars[1:])) and stars[-1] < classical < 2 / task.alpha),
    ]
