"""The Theorem 6 chapter (many samples: train-by-train is fine; Figure 4): its claims."""
from __future__ import annotations

import numpy as np

from ..book.claims import Claim
from ..lsq.stats import mean_ci


def theorem6_claims(by_n: list[dict], eps: float = 0.1, gap_tolerance: float = 0.02,
                    level: float = 0.95) -> list[Claim]:
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
              ratio[-1] + half[-1] <= 1 + eps),
        Claim("the ratio to d sigma^2 / n falls toward 1 as n/d grows (n/d >= 2), "
              "no rise beyond the confidence intervals",
              ", ".join(f"{v:.3f} +- {h:.3f}" for v, h in zip(rb, hb))
              + (f"; steepest step {np.diff(rb)[worst]:+.3f}, allowed rise {allowed[worst]:.3f}"
                 if worst is not None else ""),
              bool(falls) and bool(np.all(rises <= 0))),
        Claim("with n < d, TbV tests better than TbT (Figure 4)",
              "test RMSE ratio TbT/TbV = " + ", ".join(f"{v:.2f}" for v in gap[small]),
              bool(np.all(gap[small] > 1)) and small.any()),
        Claim(f"the TbT/TbV gap closes as n grows (Figure 4; within {gap_tolerance:g})",
              f"test RMSE ratio TbT/TbV = {gap[-1]:.3f} at n/d = {n_over_d[-1]:g}",
              abs(gap[-1] - 1) <= gap_tolerance),
    ]
