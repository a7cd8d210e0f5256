"""The learned chapter's long run: choose its budget by measurement, run it, record it.

``--estimate``: times one comparison (noisy labels, n samples) at the "long" scale three times
(20 meta-steps, compiling; 20 again; 80), fits time = fixed + per-meta-step x meta-steps on the
last two, and prints the largest
number of meta-steps for which the chapter's three comparisons with three replicates each
(24 meta-trainings, 9 evaluations) fit in the given minutes. ``l2lcore.learned.training``'s
LONG_META_ITERS is set from it.

Without ``--estimate``: runs the three comparisons at the "long" scale and writes the record the
chapter shows (configuration, package versions, commit, machine, wall time, every number the
chapter plots) to ``--out`` (default book/_data/learned-long.json).
Usage: python benchmarks/learned_long.py [--estimate [--minutes 30]] [--out PATH]
"""
import argparse
import time
from pathlib import Path

from l2lcore.chapters import learned
from l2lcore.learned.comparison import run_comparison
from l2lcore.learned.training import LONG_META_ITERS


def estimate(minutes: float) -> None:
    cfg = learned.config("long")
    times = []
    for m in (20, 20, 80):  # the first run compiles; the other two differ only in meta-steps
        start = time.perf_counter()
        run_comparison(cfg.dataset, n=cfg.n, noise=cfg.noise, seeds=cfg.seeds, scale="long", seed=cfg.seed,
                       meta_iters=m, progress=True)
        times.append(time.perf_counter() - start)
        print(f"one comparison, {m} meta-steps per optimizer: {times[-1]:.1f} s")
    per = (times[2] - times[1]) / (3 * 60)  # 3 learned optimizers per comparison
    fixed = times[1] - 3 * 20 * per
    compile_s = times[0] - times[1]
    trainings, evaluations = 3 * 3 + 3 * 3 + 3 * 2, 9
    budget = 60 * minutes - compile_s - evaluations * fixed
    print(f"per meta-step {per * 1e3:.0f} ms, per comparison besides meta-training {fixed:.1f} s, "
          f"compilation {compile_s:.0f} s")
    print(f"{trainings} meta-trainings and {evaluations} evaluations in {minutes:g} minutes: "
          f"at most {int(budget / (trainings * per))} meta-steps each (LONG_META_ITERS is {LONG_META_ITERS})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", action="store_true")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", default=str(learned.RECORD_PATH))
    args = parser.parse_args()
    if args.estimate:
        estimate(args.minutes)
        return
    cfg = learned.config("long")
    start = time.perf_counter()
    runs = learned.run_comparisons(cfg, progress=True)
    wall = time.perf_counter() - start
    record = learned.make_record(cfg, runs, wall, command="python benchmarks/learned_long.py")
    learned.write_record(record, Path(args.out))
    print(f"{wall / 60:.1f} minutes; record written to {args.out}")


if __name__ == "__main__":
    main()
