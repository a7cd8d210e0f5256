"""Exact closed form vs exact unrolled forward mode (both mpmath), one quadratic task.

Target (issue 2): at d = 20, t = 1e6 and 50 digits, the closed form costs under 5 ms per
(eta, t) after the one-time eigendecomposition. The baseline run side by side is the
exact unrolled forward mode at t = 1e3 (its cost grows like t d^2); we print the ratio.
Usage: python benchmarks/exact_closed_form.py [--repeats N]
"""
import argparse
import time

from tqdm import tqdm

import l2lcore
from l2lcore.quadratic import exact


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    dps = 50
    start = time.perf_counter()
    spec = task.spectrum(dps)
    eig_time = time.perf_counter() - start
    etas = [0.5 / task.L, 2 / (task.L + task.alpha), 2.2 / task.L]

    start = time.perf_counter()
    for i in tqdm(range(args.repeats), desc="closed form, t = 1e6"):
        exact.closed_form(spec, etas[i % 3], 10**6, "G'")
    closed = (time.perf_counter() - start) / args.repeats

    start = time.perf_counter()
    for eta in tqdm(etas, desc="unrolled, t = 1e3"):
        exact.unrolled(task, eta, 1000, "log", dps)
    unrolled = (time.perf_counter() - start) / len(etas)

    l2lcore.meta_gradient(task, etas[0], 10**6, "log")  # caches both eigendecompositions
    start = time.perf_counter()
    for i in range(args.repeats // 5 or 1):
        l2lcore.meta_gradient(task, etas[i % 3], 10**6, "log")
    certified = (time.perf_counter() - start) / (args.repeats // 5 or 1)

    print(f"one-time eigendecomposition (mpmath, {dps} digits, d = 20): {eig_time * 1e3:.0f} ms")
    print(f"closed form G' at t = 1e6, {dps} digits:  {closed * 1e3:.2f} ms per (eta, t)  (target < 5 ms: {'met' if closed < 5e-3 else 'NOT met'})")
    print(f"unrolled forward mode at t = 1e3:     {unrolled * 1e3:.0f} ms per (eta, t)")
    print(f"ratio unrolled(t=1e3) / closed(t=1e6): {unrolled / closed:.0f}x")
    print(f"certified meta_gradient (two precisions, eigendecompositions cached): {certified * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
