"""The SGD chapter (the SGD analogue of Theorems 5 and 6, our reading): its claims."""
from __future__ import annotations

import numpy as np

from ..book.claims import Claim
from ..lsq.horizon import HorizonSweep
from .theorem5 import horizon_claims


def sgd_claims(by_sigma: list[dict], by_n: list[dict], horizon: HorizonSweep | None = None,
               seed_sweeps: dict | None = None) -> list[Claim]:
    """The Theorem 5 and 6 pattern with SGD inside, from :func:`compare_tbt_tbv_sgd` runs.

    ``by_sigma``: n < d at several sigma; ``by_n``: fixed sigma and d, growing n; ``horizon``
    (optional): :func:`l2lcore.lsq.sweep_horizon` with :func:`sgd_meta_objectives`, and
    ``seed_sweeps`` the same for several seeds (:func:`l2lcore.lsq.horizon_over_seeds`). The
    horizon claims use :func:`l2lcore.lsq.one_over_t`: t eta*_TbV within a factor FLAT = 2 while
    t grows at least HORIZON_SPAN = 8 times, and eta*_TbV strictly inside the grid.
    """
    eta_ratio = np.array([r["eta_tbt"] / r["eta_tbv"] for r in by_sigma])
    gap = np.array([r["test_rmse_tbt"] / r["test_rmse_tbv"] for r in by_sigma])
    fit = np.array([r["train_rmse_tbt"] / r["test_rmse_tbt"] for r in by_sigma])
    by_n = sorted(by_n, key=lambda r: r["n"])
    gap_n = np.array([r["test_rmse_tbt"] / r["test_rmse_tbv"] for r in by_n])
    claims = horizon_claims(horizon, seed_sweeps)
    claims += [
        Claim("with n < d, TbT picks a larger step than TbV at every sigma",
              "eta*_TbT / eta*_TbV = " + ", ".join(f"{v:.3g}" for v in eta_ratio),
              bool(np.all(eta_ratio > 1))),
        Claim("with n < d, TbV tests better than TbT at every sigma",
              "test RMSE ratio TbT/TbV = " + ", ".join(f"{v:.2f}" for v in gap),
              bool(np.all(gap > 1))),
        Claim("TbT's SGD run fits the noise: training RMSE below its test RMSE",
              "train/test RMSE of TbT = " + ", ".join(f"{v:.2f}" for v in fit),
              bool(np.all(fit < 1))),
        Claim("the gap closes as n grows",
              f"test RMSE ratio TbT/TbV = {gap_n[0]:.3f} at n/d = {by_n[0]['n'] / by_n[0]['d']:g}, "
              f"{gap_n[-1]:.3f} at n/d = {by_n[-1]['n'] / by_n[-1]['d']:g}",
              abs(gap_n[-1] - 1) <= 0.05 and gap_n[-1] < gap_n[0]),
    ]
    return claims
