"""How the grid minimizers eta*_TbT and eta*_TbV move with the horizon t (Theorem 5's Theta(1)
against Theta(1/t)), for GD or SGD as the inner optimizer."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .gd import META_LOSSES, check_grid, gd_meta_objectives_over_t


@dataclass(frozen=True)
class HorizonSweep:
    """Grid minimizers eta*_TbT and eta*_TbV of the meta-objectives for each horizon t, and the
    ends of the grid they were searched on (a minimizer at an end is a bound, not a minimum)."""

    ts: np.ndarray
    eta_tbt: np.ndarray
    eta_tbv: np.ndarray
    grid_min: float = 0.0
    grid_max: float = math.inf

    def inside(self, which: str) -> np.ndarray:
        """Which grid minimizers of ``which`` ("tbt" or "tbv") lie strictly inside the grid."""
        if which not in META_LOSSES:
            raise ValueError(f"unknown meta_loss {which!r}; choose one of {META_LOSSES}")
        eta = self.eta_tbt if which == "tbt" else self.eta_tbv
        return (eta > self.grid_min) & (eta < self.grid_max)


def sweep_horizon(d, n, sigma, ts, m, etas, seed, split=0.5,
                  objectives_over_t=gd_meta_objectives_over_t) -> HorizonSweep:
    """eta*_TbT(t) and eta*_TbV(t) on one set of m tasks. ``objectives_over_t`` takes
    (d, n, sigma, ts, m, etas, seed, split) and returns the TbT and TbV meta-objectives, each of
    shape (len(ts), len(etas)): :func:`gd_meta_objectives_over_t` (each task decomposed once
    for all t) or :func:`l2lcore.lsq.sgd.sgd_meta_objectives_over_t`."""
    ts = _checks.positive_ints(ts, "ts", "t")
    etas = check_grid(etas)
    if not callable(objectives_over_t):
        raise ValueError(f"objectives_over_t must be callable, got {objectives_over_t!r}")
    tbt, tbv = (etas[np.argmin(F, axis=1)] for F in objectives_over_t(d, n, sigma, ts, m, etas, seed, split))
    return HorizonSweep(np.array(ts), tbt, tbv, float(etas.min()), float(etas.max()))


def horizon_over_seeds(d, n, sigma, ts, m, etas, seeds, split=0.5,
                       objectives_over_t=gd_meta_objectives_over_t) -> dict[int, HorizonSweep]:
    """:func:`sweep_horizon` for each seed of ``seeds``: a robustness check of its minimizers."""
    if isinstance(seeds, (str, bytes)) or np.ndim(seeds) != 1 and not isinstance(seeds, range):
        raise ValueError(f"seeds must be a 1-d sequence of seeds, got {seeds!r}")
    try:
        seeds = [_checks.seed_int(s) for s in seeds]
    except ValueError as err:
        raise ValueError(f"seeds: {err}") from None
    if not seeds:
        raise ValueError("seeds is empty")
    return {s: sweep_horizon(d, n, sigma, ts, m, etas, s, split, objectives_over_t) for s in seeds}


def _spread(x) -> float:
    """max / min of a positive array: 1 for a flat curve."""
    return float(np.max(x) / np.min(x))


#: "Flat in t": a max/min ratio of at most FLAT while t grows by at least HORIZON_SPAN times.
FLAT = 2.0
HORIZON_SPAN = 8


def one_over_t(h: HorizonSweep) -> bool:
    """Does the sweep show eta*_TbV = Theta(1/t)? t eta*_TbV is flat (max/min <= FLAT over t
    growing at least HORIZON_SPAN-fold) and every eta*_TbV lies strictly inside the grid (a
    minimizer at the floor 1e-6 is "do nothing", not a step of order 1/t)."""
    return bool(_spread(h.ts * h.eta_tbv) <= FLAT and h.ts.max() >= HORIZON_SPAN * h.ts.min()
                and np.all(h.inside("tbv")))
