"""Exact rational arithmetic: the test oracle for the quadratic task.

The float64 entries of H, w_0 and eta are exact binary fractions, so running the t GD steps
and their tangents in ``fractions.Fraction`` gives F, F' and G' = F'/(t F) with no error.
"""
from fractions import Fraction


def rational_meta(H, w0, eta, t):
    """(F, F', G') at eta, exactly: w <- w - eta H w, v <- v - eta H v - H w, F = w^T H w / 2."""
    Hq = [[Fraction(x) for x in row] for row in H.tolist()]
    e = Fraction(eta)
    w = [Fraction(x) for x in w0.tolist()]
    v = [Fraction(0)] * len(w)

    def matvec(x):
        return [sum(h * xi for h, xi in zip(row, x)) for row in Hq]

    for _ in range(t):
        Hw, Hv = matvec(w), matvec(v)
        v = [vi - e * hv - hw for vi, hv, hw in zip(v, Hv, Hw)]
        w = [wi - e * hw for wi, hw in zip(w, Hw)]
    Hw = matvec(w)
    F = sum(a * b for a, b in zip(w, Hw)) / 2
    dF = sum(a * b for a, b in zip(v, Hw))
    return F, dF, dF / (t * F)


def regimes(task):
    """eta in each regime of Theorem 3: below 2/L, near 2/(L + alpha), above 2/L."""
    return {
        "below 2/L": 0.7 / task.L,
        "near 2/(L+alpha)": 2 / (task.L + task.alpha) * (1 + 1e-6),
        "above 2/L": 2.4 / task.L,
    }


def rational_norms(H, w0, eta, t, objective="log"):
    """(||w_k||^2 for k = 0..t, ||wbar_k||^2 for k = 0..t), exactly: the forward steps
    w <- w - eta H w, then the backward pass of backprop, wbar_t = s H w_t (s = 1/(t F) for the
    log objective, 1 for the naive one) and wbar_k = wbar_{k+1} - eta H wbar_{k+1}."""
    Hq = [[Fraction(x) for x in row] for row in H.tolist()]
    e = Fraction(eta)

    def matvec(x):
        return [sum(h * xi for h, xi in zip(row, x)) for row in Hq]

    ws = [[Fraction(x) for x in w0.tolist()]]
    for _ in range(t):
        Hw = matvec(ws[-1])
        ws.append([wi - e * hw for wi, hw in zip(ws[-1], Hw)])
    Hw = matvec(ws[-1])
    F = sum(a * b for a, b in zip(ws[-1], Hw)) / 2
    s = 1 / (t * F) if objective == "log" else Fraction(1)
    bars = [[s * x for x in Hw]]
    for _ in range(t):
        Hb = matvec(bars[0])
        bars.insert(0, [b - e * hb for b, hb in zip(bars[0], Hb)])
    return [sum(x * x for x in w) for w in ws], [sum(x * x for x in b) for b in bars]
