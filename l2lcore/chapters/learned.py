"""The learned-optimizer chapter (Figures 5-7): its claims."""
from __future__ import annotations

from ..book.claims import Claim
from ..learned.experiment import compare, pool_replicates


def learned_claims(noisy, full):
    """The chapter's claims, from replicates of the small-data noisy comparison and of the all-data one.

    ``noisy`` and ``full``: lists of at least two :func:`run_comparison` results (independent
    seeds, see :func:`run_replicates`) or their :func:`pool_replicates`. A setting's value is its
    pooled mean final test accuracy (mean over replicates of each replicate's mean over its
    evaluation runs); "spread" is the larger, of the two settings compared, of the range
    (max - min) of the per-replicate means.
    """
    pn, pf = (x if isinstance(x, dict) and "spread" in x else pool_replicates(x) for x in (noisy, full))
    if "TbV(n+n)" not in pn["mean"] or "TbV" not in pf["mean"]:
        raise ValueError("learned_claims needs replicates of a run_comparison with an integer n and of one with n=None")
    for p in (pn, pf):
        if p["replicates"] < 2:
            raise ValueError("learned_claims needs at least two replicates of each comparison (a seed-to-seed spread)")
    cn, cf = pn["config"], pf["config"]
    claims = []
    for tbt in ("TbT(n)", "TbT(2n)"):
        c = compare(pn, "TbV(n+n)", tbt)
        claims.append(Claim(
            f"{cn['noise']:.0%} label noise, n={cn['n']}: TbV(n+n) tests better than {tbt} by more than the spread",
            f"pooled mean test accuracy gap {c['gap']:+.3f}, spread {c['spread']:.3f} "
            f"({pn['replicates']} seeds x {cn['seeds']} runs)", c["gap"] > c["spread"]))
    c = compare(pf, "TbV", "TbT")
    claims.append(Claim(
        f"all {cf['n_train_eval']} training samples: TbT and TbV test within the spread",
        f"|pooled gap| {abs(c['gap']):.3f}, spread {c['spread']:.3f} ({pf['replicates']} seeds x {cf['seeds']} runs)",
        abs(c["gap"]) <= c["spread"]))
    return claims
