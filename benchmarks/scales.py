"""Every chapter at the book's scale and at the paper's: wall time, peak memory, verdicts.

Runs ``python -m l2lcore run CHAPTER --scale SCALE`` for each chapter in a fresh process (so
the peak resident memory of the process tree is its own), with a time limit per run (default
30 minutes: a run that does not finish is recorded as such, with the time it was given), and
writes one row per (chapter, scale) to ``book/_data/reproducibility.csv``: the times, the peak
memory, whether every claim's verdict was the expected one, the counts of verdicts, and the
machine, date, commit and package versions. The book's Reproducibility page reads that file.

Usage: python benchmarks/scales.py [--chapters theorem3 theorem5 ...] [--scales book paper]
       [--limit SECONDS] [--out book/_data/reproducibility.csv]
       python benchmarks/scales.py --estimate CHAPTER --factor F --set NAME=VALUE ...
Rows of chapters or scales not run are kept from the existing file. ``--estimate`` runs a
smaller configuration of the chapter (the ``--set`` values at book scale), and records its wall
time multiplied by ``--factor`` (how much more work the paper's sizes are, stated in --why) as
the paper row's estimate.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["chapter", "scale", "status", "wall_s", "peak_mib", "claims", "reproduced", "not_reproduced",
          "not_tested", "as_expected", "machine", "cores", "date", "commit", "python", "numpy", "mpmath",
          "jax", "python_flint"]

# Runs one chapter and reports the peak RSS of its process tree (the kernel is a child of
# papermill's process, which waits for it, so it is counted in RUSAGE_CHILDREN).
CHILD = """
import json, resource, sys
from l2lcore import cli
code = cli.main(sys.argv[1:])
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print("L2L-PEAK-KIB", peak, code)
"""


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name, dist in (("numpy", "numpy"), ("mpmath", "mpmath"), ("jax", "jax"), ("python_flint", "python-flint")):
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            out[name] = ""
    return out


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def run_one(chapter: str, scale: str, limit: float, sets=()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        extra = [a for s in sets for a in ("--set", s)]
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, "run", chapter, "--scale", scale, "--out", tmp,
                                   "--force", *extra], cwd=ROOT, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"status": f"not finished in {limit:.0f} s", "wall_s": f"{limit:.0f}"}
        wall = time.perf_counter() - start
        peak = next((line.split() for line in proc.stdout.splitlines() if line.startswith("L2L-PEAK-KIB")), None)
        row = {"wall_s": f"{wall:.0f}", "peak_mib": f"{int(peak[1]) / 1024:.0f}" if peak else ""}
        executed = Path(tmp) / f"{chapter}.ipynb"
        if proc.returncode not in (0, 1) or not executed.exists():
            row["status"] = f"failed (exit {proc.returncode})"
            return row
        import nbformat

        from l2lcore import cli

        claims = [c for p in cli.claims_of(nbformat.read(executed, as_version=4)) for c in p["claims"]]
        row.update(status="finished" if proc.returncode == 0 else "a claim failed unexpectedly",
                   claims=len(claims), reproduced=sum(c["verdict"] == "reproduced" for c in claims),
                   not_reproduced=sum(c["verdict"] == "not reproduced" for c in claims),
                   not_tested=sum(c["verdict"] == "not tested" for c in claims),
                   as_expected=sum(c["verdict"] == c["expected"] for c in claims))
        return row


def main():
    from l2lcore import cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", default=[c.slug for c in cli.runnable()])
    parser.add_argument("--scales", nargs="*", default=["book", "paper"])
    parser.add_argument("--limit", type=float, default=1800.0)
    parser.add_argument("--out", default=str(ROOT / "book" / "_data" / "reproducibility.csv"))
    parser.add_argument("--estimate", help="a chapter whose paper row is estimated from a smaller run")
    parser.add_argument("--factor", type=float, help="work of the paper's sizes / work of the smaller run")
    parser.add_argument("--why", default="", help="how --factor was derived")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    out = Path(args.out)
    rows = {}
    if out.exists():
        with out.open() as f:
            rows = {(r["chapter"], r["scale"]): r for r in csv.DictReader(f)}
    common = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cores": os.cpu_count(),
              "date": datetime.date.today().isoformat(), "commit": commit(), **versions()}
    if args.estimate:
        if not args.factor or not args.set:
            parser.error("--estimate needs --factor and at least one --set")
        small = run_one(args.estimate, "book", args.limit, args.set)
        if small.get("status") != "finished":
            parser.error(f"the smaller run did not finish: {small.get('status')}")
        wall = float(small["wall_s"]) * args.factor
        row = {"chapter": args.estimate, "scale": "paper", **common, "wall_s": f"{wall:.0f}",
               "status": f"estimated: {' '.join(args.set)} took {small['wall_s']} s, times {args.factor:g} "
                         f"({args.why})"}
        rows[(args.estimate, "paper")] = row
        tqdm.write(json.dumps(row))
        jobs = []
    else:
        jobs = [(c, s) for c in args.chapters for s in args.scales]
    for chapter, scale in tqdm(jobs, desc="chapters x scales"):
        row = {"chapter": chapter, "scale": scale, **common, **run_one(chapter, scale, args.limit)}
        rows[(chapter, scale)] = row
        tqdm.write(json.dumps(row))
        write(out, rows)
    if args.estimate:
        write(out, rows)


def write(out: Path, rows: dict) -> None:
    from l2lcore import cli

    out.parent.mkdir(parents=True, exist_ok=True)
    order = {c.slug: i for i, c in enumerate(cli.runnable())}
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, lineterminator="\n")
        writer.writeheader()
        for key in sorted(rows, key=lambda k: (order.get(k[0], 99), k[1])):
            writer.writerow({k: rows[key].get(k, "") for k in FIELDS})


if __name__ == "__main__":
    main()
