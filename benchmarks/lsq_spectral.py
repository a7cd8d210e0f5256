"""Figure 3's meta-objectives: the spectral path on a dense grid against the authors' unrolled loop.

Unrolled (a faithful reimplementation of the authors' loop): float32 weights from 0, for each
of the 25 grid values numpy.logspace(-6, 0, 25) separately, t GD steps with the truncation rule.
Spectral (l2lcore.lsq): one Gram eigendecomposition per task, then every eta of a 1000-point grid
(plus the 25 coarse points, so the two can be compared on them) in closed form, in float64.
Both score the same m tasks, TbT(n) and TbV(n/2, n/2). The frozen weights are 40 sigma e_1 in
both (the authors drew a random unit vector), so truncated values compare too.
Target: the dense spectral grid takes less wall time than the coarse unrolled one.
Usage: python benchmarks/lsq_spectral.py [--quick]   (default: paper sizes d = 1000, m = 300)
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from l2lcore import lsq


def unrolled_meta_losses(task, etas, t, n1):
    """TbT and TbV meta-losses of one task, eta by eta, with float32 unrolled GD."""
    tbt, tbv = np.empty(etas.size), np.empty(etas.size)
    Xv, yv = task.X[n1:].astype(np.float32), task.y[n1:].astype(np.float32)
    X, y = task.X.astype(np.float32), task.y.astype(np.float32)
    for i, eta in enumerate(etas):
        w = lsq.gd_unrolled(X, y, eta, t, task.sigma, dtype=np.float32).w
        tbt[i] = np.sum((y - X @ w) ** 2) / (2 * task.n)
        w = lsq.gd_unrolled(X[:n1], y[:n1], eta, t, task.sigma, dtype=np.float32).w
        tbv[i] = np.sum((yv - Xv @ w) ** 2) / (2 * yv.size)
    return tbt, tbv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 200, m = 30 instead of 1000, 300")
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    d, m = (200, 30) if args.quick else (1000, 300)
    n, t = d // 2, 40
    coarse = np.logspace(-6, 0, 25)
    dense = np.union1d(np.logspace(-6, 0, 1000), coarse)
    shared = np.searchsorted(dense, coarse)
    print(f"d = {d}, n = {n} (TbV {n // 2} + {n - n // 2}), t = {t}, m = {m}, sigma = {args.sigma}; "
          f"grids: {coarse.size} unrolled, {dense.size} spectral")

    seeds = lsq.task_seeds(args.seed, m, 0)
    sums = {"unrolled": np.zeros((2, coarse.size)), "spectral": np.zeros((2, dense.size))}
    elapsed = {"unrolled": 0.0, "spectral": 0.0}
    # One BLAS thread for both: fair, and faster for these sizes on a shared small machine.
    with threadpool_limits(1):
        for ss in tqdm(seeds, desc="tasks"):
            task = lsq.sample_task(d, n, args.sigma, np.random.default_rng(lsq.task_streams(ss)[0]))
            start = time.perf_counter()
            sums["unrolled"] += unrolled_meta_losses(task, coarse, t, n // 2)
            elapsed["unrolled"] += time.perf_counter() - start
            start = time.perf_counter()
            sums["spectral"] += [lsq.spectral_meta_loss(lsq.prepare_tbt(task), dense, t),
                                 lsq.spectral_meta_loss(lsq.prepare_tbv(task, n // 2), dense, t)]
            elapsed["spectral"] += time.perf_counter() - start
    unrolled, spectral = sums["unrolled"] / m, sums["spectral"][:, shared] / m
    rel = np.abs(spectral - unrolled) / np.abs(spectral)
    print(f"unrolled float32, {coarse.size} etas: {elapsed['unrolled']:.2f} s")
    print(f"spectral float64, {dense.size} etas: {elapsed['spectral']:.2f} s")
    print(f"ratio unrolled / spectral: {elapsed['unrolled'] / elapsed['spectral']:.1f}x "
          f"({elapsed['unrolled'] / elapsed['spectral'] * dense.size / coarse.size:.0f}x per eta)")
    for k, name in enumerate(("TbT", "TbV")):
        print(f"{name}: max relative difference on the {coarse.size} shared etas {rel[k].max():.2e}; "
              f"grid minimizer unrolled {coarse[np.argmin(unrolled[k])]:.3g}, "
              f"spectral (coarse) {coarse[np.argmin(spectral[k])]:.3g}, "
              f"spectral (dense) {dense[np.argmin(sums['spectral'][k])]:.3g}")
    print("target (dense spectral faster than coarse unrolled):",
          "met" if elapsed["spectral"] < elapsed["unrolled"] else "NOT met")


if __name__ == "__main__":
    main()
