"""The Theorem 5 chapter (few samples, large noise: train-by-train overfits; Figure 3): its claims."""
from __future__ import annotations

import numpy as np

from ..book.claims import Claim
from ..lsq.horizon import FLAT, HORIZON_SPAN, HorizonSweep, _spread, one_over_t
from ..lsq.stats import mean_ci, shrinkage_gain


def horizon_claims(horizon: HorizonSweep | None, seed_sweeps: dict | None) -> list[Claim]:
    """eta*_TbV = Theta(1/t) (:func:`one_over_t`) on one sweep over t, and on every sweep of
    ``seed_sweeps`` (seed -> sweep); either may be None. Shared by the GD and SGD chapters."""
    claims = []
    if horizon is not None:
        tv = horizon.ts * horizon.eta_tbv
        claims.append(Claim(
            "eta*_TbV is Theta(1/t): t * eta*_TbV flat in t, eta*_TbV inside the grid",
            f"t eta*_TbV = {tv.min():.3g} .. {tv.max():.3g} over t = {horizon.ts.min()} .. {horizon.ts.max()} "
            f"(max/min {_spread(tv):.2f}, at most {FLAT:g} allowed; eta*_TbV itself "
            f"{_spread(horizon.eta_tbv):.0f}x apart, {int(horizon.inside('tbv').sum())} of "
            f"{horizon.eta_tbv.size} inside the grid)",
            one_over_t(horizon)))
    if seed_sweeps:
        good = [s for s, h in seed_sweeps.items() if one_over_t(h)]
        spreads = [_spread(h.ts * h.eta_tbv) for h in seed_sweeps.values()]
        claims.append(Claim(
            "eta*_TbV is Theta(1/t) for every seed checked",
            f"{len(good)} of {len(seed_sweeps)} seeds ({min(seed_sweeps)} .. {max(seed_sweeps)}); "
            f"max/min of t eta*_TbV at most {max(spreads):.2f}",
            len(good) == len(seed_sweeps)))
    return claims


def theorem5_claims(horizon: HorizonSweep, by_sigma: list[dict], seed_sweeps: dict | None = None,
                    tbv_sigma_max: float = 2.0, level: float = 0.95) -> list[Claim]:
    """Theorem 5 (n < d, large sigma) and Figure 3, checked on measured runs.

    ``horizon`` comes from :func:`sweep_horizon`, ``by_sigma`` from :func:`compare_tbt_tbv` at
    several sigma (same d, n), ``seed_sweeps`` (optional) from :func:`horizon_over_seeds`.
    "Flat" means a max/min ratio of at most FLAT = 2 while t grows by at least 8x, a factor the
    Theta(1/t) alternative would exceed fourfold.

    TbV's test error is checked at the sigma <= ``tbv_sigma_max`` only: its learned step must lie
    strictly inside the grid and the upper end of the ``level`` confidence interval of
    E||w_t - w*||^2 must lie below 1 - delta, delta = shrinkage_gain(d, n, sigma) / 4 (a quarter
    of what the best shrunken gradient step gains over predicting 0). At larger sigma that gain
    shrinks like 1/sigma^2 while the noise of F_hat_TbV over m tasks does not, and TbV may learn
    the grid floor (predict ~0): a matter of m, which the chapter shows.
    """
    ts, tbt = horizon.ts, horizon.eta_tbt
    span = f"t = {ts.min()} .. {ts.max()}"
    sig = np.array([r["sigma"] for r in by_sigma])
    err_tbt = np.array([r["test_err_tbt"] for r in by_sigma])
    rmse = {k: np.array([r[k] for r in by_sigma])
            for k in ("train_rmse_tbt", "test_rmse_tbt", "test_rmse_tbv")}
    checked = [r for r in by_sigma if r["sigma"] <= tbv_sigma_max]
    tbv_rows = []
    for r in checked:
        mean, half = mean_ci(r["test_errs_tbv"], level)
        delta = shrinkage_gain(r["d"], r["n"], r["sigma"]) / 4
        inside = r["etas"].min() < r["eta_tbv"] < r["etas"].max()
        tbv_rows.append((r["sigma"], mean, half, delta, inside, inside and mean + half < 1 - delta))
    claims = [
        Claim("eta*_TbT is Theta(1): flat in t",
              f"{tbt.min():.3g} .. {tbt.max():.3g} over {span} (max/min {_spread(tbt):.2f})",
              _spread(tbt) <= FLAT and tbt.min() >= 0.05 and ts.max() >= HORIZON_SPAN * ts.min()),
        *horizon_claims(horizon, seed_sweeps),
    ]
    claims += [
        Claim("TbT's test error is Omega(sigma^2)",
              f"E||w_t - w*||^2 / sigma^2 = {(err_tbt / sig**2).min():.2f} .. "
              f"{(err_tbt / sig**2).max():.2f} for sigma = {sig.min():g} .. {sig.max():g}",
              bool(np.all(err_tbt / sig**2 >= 0.5))),
        Claim(f"TbV's test error is ||w*||^2 - Omega(1): {level:.0%} upper end below 1 - delta "
              f"(sigma <= {tbv_sigma_max:g})",
              "; ".join(f"sigma = {s:g}: {m:.3f} + {h:.3f} vs 1 - {d:.3f}"
                        + ("" if inside else " (eta*_TbV at a grid end)")
                        for s, m, h, d, inside, _ in tbv_rows)
              or "no run with sigma <= tbv_sigma_max",
              bool(tbv_rows) and all(row[-1] for row in tbv_rows)),
        Claim("TbV tests better than TbT at every sigma (Figure 3)",
              "test RMSE ratio TbT/TbV = "
              + ", ".join(f"{a / b:.2f}" for a, b in zip(rmse["test_rmse_tbt"], rmse["test_rmse_tbv"])),
              bool(np.all(rmse["test_rmse_tbt"] > rmse["test_rmse_tbv"]))),
        Claim("TbT overfits: training RMSE far below its test RMSE (Figure 3)",
              f"train/test RMSE of TbT <= {np.max(rmse['train_rmse_tbt'] / rmse['test_rmse_tbt']):.3f}",
              bool(np.all(rmse["train_rmse_tbt"] < 0.1 * rmse["test_rmse_tbt"]))),
    ]
    return claims
